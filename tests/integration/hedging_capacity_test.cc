// End-to-end hardening tests (issue 10) with the real components: the
// cri-mirror binary between a real containerd and real docker-registry
// instances, on loopback.
//   - Hedged requests: a mirror that accepts and never answers (BlackHole)
//     listed first, with the DEFAULT configuration (no timeout tuned): the
//     pull costs about hedge_after (500 ms), not the 15 s response timeout.
//   - Relay capacity (defect 6): 400 idle local TCP connections held open to
//     the relay (re-opened as the relay drops them) while a mirrored pull
//     runs: the pull succeeds.
// Time bounds are generous (shared machine); bench/failover.cc measures.

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/integration/testbed/gtest_util.h"
#include "tests/integration/testbed/testbed.h"

namespace crimirror::testbed {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

// Opens a loopback TCP connection to `port`; -1 on failure.
int ConnectLoopback(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Holds `count` idle connections to `port` on a thread, re-opening each one
// the server closes, until destroyed: a local process trying to starve the
// relay.
class IdleConnectionHolder {
 public:
  IdleConnectionHolder(int port, int count) : port_(port) {
    for (int i = 0; i < count; ++i) fds_.push_back(ConnectLoopback(port));
    thread_ = std::thread([this] { Hold(); });
  }
  ~IdleConnectionHolder() {
    stop_ = true;
    thread_.join();
    for (int fd : fds_) {
      if (fd >= 0) close(fd);
    }
  }
  int opened() const { return static_cast<int>(fds_.size()) + reopened_.load(); }
  int failed_connects() const { return failed_.load(); }
  int reopened() const { return reopened_.load(); }

 private:
  void Hold() {
    while (!stop_) {
      std::vector<pollfd> polls;
      for (int fd : fds_) polls.push_back(pollfd{fd, POLLIN, 0});
      if (poll(polls.data(), polls.size(), 100) <= 0) continue;
      for (std::size_t i = 0; i < polls.size(); ++i) {
        if (fds_[i] >= 0 && polls[i].revents == 0) continue;
        char buf[512];
        if (fds_[i] >= 0 && recv(fds_[i], buf, sizeof(buf), MSG_DONTWAIT) > 0) continue;
        if (fds_[i] >= 0) close(fds_[i]);
        fds_[i] = ConnectLoopback(port_);
        (fds_[i] >= 0 ? reopened_ : failed_)++;
      }
    }
  }

  const int port_;
  std::vector<int> fds_;  // touched by the thread only once it runs
  std::atomic<bool> stop_{false};
  std::atomic<int> reopened_{0};
  std::atomic<int> failed_{0};
  std::thread thread_;
};

class HedgingCapacityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TESTBED_SKIP_UNLESS_PREREQUISITES();
    TESTBED_ASSERT_OK_AND_ASSIGN(dir_, TempDir::Create("crimirror-hedge"));
    TESTBED_ASSERT_OK_AND_ASSIGN(containerd_, Containerd::Create(dir_->path()));
    TESTBED_ASSERT_OK_AND_ASSIGN(builder_, ImageBuilder::Create(dir_->Join("oci")));
    TESTBED_ASSERT_OK_AND_ASSIGN(relay_port_, FreeLoopbackPort());
    RegistryOptions options;
    options.name = "good";
    TESTBED_ASSERT_OK_AND_ASSIGN(registry_, Registry::Create(dir_->path(), options));
    ImageOptions image;
    image.seed = 31;
    TESTBED_ASSERT_OK_AND_ASSIGN(built_, builder_->BuildImage("img31", image));
    TESTBED_ASSERT_OK(builder_->Push("img31", registry_->HostPort() + "/team/app:v1", {}).status());
  }

  // Starts cri-mirror (debug log) with only the relay port and `rules` set:
  // every other setting is the default.
  void StartMirror(const std::string& rules) {
    CriMirrorOptions options;
    options.binary = CRI_MIRROR_BINARY;
    options.backend = containerd_->Endpoint();
    options.config_toml =
        absl::StrCat("[server]\nrelay = \"127.0.0.1:", relay_port_, "\"\n\n", rules);
    options.extra_args = {"--log-level", "debug"};
    TESTBED_ASSERT_OK_AND_ASSIGN(mirror_, CriMirror::Create(dir_->path(), options));
    TESTBED_ASSERT_OK_AND_ASSIGN(cri_, CriImageClient::Create(mirror_->Endpoint()));
  }

  std::string Logs() const {
    return absl::StrCat("\n--- cri-mirror log:\n", mirror_ ? mirror_->LogTail() : "",
                        "\n--- containerd log:\n", containerd_->LogTail(3000));
  }

  // Pulls corp.example/team/app:v1 and checks it is the pushed image.
  void PullAndCheck() {
    const std::string name = "corp.example/team/app:v1";
    auto pulled = cri_->Pull(name);
    ASSERT_TRUE(pulled.ok()) << pulled.status.error_message() << Logs();
    auto status = cri_->Status(name);
    ASSERT_TRUE(status.ok()) << status.status.error_message();
    ASSERT_TRUE(status.response.has_image()) << Logs();
    EXPECT_THAT(status.response.image().repo_digests(),
                Contains("corp.example/team/app@" + built_.manifest_digest));
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Containerd> containerd_;
  std::unique_ptr<ImageBuilder> builder_;
  std::unique_ptr<Registry> registry_;
  BuiltImage built_;
  int relay_port_ = 0;
  std::unique_ptr<CriMirror> mirror_;
  std::unique_ptr<CriImageClient> cri_;
};

TEST_F(HedgingCapacityTest, SilentMirrorFirstCostsAboutHedgeAfterWithTheDefaultConfig) {
  TESTBED_ASSERT_OK_AND_ASSIGN(auto hole, BlackHole::Create());
  StartMirror(absl::StrCat("[[mirror]]\nregistry = \"corp.example\"\nendpoints = [\"http://",
                           hole->HostPort(), "\", \"", registry_->Url(),
                           "\"]\nfallback_to_upstream = false\n"));
  const absl::Time start = absl::Now();
  PullAndCheck();
  const absl::Duration took = absl::Now() - start;
  // Without hedging the first request waits the default 15 s response timeout.
  EXPECT_LT(took, absl::Seconds(8)) << Logs();
  const std::string log = mirror_->LogTail(100000);
  EXPECT_THAT(log, HasSubstr(absl::StrCat("http://", hole->HostPort(), ": hedged: ",
                                          registry_->Url(), " answered first")))
      << log;
  std::cout << "first pull past a silent mirror, default config: " << absl::FormatDuration(took)
            << "\n";
}

TEST_F(HedgingCapacityTest, FourHundredIdleConnectionsLeaveAMirroredPullUnaffected) {
  StartMirror(absl::StrCat("[[mirror]]\nregistry = \"corp.example\"\nendpoints = [\"",
                           registry_->Url(), "\"]\nfallback_to_upstream = false\n"));
  IdleConnectionHolder holder(relay_port_, 400);
  const absl::Time start = absl::Now();
  PullAndCheck();
  std::cout << "pull with 400 idle relay connections held: "
            << absl::FormatDuration(absl::Now() - start) << "; re-opened " << holder.reopened()
            << ", failed connects " << holder.failed_connects() << "\n";
}

}  // namespace
}  // namespace crimirror::testbed
