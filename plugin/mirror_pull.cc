#include "plugin/mirror_pull.h"

#include <chrono>
#include <deque>
#include <map>
#include <thread>
#include <utility>
#include <vector>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "absl/base/thread_annotations.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "cri/api.grpc.pb.h"
#include "log/log.h"
#include "plugin/mirror_pull_flow.h"
#include "resolver/resolve.h"

namespace crimirror::plugin {
namespace {

namespace internal = mirror_pull_internal;

struct Waiter {
  grpc::CallbackServerContext* context;
  PullDone done;
};

// One backend pull and everyone waiting for it (coalescing, issue 4 "Config
// and limits": the kubelet repeats PullImage once per candidate credential).
struct PullJob {
  std::string key;
  internal::PullInput input;
  std::vector<Waiter> waiters;  // guarded by Impl::mu_
};
using PullJobPtr = std::shared_ptr<PullJob>;

std::string BufferToString(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const grpc::Slice& slice : slices) {
    out.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return out;
}

grpc::ByteBuffer StringToBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

grpc::Status ToGrpc(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

// Coalescing key: the canonical reference and a SHA-256 of the credential, so that
// pulls with different credentials never share a result and no secret is
// kept as a key.
std::string CoalescingKey(const runtime::v1::PullImageRequest& request,
                          const resolver::Reference& reference) {
  const runtime::v1::AuthConfig& auth = request.auth();
  std::string material = absl::StrCat(auth.username().size(), ":", auth.username(),
                                      auth.password().size(), ":", auth.password(),
                                      auth.auth().size(), ":", auth.auth(),
                                      auth.identity_token().size(), ":", auth.identity_token(),
                                      auth.registry_token().size(), ":", auth.registry_token());
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(material.data()), material.size(), digest);
  OPENSSL_cleanse(material.data(), material.size());
  return absl::StrCat(reference.Canonical(), "\n",
                      absl::BytesToHexString(absl::string_view(
                          reinterpret_cast<const char*>(digest), sizeof(digest))));
}

absl::Time CallerDeadline(const grpc::CallbackServerContext* context) {
  const auto deadline = context->deadline();
  if (deadline >= std::chrono::system_clock::time_point::max() - std::chrono::hours(24 * 365)) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

}  // namespace

class MirrorPullInterceptor::Impl {
 public:
  explicit Impl(MirrorPullOptions options);
  ~Impl();

  bool Intercept(grpc::CallbackServerContext* context, const grpc::ByteBuffer& request,
                 PullDone done);

 private:
  // The compiled form of the config in force, rebuilt when it was swapped.
  std::shared_ptr<const resolver::CompiledConfig> Compiled();
  // Builds the job for this request: null when its reference matches no rule
  // (declined); InvalidArgument when the request or reference does not parse.
  absl::StatusOr<PullJobPtr> Prepare(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer& request);
  void Enqueue(PullJobPtr job, Waiter waiter);
  void WorkerLoop();
  void Run(const PullJobPtr& job);
  bool AllWaitersGone(const PullJobPtr& job);
  void Finish(const PullJobPtr& job, const grpc::Status& status, const grpc::ByteBuffer& response);

  const MirrorPullOptions options_;
  std::unique_ptr<runtime::v1::ImageService::Stub> cri_;
  std::unique_ptr<containerd::services::images::v1::Images::Stub> images_;
  internal::PullEnv env_;

  absl::Mutex config_mu_;
  config::ConfigPtr compiled_for_ ABSL_GUARDED_BY(config_mu_);
  std::shared_ptr<const resolver::CompiledConfig> compiled_ ABSL_GUARDED_BY(config_mu_);

