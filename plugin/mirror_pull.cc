#include "plugin/mirror_pull.h"

#include <chrono>
#include <utility>
#include <vector>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "absl/base/thread_annotations.h"
#include "absl/strings/escaping.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "cri/api.grpc.pb.h"
#include "log/echo.h"
#include "log/log.h"
#include "metrics/metrics.h"
#include "plugin/mirror_pull_flow.h"
#include "plugin/mirror_pull_naming.h"
#include "plugin/pull_queue.h"
#include "relay/route.h"
#include "resolver/resolve.h"

namespace crimirror::plugin {
namespace {

namespace internal = mirror_pull_internal;

// Bound on the start-up sweep of relay-named records: a containerd that does
// not answer must not keep cri-mirror from serving.
constexpr absl::Duration kStartupSweepTimeout = absl::Seconds(10);

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

// A whole message stays well below a client's metadata limit (issue 10
// defect 11): an error listing many endpoints must not become
// RESOURCE_EXHAUSTED at the client.
grpc::Status ToGrpc(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      log::Shorten(status.message()));
}

std::string LengthPrefixed(absl::string_view field) {
  return absl::StrCat(field.size(), ":", field);
}

// Coalescing key: the canonical reference, the runtime handler, the pod
// namespace (issue 10 defect 10: pulls for different handlers or namespaces
// may be told apart by containerd) and a SHA-256 of the credential, so that
// pulls with different credentials never share a result and no secret is
// kept as a key.
std::string CoalescingKey(const runtime::v1::PullImageRequest& request,
                          const resolver::Reference& reference) {
  const runtime::v1::AuthConfig& auth = request.auth();
  std::string material = absl::StrCat(
      LengthPrefixed(auth.username()), LengthPrefixed(auth.password()),
      LengthPrefixed(auth.auth()), LengthPrefixed(auth.identity_token()),
      LengthPrefixed(auth.registry_token()));
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(material.data()), material.size(), digest);
  OPENSSL_cleanse(material.data(), material.size());
  return absl::StrCat(reference.Canonical(), "\n",
                      LengthPrefixed(request.image().runtime_handler()),
                      LengthPrefixed(request.sandbox_config().metadata().namespace_()), "\n",
                      absl::BytesToHexString(absl::string_view(
                          reinterpret_cast<const char*>(digest), sizeof(digest))));
}

}  // namespace

class MirrorPullInterceptor::Impl {
 public:
  explicit Impl(MirrorPullOptions options);

  bool Pull(const grpc::ByteBuffer& request, PullCaller caller, PullDone done);

 private:
  // The compiled form of the config in force, rebuilt when it was swapped.
  std::shared_ptr<const resolver::CompiledConfig> Compiled();
  // Builds the input for this request: a null plan match when its reference
  // matches no rule (declined); InvalidArgument when the request or
  // reference does not parse.
  absl::StatusOr<internal::PullInput> Prepare(const grpc::ByteBuffer& request);
  internal::PullAnswer Run(const internal::PullInput& input,
                           const internal::PullControl& control);
  internal::NamingEnv Naming(const std::string& ns, absl::Time deadline) const;
  void SweepAtStartUp();

  const MirrorPullOptions options_;
  std::unique_ptr<runtime::v1::ImageService::Stub> cri_;
  std::unique_ptr<containerd::services::images::v1::Images::Stub> images_;
  internal::PullEnv env_;

  absl::Mutex config_mu_;
  config::ConfigPtr compiled_for_ ABSL_GUARDED_BY(config_mu_);
  std::shared_ptr<const resolver::CompiledConfig> compiled_ ABSL_GUARDED_BY(config_mu_);

  // Last: its workers use the members above; destroyed (joined) first.
  std::unique_ptr<internal::PullQueue> queue_;
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
  env_.credential_check = options_.credential_check;
  // Before any pull starts: a sweep must never race a pull's own records.
  SweepAtStartUp();
  internal::PullQueue::Options queue;
  queue.workers = options_.max_concurrent_pulls;
  queue.max_queued = static_cast<std::size_t>(options_.max_queued_pulls);
  queue_ = std::make_unique<internal::PullQueue>(
      queue,
      [this](const internal::PullInput& input, const internal::PullControl& control) {
        return Run(input, control);
      },
      [this](const internal::PullInput& input) {
        internal::SweepRelayRecords(Naming(input.namespace_, absl::Now() + kStartupSweepTimeout),
                                    relay::RelayRepository(input.plan.reference))
            .IgnoreError();
      });
}

internal::NamingEnv MirrorPullInterceptor::Impl::Naming(const std::string& ns,
                                                        absl::Time deadline) const {
  internal::NamingEnv naming;
  naming.cri = cri_.get();
  naming.images = images_.get();
  naming.namespace_ = ns;
  naming.relay_address = options_.relay_address;
  naming.deadline = deadline;
  return naming;
}

