// Node readiness (issue 11) end to end: a real containerd whose CRI
// sandbox_image names a registry only a [[mirror]] rule reaches, real
// docker-registry, and the cri-mirror binary run with NOTIFY_SOCKET on a
// datagram socket the test owns. cri-mirror must read the sandbox image from
// containerd's RuntimeService/Status, pull it (and [server].ensure_images)
// through the mirror before READY=1, bracket a SIGHUP reload with
// RELOADING=1/READY=1 (and a file-watch reload too), pull a removed image again, ping the watchdog and
// send STOPPING=1 at SIGTERM.

#include <signal.h>

#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/integration/testbed/gtest_util.h"
#include "tests/integration/testbed/testbed.h"
#include "tests/support/notify_receiver.h"

namespace crimirror::testbed {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kSandboxImage[] = "pause.k8s.example/k8s/pause:3.6";
constexpr char kAddonImage[] = "addons.example/addons/dns:v1";

// The test's end of NOTIFY_SOCKET, skipping and counting WATCHDOG=1 pings.
class NotifyLog {
 public:
  explicit NotifyLog(std::unique_ptr<test_support::NotifyReceiver> receiver)
      : receiver_(std::move(receiver)) {}
  const std::string& path() const { return receiver_->name(); }

  // The next message other than WATCHDOG=1 within `timeout`; "" on timeout.
  std::string Next(absl::Duration timeout = absl::Seconds(90)) {
    absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      std::optional<std::string> message = receiver_->Receive(deadline - absl::Now());
      if (!message) return "";
      all_.push_back(*message);
      if (*message != "WATCHDOG=1") return *message;
      ++pings_;
    }
    return "";
  }
  int pings() const { return pings_; }
  std::string All() const { return absl::StrJoin(all_, " | "); }

 private:
  std::unique_ptr<test_support::NotifyReceiver> receiver_;
  int pings_ = 0;
  std::vector<std::string> all_;
};

class NodeReadinessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TESTBED_SKIP_UNLESS_PREREQUISITES();
    TESTBED_ASSERT_OK_AND_ASSIGN(dir_, TempDir::Create("crimirror-ready"));
    TESTBED_ASSERT_OK_AND_ASSIGN(builder_, ImageBuilder::Create(dir_->Join("oci")));
    RegistryOptions options;
    options.name = "mirror";
    TESTBED_ASSERT_OK_AND_ASSIGN(registry_, Registry::Create(dir_->path(), options));
    Push("pause", 11, "k8s/pause:3.6");
    Push("dns", 12, "addons/dns:v1");
    TESTBED_ASSERT_OK_AND_ASSIGN(auto receiver,
                                 test_support::NotifyReceiver::Create(dir_->Join("notify.sock")));
    receiver_ = std::make_unique<NotifyLog>(std::move(receiver));
  }

  void Push(const std::string& tag, uint64_t seed, const std::string& repo_tag) {
    ImageOptions image;
    image.seed = seed;
    TESTBED_ASSERT_OK(builder_->BuildImage(tag, image).status());
    TESTBED_ASSERT_OK(builder_->Push(tag, registry_->HostPort() + "/" + repo_tag).status());
  }

  void StartContainerd(const std::string& sandbox_image) {
    ContainerdOptions options;
    options.sandbox_image = sandbox_image;
    TESTBED_ASSERT_OK_AND_ASSIGN(containerd_, Containerd::Create(dir_->path(), options));
    TESTBED_ASSERT_OK_AND_ASSIGN(direct_, CriImageClient::Create(containerd_->Endpoint()));
  }

  // Rules under which only the mirror serves the two names (no upstream).
  std::string Rules() const {
    std::string rules;
    for (const char* registry : {"pause.k8s.example", "addons.example"}) {
      absl::StrAppend(&rules, "[[mirror]]\nregistry = \"", registry, "\"\nendpoints = [\"",
                      registry_->Url(), "\"]\nfallback_to_upstream = false\n\n");
    }
    return rules;
  }

  void StartMirror(const std::string& server_keys, const std::string& rules,
                   std::map<std::string, std::string> env) {
    TESTBED_ASSERT_OK_AND_ASSIGN(int relay_port, FreeLoopbackPort());
    CriMirrorOptions options;
    options.binary = CRI_MIRROR_BINARY;
    options.backend = containerd_->Endpoint();
    options.config_toml =
        absl::StrCat("[server]\nrelay = \"127.0.0.1:", relay_port, "\"\n", server_keys, "\n", rules);
    env["NOTIFY_SOCKET"] = receiver_->path();
    options.env = std::move(env);
    TESTBED_ASSERT_OK_AND_ASSIGN(mirror_, CriMirror::Create(dir_->path(), options));
  }

  bool Present(const std::string& image) {
    auto status = direct_->Status(image);
    return status.ok() && status.response.has_image();
  }

  std::string Logs() const {
    return absl::StrCat("\n--- notify: ", receiver_ ? receiver_->All() : "",
                        "\n--- cri-mirror log:\n", mirror_ ? mirror_->LogTail() : "",
                        "\n--- containerd log:\n", containerd_ ? containerd_->LogTail(3000) : "");
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<ImageBuilder> builder_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<NotifyLog> receiver_;
  std::unique_ptr<Containerd> containerd_;
  std::unique_ptr<CriImageClient> direct_;
  std::unique_ptr<CriMirror> mirror_;
};

