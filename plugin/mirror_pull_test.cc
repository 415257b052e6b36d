// Unit tests of the PullImage-through-mirrors interceptor against an
// in-process fake backend (CRI ImageService + containerd Images), and of its
// pure helpers. The end-to-end behaviour with the real containerd is in
// tests/integration/mirror_pull_test.cc.
#include "plugin/mirror_pull.h"

#include <algorithm>
#include <atomic>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <google/protobuf/empty.pb.h>
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "containerd/images.grpc.pb.h"
#include "cri/api.grpc.pb.h"
#include "plugin/mirror_pull_flow.h"
#include "plugin/mirror_pull_ingest.h"
#include "plugin/mirror_pull_naming.h"

namespace crimirror::plugin {
namespace {

namespace images_v1 = containerd::services::images::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kRelay[] = "127.0.0.1:5098";
const std::string kDigest = "sha256:" + std::string(64, 'a');

// containerd's image records in one map, shared by both fake services.
struct FakeContainerd {
  absl::Mutex mu;
  std::map<std::string, images_v1::Image> images ABSL_GUARDED_BY(mu);
  std::vector<runtime::v1::PullImageRequest> pulls ABSL_GUARDED_BY(mu);
  grpc::Status pull_result;
  grpc::Status create_result;  // images.Create answers this when not OK
  std::string fail_create_name;  // images.Create of this name answers create_result
  absl::Notification release;  // pulls wait for it when gated
  bool gated = false;
};

class FakeCri final : public runtime::v1::ImageService::Service {
 public:
  explicit FakeCri(FakeContainerd* state) : state_(state) {}
  grpc::Status PullImage(grpc::ServerContext* context, const runtime::v1::PullImageRequest* request,
                         runtime::v1::PullImageResponse* response) override {
    {
      absl::MutexLock lock(&state_->mu);
      state_->pulls.push_back(*request);
    }
    while (state_->gated && !state_->release.WaitForNotificationWithTimeout(absl::Milliseconds(10))) {
      if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    }
    if (!state_->pull_result.ok()) return state_->pull_result;
    absl::MutexLock lock(&state_->mu);
    images_v1::Image image;
    image.set_name(request->image().image());
    image.mutable_target()->set_digest(kDigest);
    image.mutable_target()->set_media_type("application/vnd.oci.image.manifest.v1+json");
    (*image.mutable_labels())["io.cri-containerd.image"] = "managed";
    state_->images[image.name()] = image;
    const std::string& ref = request->image().image();
    image.set_name(ref.substr(0, ref.rfind(':')) + "@" + kDigest);
    state_->images[image.name()] = image;
    response->set_image_ref("sha256:config");
    return grpc::Status::OK;
  }
  grpc::Status ImageStatus(grpc::ServerContext*, const runtime::v1::ImageStatusRequest* request,
                           runtime::v1::ImageStatusResponse* response) override {
    absl::MutexLock lock(&state_->mu);
    if (state_->images.count(request->image().image()) > 0) {
      response->mutable_image()->set_id("sha256:config");
    }
    return grpc::Status::OK;
  }

