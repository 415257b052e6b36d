// Server: cri-mirror's endpoint for the kubelet. Owns the unix socket and
// the HTTP/2 router that listens on it (h2_router.h: every ImageService call
// but PullImage is relayed frame by frame to the backend), cri-mirror's own
// gRPC server behind the router (no socket of its own; the router reaches it
// through socketpairs) with the ImageServiceProxy that serves PullImage
// (offered to the interceptor) and answers other services UNIMPLEMENTED,
// and the backend channel the proxy and the pull flow share.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/server.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "plugin/h2_router.h"
#include "plugin/image_service_proxy.h"
#include "plugin/pull_interceptor.h"
#include "plugin/route_dialer.h"

namespace crimirror::plugin {

struct ServerOptions {
  std::string listen = "unix:///run/cri-mirror/cri-mirror.sock";
  std::string backend = "unix:///run/containerd/containerd.sock";
  // An already made channel to `backend` (shared with the pull flow); when
  // null the server makes its own with CreateBackendChannel().
  std::shared_ptr<grpc::Channel> backend_channel;
  // Offered every PullImage; null = pure pass-through. Must outlive the server.
  PullInterceptor* interceptor = nullptr;
  // Mode of the listening socket.
  unsigned socket_mode = 0660;
  // Threads of the internal gRPC server (PullImage), one completion queue
  // each; 0 means kDefaultProxyThreads (image_service_proxy.h). The router
  // has one thread of its own.
  int threads = 0;
};

class Server {
 public:
  // Validates the options, prepares the socket path (see PrepareSocketPath),
  // connects lazily to the backend and starts serving. InvalidArgument for
  // bad URLs, FailedPrecondition when the socket is in use or cannot be made.
  static absl::StatusOr<std::unique_ptr<Server>> Create(const ServerOptions& options);

  // Stops accepting connections and calls (GOAWAY), lets in-flight calls
  // finish for up to `grace`, cancels the rest, and removes the socket.
  // Idempotent; the destructor calls it with a zero grace.
  void Shutdown(absl::Duration grace);

  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  const std::string& socket_path() const { return socket_path_; }
  // The shared backend channel (also used by the pull flow).
  const std::shared_ptr<grpc::Channel>& backend() const { return backend_; }

 private:
  Server(std::string socket_path, std::shared_ptr<grpc::Channel> backend,
         std::unique_ptr<ImageServiceProxy> proxy);

  std::string socket_path_;
  std::shared_ptr<grpc::Channel> backend_;
  std::unique_ptr<ImageServiceProxy> proxy_;
  std::unique_ptr<grpc::Server> server_;  // internal: PullImage and non-CRI calls
  std::unique_ptr<RouteDialer> dialer_;
  std::unique_ptr<H2Router> router_;
  bool shut_down_ = false;
};

}  // namespace crimirror::plugin
