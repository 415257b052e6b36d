// ImageEnsurer against an in-memory EnsureBackend (the interface is the I/O
// seam; the real CRI one is exercised by tests/integration/ensure_images_test).
#include "node/image_ensurer.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <stdlib.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

namespace crimirror::node {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The runtime's image store in memory, with scripted faults.
struct FakeState {
  absl::Mutex mu;
  std::set<std::string> held;
  std::vector<std::string> pulls;
  absl::StatusOr<std::string> sandbox = std::string("registry.k8s.io/pause:3.6");
  absl::Status pull_error;            // returned by Pull while set
  absl::Notification* block_pull = nullptr;  // Pull waits on it (or Cancel)
  bool cancelled = false;
};

class FakeBackend final : public EnsureBackend {
 public:
  explicit FakeBackend(FakeState* state) : s_(state) {}
  absl::StatusOr<std::string> SandboxImage(absl::Duration) override {
    absl::MutexLock lock(&s_->mu);
    return s_->sandbox;
  }
  absl::StatusOr<bool> HasImage(const std::string& image, absl::Duration) override {
    absl::MutexLock lock(&s_->mu);
    return s_->held.count(image) > 0;
  }
  absl::Status Pull(const std::string& image, absl::Duration) override {
    absl::Notification* block;
    {
      absl::MutexLock lock(&s_->mu);
      s_->pulls.push_back(image);
      block = s_->block_pull;
    }
    if (block != nullptr) block->WaitForNotification();
    absl::MutexLock lock(&s_->mu);
    if (s_->cancelled) return absl::CancelledError("cancelled");
    if (!s_->pull_error.ok()) return s_->pull_error;
    s_->held.insert(image);
    return absl::OkStatus();
  }
  void Cancel() override {
    absl::MutexLock lock(&s_->mu);
    s_->cancelled = true;
  }