 private:
  FakeContainerd* state_;
};

class FakeImages final : public images_v1::Images::Service {
 public:
  explicit FakeImages(FakeContainerd* state) : state_(state) {}
  grpc::Status Get(grpc::ServerContext* context, const images_v1::GetImageRequest* request,
                   images_v1::GetImageResponse* response) override {
    if (!HasNamespace(context)) return NoNamespace();
    absl::MutexLock lock(&state_->mu);
    auto it = state_->images.find(request->name());
    if (it == state_->images.end()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "not found");
    *response->mutable_image() = it->second;
    return grpc::Status::OK;
  }
  grpc::Status Create(grpc::ServerContext* context, const images_v1::CreateImageRequest* request,
                      images_v1::CreateImageResponse*) override {
    if (!HasNamespace(context)) return NoNamespace();
    if (!state_->create_result.ok() && (state_->fail_create_name.empty() ||
                                        state_->fail_create_name == request->image().name())) {
      return state_->create_result;
    }
    absl::MutexLock lock(&state_->mu);
    if (state_->images.count(request->image().name()) > 0) {
      return grpc::Status(grpc::StatusCode::ALREADY_EXISTS, "exists");
    }
    state_->images[request->image().name()] = request->image();
    return grpc::Status::OK;
  }
  grpc::Status Update(grpc::ServerContext* context, const images_v1::UpdateImageRequest* request,
                      images_v1::UpdateImageResponse*) override {
    if (!HasNamespace(context)) return NoNamespace();
    absl::MutexLock lock(&state_->mu);
    state_->images[request->image().name()] = request->image();
    return grpc::Status::OK;
  }
  grpc::Status List(grpc::ServerContext* context, const images_v1::ListImagesRequest*,
                    images_v1::ListImagesResponse* response) override {
    if (!HasNamespace(context)) return NoNamespace();
    absl::MutexLock lock(&state_->mu);
    for (const auto& [name, image] : state_->images) *response->add_images() = image;
    return grpc::Status::OK;
  }
  grpc::Status Delete(grpc::ServerContext* context, const images_v1::DeleteImageRequest* request,
                      google::protobuf::Empty*) override {
    if (!HasNamespace(context)) return NoNamespace();
    absl::MutexLock lock(&state_->mu);
    if (state_->images.erase(request->name()) == 0) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "not found");
    }
    return grpc::Status::OK;
  }

 private:
  static bool HasNamespace(grpc::ServerContext* context) {
    auto it = context->client_metadata().find("containerd-namespace");
    return it != context->client_metadata().end() && it->second == "k8s.io";
  }
  static grpc::Status NoNamespace() {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "namespace required");
  }
  FakeContainerd* state_;
};

grpc::ByteBuffer Serialize(const runtime::v1::PullImageRequest& request) {
  std::string bytes = request.SerializeAsString();
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

runtime::v1::PullImageResponse ParseResponse(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string bytes;
  EXPECT_TRUE(buffer.Dump(&slices).ok());
  for (const grpc::Slice& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  runtime::v1::PullImageResponse response;
  EXPECT_TRUE(response.ParseFromString(bytes));
  return response;
}

// One intercepted call's outcome.
struct Outcome {
  absl::Notification done;
  grpc::Status status;
  runtime::v1::PullImageResponse response;
  PullDone Callback() {
    return [this](grpc::Status s, grpc::ByteBuffer buffer) {
      status = s;
      if (s.ok()) response = ParseResponse(buffer);
      done.Notify();
    };
  }
};

class MirrorPullInterceptorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.RegisterService(&cri_);
    builder.RegisterService(&images_);
    server_ = builder.BuildAndStart();
    auto config = std::make_shared<config::Config>();
    config::MirrorRule rule;
    rule.registry = "docker.io";
    rule.endpoints = {"http://127.0.0.1:1"};
    rule.fallback_to_upstream = false;
    config->mirrors.push_back(rule);
    store_ = config::ConfigStore::CreateWithConfig("/nonexistent/config.toml", config);
    StartInterceptor(8, 256);
  }
  // (Re)creates the interceptor under test.
  void StartInterceptor(int workers, int max_queued) {
    interceptor_.reset();
    MirrorPullOptions options;
    options.config_store = store_.get();
    options.sessions = &sessions_;
    options.relay_address = kRelay;
    options.backend = server_->InProcessChannel(grpc::ChannelArguments());
    options.max_concurrent_pulls = workers;
    options.max_queued_pulls = max_queued;
    auto interceptor = MirrorPullInterceptor::Create(options);
    ASSERT_TRUE(interceptor.ok()) << interceptor.status();
    interceptor_ = *std::move(interceptor);
  }
  void TearDown() override {
    if (!state_.release.HasBeenNotified()) state_.release.Notify();
    interceptor_.reset();
    server_->Shutdown();
  }

  bool Intercept(const std::string& image, Outcome* outcome, const std::string& user = "") {
    runtime::v1::PullImageRequest request;
    request.mutable_image()->set_image(image);
    request.mutable_image()->set_runtime_handler("runc");
    request.mutable_auth()->set_username(user);
    request.mutable_sandbox_config()->mutable_metadata()->set_name("pod");
    return interceptor_->Intercept(PullCaller{}, Serialize(request), outcome->Callback());
  }

  // Intercept() of `image` for `caller`, with a pod namespace and handler.
  bool PullFor(const std::string& image, PullCaller caller, Outcome* outcome,
               const std::string& handler = "runc", const std::string& pod_namespace = "ns") {
    runtime::v1::PullImageRequest request;
    request.mutable_image()->set_image(image);
    request.mutable_image()->set_runtime_handler(handler);
    request.mutable_sandbox_config()->mutable_metadata()->set_namespace_(pod_namespace);
    return interceptor_->Intercept(std::move(caller), Serialize(request), outcome->Callback());
  }
  void Plant(const std::string& name, const std::string& digest) {
    images_v1::Image image;
    image.set_name(name);
    image.mutable_target()->set_digest(digest);
    absl::MutexLock lock(&state_.mu);
    state_.images[name] = image;
  }
  std::string TargetOf(const std::string& name) {
    absl::MutexLock lock(&state_.mu);
    auto it = state_.images.find(name);
    return it == state_.images.end() ? "" : it->second.target().digest();
  }

  // Intercepts a pull of `image` and waits for its end; the failed status.
  grpc::Status FailedPull(const std::string& image) {
    Outcome outcome;
    EXPECT_TRUE(Intercept(image, &outcome));
    outcome.done.WaitForNotification();
    EXPECT_FALSE(outcome.status.ok());
    return outcome.status;
  }

  std::vector<std::string> Names() {
    absl::MutexLock lock(&state_.mu);
    std::vector<std::string> names;
    for (const auto& [name, image] : state_.images) names.push_back(name);
    return names;
  }
  std::size_t PullCount() {
    absl::MutexLock lock(&state_.mu);
    return state_.pulls.size();
  }

  // Outcomes outlive the interceptor (TearDown), so that a test that stops
  // at a failed ASSERT leaves no callback pointing at a dead local.
  Outcome& NewOutcome() { return outcomes_.emplace_back(); }

  FakeContainerd state_;
  std::list<Outcome> outcomes_;
  FakeCri cri_{&state_};
  FakeImages images_{&state_};
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<config::ConfigStore> store_;
  relay::SessionStore sessions_;
  std::unique_ptr<MirrorPullInterceptor> interceptor_;
};

