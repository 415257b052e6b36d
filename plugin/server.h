// Server: cri-mirror's gRPC endpoint for the kubelet. Owns the unix socket,
// the backend channel and the ImageServiceProxy. Serves on the proxy's
// completion-queue thread (image_service_proxy.h); nothing blocks it.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/server.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "plugin/image_service_proxy.h"
#include "plugin/pull_interceptor.h"

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
  // Threads serving CRI calls, one completion queue each; 0 means
  // kDefaultProxyThreads (image_service_proxy.h).
  int threads = 0;
};

class Server {
 public:
  // Validates the options, prepares the socket path (see PrepareSocketPath),
  // connects lazily to the backend and starts serving. InvalidArgument for
  // bad URLs, FailedPrecondition when the socket is in use or cannot be made.
  static absl::StatusOr<std::unique_ptr<Server>> Create(const ServerOptions& options);

  // Stops accepting calls, lets in-flight calls finish for up to `grace`,
  // cancels the rest, and removes the socket. Idempotent; the destructor
  // calls it with a zero grace.
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
  std::unique_ptr<grpc::Server> server_;
  bool shut_down_ = false;
};

}  // namespace crimirror::plugin
