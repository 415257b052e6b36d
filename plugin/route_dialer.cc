#include "plugin/route_dialer.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <grpcpp/server_posix.h>

#include "absl/strings/str_cat.h"
#include "plugin/backend_channel.h"

namespace crimirror::plugin {

RouteDialer::RouteDialer(std::string backend_target, grpc::Server* internal)
    : backend_target_(std::move(backend_target)),
      backend_path_(UnixSocketPath(backend_target_)),
      internal_(internal) {}

std::string RouteDialer::Name(CallRoute route) const {
  return route == CallRoute::kBackend ? absl::StrCat("backend ", backend_target_)
                                      : "cri-mirror's own gRPC server";
}

absl::StatusOr<int> RouteDialer::Dial(CallRoute route) {
  if (route == CallRoute::kInternal) {
    if (closed_.load()) {
      return absl::UnavailableError("cri-mirror: shutting down; the call was not started");
    }
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
      return absl::UnavailableError(
          absl::StrCat("cri-mirror: socketpair for the internal server: ", std::strerror(errno)));
    }
    // gRPC takes fds[1] and, like any of its sockets, needs it non-blocking.
    grpc::AddInsecureChannelFromFd(internal_, fds[1]);
    return fds[0];
  }
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, backend_path_.c_str(),
              std::min(backend_path_.size() + 1, sizeof(address.sun_path) - 1));
  // Non-blocking: a unix connect completes at once or fails (EAGAIN when
  // the backend's accept queue is full); the router thread never waits.
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    const int error = errno;
    if (fd >= 0) ::close(fd);
    return absl::UnavailableError(absl::StrCat("cri-mirror: backend ", backend_target_,
                                               " is unavailable: connect: ",
                                               std::strerror(error)));
  }
  return fd;
}

}  // namespace crimirror::plugin