TEST_F(NodeReadinessTest, EnsuresImagesThroughMirrorsBeforeReadyThenReloadsAndStops) {
  StartContainerd(kSandboxImage);
  ASSERT_FALSE(Present(kSandboxImage));
  StartMirror(absl::StrCat("ensure_images = [\"", kAddonImage, "\"]\n"), Rules(),
              {{"WATCHDOG_USEC", "400000"}});

  std::string ready = receiver_->Next();
  ASSERT_THAT(ready, StartsWith("READY=1\nSTATUS=serving unix://")) << Logs();
  EXPECT_THAT(ready, HasSubstr("2 ensured image(s) present")) << Logs();
  // Everything READY=1 promises holds when it arrives.
  EXPECT_TRUE(UnixSocketConnectable(mirror_->socket_path()));
  EXPECT_TRUE(Present(kSandboxImage)) << Logs();
  EXPECT_TRUE(Present(kAddonImage)) << Logs();

  // SIGHUP: RELOADING=1 (with MONOTONIC_USEC) then READY=1.
  TESTBED_ASSERT_OK(mirror_->process()->Signal(SIGHUP));
  EXPECT_THAT(receiver_->Next(), StartsWith("RELOADING=1\nMONOTONIC_USEC=")) << Logs();
  EXPECT_THAT(receiver_->Next(), StartsWith("READY=1")) << Logs();

  // A change of the file, reloaded by the file watch, is bracketed the same.
  absl::StatusOr<std::string> config = ReadFile(mirror_->config_path());
  ASSERT_TRUE(config.ok()) << config.status();
  TESTBED_ASSERT_OK(mirror_->WriteConfig(*config + "# touched\n"));
  EXPECT_THAT(receiver_->Next(absl::Seconds(10)), StartsWith("RELOADING=1\nMONOTONIC_USEC="))
      << Logs();
  EXPECT_THAT(receiver_->Next(absl::Seconds(10)), StartsWith("READY=1\nSTATUS=serving unix://"))
      << Logs();

  // The sandbox image removed behind cri-mirror's back comes back on the
  // next pass (a reload asks for one at once).
  ASSERT_TRUE(direct_->Remove(kSandboxImage).ok());
  ASSERT_FALSE(Present(kSandboxImage));
  TESTBED_ASSERT_OK(mirror_->process()->Signal(SIGHUP));
  absl::Status again = WaitFor([&] { return Present(kSandboxImage); }, absl::Seconds(60),
                               "the sandbox image pulled again");
  EXPECT_TRUE(again.ok()) << again << Logs();

  EXPECT_GE(receiver_->pings(), 1) << "no WATCHDOG=1 at WATCHDOG_USEC=400000" << Logs();
  EXPECT_EQ(mirror_->Stop(), 0) << Logs();
  std::string last;
  for (std::string m = receiver_->Next(absl::Seconds(5)); !m.empty();
       m = receiver_->Next(absl::Seconds(1))) {
    last = m;
  }
  EXPECT_EQ(last, "STOPPING=1") << Logs();
  EXPECT_THAT(mirror_->LogTail(), HasSubstr("ensure: pulled " + std::string(kSandboxImage)));
}

TEST_F(NodeReadinessTest, UnreachableSandboxImageWarnsAndIsReadyAfterTheTimeout) {
  StartContainerd("127.0.0.1:1/nowhere/pause:3.6");
  StartMirror("ensure_timeout = \"2s\"\n", "", {{"WATCHDOG_USEC", "400000"},
                                                 {"WATCHDOG_PID", "1"}});
  std::string ready = receiver_->Next(absl::Seconds(60));
  ASSERT_THAT(ready, StartsWith("READY=1")) << Logs();
  EXPECT_THAT(ready, HasSubstr("not yet present: cannot pull 127.0.0.1:1/nowhere/pause:3.6"));
  EXPECT_THAT(mirror_->LogTail(), HasSubstr("still not settled after [server].ensure_timeout"));
  // WATCHDOG_PID names another process: no pings.
  EXPECT_EQ(receiver_->Next(absl::Seconds(2)), "");
  EXPECT_EQ(receiver_->pings(), 0);
  EXPECT_EQ(mirror_->Stop(), 0) << Logs();
  EXPECT_EQ(receiver_->Next(absl::Seconds(5)), "STOPPING=1");
}

}  // namespace
}  // namespace crimirror::testbed
