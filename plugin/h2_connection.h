// H2Connection: one HTTP/2 connection of the kubelet-facing router
// (plugin/h2_router.h): a non-blocking stream socket and the nghttp2 session
// that speaks HTTP/2 on it, as the server toward the kubelet or as the client
// toward the backend runtime or cri-mirror's own gRPC server.
//
// Bytes read from the socket go straight into nghttp2_session_mem_recv (the
// session's callbacks run inside ReadAvailable()); frames the session queues
// come out of nghttp2_session_mem_send, are gathered (up to 64 KiB) and
// written with one send(), and what the socket does not take waits in the
// output buffer until it is writable again. Flow control is the application's: the session never sends
// WINDOW_UPDATE by itself (NGHTTP2_OPT_NO_AUTO_WINDOW_UPDATE); the router
// calls nghttp2_session_consume() when bytes it received have been passed on,
// so a slow reader on one side holds back the writer on the other instead of
// growing a buffer. Not thread-safe: used by the router thread only.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace crimirror::plugin {

// Per-stream and per-connection receive windows (what one call, and all the
// calls of one connection, may have in flight unforwarded). gRPC's own
// default stream window is 64 KiB, grown by BDP probing; a large static one
// lets a ListImages of a busy node (megabytes) cross without round trips.
inline constexpr int kH2StreamWindow = 1 << 20;
inline constexpr int kH2ConnectionWindow = 16 << 20;
// Concurrent calls a kubelet connection may open (gRPC clients queue beyond).
inline constexpr int kH2MaxConcurrentStreams = 1000;

class H2Connection {
 public:
  enum class Role { kServer, kClient };

  // Owns `fd` (closes it; made non-blocking here) and a new session with
  // `callbacks` and `user_data`, with the router's SETTINGS queued. Internal
  // when nghttp2 cannot allocate.
  static absl::StatusOr<std::unique_ptr<H2Connection>> Create(
      int fd, Role role, const nghttp2_session_callbacks* callbacks, void* user_data);
  ~H2Connection();
  H2Connection(const H2Connection&) = delete;
  H2Connection& operator=(const H2Connection&) = delete;

  nghttp2_session* session() const { return session_; }
  int fd() const { return fd_; }

  // Reads everything the socket holds and hands it to the session. False
  // once the connection is over: the peer closed it, a socket error, or an
  // HTTP/2 protocol error (the session then has a GOAWAY queued for Flush);
  // error() says which.
  bool ReadAvailable();
  // Writes queued frames until the socket would block. False on a socket
  // error (error() says which).
  bool Flush();
  // Output waits for the socket to become writable (poll for EPOLLOUT).
  bool write_pending() const { return out_offset_ < out_.size(); }
  // The session has nothing more to read or write (both sides sent GOAWAY
  // and every stream is closed), and the output is flushed.
  bool finished() const;
  // Why the connection ended ("" while it has not).
  const std::string& error() const { return error_; }

 private:
  H2Connection(int fd, nghttp2_session* session) : fd_(fd), session_(session) {}
  bool SendPending();

  int fd_;
  nghttp2_session* session_;
  std::string out_;  // frames gathered for the socket, not yet taken by it
  std::size_t out_offset_ = 0;
  std::string error_;
};

}  // namespace crimirror::plugin