 private:
  FakeState* s_;
};

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

config::ConfigPtr ConfigWith(bool sandbox, std::vector<std::string> images,
                             absl::Duration interval = absl::Minutes(1)) {
  auto config = std::make_shared<config::Config>();
  config->server.ensure_sandbox_image = sandbox;
  config->server.ensure_images = std::move(images);
  config->server.ensure_interval = interval;
  return config;
}

class ImageEnsurerTest : public ::testing::Test {
 protected:
  void Start(config::ConfigPtr config) {
    store_ = config::ConfigStore::CreateWithConfig("/nonexistent/config.toml", std::move(config));
    ImageEnsurer::Options options;
    options.config_store = store_.get();
    options.backend = std::make_unique<FakeBackend>(&state_);
    options.retry_initial = absl::Milliseconds(20);
    auto created = ImageEnsurer::Create(std::move(options));
    ASSERT_TRUE(created.ok()) << created.status();
    ensurer_ = *std::move(created);
  }
  std::vector<std::string> Pulls() {
    absl::MutexLock lock(&state_.mu);
    return state_.pulls;
  }
  // Waits (bounded) until at least `n` passes finished.
  void WaitForPasses(int n) {
    absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (ensurer_->passes() < n && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
    ASSERT_GE(ensurer_->passes(), n);
  }

  FakeState state_;
  std::unique_ptr<config::ConfigStore> store_;
  std::unique_ptr<ImageEnsurer> ensurer_;
};

TEST_F(ImageEnsurerTest, PullsTheMissingSandboxImageAndListedImages) {
  state_.held.insert("registry.k8s.io/coredns:v1");
  Start(ConfigWith(true, {"registry.k8s.io/coredns:v1", "quay.io/x/y:2"}));
  ASSERT_TRUE(ensurer_->WaitUntilSettled(absl::Seconds(20)));
  EXPECT_THAT(Pulls(), ElementsAre("registry.k8s.io/pause:3.6", "quay.io/x/y:2"));
  std::vector<EnsuredImage> images = ensurer_->Snapshot();
  ASSERT_EQ(images.size(), 3u);
  EXPECT_TRUE(images[0].sandbox);
  EXPECT_EQ(images[0].image, "registry.k8s.io/pause:3.6");
  for (const EnsuredImage& image : images) {
    EXPECT_TRUE(image.present) << image.image;
    EXPECT_EQ(image.last_error, "");
  }
}

TEST_F(ImageEnsurerTest, PresentImagesAreNotPulled) {
  state_.held = {"registry.k8s.io/pause:3.6", "a/b:1"};
  Start(ConfigWith(true, {"a/b:1"}));
  ASSERT_TRUE(ensurer_->WaitUntilSettled(absl::Seconds(20)));
  EXPECT_TRUE(Pulls().empty());
}

TEST_F(ImageEnsurerTest, SandboxImageOffEnsuresOnlyTheList) {
  Start(ConfigWith(false, {"a/b:1"}));
  ASSERT_TRUE(ensurer_->WaitUntilSettled(absl::Seconds(20)));
  EXPECT_THAT(Pulls(), ElementsAre("a/b:1"));
}

TEST_F(ImageEnsurerTest, RuntimeDownKeepsItUnsettledEvenWithoutSandboxImage) {
  state_.sandbox = absl::UnavailableError("connection refused");
  Start(ConfigWith(false, {}));
  EXPECT_FALSE(ensurer_->WaitUntilSettled(absl::Milliseconds(200)));
  {
    absl::MutexLock lock(&state_.mu);
    state_.sandbox = absl::NotFoundError("not containerd: no sandbox image");
  }
  EXPECT_TRUE(ensurer_->WaitUntilSettled(absl::Seconds(20)));
  EXPECT_TRUE(ensurer_->Snapshot().empty());
}

TEST_F(ImageEnsurerTest, SandboxImageListedAgainIsEnsuredOnce) {
  Start(ConfigWith(true, {"registry.k8s.io/pause:3.6"}));
  ASSERT_TRUE(ensurer_->WaitUntilSettled(absl::Seconds(20)));
  EXPECT_THAT(Pulls(), ElementsAre("registry.k8s.io/pause:3.6"));
  EXPECT_EQ(ensurer_->Snapshot().size(), 1u);
}

TEST_F(ImageEnsurerTest, RuntimeDownIsReportedAndOtherImagesStillEnsured) {
  state_.sandbox = absl::UnavailableError("connection refused");
  Start(ConfigWith(true, {"a/b:1"}));
  EXPECT_FALSE(ensurer_->WaitUntilSettled(absl::Milliseconds(200)));
  std::vector<EnsuredImage> images = ensurer_->Snapshot();
  ASSERT_EQ(images.size(), 2u);
  EXPECT_TRUE(images[0].sandbox);
  EXPECT_FALSE(images[0].present);
  EXPECT_THAT(images[0].last_error, HasSubstr("connection refused"));
  EXPECT_TRUE(images[1].present);
  // The runtime comes back: a retry (back-off from 20 ms) settles it.
  {
    absl::MutexLock lock(&state_.mu);
    state_.sandbox = std::string("registry.k8s.io/pause:3.6");
  }
  EXPECT_TRUE(ensurer_->WaitUntilSettled(absl::Seconds(20)));
}

TEST_F(ImageEnsurerTest, FailedPullIsRetriedWithItsReason) {
  state_.pull_error = absl::NotFoundError("manifest unknown");
  Start(ConfigWith(false, {"a/b:1"}));
  WaitForPasses(2);
  EXPECT_FALSE(ensurer_->WaitUntilSettled(absl::ZeroDuration()));
  std::vector<EnsuredImage> images = ensurer_->Snapshot();
  ASSERT_EQ(images.size(), 1u);
  EXPECT_THAT(images[0].last_error, HasSubstr("cannot pull a/b:1: manifest unknown"));
  EXPECT_GE(Pulls().size(), 2u);
  {
    absl::MutexLock lock(&state_.mu);
    state_.pull_error = absl::OkStatus();
  }
  EXPECT_TRUE(ensurer_->WaitUntilSettled(absl::Seconds(20)));
}

TEST_F(ImageEnsurerTest, ImageRemovedLaterIsPulledAgainOnTrigger) {
  Start(ConfigWith(false, {"a/b:1"}, absl::Hours(1)));
  ASSERT_TRUE(ensurer_->WaitUntilSettled(absl::Seconds(20)));
  int passes = ensurer_->passes();
  {
    absl::MutexLock lock(&state_.mu);
    state_.held.clear();
  }
  ensurer_->Trigger();
  WaitForPasses(passes + 1);
  EXPECT_THAT(Pulls(), ElementsAre("a/b:1", "a/b:1"));
}

TEST_F(ImageEnsurerTest, PeriodicCheckRepullsWithoutTrigger) {
  Start(ConfigWith(false, {"a/b:1"}, absl::Milliseconds(30)));
  ASSERT_TRUE(ensurer_->WaitUntilSettled(absl::Seconds(20)));
  {
    absl::MutexLock lock(&state_.mu);
    state_.held.clear();
  }
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (Pulls().size() < 2 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(Pulls().size(), 2u);
}

TEST_F(ImageEnsurerTest, TriggerAfterReloadEnsuresTheNewList) {
  char dir_template[] = "/tmp/ensurer-test-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string path = std::string(dir_template) + "/config.toml";
  WriteText(path, "[server]\nensure_sandbox_image = false\nensure_interval = \"1h\"\n");
  auto store = config::ConfigStore::Create(path);
  ASSERT_TRUE(store.ok()) << store.status();
  store_ = *std::move(store);
  ImageEnsurer::Options options;
  options.config_store = store_.get();
  options.backend = std::make_unique<FakeBackend>(&state_);
  auto created = ImageEnsurer::Create(std::move(options));
  ASSERT_TRUE(created.ok()) << created.status();
  ensurer_ = *std::move(created);
  WaitForPasses(1);
  EXPECT_TRUE(Pulls().empty());
  WriteText(path,
            "[server]\nensure_sandbox_image = false\nensure_interval = \"1h\"\n"
            "ensure_images = [\"new/image:1\"]\n");
  ASSERT_TRUE(store_->Reload().ok());
  ensurer_->Trigger();
  WaitForPasses(2);
  EXPECT_THAT(Pulls(), ElementsAre("new/image:1"));
  ensurer_.reset();
  std::filesystem::remove_all(dir_template);
}

TEST_F(ImageEnsurerTest, SlowPullBoundsWaitUntilSettled) {
  absl::Notification release;
  state_.block_pull = &release;
  Start(ConfigWith(false, {"a/b:1"}));
  absl::Time start = absl::Now();
  EXPECT_FALSE(ensurer_->WaitUntilSettled(absl::Milliseconds(100)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  release.Notify();
  EXPECT_TRUE(ensurer_->WaitUntilSettled(absl::Seconds(20)));
}

TEST(ImageEnsurerCreateTest, RejectsMissingOptions) {
  ImageEnsurer::Options options;
  EXPECT_EQ(ImageEnsurer::Create(std::move(options)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace crimirror::node
