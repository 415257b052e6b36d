// Unit tests of the pass-through (router and internal server) against an
// in-process backend (proxy_test_fixture.h). The real containerd is
// exercised in tests/integration.
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "cri/api.grpc.pb.h"
#include "plugin/proxy_test_fixture.h"
#include "plugin/server.h"
#include "plugin/unix_socket.h"

namespace crimirror::plugin {
namespace {

using testing::FakeBackend;
using testing::FromString;
using testing::ProxyTest;
using testing::ToString;

TEST_F(ProxyTest, UnaryCallPassesBytesUnchangedIncludingUnknownFields) {
  runtime::v1::ImageStatusRequest req;
  req.mutable_image()->set_image("docker.io/library/nginx:1.25");
  // Field 99 (varint 7) is unknown to every CRI version.
  std::string wire = req.SerializeAsString() + std::string("\x98\x06\x07", 3);
  std::string response;
  grpc::ClientContext ctx;
  ASSERT_TRUE(RawCall("/runtime.v1.ImageService/ImageStatus", wire, &response, &ctx).ok());
  EXPECT_EQ(response, wire);
}

TEST_F(ProxyTest, MethodsAddedUpstreamLaterStillPass) {
  std::string response;
  grpc::ClientContext ctx;
  ASSERT_TRUE(RawCall("/runtime.v1.ImageService/SomeFutureMethod", "abc", &response, &ctx).ok());
  EXPECT_EQ(response, "abc");
}

TEST_F(ProxyTest, MetadataTravelsBothWays) {
  std::string response;
  grpc::ClientContext ctx;
  ctx.AddMetadata("x-test", "hello");
  ASSERT_TRUE(RawCall("/runtime.v1.ImageService/ListImages", "", &response, &ctx).ok());
  auto echoed = ctx.GetServerInitialMetadata().find("x-test-echo");
  ASSERT_NE(echoed, ctx.GetServerInitialMetadata().end());
  EXPECT_EQ(std::string(echoed->second.data(), echoed->second.size()), "hello");
}

TEST_F(ProxyTest, StatusCodeMessageDetailsAndTrailersPropagate) {
  std::string response;
  grpc::ClientContext ctx;
  grpc::Status s = RawCall("/runtime.v1.ImageService/RemoveImage", "x", &response, &ctx);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(s.error_message(), "no such image");
  EXPECT_EQ(s.error_details(), "details-bytes");
  auto trailer = ctx.GetServerTrailingMetadata().find("x-backend-trailer");
  ASSERT_NE(trailer, ctx.GetServerTrailingMetadata().end());
}

TEST_F(ProxyTest, ServerStreamingRelaysEveryMessage) {
  runtime::v1::ImageService::Stub stub(channel_);
  grpc::ClientContext ctx;
  runtime::v1::StreamImagesRequest req;
  auto reader = stub.StreamImages(&ctx, req);
  runtime::v1::StreamImagesResponse msg;
  int count = 0;
  while (reader->Read(&msg)) count++;
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(count, 3);
}

TEST_F(ProxyTest, ClientDeadlineCancelsBackendCall) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
  std::string response;
  grpc::Status s = RawCall("/runtime.v1.ImageService/ImageFsInfo", "", &response, &ctx);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(backend_.saw_deadline.load());
  for (int i = 0; i < 100 && !backend_.saw_cancel.load(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(backend_.saw_cancel.load());
}

// A method this build does not know takes the streaming pump: several
// messages each way, the half-close, then the status.
TEST_F(ProxyTest, BidiStreamOfAnUnknownMethodRelaysEveryMessageBothWays) {
  grpc::GenericStub stub(channel_);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  auto call = stub.PrepareCall(&ctx, "/runtime.v1.ImageService/EchoStream", &cq);
  void* tag = nullptr;
  bool ok = false;
  auto wait = [&](intptr_t expected) {
    ASSERT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(reinterpret_cast<intptr_t>(tag), expected);
  };
  call->StartCall(reinterpret_cast<void*>(1));
  wait(1);
  for (int i = 0; i < 3; ++i) {
    call->Write(FromString("message " + std::to_string(i)), reinterpret_cast<void*>(2));
    wait(2);
    ASSERT_TRUE(ok);
    grpc::ByteBuffer echoed;
    call->Read(&echoed, reinterpret_cast<void*>(3));
    wait(3);
    ASSERT_TRUE(ok);
    EXPECT_EQ(ToString(echoed), "message " + std::to_string(i));
  }
  call->WritesDone(reinterpret_cast<void*>(4));
  wait(4);
  grpc::ByteBuffer none;
  call->Read(&none, reinterpret_cast<void*>(5));
  wait(5);
  EXPECT_FALSE(ok);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(6));
  wait(6);
  EXPECT_TRUE(status.ok()) << status.error_message();
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

TEST_F(ProxyTest, KubeletCancelOfAStreamCancelsTheBackendCall) {
  grpc::ClientContext ctx;
  std::thread cancel([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ctx.TryCancel();
  });
  std::string response;
  grpc::Status s = RawCall("/runtime.v1.ImageService/HoldStream", "x", &response, &ctx);
  cancel.join();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::CANCELLED);
  for (int i = 0; i < 100 && !backend_.saw_cancel.load(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(backend_.saw_cancel.load());
}

TEST_F(ProxyTest, BackendDownFailsFastWithUnavailableNamingTheSocket) {
  backend_server_->Shutdown();
  backend_server_.reset();
  std::string response;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto start = std::chrono::steady_clock::now();
  grpc::Status s = RawCall("/runtime.v1.ImageService/ListImages", "", &response, &ctx);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(s.error_message().find(backend_path_), std::string::npos) << s.error_message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  // The backend comes back: calls succeed again without restarting the proxy.
  FakeBackend restarted;
  StartBackend(&restarted);
  bool recovered = false;
  for (int i = 0; i < 50 && !recovered; ++i) {
    grpc::ClientContext retry;
    recovered = RawCall("/runtime.v1.ImageService/ListImages", "", &response, &retry).ok();
    if (!recovered) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(recovered);
  backend_server_->Shutdown();
  backend_server_.reset();
}

TEST_F(ProxyTest, NonImageServiceMethodsAreUnimplemented) {
  std::string response;
  grpc::ClientContext ctx;
  grpc::Status s = RawCall("/runtime.v1.RuntimeService/Version", "", &response, &ctx);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(backend_.calls.load(), 0);
}

TEST_F(ProxyTest, SocketHasMode0660) {
  struct stat st {};
  ASSERT_EQ(::stat(proxy_->socket_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
}

TEST_F(ProxyTest, SecondServerOnALiveSocketIsRefused) {
  ServerOptions options;
  options.listen = "unix://" + proxy_->socket_path();
  options.backend = "unix://" + backend_path_;
  auto second = Server::Create(options);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("another process"), std::string::npos);
}

TEST_F(ProxyTest, ShutdownRemovesTheSocket) {
  std::string path = proxy_->socket_path();
  proxy_->Shutdown(absl::Seconds(1));
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(UnixSocket, StaleSocketIsRemoved) {
  char tmpl[] = "/tmp/crimirror-sock-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string path = std::string(tmpl) + "/stale.sock";
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ::close(fd);  // bound but never listening: what a killed process leaves
  EXPECT_TRUE(PrepareSocketPath(path).ok());
  EXPECT_FALSE(std::filesystem::exists(path));
  std::filesystem::remove_all(tmpl);
}

TEST(UnixSocket, RegularFileAtSocketPathIsRefused) {
  char tmpl[] = "/tmp/crimirror-sock-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string path = std::string(tmpl) + "/file";
  { std::FILE* f = std::fopen(path.c_str(), "w"); std::fclose(f); }
  absl::Status s = PrepareSocketPath(path);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  std::filesystem::remove_all(tmpl);
}

TEST(Server, RejectsNonUnixListenUrl) {
  ServerOptions options;
  options.listen = "tcp://127.0.0.1:1234";
  auto s = Server::Create(options);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("unix:///"), std::string::npos);
}

// An interceptor that answers PullImage itself.
class AnsweringInterceptor final : public PullInterceptor {
 public:
  std::atomic<bool> saw_cancel{false};

  bool Intercept(PullCaller caller, const grpc::ByteBuffer& request, PullDone done) override {
    runtime::v1::PullImageRequest req;
    req.ParseFromString(ToString(request));
    if (req.image().image() == "passthrough") return false;
    if (req.image().image() == "hold") {
      // Answers only once the kubelet's call is gone.
      std::thread([this, caller = std::move(caller), done = std::move(done)] {
        for (int i = 0; i < 1000 && !caller.cancelled(); ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        saw_cancel = caller.cancelled();
        done(grpc::Status(grpc::StatusCode::CANCELLED, "caller went away"), {});
      }).detach();
      return true;
    }
    std::thread([done = std::move(done)] {
      runtime::v1::PullImageResponse resp;
      resp.set_image_ref("sha256:intercepted");
      done(grpc::Status::OK, FromString(resp.SerializeAsString()));
    }).detach();
    return true;
  }
};

class InterceptTest : public ProxyTest {
 protected:
  void SetUp() override {
    interceptor_ = std::make_unique<AnsweringInterceptor>();
    ProxyTest::SetUp();
  }
};

TEST_F(InterceptTest, InterceptedPullIsAnsweredByTheInterceptor) {
  runtime::v1::ImageService::Stub stub(channel_);
  grpc::ClientContext ctx;
  runtime::v1::PullImageRequest req;
  req.mutable_image()->set_image("nginx");
  runtime::v1::PullImageResponse resp;
  ASSERT_TRUE(stub.PullImage(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.image_ref(), "sha256:intercepted");
  EXPECT_EQ(backend_.calls.load(), 0);
}

TEST_F(InterceptTest, DeclinedPullIsForwardedUnchanged) {
  runtime::v1::PullImageRequest req;
  req.mutable_image()->set_image("passthrough");
  std::string response;
  grpc::ClientContext ctx;
  ASSERT_TRUE(RawCall("/runtime.v1.ImageService/PullImage", req.SerializeAsString(),
                      &response, &ctx).ok());
  EXPECT_EQ(response, req.SerializeAsString());  // the fake backend echoes
  EXPECT_EQ(backend_.calls.load(), 1);
}

TEST_F(InterceptTest, KubeletDeadlineReachesTheInterceptor) {
  runtime::v1::ImageService::Stub stub(channel_);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
  runtime::v1::PullImageRequest req;
  req.mutable_image()->set_image("hold");
  runtime::v1::PullImageResponse resp;
  EXPECT_EQ(stub.PullImage(&ctx, req, &resp).error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  auto* interceptor = static_cast<AnsweringInterceptor*>(interceptor_.get());
  for (int i = 0; i < 200 && !interceptor->saw_cancel.load(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(interceptor->saw_cancel.load());
}

// Shutdown cancels an intercepted pull in flight and waits for its answer,
// which comes back through the call's queue.
TEST_F(InterceptTest, ShutdownCancelsAnInterceptedPullAndWaitsForItsAnswer) {
  runtime::v1::ImageService::Stub stub(channel_);
  grpc::ClientContext ctx;
  runtime::v1::PullImageRequest req;
  req.mutable_image()->set_image("hold");
  runtime::v1::PullImageResponse resp;
  grpc::Status status;
  std::thread pull([&] { status = stub.PullImage(&ctx, req, &resp); });
  auto* interceptor = static_cast<AnsweringInterceptor*>(interceptor_.get());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  proxy_->Shutdown(absl::ZeroDuration());
  EXPECT_TRUE(interceptor->saw_cancel.load());
  pull.join();
  EXPECT_FALSE(status.ok());
}

}  // namespace
}  // namespace crimirror::plugin
