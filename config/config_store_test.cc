#include "config/config_store.h"

#include <atomic>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "config/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace crimirror::config {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

std::string Rule(const std::string& registry) {
  return "[[mirror]]\nregistry = \"" + registry +
         "\"\nendpoints = [\"https://m\"]\n";
}

// Polls `condition` until it holds or `timeout` passes.
template <typename F>
bool WaitFor(F condition, absl::Duration timeout = absl::Seconds(5)) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return condition();
}

TEST(ConfigStoreTest, LoadsAtCreate) {
  TempDir dir;
  std::string path = dir.Write("config.toml", Rule("docker.io"));
  auto store = ConfigStore::Create(path);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->Current()->mirrors.at(0).registry, "docker.io");
}

TEST(ConfigStoreTest, MissingFileFailsUnlessMissingOk) {
  TempDir dir;
  auto strict = ConfigStore::Create(dir.File("none.toml"));
  EXPECT_TRUE(absl::IsNotFound(strict.status()));
  auto lenient =
      ConfigStore::Create(dir.File("none.toml"), /*missing_ok=*/true);
  ASSERT_TRUE(lenient.ok());
  EXPECT_TRUE((*lenient)->Current()->mirrors.empty());
}

TEST(ConfigStoreTest, BrokenReloadKeepsLastGoodConfig) {
  TempDir dir;
  std::string path = dir.Write("config.toml", Rule("docker.io"));
  auto store = *ConfigStore::Create(path);
  ConfigPtr before = store->Current();
  int notified = 0;
  store->Subscribe([&notified](ConfigPtr) { ++notified; });
  dir.Write("config.toml", "[server]\nlisten = 1\nrelay = \"0.0.0.0:1\"\n");
  absl::Status status = store->Reload();
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("[server].listen"));
  EXPECT_THAT(status.message(), HasSubstr("[server].relay"));
  EXPECT_EQ(store->Current(), before);
  EXPECT_EQ(notified, 0);
}

TEST(ConfigStoreTest, GoodReloadSwapsAndNotifies) {
  TempDir dir;
  std::string path = dir.Write("config.toml", Rule("docker.io"));
  auto store = *ConfigStore::Create(path);
  ConfigPtr before = store->Current();
  ConfigPtr seen;
  store->Subscribe([&seen](ConfigPtr c) { seen = c; });
  dir.Write("config.toml", Rule("ghcr.io"));
  ASSERT_TRUE(store->Reload().ok());
  EXPECT_EQ(store->Current()->mirrors.at(0).registry, "ghcr.io");
  EXPECT_EQ(seen, store->Current());
  // The old snapshot is still intact for whoever holds it.
  EXPECT_EQ(before->mirrors.at(0).registry, "docker.io");
}

TEST(ConfigWatcherTest, SeesRenameReplace) {
  TempDir dir;
  std::string path = dir.Write("config.toml", Rule("docker.io"));
  auto store = *ConfigStore::Create(path);
  absl::Mutex mu;
  int reloads = 0;
  auto watcher = ConfigWatcher::Create(
      store.get(),
      [&](const absl::Status&) {
        absl::MutexLock lock(&mu);
        ++reloads;
      },
      absl::Milliseconds(50));
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  dir.ReplaceByRename("config.toml", Rule("quay.io"));
  EXPECT_TRUE(WaitFor(
      [&] { return store->Current()->mirrors.at(0).registry == "quay.io"; }));
  // A broken replacement is seen but does not replace the config.
  dir.ReplaceByRename("config.toml", "[[mirror]]\nregistry = 5\n");
  EXPECT_TRUE(WaitFor([&] {
    absl::MutexLock lock(&mu);
    return reloads >= 2;
  }));
  EXPECT_EQ(store->Current()->mirrors.at(0).registry, "quay.io");
}

TEST(ConfigWatcherTest, IgnoresOtherFilesAndStopsCleanly) {
  TempDir dir;
  std::string path = dir.Write("config.toml", Rule("docker.io"));
  auto store = *ConfigStore::Create(path);
  std::atomic<int> reloads{0};
  {
    auto watcher = *ConfigWatcher::Create(
        store.get(), [&](const absl::Status&) { ++reloads; },
        absl::Milliseconds(20));
    dir.Write("other.toml", Rule("ghcr.io"));
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_EQ(reloads.load(), 0);
}

TEST(ConfigWatcherTest, FailsForMissingDirectory) {
  auto store = ConfigStore::CreateWithConfig("/nonexistent-dir/config.toml",
                                             std::make_shared<Config>());
  auto watcher = ConfigWatcher::Create(store.get());
  EXPECT_FALSE(watcher.ok());
  EXPECT_THAT(watcher.status().message(), HasSubstr("/nonexistent-dir"));
}

}  // namespace
}  // namespace crimirror::config
