// Copyright cri-mirror authors.
#include "tests/integration/testbed/wait.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "tests/integration/testbed/http.h"

namespace crimirror::testbed {
namespace {

// Creates a TCP socket bound to 127.0.0.1:0; returns fd and port.
absl::StatusOr<std::pair<int, int>> BindLoopback() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("socket(): ", strerror(errno)));
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int e = errno;
    close(fd);
    return absl::InternalError(
        absl::StrCat("bind/getsockname 127.0.0.1:0: ", strerror(e)));
  }
  return std::make_pair(fd, static_cast<int>(ntohs(addr.sin_port)));
}

}  // namespace

absl::StatusOr<int> FreeLoopbackPort() {
  absl::StatusOr<std::pair<int, int>> bound = BindLoopback();
  if (!bound.ok()) return bound.status();
  close(bound->first);
  return bound->second;
}

absl::Status WaitFor(const std::function<bool()>& done, absl::Duration timeout,
                     absl::string_view what, absl::Duration interval) {
  absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (done()) return absl::OkStatus();
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("timed out after ", absl::FormatDuration(timeout),
                       " waiting for ", what));
    }
    absl::SleepFor(interval);
  }
}

bool UnixSocketConnectable(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) return false;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

bool TcpConnectable(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

absl::Status WaitForUnixSocket(const std::string& path,
                               absl::Duration timeout) {
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unix socket path too long (", path.size(), " >= 108 bytes): ", path,
        "; use a shorter temp dir prefix"));
  }
  return WaitFor([&] { return UnixSocketConnectable(path); }, timeout,
                 absl::StrCat("unix socket ", path, " to accept connections"));
}

absl::Status WaitForHttp(const std::string& url, absl::Duration timeout) {
  HttpRequest request;
  request.url = url;
  request.insecure_skip_verify = true;
  request.timeout = absl::Seconds(2);
  absl::Status last = absl::UnknownError("never tried");
  absl::Status waited = WaitFor(
      [&] {
        absl::StatusOr<HttpResponse> response = HttpGet(request);
        last = response.status();
        return response.ok();
      },
      timeout, absl::StrCat("HTTP answer from ", url));
  if (!waited.ok()) {
    return absl::DeadlineExceededError(
        absl::StrCat(waited.message(), "; last error: ", last.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<BlackHole>> BlackHole::Create() {
  absl::StatusOr<std::pair<int, int>> bound = BindLoopback();
  if (!bound.ok()) return bound.status();
  // A large backlog: each connect completes in the kernel and then hangs.
  if (listen(bound->first, 128) != 0) {
    int e = errno;
    close(bound->first);
    return absl::InternalError(absl::StrCat("listen(): ", strerror(e)));
  }
  return std::unique_ptr<BlackHole>(new BlackHole(bound->first, bound->second));
}

BlackHole::~BlackHole() { close(fd_); }

std::string BlackHole::HostPort() const {
  return absl::StrCat("127.0.0.1:", port_);
}

}  // namespace crimirror::testbed
