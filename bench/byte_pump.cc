// Copyright cri-mirror authors.
#include "bench/byte_pump.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

namespace crimirror::bench {
namespace {

// A unix-socket address for `path`; false if the path does not fit.
bool UnixAddress(const std::string& path, sockaddr_un* address) {
  *address = sockaddr_un{};
  address->sun_family = AF_UNIX;
  if (path.size() >= sizeof(address->sun_path)) return false;
  std::memcpy(address->sun_path, path.c_str(), path.size() + 1);
  return true;
}

// Copies `from` to `to` until either side closes, then shuts both down so
// the opposite pump ends too.
void Pump(int from, int to) {
  char buffer[64 * 1024];
  while (true) {
    ssize_t n = ::read(from, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t sent = 0; sent < n;) {
      // MSG_NOSIGNAL: a peer that closed ends this pump, not the process
      // (a SIGPIPE killed it mid-row, and every call then failed).
      ssize_t w = ::send(to, buffer + sent, static_cast<size_t>(n - sent), MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        n = -1;
        break;
      }
      sent += w;
    }
    if (n < 0) break;
  }
  ::shutdown(from, SHUT_RDWR);
  ::shutdown(to, SHUT_RDWR);
}

// Connects `client` to the backend and pumps both ways; closes both when done.
void Serve(int client, const sockaddr_un& backend_address) {
  int backend = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (backend < 0 || ::connect(backend, reinterpret_cast<const sockaddr*>(&backend_address),
                               sizeof backend_address) != 0) {
    if (backend >= 0) ::close(backend);
    ::close(client);
    return;
  }
  std::thread responses(Pump, backend, client);
  Pump(client, backend);
  responses.join();
  ::close(backend);
  ::close(client);
}

}  // namespace

int RunBytePump(const std::string& listen_path, const std::string& backend_path) {
  // Bound under a temporary name and renamed once listening: the bench
  // waits for the socket file, which must not exist before connect() works.
  const std::string bind_path = listen_path + ".tmp";
  sockaddr_un listen_address, backend_address;
  if (!UnixAddress(bind_path, &listen_address) || !UnixAddress(backend_path, &backend_address)) {
    std::fprintf(stderr, "byte pump: socket path too long\n");
    return 1;
  }
  int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ::unlink(bind_path.c_str());
  if (listener < 0 ||
      ::bind(listener, reinterpret_cast<const sockaddr*>(&listen_address),
             sizeof listen_address) != 0 ||
      ::listen(listener, 128) != 0 || ::rename(bind_path.c_str(), listen_path.c_str()) != 0) {
    std::fprintf(stderr, "byte pump: cannot listen on %s: %s\n", listen_path.c_str(),
                 std::strerror(errno));
    return 1;
  }
  while (true) {
    int client = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      std::fprintf(stderr, "byte pump: accept: %s\n", std::strerror(errno));
      return 1;
    }
    std::thread(Serve, client, backend_address).detach();
  }
}

}  // namespace crimirror::bench