  absl::Mutex mu_;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<PullJobPtr> queue_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, PullJobPtr> in_flight_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> workers_;
};

MirrorPullInterceptor::Impl::Impl(MirrorPullOptions options)
    : options_(std::move(options)),
      cri_(runtime::v1::ImageService::NewStub(options_.backend)),
      images_(containerd::services::images::v1::Images::NewStub(options_.backend)) {
  env_.sessions = options_.sessions;
  env_.relay_address = options_.relay_address;
  env_.cri = cri_.get();
  env_.images = images_.get();
  env_.channel = options_.backend;
  for (int i = 0; i < options_.max_concurrent_pulls; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

MirrorPullInterceptor::Impl::~Impl() {
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
  }
  for (std::thread& worker : workers_) worker.join();
}

std::shared_ptr<const resolver::CompiledConfig> MirrorPullInterceptor::Impl::Compiled() {
  config::ConfigPtr current = options_.config_store->Current();
  absl::MutexLock lock(&config_mu_);
  if (compiled_ == nullptr || compiled_for_ != current) {
    compiled_ = resolver::CompiledConfig::Compile(current);
    compiled_for_ = current;
  }
  return compiled_;
}

absl::StatusOr<PullJobPtr> MirrorPullInterceptor::Impl::Prepare(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer& request) {
  auto job = std::make_shared<PullJob>();
  if (!job->input.request.ParseFromString(BufferToString(request))) {
    return absl::InvalidArgumentError("cri-mirror: PullImageRequest does not parse");
  }
  const std::string& image = job->input.request.image().image();
  absl::StatusOr<resolver::Reference> reference = resolver::ParseReference(image);
  if (!reference.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("cri-mirror: image reference \"",
                                                   absl::CHexEscape(image),
                                                   "\": ", reference.status().message()));
  }
  std::shared_ptr<const resolver::CompiledConfig> compiled = Compiled();
  job->input.plan = compiled->Resolve(*reference);
  if (!job->input.plan.Matched()) return PullJobPtr();
  if (job->input.plan.blocked) {  // refused before any backend call (issue 13/14)
    return absl::PermissionDeniedError(absl::StrCat(
        "cri-mirror: pulls of ", reference->Canonical(), " are blocked by the rule for \"",
        job->input.plan.matched_rule, "\" (", job->input.plan.rule_origin, ")"));
  }
  const config::ServerSettings& server = compiled->config().server;
  job->input.namespace_ = server.namespace_;
  job->input.pull_timeout = server.pull_timeout;
  job->input.deadline = std::min(CallerDeadline(context), absl::Now() + server.pull_timeout);
  job->key = CoalescingKey(job->input.request, job->input.plan.reference);
  return job;
}

bool MirrorPullInterceptor::Impl::Intercept(grpc::CallbackServerContext* context,
                                            const grpc::ByteBuffer& request, PullDone done) {
  absl::StatusOr<PullJobPtr> job = Prepare(context, request);
  if (!job.ok()) {
    done(ToGrpc(job.status()), grpc::ByteBuffer());
    return true;
  }
  if (*job == nullptr) return false;
  Enqueue(*std::move(job), Waiter{context, std::move(done)});
  return true;
}

void MirrorPullInterceptor::Impl::Enqueue(PullJobPtr job, Waiter waiter) {
  {
    absl::MutexLock lock(&mu_);
    if (!shutdown_) {
      auto it = in_flight_.find(job->key);
      if (it != in_flight_.end()) {
        log::Info("pull ", job->input.plan.reference.Canonical(),
                  ": joining the identical pull in flight");
        it->second->waiters.push_back(std::move(waiter));
        return;
      }
      job->waiters.push_back(std::move(waiter));
      in_flight_.emplace(job->key, job);
      queue_.push_back(std::move(job));
      return;
    }
  }
  waiter.done(grpc::Status(grpc::StatusCode::CANCELLED, "cri-mirror is shutting down"),
              grpc::ByteBuffer());
}

void MirrorPullInterceptor::Impl::WorkerLoop() {
  for (;;) {
    PullJobPtr job;
    bool shutting_down;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Impl* impl) ABSL_EXCLUSIVE_LOCKS_REQUIRED(impl->mu_) {
            return impl->shutdown_ || !impl->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // shut down and drained
      job = std::move(queue_.front());
      queue_.pop_front();
      shutting_down = shutdown_;
    }
    if (shutting_down) {
      Finish(job, grpc::Status(grpc::StatusCode::CANCELLED, "cri-mirror is shutting down"),
             grpc::ByteBuffer());
      continue;
    }
    Run(job);
  }
}

bool MirrorPullInterceptor::Impl::AllWaitersGone(const PullJobPtr& job) {
  absl::MutexLock lock(&mu_);
  if (shutdown_) return true;
  for (const Waiter& waiter : job->waiters) {
    if (!waiter.context->IsCancelled()) return false;
  }
  return true;
}

void MirrorPullInterceptor::Impl::Run(const PullJobPtr& job) {
  absl::StatusOr<std::string> image_ref = internal::RunMirrorPull(
      env_, job->input, [this, &job] { return AllWaitersGone(job); });
  if (!image_ref.ok()) {
    log::Warning(image_ref.status().message());
    Finish(job, ToGrpc(image_ref.status()), grpc::ByteBuffer());
    return;
  }
  runtime::v1::PullImageResponse response;
  response.set_image_ref(*image_ref);
  Finish(job, grpc::Status::OK, StringToBuffer(response.SerializeAsString()));
}

void MirrorPullInterceptor::Impl::Finish(const PullJobPtr& job, const grpc::Status& status,
                                         const grpc::ByteBuffer& response) {
  std::vector<Waiter> waiters;
  {
    absl::MutexLock lock(&mu_);
    auto it = in_flight_.find(job->key);
    if (it != in_flight_.end() && it->second == job) in_flight_.erase(it);
    waiters = std::move(job->waiters);
    job->waiters.clear();
  }
  for (Waiter& waiter : waiters) waiter.done(status, response);
}

MirrorPullInterceptor::MirrorPullInterceptor(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

MirrorPullInterceptor::~MirrorPullInterceptor() = default;

absl::StatusOr<std::unique_ptr<MirrorPullInterceptor>> MirrorPullInterceptor::Create(
    MirrorPullOptions options) {
  if (options.config_store == nullptr || options.sessions == nullptr ||
      options.backend == nullptr || options.relay_address.empty()) {
    return absl::InvalidArgumentError(
        "MirrorPullInterceptor: config_store, sessions, relay_address and backend are "
        "required");
  }
  if (options.max_concurrent_pulls < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "MirrorPullInterceptor: max_concurrent_pulls must be >= 1, got ",
        options.max_concurrent_pulls));
  }
  return std::unique_ptr<MirrorPullInterceptor>(
      new MirrorPullInterceptor(std::make_unique<Impl>(std::move(options))));
}

bool MirrorPullInterceptor::Intercept(grpc::CallbackServerContext* context,
                                      const grpc::ByteBuffer& request, PullDone done) {
  return impl_->Intercept(context, request, std::move(done));
}

}  // namespace crimirror::plugin
