// Test-only: the fixture of the CRI socket tests (plugin_test.cc,
// h2_router_test.cc): a Server (router, internal gRPC server, proxy) in front
// of an in-process backend, a gRPC generic service on a unix socket standing
// in for containerd, whose behaviour is chosen by the method called.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "cri/api.grpc.pb.h"
#include "plugin/server.h"

namespace crimirror::plugin::testing {

inline std::string ToString(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(buffer.Dump(&slices).ok());
  std::string out;
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

inline grpc::ByteBuffer FromString(const std::string& s) {
  grpc::Slice slice(s);
  return grpc::ByteBuffer(&slice, 1);
}

// Backend behaviours, chosen by method name.
class FakeBackend final : public grpc::CallbackGenericService {
 public:
  std::atomic<bool> saw_cancel{false};
  std::atomic<bool> saw_deadline{false};
  std::atomic<int> calls{0};

  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* ctx) override {
    calls++;
    return new Call(this, ctx);
  }

 private:
  class Call final : public grpc::ServerGenericBidiReactor {
   public:
    Call(FakeBackend* backend, grpc::GenericCallbackServerContext* ctx)
        : backend_(backend), ctx_(ctx) {
      StartRead(&request_);
    }
    void OnReadDone(bool ok) override {
      const std::string& m = ctx_->method();
      if (m == "/runtime.v1.ImageService/EchoStream") {
        // A bidi stream: each message comes back, the half-close ends it.
        if (!ok) {
          Finish(grpc::Status::OK);
          return;
        }
        response_ = request_;
        StartWrite(&response_);
      } else if (m == "/runtime.v1.ImageService/RemoveImage") {
        ctx_->AddTrailingMetadata("x-backend-trailer", "t1");
        Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "no such image", "details-bytes"));
      } else if (m == "/runtime.v1.ImageService/StreamImages") {
        streamed_ = 0;
        WriteNext();
      } else if (m == "/runtime.v1.ImageService/SlowEcho") {
        // Answers the request after 300 ms, from another thread.
        response_ = request_;
        std::thread([this] {
          std::this_thread::sleep_for(std::chrono::milliseconds(300));
          StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
        }).detach();
      } else if (m == "/runtime.v1.ImageService/ImageFsInfo" ||
                 m == "/runtime.v1.ImageService/HoldStream") {
        backend_->saw_deadline =
            ctx_->deadline() < std::chrono::system_clock::now() + std::chrono::hours(1);
        // Hold the call until the client's deadline cancels it.
      } else if (ok) {
        auto it = ctx_->client_metadata().find("x-test");
        if (it != ctx_->client_metadata().end()) {
          ctx_->AddInitialMetadata("x-test-echo", std::string(it->second.data(),
                                                              it->second.size()));
        }
        response_ = request_;
        StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
      } else {
        Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no request"));
      }
    }
    void WriteNext() {
      if (streamed_ == 3) {
        Finish(grpc::Status::OK);
        return;
      }
      runtime::v1::StreamImagesResponse msg;
      msg.add_images()->set_id("sha256:" + std::to_string(streamed_++));
      response_ = FromString(msg.SerializeAsString());
      StartWrite(&response_);
    }
    void OnWriteDone(bool ok) override {
      if (ok && ctx_->method() == "/runtime.v1.ImageService/StreamImages") WriteNext();
      if (ok && ctx_->method() == "/runtime.v1.ImageService/EchoStream") StartRead(&request_);
    }
    void OnCancel() override {
      backend_->saw_cancel = true;
      if (ctx_->method() == "/runtime.v1.ImageService/ImageFsInfo" ||
          ctx_->method() == "/runtime.v1.ImageService/HoldStream") {
        Finish(grpc::Status::CANCELLED);
      }
    }
    void OnDone() override { delete this; }

   private:
    FakeBackend* backend_;
    grpc::GenericCallbackServerContext* ctx_;
    grpc::ByteBuffer request_;
    grpc::ByteBuffer response_;
    int streamed_ = 0;
  };
};

class ProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/crimirror-plugin-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    backend_path_ = dir_ + "/backend.sock";
    StartBackend();
    ServerOptions options;
    options.listen = "unix://" + dir_ + "/run/proxy.sock";
    options.backend = "unix://" + backend_path_;
    options.interceptor = interceptor_.get();
    auto server = Server::Create(options);
    ASSERT_TRUE(server.ok()) << server.status();
    proxy_ = std::move(*server);
    channel_ = grpc::CreateChannel("unix://" + proxy_->socket_path(),
                                   grpc::InsecureChannelCredentials());
  }
  void TearDown() override {
    proxy_.reset();
    if (backend_server_) backend_server_->Shutdown();
    std::filesystem::remove_all(dir_);
  }
  // A gRPC generic service can be registered with one server only, so a
  // restarted backend gets a fresh service object.
  void StartBackend(FakeBackend* service = nullptr) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix:" + backend_path_, grpc::InsecureServerCredentials());
    builder.RegisterCallbackGenericService(service ? service : &backend_);
    backend_server_ = builder.BuildAndStart();
    ASSERT_NE(backend_server_, nullptr);
  }
  grpc::Status RawCall(const std::string& method, const std::string& request,
                       std::string* response, grpc::ClientContext* ctx) {
    grpc::GenericStub stub(channel_);
    grpc::ByteBuffer req = FromString(request), resp;
    absl::Notification done;
    grpc::Status result;
    stub.UnaryCall(ctx, method, grpc::StubOptions(), &req, &resp, [&](grpc::Status s) {
      result = std::move(s);
      done.Notify();
    });
    done.WaitForNotification();
    if (result.ok()) *response = ToString(resp);
    return result;
  }

  std::string dir_;
  std::string backend_path_;
  FakeBackend backend_;
  std::unique_ptr<grpc::Server> backend_server_;
  std::unique_ptr<PullInterceptor> interceptor_;
  std::unique_ptr<Server> proxy_;
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace crimirror::plugin::testing
