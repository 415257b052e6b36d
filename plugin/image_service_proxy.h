// ImageServiceProxy: the gRPC generic service of cri-mirror's internal gRPC
// server, which receives the calls the HTTP/2 router (h2_router.h) does not
// relay to the backend itself: PullImage, first offered to the
// PullInterceptor and relayed by ProxyCall when declined, and calls outside
// /runtime.v1.ImageService/, answered UNIMPLEMENTED (cri-mirror is an image
// service endpoint only). Other ImageService methods would be relayed by
// ProxyCall too; the router sends them straight to the backend.
//
// Each serving thread owns one completion queue and polls only it; a call's
// kubelet side and backend side both complete on that queue (proxy_call.h
// says why). Use: AddTo(builder) before BuildAndStart, Start() after it,
// Stop() after grpc::Server::Shutdown returned.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/channel.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/server_builder.h>

#include "plugin/proxy_call.h"
#include "plugin/pull_interceptor.h"

namespace crimirror::plugin {

// Serving threads when ServerOptions leaves it at 0. One thread measured
// fastest on a 2-vCPU node (bench `--only cri`, see bench/README.md): a
// proxied call costs microseconds of CPU, and a second queue's thread only
// adds wake-ups between the pollers.
inline constexpr int kDefaultProxyThreads = 1;

class ImageServiceProxy final {
 public:
  // `backend` is shared by all calls. `backend_target` names it in errors.
  // `interceptor` may be null (pure pass-through) and must outlive the proxy.
  // `threads` < 1 means kDefaultProxyThreads.
  ImageServiceProxy(std::shared_ptr<grpc::Channel> backend, std::string backend_target,
                    PullInterceptor* interceptor, int threads);
  // Stop() if it was not called.
  ~ImageServiceProxy();
  ImageServiceProxy(const ImageServiceProxy&) = delete;
  ImageServiceProxy& operator=(const ImageServiceProxy&) = delete;

  // Registers the service and one completion queue per thread.
  void AddTo(grpc::ServerBuilder* builder);
  // After the server started: waits for calls and starts the threads.
  void Start();
  // After the server shut down (every call is cancelled or over): waits for
  // each call to release its operations, then stops the queues and joins
  // the threads. Idempotent.
  void Stop();

 private:
  std::shared_ptr<grpc::Channel> backend_;
  grpc::GenericStub stub_;
  grpc::AsyncGenericService service_;
  ProxyShared shared_;
  int thread_count_;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues_;
  std::vector<std::thread> threads_;
  bool stopped_ = false;
};

}  // namespace crimirror::plugin
