#include "tests/support/notify_receiver.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>

#include "absl/strings/str_cat.h"

namespace crimirror::test_support {

absl::StatusOr<std::unique_ptr<NotifyReceiver>> NotifyReceiver::Create(const std::string& name) {
  sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  if (name.empty() || name.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("notify socket name too long: ", name));
  }
  memcpy(address.sun_path, name.data(), name.size());
  if (name[0] == '@') address.sun_path[0] = '\0';
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  socklen_t length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0) {
    std::string error = strerror(errno);
    close(fd);
    return absl::InternalError(absl::StrCat("bind ", name, ": ", error));
  }
  return std::unique_ptr<NotifyReceiver>(new NotifyReceiver(name, fd));
}

NotifyReceiver::~NotifyReceiver() {
  close(fd_);
  if (name_[0] == '/') unlink(name_.c_str());
}

std::optional<std::string> NotifyReceiver::Receive(absl::Duration timeout) {
  timeval tv = absl::ToTimeval(std::max(timeout, absl::Milliseconds(1)));
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  char buffer[4096];
  ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
  if (n < 0) return std::nullopt;
  return std::string(buffer, static_cast<size_t>(n));
}

}  // namespace crimirror::test_support
