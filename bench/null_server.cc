// Copyright cri-mirror authors.
#include "bench/null_server.h"

#include <cstdio>
#include <memory>

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace crimirror::bench {
namespace {

// Reads the request, answers an empty message.
class NullCall final : public grpc::ServerGenericBidiReactor {
 public:
  NullCall() : response_(&kEmpty, 1) { StartRead(&request_); }
  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);
      return;
    }
    StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
  }
  void OnDone() override { delete this; }

 private:
  static inline const grpc::Slice kEmpty;  // a zero-length message
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
};

class NullService final : public grpc::CallbackGenericService {
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext*) override {
    return new NullCall();
  }
};

}  // namespace

int RunNullServer(const std::string& socket_path) {
  // As in cri-mirror itself (src/main.cc): no Abseil deadlock detection.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  NullService service;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat("unix:", socket_path), grpc::InsecureServerCredentials());
  builder.RegisterCallbackGenericService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    std::fprintf(stderr, "null server: cannot serve on %s\n", socket_path.c_str());
    return 1;
  }
  server->Wait();
  return 0;
}

}  // namespace crimirror::bench
