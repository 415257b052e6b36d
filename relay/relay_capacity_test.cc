// Unit tests for the relay's connection capacity (issue 10 defect 6, issue 15
// soak): a connection with no request in progress is closed after
// RelayLimits::idle_timeout (before its first request and after a response),
// a request in progress with a valid session credential keeps
// connection_timeout even when the client stops reading for longer than the
// idle timeout, and idle connections beyond the old 128 slots leave the
// relay serving. Raw loopback sockets; the upstream serves generated blobs.
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "relay/endpoint_health.h"
#include "relay/fake_response.h"
#include "relay/relay_server.h"
#include "relay/route.h"
#include "relay/session_store.h"
#include "relay/upstream.h"

namespace crimirror::relay {
namespace {

constexpr std::size_t kBlobBytes = 16 << 20;

// Every blob is kBlobBytes of 'x'; anything else is unavailable.
class BlobUpstream : public Upstream {
 public:
  absl::StatusOr<UpstreamResponsePtr> Open(const UpstreamRequest& request) override {
    if (!absl::StrContains(request.url, "/blobs/")) {
      return absl::UnavailableError("only blobs in this test");
    }
    return std::make_unique<FakeResponse>(200, Headers{}, std::string(kBlobBytes, 'x'));
  }
};

// A connected loopback socket, closed on destruction.
class Socket {
 public:
  // `receive_buffer` > 0 sets SO_RCVBUF (bytes) before connecting.
  explicit Socket(int port, int receive_buffer = 0) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    if (fd_ >= 0 && receive_buffer > 0) {
      (void)setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = fd_ >= 0 && connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~Socket() {
    if (fd_ >= 0) close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  bool connected() const { return connected_; }

  bool Send(const std::string& data) {
    return send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
  }
  // Reads what arrives within `timeout` (stops at the first pause after
  // some bytes). Empty on nothing.
  std::string Receive(absl::Duration timeout) {
    std::string out;
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      const int wait = out.empty() ? 50 : 20;
      if (poll(&p, 1, wait) <= 0) {
        if (!out.empty()) break;
        continue;
      }
      char buf[4096];
      const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }
  // Waits up to `timeout` for the server to close the connection.
  bool ClosedByPeerWithin(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) > 0) {
        char buf[4096];
        const ssize_t n = recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN)) return true;
      }
    }
    return false;
  }

 private:
  int fd_;
  bool connected_ = false;
};

class RelayCapacityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RelayServer::Options options;
    options.upstream = &upstream_;
    options.sessions = &sessions_;
    options.health = &health_;
    options.limits.idle_timeout = absl::Seconds(1);
    options.limits.connection_timeout = absl::Seconds(30);
    auto server = RelayServer::Create(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    resolver::EndpointPlan plan;
    plan.reference = {"corp.example", "team/app", "v1", ""};
    resolver::Endpoint endpoint;
    endpoint.base_url = "http://a.test:5000";
    endpoint.host = "a.test:5000";
    endpoint.repository = "team/app";
    endpoint.kind = resolver::EndpointKind::kMirror;
    plan.endpoints = {endpoint};
    relay_repository_ = RelayRepository(plan.reference);
    auto session = sessions_.Create(plan, std::nullopt, absl::Minutes(30));
    ASSERT_TRUE(session.ok());
    session_ = *session;
  }
  std::string BaseRequest(bool authenticated) const { return Get("/v2/", authenticated); }
  std::string BlobRequest() const {
    return Get(absl::StrCat("/v2/", relay_repository_, "/blobs/sha256:", std::string(64, 'a')),
               /*authenticated=*/true);
  }
  std::string Get(const std::string& path, bool authenticated) const {
    std::string request = absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: relay\r\n");
    if (authenticated) {
      absl::StrAppend(&request, "Authorization: Basic ",
                      absl::Base64Escape(absl::StrCat(session_.username, ":",
                                                      session_.password.Reveal())),
                      "\r\n");
    }
    return request + "\r\n";
  }

  BlobUpstream upstream_;
  SessionStore sessions_;
  EndpointHealth health_{EndpointHealth::Options{}};
  std::unique_ptr<RelayServer> server_;
  Session session_;
  std::string relay_repository_;
};

TEST_F(RelayCapacityTest, SilentConnectionIsClosedAfterTheUnauthenticatedTimeout) {
  Socket idle(server_->port());
  ASSERT_TRUE(idle.connected());
  EXPECT_TRUE(idle.ClosedByPeerWithin(absl::Seconds(10)));
}

TEST_F(RelayCapacityTest, ConnectionWhoseRequestWas401KeepsTheShortTimeout) {
  Socket client(server_->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.Send(BaseRequest(/*authenticated=*/false)));
  EXPECT_TRUE(absl::StrContains(client.Receive(absl::Seconds(5)), " 401 "));
  EXPECT_TRUE(client.ClosedByPeerWithin(absl::Seconds(10)));
}