TEST_F(MirrorPullInterceptorTest, CreateRejectsMissingOptions) {
  EXPECT_EQ(MirrorPullInterceptor::Create({}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(MirrorPullInterceptorTest, ReferenceMatchingNoRuleIsDeclined) {
  Outcome outcome;
  EXPECT_FALSE(Intercept("quay.io/app:v1", &outcome));
  EXPECT_FALSE(outcome.done.HasBeenNotified());
  EXPECT_EQ(PullCount(), 0u);
}

TEST_F(MirrorPullInterceptorTest, InvalidReferenceFailsWithoutBackendCall) {
  Outcome outcome;
  EXPECT_TRUE(Intercept("Bad/Name", &outcome));
  outcome.done.WaitForNotification();
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(outcome.status.error_message(), HasSubstr("cri-mirror: image reference \"Bad/Name\""));
  EXPECT_EQ(PullCount(), 0u);
}

TEST_F(MirrorPullInterceptorTest, PullsRelayReferenceAndNamesTheOriginal) {
  Outcome outcome;
  ASSERT_TRUE(Intercept("nginx:1.25", &outcome, "kubelet"));
  outcome.done.WaitForNotification();
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  EXPECT_EQ(outcome.response.image_ref(), "sha256:config");
  absl::MutexLock lock(&state_.mu);
  ASSERT_EQ(state_.pulls.size(), 1u);
  const runtime::v1::PullImageRequest& sent = state_.pulls[0];
  EXPECT_EQ(sent.image().image(), "127.0.0.1:5098/docker.io/library/nginx:1.25");
  EXPECT_EQ(sent.image().runtime_handler(), "runc");
  EXPECT_EQ(sent.auth().username().size(), 32u);
  EXPECT_EQ(sent.auth().password().size(), 43u);
  EXPECT_TRUE(sent.auth().server_address().empty());
  EXPECT_EQ(sent.sandbox_config().metadata().name(), "pod");
  std::vector<std::string> names;
  for (const auto& [name, image] : state_.images) {
    names.push_back(name);
    EXPECT_EQ(image.target().digest(), kDigest);
    EXPECT_EQ(image.labels().at("io.cri-containerd.image"), "managed");
  }
  EXPECT_THAT(names, ElementsAre("docker.io/library/nginx:1.25",
                                 "docker.io/library/nginx@" + kDigest));
  EXPECT_EQ(sessions_.size(), 0u) << "session not closed";
}

TEST_F(MirrorPullInterceptorTest, IdenticalConcurrentPullsShareOneBackendPull) {
  state_.gated = true;
  Outcome first, second, other_credential;
  ASSERT_TRUE(Intercept("nginx:1.25", &first, "u"));
  ASSERT_TRUE(Intercept("nginx:1.25", &second, "u"));
  ASSERT_TRUE(Intercept("nginx:1.25", &other_credential, "v"));
  while (PullCount() < 2) absl::SleepFor(absl::Milliseconds(5));
  state_.release.Notify();
  for (Outcome* o : {&first, &second, &other_credential}) {
    o->done.WaitForNotification();
    EXPECT_TRUE(o->status.ok()) << o->status.error_message();
  }
  EXPECT_EQ(PullCount(), 2u);
}

TEST_F(MirrorPullInterceptorTest, BackendErrorKeepsItsCodeAndNamesTheReference) {
  state_.pull_result = grpc::Status(grpc::StatusCode::NOT_FOUND, "manifest unknown");
  const grpc::Status status = FailedPull("nginx:1.25");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(),
              HasSubstr("cri-mirror: pull of docker.io/library/nginx:1.25 failed: manifest "
                        "unknown; endpoints tried: http://127.0.0.1:1"));
  EXPECT_THAT(Names(), IsEmpty());
}

// containerd refusing to create the original-name record: the pull fails
// with a message naming the record and the reason, and neither the relay
// names nor a half-made original name stay behind.
TEST_F(MirrorPullInterceptorTest, NamingFailureFailsThePullAndLeavesNoRelayNames) {
  state_.create_result = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "metadata full");
  const grpc::Status status = FailedPull("nginx:1.25");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(),
              HasSubstr("naming docker.io/library/nginx:1.25 in containerd namespace k8s.io "
                        "failed: creating image record docker.io/library/nginx:1.25"));
  EXPECT_THAT(status.error_message(), HasSubstr("metadata full"));
  EXPECT_THAT(Names(), IsEmpty());
  EXPECT_EQ(sessions_.size(), 0u) << "session not closed";
}