void MirrorPullInterceptor::Impl::SweepAtStartUp() {
  const std::string ns = options_.config_store->Current()->server.namespace_;
  absl::StatusOr<int> swept =
      internal::SweepRelayRecords(Naming(ns, absl::Now() + kStartupSweepTimeout), "");
  if (!swept.ok()) {
    log::Warning("cannot look for relay-named image records left by an earlier run in "
                 "containerd namespace ", ns, ": ", swept.status().message());
  } else if (*swept > 0) {
    log::Info("deleted ", *swept, " relay-named image record(s) left by an earlier run");
  }
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

absl::StatusOr<internal::PullInput> MirrorPullInterceptor::Impl::Prepare(
    const grpc::ByteBuffer& request) {
  internal::PullInput input;
  if (!input.request.ParseFromString(BufferToString(request))) {
    return absl::InvalidArgumentError("cri-mirror: PullImageRequest does not parse");
  }
  const std::string& image = input.request.image().image();
  absl::StatusOr<resolver::Reference> reference = resolver::ParseReference(image);
  if (!reference.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("cri-mirror: image reference \"",
                                                   log::Excerpt(image),
                                                   "\": ", reference.status().message()));
  }
  std::shared_ptr<const resolver::CompiledConfig> compiled = Compiled();
  // The pod's namespace picks among `namespaces` rules (issue 14); "" when
  // the pull has no sandbox config.
  input.plan = compiled->Resolve(*reference, input.request.sandbox_config().metadata().namespace_());
  if (!input.plan.Matched()) return input;
  if (input.plan.blocked) {  // refused before any backend call (issue 13/14)
    return absl::PermissionDeniedError(absl::StrCat(
        "cri-mirror: pulls of ", reference->Canonical(), " are blocked by the rule for \"",
        input.plan.matched_rule, "\" (", input.plan.rule_origin, ")"));
  }
  const config::ServerSettings& server = compiled->config().server;
  input.namespace_ = server.namespace_;
  input.pull_timeout = server.pull_timeout;
  input.deadline = absl::Now() + server.pull_timeout;
  input.verify_mode = compiled->config().credentials.verify_kubelet_credentials;
  input.verify_timeout = compiled->config().credentials.verify_timeout;
  return input;
}

bool MirrorPullInterceptor::Impl::Pull(const grpc::ByteBuffer& request, PullCaller caller,
                                       PullDone done) {
  absl::StatusOr<internal::PullInput> input = Prepare(request);
  if (!input.ok()) {
    done(ToGrpc(input.status()), grpc::ByteBuffer());
    return true;
  }
  if (!input->plan.Matched()) return false;
  const std::string key = CoalescingKey(input->request, input->plan.reference);
  const std::string group = relay::RelayRepository(input->plan.reference);
  queue_->Submit(key, group, *std::move(input), std::move(caller), std::move(done));
  return true;
}

internal::PullAnswer MirrorPullInterceptor::Impl::Run(const internal::PullInput& input,
                                                      const internal::PullControl& control) {
  const absl::Time start = absl::Now();
  PullRecord record;
  record.reference = input.plan.reference.Canonical();
  record.rule = input.plan.matched_rule;
  record.started = start;
  PullJournal* journal = options_.journal;
  const std::uint64_t id = journal ? journal->Begin(record.reference, record.rule, start) : 0;
  internal::PullControl tracked = control;
  if (journal) {
    tracked.on_session = [journal, id](const relay::SessionStatePtr& session) {
      journal->Attach(id, session);
    };
  }
  absl::StatusOr<std::string> image_ref =
      internal::RunMirrorPull(env_, input, tracked, &record);
  record.duration = absl::Now() - start;
  record.result = image_ref.status();
  if (image_ref.ok()) record.image_ref = *image_ref;
  LogPullRecord(record);
  if (journal) journal->Finish(id, std::move(record));
  static metrics::Family& pulls = metrics::Registry::Default().Counter(
      "cri_mirror_pulls_total", "Pulls through mirror rules, by rule and result (gRPC code).",
      {"rule", "result"});
  static metrics::Family& duration = metrics::Registry::Default().Histogram(
      "cri_mirror_pull_duration_seconds", "Time of pulls through mirror rules, by rule.",
      {"rule"}, metrics::DurationBuckets());
  pulls.Add({input.plan.matched_rule,
             absl::AsciiStrToLower(absl::StatusCodeToString(image_ref.status().code()))});
  duration.Observe({input.plan.matched_rule}, absl::ToDoubleSeconds(absl::Now() - start));
  if (!image_ref.ok()) {
    log::Warning(log::Shorten(image_ref.status().message()));
    return {ToGrpc(image_ref.status()), grpc::ByteBuffer()};
  }
  runtime::v1::PullImageResponse response;
  response.set_image_ref(*image_ref);
  return {grpc::Status::OK, StringToBuffer(response.SerializeAsString())};
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
  if (options.max_queued_pulls < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "MirrorPullInterceptor: max_queued_pulls must be >= 1, got ", options.max_queued_pulls));
  }
  if (options.max_concurrent_pulls < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "MirrorPullInterceptor: max_concurrent_pulls must be >= 1, got ",
        options.max_concurrent_pulls));
  }
  return std::unique_ptr<MirrorPullInterceptor>(
      new MirrorPullInterceptor(std::make_unique<Impl>(std::move(options))));
}

bool MirrorPullInterceptor::Intercept(PullCaller caller, const grpc::ByteBuffer& request,
                                      PullDone done) {
  return impl_->Pull(request, std::move(caller), std::move(done));
}

}  // namespace crimirror::plugin
