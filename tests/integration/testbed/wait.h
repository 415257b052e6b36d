// Copyright cri-mirror authors.
//
// Readiness helpers of the test bed: free loopback ports, polling waits for
// a unix socket that accepts connections, for an HTTP endpoint that answers,
// or for any predicate. Every wait polls at a short interval up to a
// deadline; nothing in the bed sleeps a fixed time. Also BlackHole, a
// loopback TCP listener that accepts connections and never answers (the
// fault a real registry cannot produce).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace crimirror::testbed {

// Default poll interval of the waits below.
inline constexpr absl::Duration kWaitInterval = absl::Milliseconds(20);

// Binds 127.0.0.1:0, reads the port the kernel chose and closes the socket.
// The port is free at return; another process could take it before it is
// used (components that bind it retry on "address already in use").
// Returns Internal with errno text on failure.
absl::StatusOr<int> FreeLoopbackPort();

// Polls `done` every `interval` until it returns true (OK) or `timeout`
// passes (DeadlineExceeded "timed out after T waiting for <what>").
absl::Status WaitFor(const std::function<bool()>& done, absl::Duration timeout,
                     absl::string_view what,
                     absl::Duration interval = kWaitInterval);

// True if a unix stream socket at `path` accepts a connection right now.
bool UnixSocketConnectable(const std::string& path);

// True if a TCP connection to 127.0.0.1:port succeeds right now.
bool TcpConnectable(int port);

// Waits until UnixSocketConnectable(path) (existence is not enough: a stale
// socket file of a dead process exists but refuses). DeadlineExceeded
// naming the path on timeout.
absl::Status WaitForUnixSocket(const std::string& path, absl::Duration timeout);

// Waits until a GET of `url` returns any HTTP status (a registry answers
// /v2/ with 200 or 401; both mean "up"). TLS certificates are not verified
// here. DeadlineExceeded naming the url and the last error on timeout.
absl::Status WaitForHttp(const std::string& url, absl::Duration timeout);

// A loopback TCP listener that completes handshakes (through the kernel
// backlog) and never reads or writes: a "black hole" endpoint. Clients
// connect and then wait forever for a response. Closed on destruction.
class BlackHole {
 public:
  // Listens on 127.0.0.1:<free port>. Internal with errno text on failure.
  static absl::StatusOr<std::unique_ptr<BlackHole>> Create();
  ~BlackHole();
  BlackHole(const BlackHole&) = delete;
  BlackHole& operator=(const BlackHole&) = delete;

  int port() const { return port_; }
  // "127.0.0.1:PORT".
  std::string HostPort() const;

 private:
  BlackHole(int fd, int port) : fd_(fd), port_(port) {}
  int fd_;
  int port_;
};

}  // namespace crimirror::testbed
