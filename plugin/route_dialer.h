// RouteDialer: the UpstreamDialer of the server's router: the backend
// runtime's unix socket for CallRoute::kBackend, and for kInternal a
// socketpair whose other end becomes a connection of cri-mirror's own gRPC
// server (grpc::AddInsecureChannelFromFd), so the internal server has no
// socket in the file system that another local process could reach.
#pragma once

#include <atomic>
#include <string>

#include <grpcpp/server.h>

#include "absl/status/statusor.h"
#include "plugin/kubelet_connection.h"

namespace crimirror::plugin {

class RouteDialer final : public UpstreamDialer {
 public:
  // `backend_target` is "unix:///path"; `internal` must outlive the dialer.
  RouteDialer(std::string backend_target, grpc::Server* internal);

  // Unavailable naming the backend and the connect(2) error, or, once
  // Close() was called, for the internal server.
  absl::StatusOr<int> Dial(CallRoute route) override;
  std::string Name(CallRoute route) const override;

  // No new internal connections (the internal server is shutting down).
  // Thread-safe.
  void Close() { closed_.store(true); }

 private:
  const std::string backend_target_;
  const std::string backend_path_;
  grpc::Server* const internal_;
  std::atomic<bool> closed_{false};
};

}  // namespace crimirror::plugin
