// Copyright cri-mirror authors.
#include "bench/relay_floor.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

namespace crimirror::bench {
namespace {

// An fd closed on destruction.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

sockaddr_in Loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  return address;
}

// A listening socket on 127.0.0.1 and its port.
absl::StatusOr<std::pair<int, std::uint16_t>> Listen() {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address = Loopback(0);
  socklen_t length = sizeof address;
  if (fd.get() < 0 || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      ::listen(fd.get(), 1) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return absl::UnavailableError(absl::StrCat("relay floor: cannot listen on loopback: errno ",
                                               errno));
  }
  return std::make_pair(fd.release(), ntohs(address.sin_port));
}

int Connect(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address = Loopback(port);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

absl::Duration TimevalDuration(const timeval& tv) {
  return absl::Seconds(tv.tv_sec) + absl::Microseconds(tv.tv_usec);
}

CpuTime ThreadCpu() {
  rusage usage{};
  ::getrusage(RUSAGE_THREAD, &usage);
  return {TimevalDuration(usage.ru_utime), TimevalDuration(usage.ru_stime)};
}

bool SendAll(int fd, const char* data, std::size_t size) {
  for (std::size_t sent = 0; sent < size;) {
    ssize_t n = ::send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

// Relays `in` to `out` until `in` ends; the bytes relayed.
std::uint64_t CopyRelay(int in, int out, std::size_t chunk) {
  std::vector<char> buffer(chunk);
  std::uint64_t moved = 0;
  while (true) {
    ssize_t n = ::recv(in, buffer.data(), buffer.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || !SendAll(out, buffer.data(), static_cast<std::size_t>(n))) return moved;
    moved += static_cast<std::uint64_t>(n);
  }
}

std::uint64_t SpliceRelay(int in, int out, std::size_t chunk) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return 0;
  Fd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  (void)::fcntl(write_end.get(), F_SETPIPE_SZ, static_cast<int>(chunk));
  std::uint64_t moved = 0;
  while (true) {
    ssize_t n = ::splice(in, nullptr, write_end.get(), nullptr, chunk, SPLICE_F_MOVE);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return moved;
    for (ssize_t left = n; left > 0;) {
      ssize_t w = ::splice(read_end.get(), nullptr, out, nullptr, static_cast<std::size_t>(left),
                           SPLICE_F_MOVE | SPLICE_F_MORE);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return moved;
      left -= w;
    }
    moved += static_cast<std::uint64_t>(n);
  }
}

}  // namespace

absl::StatusOr<CpuTime> RelayFloorCpu(FloorRelay relay, std::uint64_t bytes, std::size_t chunk) {
  auto source_listener = Listen();
  if (!source_listener.ok()) return source_listener.status();
  Fd source_listen(source_listener->first);
  auto sink_listener = Listen();
  if (!sink_listener.ok()) return sink_listener.status();
  Fd sink_listen(sink_listener->first);
  std::thread source([&] {
    Fd peer(::accept4(source_listen.get(), nullptr, nullptr, SOCK_CLOEXEC));
    std::vector<char> block(1 << 20, 'x');
    for (std::uint64_t sent = 0; peer.get() >= 0 && sent < bytes; sent += block.size()) {
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(block.size(), bytes - sent));
      if (!SendAll(peer.get(), block.data(), n)) break;
    }
  });
  std::thread sink([&] {
    Fd peer(::accept4(sink_listen.get(), nullptr, nullptr, SOCK_CLOEXEC));
    std::vector<char> block(1 << 20);
    while (peer.get() >= 0 && ::recv(peer.get(), block.data(), block.size(), 0) > 0) {
    }
  });
  CpuTime used;
  std::uint64_t moved = 0;
  {
    Fd in(Connect(source_listener->second));
    Fd out(Connect(sink_listener->second));
    if (in.get() >= 0 && out.get() >= 0) {
      const CpuTime before = ThreadCpu();
      moved = relay == FloorRelay::kCopy ? CopyRelay(in.get(), out.get(), chunk)
                                         : SpliceRelay(in.get(), out.get(), chunk);
      used = ThreadCpu() - before;
    }
  }  // closing `out` ends the sink
  // Wakes a thread still in accept() when a connect failed.
  ::shutdown(source_listen.get(), SHUT_RDWR);
  ::shutdown(sink_listen.get(), SHUT_RDWR);
  source.join();
  sink.join();
  if (moved != bytes) {
    return absl::UnavailableError(
        absl::StrCat("relay floor: relayed ", moved, " of ", bytes, " bytes"));
  }
  return used;
}

}  // namespace crimirror::bench
