#include "plugin/unix_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace crimirror::plugin {

bool SocketAcceptsConnections(const std::string& socket_path) {
  sockaddr_un addr{};
  if (socket_path.size() >= sizeof(addr.sun_path)) return false;
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  bool live = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return live;
}

absl::Status PrepareSocketPath(const std::string& socket_path) {
  sockaddr_un addr{};
  if (socket_path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listen: socket path ", socket_path, " is longer than ",
        sizeof(addr.sun_path) - 1, " bytes; choose a shorter path"));
  }
  std::filesystem::path path(socket_path);
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) {
    return absl::FailedPreconditionError(absl::StrCat(
        "listen: cannot create directory ", path.parent_path().string(), ": ", ec.message()));
  }
  struct stat st {};
  if (::lstat(socket_path.c_str(), &st) != 0) return absl::OkStatus();
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "listen: ", socket_path, " exists and is not a socket; remove it or choose "
        "another --listen path"));
  }
  if (SocketAcceptsConnections(socket_path)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "listen: another process is serving on ", socket_path,
        "; stop it first or choose another --listen path"));
  }
  if (::unlink(socket_path.c_str()) != 0 && errno != ENOENT) {
    return absl::FailedPreconditionError(absl::StrCat(
        "listen: cannot remove stale socket ", socket_path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status SetSocketMode(const std::string& socket_path, unsigned mode) {
  if (::chmod(socket_path.c_str(), mode) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "listen: cannot set mode of ", socket_path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace crimirror::plugin