TEST_F(MirrorPullInterceptorTest, DestructionCancelsPullsInFlight) {
  state_.gated = true;
  Outcome running, queued;
  ASSERT_TRUE(Intercept("nginx:1.25", &running));
  ASSERT_TRUE(Intercept("busybox:1", &queued));
  while (PullCount() < 1) absl::SleepFor(absl::Milliseconds(5));
  interceptor_.reset();
  ASSERT_TRUE(running.done.HasBeenNotified());
  ASSERT_TRUE(queued.done.HasBeenNotified());
  EXPECT_EQ(running.status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_EQ(queued.status.error_code(), grpc::StatusCode::CANCELLED);
}

// --- issue 10: queue bounds, cancellation, deadlines, record clean-up -------

// A caller whose cancellation the test controls.
struct TestCaller {
  std::shared_ptr<std::atomic<bool>> gone = std::make_shared<std::atomic<bool>>(false);
  PullCaller Get(absl::Time deadline = absl::InfiniteFuture()) const {
    PullCaller caller;
    caller.cancelled = [gone = gone] { return gone->load(); };
    caller.deadline = deadline;
    return caller;
  }
};

// Defect 7: one worker busy, max_queued waiting: the next distinct pull is
// refused at once with a message saying how many wait and what to do.
TEST_F(MirrorPullInterceptorTest, FullQueueAnswersResourceExhausted) {
  StartInterceptor(/*workers=*/1, /*max_queued=*/2);
  state_.gated = true;
  Outcome& running = NewOutcome();
  Outcome& queued1 = NewOutcome();
  Outcome& queued2 = NewOutcome();
  Outcome& refused = NewOutcome();
  TestCaller caller;
  ASSERT_TRUE(PullFor("nginx:1", caller.Get(), &running));
  while (PullCount() < 1) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_TRUE(PullFor("nginx:2", caller.Get(), &queued1));
  ASSERT_TRUE(PullFor("nginx:3", caller.Get(), &queued2));
  ASSERT_TRUE(PullFor("nginx:4", caller.Get(), &refused));
  ASSERT_TRUE(refused.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.status.error_message(),
              HasSubstr("pull of docker.io/library/nginx:4 refused: 2 pulls are already queued "
                        "behind 1 running (the queue holds at most 2); retry later"));
  // Joining a queued pull is not refused.
  Outcome& joined = NewOutcome();
  ASSERT_TRUE(PullFor("nginx:3", caller.Get(), &joined));
  EXPECT_FALSE(joined.done.HasBeenNotified());
  state_.release.Notify();
  for (Outcome* o : {&running, &queued1, &queued2, &joined}) {
    ASSERT_TRUE(o->done.WaitForNotificationWithTimeout(absl::Seconds(30)));
    EXPECT_TRUE(o->status.ok()) << o->status.error_message();
  }
  EXPECT_EQ(PullCount(), 3u);
}

// Defect 7: a queued pull whose callers all went away never reaches the
// backend; its callers end CANCELLED.
TEST_F(MirrorPullInterceptorTest, QueuedPullWhoseCallersAllCancelledNeverStarts) {
  StartInterceptor(/*workers=*/1, /*max_queued=*/8);
  state_.gated = true;
  Outcome& running = NewOutcome();
  Outcome& abandoned1 = NewOutcome();
  Outcome& abandoned2 = NewOutcome();
  TestCaller live, gone;
  ASSERT_TRUE(PullFor("nginx:1", live.Get(), &running));
  while (PullCount() < 1) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_TRUE(PullFor("busybox:1", gone.Get(), &abandoned1));
  ASSERT_TRUE(PullFor("busybox:1", gone.Get(), &abandoned2));
  gone.gone->store(true);
  state_.release.Notify();
  for (Outcome* o : {&abandoned1, &abandoned2}) {
    ASSERT_TRUE(o->done.WaitForNotificationWithTimeout(absl::Seconds(30)));
    EXPECT_EQ(o->status.error_code(), grpc::StatusCode::CANCELLED);
    EXPECT_THAT(o->status.error_message(), HasSubstr("every caller went away"));
  }
  ASSERT_TRUE(running.done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_TRUE(running.status.ok()) << running.status.error_message();
  EXPECT_EQ(PullCount(), 1u) << "a pull nobody waits for reached the backend";
}

// Defect 10: the pull lasts until the latest deadline of its callers, not
// the first caller's.
TEST_F(MirrorPullInterceptorTest, CoalescedPullTakesTheLatestDeadline) {
  state_.gated = true;
  Outcome& early = NewOutcome();
  Outcome& late = NewOutcome();
  TestCaller caller;
  ASSERT_TRUE(PullFor("nginx:1.25", caller.Get(absl::Now() + absl::Milliseconds(300)), &early));
  ASSERT_TRUE(PullFor("nginx:1.25", caller.Get(absl::Now() + absl::Seconds(60)), &late));
  absl::SleepFor(absl::Seconds(1));  // past the first caller's deadline
  EXPECT_FALSE(late.done.HasBeenNotified()) << late.status.error_message();
  state_.release.Notify();
  ASSERT_TRUE(late.done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_TRUE(late.status.ok()) << late.status.error_message();
  EXPECT_EQ(PullCount(), 1u);
}

// Defect 10: once every caller's deadline passed, the pull ends
// DEADLINE_EXCEEDED.
TEST_F(MirrorPullInterceptorTest, PullEndsWhenEveryCallersDeadlinePassed) {
  state_.gated = true;
  Outcome& outcome = NewOutcome();
  TestCaller caller;
  ASSERT_TRUE(PullFor("nginx:1.25", caller.Get(absl::Now() + absl::Milliseconds(300)), &outcome));
  ASSERT_TRUE(outcome.done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(outcome.status.error_message(), HasSubstr("deadline"));
}

// Defect 10: another runtime handler or pod namespace is another pull.
TEST_F(MirrorPullInterceptorTest, RuntimeHandlerAndPodNamespaceSeparatePulls) {
  state_.gated = true;
  Outcome& a = NewOutcome();
  Outcome& same = NewOutcome();
  Outcome& other_handler = NewOutcome();
  Outcome& other_namespace = NewOutcome();
  TestCaller caller;
  ASSERT_TRUE(PullFor("nginx:1.25", caller.Get(), &a, "runc", "ns1"));
  ASSERT_TRUE(PullFor("nginx:1.25", caller.Get(), &same, "runc", "ns1"));
  ASSERT_TRUE(PullFor("nginx:1.25", caller.Get(), &other_handler, "kata", "ns1"));
  ASSERT_TRUE(PullFor("nginx:1.25", caller.Get(), &other_namespace, "runc", "ns2"));
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (PullCount() < 3 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
  state_.release.Notify();
  for (Outcome* o : {&a, &same, &other_handler, &other_namespace}) {
    ASSERT_TRUE(o->done.WaitForNotificationWithTimeout(absl::Seconds(30)));
    EXPECT_TRUE(o->status.ok()) << o->status.error_message();
  }
  EXPECT_EQ(PullCount(), 3u);
}

// Defect 8: relay-named records left by an earlier run are deleted at
// start-up; nothing else is.
TEST_F(MirrorPullInterceptorTest, StartUpSweepsRelayNamedRecordsOnly) {
  const std::vector<std::string> kept = {
      "docker.io/library/nginx:1.25", "127.0.0.1:5000/docker.io/library/nginx:1.25",
      "127.0.0.1:50981/x:1", "sha256:" + std::string(64, 'c')};
  for (const std::string& name : kept) Plant(name, kDigest);
  Plant("127.0.0.1:5098/docker.io/library/nginx:1.25", kDigest);
  Plant("127.0.0.1:5098/docker.io/library/nginx@" + kDigest, kDigest);
  StartInterceptor(8, 256);
  std::vector<std::string> sorted = kept;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(Names(), sorted);
}

// Defect 8: a failed pull (containerd made the record, then failed) leaves
// no relay-named record of its repository.
TEST_F(MirrorPullInterceptorTest, FailedPullSweepsItsRelayNamedRecords) {
  Plant("127.0.0.1:5098/docker.io/library/nginx:1.25", kDigest);
  Plant("127.0.0.1:5098/docker.io/library/nginx@" + kDigest, kDigest);
  Plant("127.0.0.1:5098/docker.io/library/nginxother:1", kDigest);
  state_.pull_result = grpc::Status(grpc::StatusCode::UNAVAILABLE, "unpack failed");
  FailedPull("nginx:1.25");
  EXPECT_THAT(Names(), ElementsAre("127.0.0.1:5098/docker.io/library/nginxother:1"));
}

// Defect 8: a cancelled pull leaves no relay-named record either.
TEST_F(MirrorPullInterceptorTest, CancelledPullSweepsItsRelayNamedRecords) {
  state_.gated = true;
  Outcome& outcome = NewOutcome();
  TestCaller caller;
  ASSERT_TRUE(PullFor("nginx:1.25", caller.Get(), &outcome));
  while (PullCount() < 1) absl::SleepFor(absl::Milliseconds(5));
  Plant("127.0.0.1:5098/docker.io/library/nginx:1.25", kDigest);  // as containerd would
  caller.gone->store(true);
  ASSERT_TRUE(outcome.done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_THAT(Names(), IsEmpty());
}

// Defect 8: naming fails after it moved an existing tag: the tag points at
// its previous image again.
TEST_F(MirrorPullInterceptorTest, FailedNamingRestoresAMovedTag) {
  const std::string old_digest = "sha256:" + std::string(64, 'e');
  Plant("docker.io/library/nginx:1.25", old_digest);
  state_.create_result = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "metadata full");
  state_.fail_create_name = "docker.io/library/nginx@" + kDigest;
  const grpc::Status status = FailedPull("nginx:1.25");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(TargetOf("docker.io/library/nginx:1.25"), old_digest);
  EXPECT_THAT(Names(), ElementsAre("docker.io/library/nginx:1.25"));
}

// Defect 11: a 120 kB reference is refused with a message of a few hundred
// bytes.
TEST_F(MirrorPullInterceptorTest, HugeReferenceIsEchoedOnlyInPart) {
  const grpc::Status status = FailedPull("nginx:" + std::string(120 * 1024, 'A'));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_LT(status.error_message().size(), 600u) << status.error_message().substr(0, 600);
  EXPECT_THAT(status.error_message(), HasSubstr("bytes in all"));
}

TEST(MirrorPullNamingTest, IsRelayRecordName) {
  using mirror_pull_internal::IsRelayRecordName;
  struct Case {
    std::string name;
    std::string repository;
    bool want;
  };
  const std::vector<Case> cases = {
      {"127.0.0.1:5098/docker.io/library/nginx:1", "", true},
      {"127.0.0.1:5098/docker.io/library/nginx:1", "docker.io/library/nginx", true},
      {"127.0.0.1:5098/docker.io/library/nginx@" + kDigest, "docker.io/library/nginx", true},
      {"127.0.0.1:5098/docker.io/library/nginxother:1", "docker.io/library/nginx", false},
      {"127.0.0.1:5098/docker.io/library/nginx/sub:1", "docker.io/library/nginx", false},
      {"127.0.0.1:50981/docker.io/library/nginx:1", "", false},
      {"127.0.0.1:509/docker.io/library/nginx:1", "", false},
      {"docker.io/library/nginx:1", "", false},
      {"127.0.0.1:5098", "", false},
      {"127.0.0.1:5098/", "", false},
      {"sha256:" + kDigest, "", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(IsRelayRecordName(c.name, kRelay, c.repository), c.want) << c.name;
  }
}

// --- pure helpers -----------------------------------------------------------

resolver::Reference Ref(const std::string& text) { return *resolver::ParseReference(text); }

TEST(MirrorPullNamingTest, OriginalAndRelayNames) {
  using mirror_pull_internal::OriginalImageNames;
  using mirror_pull_internal::RelayImageNames;
  const std::string digest = "sha256:" + std::string(64, 'b');
  struct Case {
    std::string reference;
    std::vector<std::string> original;
    std::vector<std::string> relay;
  };
  const std::vector<Case> cases = {
      {"nginx:1.25",
       {"docker.io/library/nginx:1.25", "docker.io/library/nginx@" + kDigest},
       {"127.0.0.1:5098/docker.io/library/nginx:1.25",
        "127.0.0.1:5098/docker.io/library/nginx@" + kDigest}},
      {"docker-registry:5000/app@" + kDigest,
       {"docker-registry:5000/app@" + kDigest},
       {"127.0.0.1:5098/docker-registry__5000/app@" + kDigest}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(OriginalImageNames(Ref(c.reference), kDigest), c.original) << c.reference;
    EXPECT_EQ(RelayImageNames(kRelay, Ref(c.reference), kDigest), c.relay) << c.reference;
  }
  EXPECT_THAT(OriginalImageNames(Ref("a/b:t@" + digest), digest),
              ElementsAre("docker.io/a/b@" + digest));
}

TEST(MirrorPullFlowTest, KubeletAuthFromAuthConfig) {
  using mirror_pull_internal::KubeletAuthFrom;
  runtime::v1::AuthConfig auth;
  EXPECT_FALSE(KubeletAuthFrom(auth)->has_value());
  auth.set_auth(absl::Base64Escape("user:pa:ss"));
  auto decoded = KubeletAuthFrom(auth);
  ASSERT_TRUE(decoded.ok() && decoded->has_value());
  EXPECT_EQ((*decoded)->credentials.username, "user");
  EXPECT_EQ((*decoded)->credentials.password.Reveal(), "pa:ss");
  auth.set_username("explicit");
  auth.set_password("pw");
  EXPECT_EQ((*KubeletAuthFrom(auth))->credentials.username, "explicit");
  auth.set_identity_token("refresh");
  auto oauth = KubeletAuthFrom(auth);
  ASSERT_TRUE(oauth.ok() && oauth->has_value());
  EXPECT_EQ((*oauth)->credentials.username, "explicit");
  EXPECT_EQ((*oauth)->credentials.identity_token.Reveal(), "refresh");
  EXPECT_TRUE((*oauth)->credentials.password.empty());
  runtime::v1::AuthConfig registry_token;
  registry_token.set_registry_token("bearer-token");
  auto bearer = KubeletAuthFrom(registry_token);
  ASSERT_TRUE(bearer.ok() && bearer->has_value());
  EXPECT_EQ((*bearer)->credentials.registry_token.Reveal(), "bearer-token");
  EXPECT_FALSE((*bearer)->credentials.has_basic());
  EXPECT_EQ((*bearer)->server_address, "");
  registry_token.set_server_address("https://index.docker.io/v1/");
  EXPECT_EQ((*KubeletAuthFrom(registry_token))->server_address, "https://index.docker.io/v1/");
  runtime::v1::AuthConfig bad;
  bad.set_auth("!!!not base64");
  EXPECT_EQ(KubeletAuthFrom(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad.set_auth(absl::Base64Escape("no-colon-secret"));
  EXPECT_EQ(KubeletAuthFrom(bad).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(KubeletAuthFrom(bad).status().message(), ::testing::Not(HasSubstr("secret")));
}

TEST(MirrorPullFlowTest, PlanWithoutDropsExcludedEndpoints) {
  resolver::EndpointPlan plan;
  plan.matched_rule = "docker.io";
  plan.endpoints.resize(2);
  plan.endpoints[0].base_url = "http://bad:5000";
  plan.endpoints[1].base_url = "https://good:5000";
  resolver::EndpointPlan left = mirror_pull_internal::PlanWithout(plan, {"http://bad:5000"});
  ASSERT_EQ(left.endpoints.size(), 1u);
  EXPECT_EQ(left.endpoints[0].base_url, "https://good:5000");
  ASSERT_EQ(left.skipped.size(), 1u);
  EXPECT_THAT(left.skipped[0], HasSubstr("http://bad:5000"));
}

TEST(MirrorPullIngestTest, PoisonedIngestRefsComeFromRejectedBlobsAndExcludedEndpoints) {
  const std::string other = "sha256:" + std::string(64, 'c');
  const std::vector<relay::Attempt> attempts = {
      {"http://bad:5000", "GET blobs/" + kDigest, "body ended after 3 of 9 bytes"},
      {"http://bad:5000", "GET manifests/v1", "HTTP 404"},
      {"http://other:5000", "GET blobs/sha256:cc", "HTTP 404"},
  };
  EXPECT_THAT(mirror_pull_internal::PoisonedIngestRefs(attempts, {"http://bad:5000"}, {}),
              ElementsAre("layer-" + kDigest, "config-" + kDigest));
  EXPECT_THAT(mirror_pull_internal::PoisonedIngestRefs(attempts, {}, {}), IsEmpty());
  EXPECT_THAT(
      mirror_pull_internal::PoisonedIngestRefs(attempts, {"http://bad:5000"}, {other, kDigest}),
      ElementsAre("layer-" + other, "config-" + other, "layer-" + kDigest, "config-" + kDigest));
}

TEST(MirrorPullIngestTest, RejectedBlobDigestsReadContainerdsCommitError) {
  const std::string a = "sha256:" + std::string(64, 'a');
  const std::string b = "sha256:" + std::string(64, 'b');
  const std::string long_digest = "sha512:" + std::string(128, 'c');
  struct Case {
    std::string message;
    std::vector<std::string> digests;
  };
  const std::vector<Case> cases = {
      // containerd 1.6 CRI, a corrupt layer (content/local/writer.go).
      {"failed to pull and unpack image \"127.0.0.1:1/x/y:v1\": failed to copy: failed commit "
       "on ref \"layer-" + a + "\": unexpected commit digest " + b + ", expected " + a +
           ": failed precondition",
       {a}},
      {"unexpected commit digest " + a + ", expected " + long_digest + ": failed precondition",
       {long_digest}},
      {"expected " + a + ", expected " + b + ", expected " + a, {a, b}},
      {"unexpected commit size 10, expected 20: failed precondition", {}},
      {"expected sha256:ABC, expected sha256:" + std::string(63, 'a'), {}},
      {"expected " + a.substr(0, 70), {}},
      {"", {}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(mirror_pull_internal::RejectedBlobDigests(c.message), c.digests) << c.message;
  }
}

}  // namespace
}  // namespace crimirror::plugin