TEST_F(RelayCapacityTest, KeepAliveConnectionServesBackToBackRequests) {
  Socket client(server_->port());
  ASSERT_TRUE(client.connected());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client.Send(BaseRequest(/*authenticated=*/true))) << i;
    EXPECT_TRUE(absl::StrContains(client.Receive(absl::Seconds(5)), " 200 ")) << i;
  }
}

TEST_F(RelayCapacityTest, ConnectionIdleAfterAResponseIsClosedAfterTheIdleTimeout) {
  Socket client(server_->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.Send(BaseRequest(/*authenticated=*/true)));
  EXPECT_TRUE(absl::StrContains(client.Receive(absl::Seconds(5)), " 200 "));
  // The request raised the timeout to connection_timeout (30 s here); the
  // finished response lowers it to idle_timeout (1 s) again.
  EXPECT_TRUE(client.ClosedByPeerWithin(absl::Seconds(10)));
}

TEST_F(RelayCapacityTest, ResponseInProgressOutlivesTheIdleTimeoutWhileTheClientPauses) {
  // A small receive buffer: the 16 MiB blob cannot all sit in socket
  // buffers (the relay's send buffer grows to 4 MiB at most), so the relay
  // really waits for the client.
  Socket client(server_->port(), /*receive_buffer=*/64 * 1024);
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.Send(BlobRequest()));
  std::string head = client.Receive(absl::Seconds(5));
  ASSERT_TRUE(absl::StrContains(head, " 200 ")) << head.substr(0, 200);
  // The client stops reading, well past the 1 s idle timeout: the relay's
  // send buffer fills and it waits under connection_timeout (30 s).
  absl::SleepFor(absl::Seconds(3));
  std::size_t received = head.size() - (head.find("\r\n\r\n") + 4);
  while (received < kBlobBytes) {
    const std::string more = client.Receive(absl::Seconds(5));
    if (more.empty()) break;
    received += more.size();
  }
  EXPECT_EQ(received, kBlobBytes);
}

// User + system CPU time of this process so far.
absl::Duration ProcessCpu() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return absl::Seconds(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         absl::Microseconds(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

// libmicrohttpd 0.9.75's own timeout busy-waits through its last second
// (idle_reaper.h): eight idle connections closed that way cost several
// CPU-seconds. The reaper closes them for next to nothing.
TEST_F(RelayCapacityTest, IdleConnectionsCloseWithoutBusyWaiting) {
  std::vector<std::unique_ptr<Socket>> clients;
  for (int i = 0; i < 8; ++i) {
    clients.push_back(std::make_unique<Socket>(server_->port()));
    ASSERT_TRUE(clients.back()->connected());
    ASSERT_TRUE(clients.back()->Send(BaseRequest(/*authenticated=*/true)));
    ASSERT_TRUE(absl::StrContains(clients.back()->Receive(absl::Seconds(5)), " 200 "));
  }
  const absl::Duration before = ProcessCpu();
  for (const std::unique_ptr<Socket>& client : clients) {
    EXPECT_TRUE(client->ClosedByPeerWithin(absl::Seconds(10)));
  }
  EXPECT_LT(ProcessCpu() - before, absl::Milliseconds(500));
}

// VmRSS of this process in KiB (0 if unknown).
long RssKib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (absl::StartsWith(line, "VmRSS:")) return std::atol(line.c_str() + 6);
  }
  return 0;
}

TEST_F(RelayCapacityTest, ManyIdleConnectionsLeaveSessionsServed) {
  std::vector<std::unique_ptr<Socket>> idle;
  const long rss_before = RssKib();
  const absl::Time start = absl::Now();
  for (int i = 0; i < 400; ++i) {
    idle.push_back(std::make_unique<Socket>(server_->port()));
    ASSERT_TRUE(idle.back()->connected()) << i;
  }
  absl::SleepFor(absl::Milliseconds(300));  // let the relay start their threads
  // A figure for relay_server.cc's capacity comment, not an assertion.
  std::cout << "400 idle relay connections: +" << (RssKib() - rss_before) << " KiB RSS, opened in "
            << absl::FormatDuration(absl::Now() - start) << "\n";
  Socket client(server_->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.Send(BaseRequest(/*authenticated=*/true)));
  // Generous: under ThreadSanitizer (scripts/test.sh's build-tsan) each of
  // the 400 connection threads is slow to start, and the relay's accept
  // loop starts them one after the other (measured: over 10 s).
  EXPECT_TRUE(absl::StrContains(client.Receive(absl::Seconds(90)), " 200 "));
}

}  // namespace
}  // namespace crimirror::relay
