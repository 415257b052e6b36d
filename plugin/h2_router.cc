#include "plugin/h2_router.h"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "log/log.h"

namespace crimirror::plugin {
namespace {

constexpr std::uint64_t kListenToken = 0;
constexpr std::uint64_t kWakeToken = 1;
constexpr int kMaxEvents = 64;

bool AddToEpoll(int epoll_fd, int fd, std::uint64_t token, std::uint32_t events) {
  epoll_event event{};
  event.events = events;
  event.data.u64 = token;
  return ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) == 0;
}

// A listening unix socket at `path`, created with mode 0600 (the caller
// widens it with SetSocketMode once bound), non-blocking.
absl::StatusOr<int> ListenUnix(const std::string& path) {
  sockaddr_un address{};
  if (path.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("listen: socket path ", path, " is too long"));
  }
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return absl::FailedPreconditionError(absl::StrCat("listen: socket: ", std::strerror(errno)));
  }
  const mode_t previous = ::umask(0177);  // never briefly world-accessible
  const int bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  const int bind_errno = errno;
  ::umask(previous);
  if (bound != 0 || ::listen(fd, SOMAXCONN) != 0) {
    ::close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat("listen: cannot serve on ", path, ": ",
                     std::strerror(bound != 0 ? bind_errno : errno),
                     "; check that the directory is writable and the path is not in use"));
  }
  return fd;
}

}  // namespace

absl::StatusOr<std::unique_ptr<H2Router>> H2Router::Start(const std::string& socket_path,
                                                          UpstreamDialer* dialer) {
  absl::StatusOr<int> listen_fd = ListenUnix(socket_path);
  if (!listen_fd.ok()) return listen_fd.status();
  const int epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  const int wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  std::unique_ptr<H2Router> router(new H2Router(*listen_fd, epoll_fd, wake_fd, dialer));
  if (epoll_fd < 0 || wake_fd < 0 ||
      !AddToEpoll(epoll_fd, *listen_fd, kListenToken, EPOLLIN) ||
      !AddToEpoll(epoll_fd, wake_fd, kWakeToken, EPOLLIN)) {
    return absl::InternalError(absl::StrCat("router: epoll set-up: ", std::strerror(errno)));
  }
  router->thread_ = std::thread([r = router.get()] { r->Run(); });
  return router;
}

H2Router::~H2Router() {
  Stop();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void H2Router::BeginDrain() {
  {
    absl::MutexLock lock(&mu_);
    drain_requested_ = true;
  }
  Wake();
}

bool H2Router::WaitDrained(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto drained = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return connections_open_ == 0; };
  return mu_.AwaitWithDeadline(absl::Condition(&drained), deadline);
}

void H2Router::Stop() {
  if (stopped_) return;
  stopped_ = true;
  {
    absl::MutexLock lock(&mu_);
    stop_requested_ = true;
  }
  Wake();
  if (thread_.joinable()) thread_.join();
}

void H2Router::Wake() {
  const std::uint64_t one = 1;
  if (wake_fd_ >= 0) (void)!::write(wake_fd_, &one, sizeof one);
}

std::uint64_t H2Router::Watch(H2Connection* connection, KubeletConnection* owner) {
  const std::uint64_t token = next_token_++;
  watched_[token] = Watched{owner, connection};
  if (!AddToEpoll(epoll_fd_, connection->fd(), token, EPOLLIN | EPOLLRDHUP)) {
    log::Warning("router: epoll_ctl(ADD): ", std::strerror(errno));
  }
  return token;
}

void H2Router::SetWriteInterest(std::uint64_t token, int fd, bool on) {
  epoll_event event{};
  event.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0u);
  event.data.u64 = token;
  (void)::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &event);
}

void H2Router::Unwatch(std::uint64_t token, int fd) {
  watched_.erase(token);
  (void)::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
}

void H2Router::Accept() {
  while (listen_fd_ >= 0) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        log::Warning("router: accept on the CRI socket: ", std::strerror(errno));
      }
      return;
    }
    if (connections_.size() >= kMaxKubeletConnections) {
      log::Warning("router: ", kMaxKubeletConnections,
                   " CRI connections are open; refusing another one");
      ::close(fd);
      continue;
    }
    absl::StatusOr<std::unique_ptr<KubeletConnection>> connection =
        KubeletConnection::Create(fd, dialer_, this);
    if (!connection.ok()) {
      log::Warning("router: ", connection.status().message());
      continue;
    }
    KubeletConnection* key = connection->get();
    connections_[key] = *std::move(connection);
  }
}

bool H2Router::HandleWake() {
  std::uint64_t count = 0;
  (void)!::read(wake_fd_, &count, sizeof count);
  bool drain = false, stop = false;
  {
    absl::MutexLock lock(&mu_);
    drain = drain_requested_;
    stop = stop_requested_;
  }
  // A stop implies the drain's GOAWAY first, even when both requests are
  // read at once: a client that saw no GOAWAY may write to the closed
  // socket before it notices the close (EPIPE instead of a clean retry).
  if ((drain || stop) && listen_fd_ >= 0) {
    (void)::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
    ::close(listen_fd_);
    listen_fd_ = -1;
    for (auto& [key, connection] : connections_) connection->BeginDrain();
  }
  return !stop;
}

void H2Router::PublishConnections() {
  absl::MutexLock lock(&mu_);
  connections_open_ = connections_.size();
}

void H2Router::Run() {
  pthread_setname_np(pthread_self(), "cri-router");
  epoll_event events[kMaxEvents];
  bool running = true;
  while (running) {
    const int n = ::epoll_wait(epoll_fd_, events, kMaxEvents, -1);
    if (n < 0 && errno != EINTR) {
      log::Error("router: epoll_wait: ", std::strerror(errno));
      break;
    }
    for (int i = 0; i < n; ++i) {
      const std::uint64_t token = events[i].data.u64;
      if (token == kListenToken) {
        Accept();
      } else if (token == kWakeToken) {
        running = HandleWake() && running;
      } else if (auto it = watched_.find(token); it != watched_.end()) {
        it->second.owner->OnEvent(it->second.connection, events[i].events);
      }
    }
    // Connections that ended are deleted after the batch, so events of the
    // batch never reach a deleted one (their tokens are unwatched).
    for (auto it = connections_.begin(); it != connections_.end();) {
      auto current = it++;
      if (current->second->done()) connections_.erase(current);
    }
    PublishConnections();
  }
  for (auto& [key, connection] : connections_) connection->Close();
  connections_.clear();
  PublishConnections();
}

}  // namespace crimirror::plugin
