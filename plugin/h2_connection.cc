#include "plugin/h2_connection.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace crimirror::plugin {
namespace {

// Bytes read from a socket at once.
constexpr std::size_t kReadChunk = 64 * 1024;
// Frames gathered into one send().
constexpr std::size_t kWriteBatch = 64 * 1024;

struct OptionDeleter {
  void operator()(nghttp2_option* o) const { nghttp2_option_del(o); }
};

}  // namespace

absl::StatusOr<std::unique_ptr<H2Connection>> H2Connection::Create(
    int fd, Role role, const nghttp2_session_callbacks* callbacks, void* user_data) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    ::close(fd);
    return absl::InternalError(absl::StrCat("router: fcntl(O_NONBLOCK): ", std::strerror(errno)));
  }
  nghttp2_option* raw_option = nullptr;
  if (nghttp2_option_new(&raw_option) != 0) {
    ::close(fd);
    return absl::InternalError("router: nghttp2_option_new: out of memory");
  }
  std::unique_ptr<nghttp2_option, OptionDeleter> option(raw_option);
  nghttp2_option_set_no_auto_window_update(option.get(), 1);
  nghttp2_session* session = nullptr;
  const int rv = role == Role::kServer
                     ? nghttp2_session_server_new2(&session, callbacks, user_data, option.get())
                     : nghttp2_session_client_new2(&session, callbacks, user_data, option.get());
  if (rv != 0) {
    ::close(fd);
    return absl::InternalError(absl::StrCat("router: nghttp2 session: ", nghttp2_strerror(rv)));
  }
  std::unique_ptr<H2Connection> connection(new H2Connection(fd, session));
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kH2StreamWindow},
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kH2MaxConcurrentStreams},
  };
  // A client's peer opens no streams; MAX_CONCURRENT_STREAMS is the server's.
  const std::size_t count = role == Role::kServer ? 2 : 1;
  if (nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings, count) != 0 ||
      nghttp2_session_set_local_window_size(session, NGHTTP2_FLAG_NONE, 0,
                                            kH2ConnectionWindow) != 0) {
    return absl::InternalError("router: cannot queue the initial SETTINGS");
  }
  return connection;
}

H2Connection::~H2Connection() {
  nghttp2_session_del(session_);
  ::close(fd_);
}

bool H2Connection::ReadAvailable() {
  // On the (router thread's) stack: a static thread_local buffer would be
  // part of every thread's TLS block, zeroed at every thread's start (64 KiB
  // of anonymous memory per thread of the daemon: +1.5 MiB idle, measured).
  std::array<std::uint8_t, kReadChunk> buffer;
  while (true) {
    const ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
    if (n > 0) {
      const ssize_t used =
          nghttp2_session_mem_recv(session_, buffer.data(), static_cast<std::size_t>(n));
      if (used < 0) {
        error_ = absl::StrCat("HTTP/2: ", nghttp2_strerror(static_cast<int>(used)));
        return false;
      }
      if (static_cast<std::size_t>(n) < buffer.size()) return true;  // drained
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    error_ = n == 0 ? "closed by the peer" : absl::StrCat("recv: ", std::strerror(errno));
    return false;
  }
}

bool H2Connection::SendPending() {
  while (out_offset_ < out_.size()) {
    const ssize_t n =
        ::send(fd_, out_.data() + out_offset_, out_.size() - out_offset_, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    if (n < 0) {
      error_ = absl::StrCat("send: ", std::strerror(errno));
      return false;
    }
    out_offset_ += static_cast<std::size_t>(n);
  }
  out_.clear();
  out_offset_ = 0;
  return true;
}

bool H2Connection::Flush() {
  if (!SendPending()) return false;
  // While older bytes wait for the socket, new frames stay queued inside
  // nghttp2 (bounded by flow control) rather than in out_.
  while (!write_pending()) {
    // nghttp2_session_mem_send hands out about one frame per call; one
    // send() per frame was most of the router's CPU (perf: sendto 30 % of
    // its samples, a call's response alone is HEADERS, DATA and trailers).
    // So frames are gathered and written together.
    while (out_.size() < kWriteBatch) {
      const std::uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) {
        error_ = absl::StrCat("HTTP/2: ", nghttp2_strerror(static_cast<int>(n)));
        return false;
      }
      if (n == 0) break;
      out_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    if (out_.empty()) return true;
    if (!SendPending()) return false;
  }
  return true;
}

bool H2Connection::finished() const {
  return !write_pending() && nghttp2_session_want_read(session_) == 0 &&
         nghttp2_session_want_write(session_) == 0;
}

}  // namespace crimirror::plugin
