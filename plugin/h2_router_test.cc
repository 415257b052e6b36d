// Unit tests of the kubelet-facing HTTP/2 router (h2_router.h) beyond the
// pass-through behaviours plugin_test.cc checks: routing tables, flow
// control over more bytes than a connection window, a backend connection
// that ends mid-call, drain on shutdown, header limits and the per-method
// metric. In-process backend (proxy_test_fixture.h).
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "metrics/metrics.h"
#include "plugin/h2_call.h"
#include "plugin/h2_connection.h"
#include "plugin/h2_route.h"
#include "plugin/proxy_test_fixture.h"

namespace crimirror::plugin {
namespace {

using testing::ProxyTest;

TEST(H2Route, EveryImageServiceMethodButPullImageGoesToTheBackend) {
  struct Case {
    const char* path;
    CallRoute route;
    const char* label;
  };
  const Case cases[] = {
      {"/runtime.v1.ImageService/ImageStatus", CallRoute::kBackend, "ImageStatus"},
      {"/runtime.v1.ImageService/ListImages", CallRoute::kBackend, "ListImages"},
      {"/runtime.v1.ImageService/RemoveImage", CallRoute::kBackend, "RemoveImage"},
      {"/runtime.v1.ImageService/ImageFsInfo", CallRoute::kBackend, "ImageFsInfo"},
      {"/runtime.v1.ImageService/AddedUpstreamLater", CallRoute::kBackend, "other"},
      {"/runtime.v1.ImageService/PullImage", CallRoute::kInternal, "PullImage"},
      {"/runtime.v1.RuntimeService/Version", CallRoute::kInternal, "other"},
      {"/runtime.v1.ImageService", CallRoute::kInternal, "other"},
      {"", CallRoute::kInternal, "other"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(RouteOf(c.path), c.route) << c.path;
    EXPECT_EQ(MethodLabel(c.path), c.label) << c.path;
  }
}

TEST(H2Route, GrpcMessageIsPercentEncodedOutsidePrintableAscii) {
  EXPECT_EQ(GrpcMessageValue("backend unix:///run/x.sock is unavailable"),
            "backend unix:///run/x.sock is unavailable");
  EXPECT_EQ(GrpcMessageValue("100% sure\n"), "100%25 sure%0A");
  EXPECT_EQ(GrpcMessageValue("caf\xc3\xa9"), "caf%C3%A9");
}

TEST(ForwardBuffer, TakesInOrderAndCountsWhatIsDropped) {
  ForwardBuffer buffer;
  const std::string data = "abcdefgh";
  buffer.Append(reinterpret_cast<const std::uint8_t*>(data.data()), 5);
  std::uint8_t out[8];
  ASSERT_EQ(buffer.Take(out, 3), 3u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(out), 3), "abc");
  buffer.Append(reinterpret_cast<const std::uint8_t*>(data.data()) + 5, 3);
  EXPECT_EQ(buffer.size(), 5u);
  ASSERT_EQ(buffer.Take(out, 8), 5u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(out), 5), "defgh");
  buffer.Append(reinterpret_cast<const std::uint8_t*>(data.data()), 4);
  EXPECT_EQ(buffer.Clear(), 4u);
  EXPECT_TRUE(buffer.empty());
}

// The count of `series` in the default registry's text (0 when absent).
double MetricSample(const std::string& series) {
  const std::string text = metrics::Registry::Default().Render();
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, series + " ")) continue;
    double value = 0;
    if (absl::SimpleAtod(line.substr(series.size() + 1), &value)) return value;
  }
  return 0;
}

class H2RouterTest : public ProxyTest {
 protected:
  // A stalled flow-control window fails the call instead of hanging it.
  grpc::Status Echo(const std::string& request, std::string* response) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return RawCall("/runtime.v1.ImageService/ListImages", request, response, &ctx);
  }
};

TEST_F(H2RouterTest, MessagesLargerThanAStreamWindowPassUnchanged) {
  std::string request(3 << 20, '\0');
  for (std::size_t i = 0; i < request.size(); ++i) request[i] = static_cast<char>(i * 7 + i / 13);
  std::string response;
  ASSERT_TRUE(Echo(request, &response).ok());
  EXPECT_EQ(response, request);  // 3 MiB each way through a 1 MiB stream window
}

// 48 MiB each way over one kubelet connection, three times the connection
// window: every byte forwarded must be released to its sender again.
TEST_F(H2RouterTest, CallsMovingMoreThanTheConnectionWindowKeepFlowing) {
  ASSERT_LT(kH2ConnectionWindow, 48 << 20);
  const std::string request(1 << 20, 'w');
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      for (int i = 0; i < 12; ++i) {
        std::string response;
        if (Echo(request, &response).ok() && response == request) ++ok;
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(ok.load(), 48);
}

TEST_F(H2RouterTest, RoutedCallIsCountedOnceUnderItsMethod) {
  const std::string series = "cri_mirror_cri_call_duration_seconds_count{method=\"ListImages\"}";
  const double before = MetricSample(series);
  std::string response;
  ASSERT_TRUE(Echo("x", &response).ok());
  // The router records the call when both of its streams are closed, just
  // after the kubelet has its answer.
  for (int i = 0; i < 100 && MetricSample(series) < before + 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(MetricSample(series), before + 1);
}

TEST_F(H2RouterTest, OversizedMetadataFailsOnlyThatCall) {
  grpc::ClientContext ctx;
  ctx.AddMetadata("x-huge", std::string(kMaxHeaderListBytes + 1, 'h'));
  std::string response;
  EXPECT_FALSE(RawCall("/runtime.v1.ImageService/ListImages", "x", &response, &ctx).ok());
  ASSERT_TRUE(Echo("after", &response).ok());
  EXPECT_EQ(response, "after");
}

TEST_F(H2RouterTest, ShutdownLetsACallInFlightFinish) {
  grpc::Status status;
  std::string response;
  std::thread call([&] {
    grpc::ClientContext ctx;
    status = RawCall("/runtime.v1.ImageService/SlowEcho", "slow", &response, &ctx);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  proxy_->Shutdown(absl::Seconds(5));
  call.join();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response, "slow");
}

// A backend that accepts, reads a little and closes: the call in flight on
// that connection ends UNAVAILABLE naming the backend, not with a hang.
TEST_F(H2RouterTest, BackendConnectionEndingMidCallFailsItWithUnavailable) {
  backend_server_->Shutdown();
  backend_server_.reset();
  std::filesystem::remove(backend_path_);
  const int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, backend_path_.c_str(), sizeof(address.sun_path) - 1);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  std::thread closer([listener] {
    const int peer = ::accept(listener, nullptr, nullptr);
    char buffer[4096];
    (void)::recv(peer, buffer, sizeof buffer, 0);  // the preface, SETTINGS, the call
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ::close(peer);
  });
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  std::string response;
  const grpc::Status s = RawCall("/runtime.v1.ImageService/ListImages", "x", &response, &ctx);
  closer.join();
  ::close(listener);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_NE(s.error_message().find(backend_path_), std::string::npos) << s.error_message();
}

}  // namespace
}  // namespace crimirror::plugin

namespace crimirror::plugin {
namespace {

// The kubelet keeps its channel across a cri-mirror restart: the old
// router's GOAWAY and close make it connect again, and the next call works.
TEST_F(H2RouterTest, ChannelCarriesOnAcrossARestart) {
  std::string response;
  ASSERT_TRUE(Echo("before", &response).ok());
  const std::string socket = proxy_->socket_path();
  proxy_->Shutdown(absl::Seconds(1));
  proxy_.reset();
  ServerOptions options;
  options.listen = "unix://" + socket;
  options.backend = "unix://" + backend_path_;
  auto restarted = Server::Create(options);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  proxy_ = *std::move(restarted);
  const grpc::Status s = Echo("after", &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response, "after");
}

}  // namespace
}  // namespace crimirror::plugin
