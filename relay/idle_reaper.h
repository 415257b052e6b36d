// IdleReaper: closes relay connections that have no request in progress for
// longer than RelayLimits::idle_timeout (issue 15).
//
// Why not libmicrohttpd's own timeout: in its one-thread-per-connection mode
// (0.9.75) the connection thread passes poll() only the whole seconds left
// (tv.tv_sec * 1000), so in the last second before a timeout it calls
// poll(..., 0) in a loop: every connection that ended by timeout burnt up to
// one CPU-second (strace: 18,628 polls in one second on one thread). Once
// the relay closed idle keep-alive connections after 5 s instead of leaving
// them to containerd, that was every connection of every pull. The reaper
// instead shuts the socket down (shutdown(2)) from its own thread; the
// connection thread's poll() then returns at once, reads the end of the
// stream and closes the connection as if the client had.
//
// Safety of shutdown() from another thread: libmicrohttpd reports a
// connection closed (MHD_CONNECTION_NOTIFY_CLOSED, the Closed() call here)
// before it closes the socket, and Closed() and the reaper's shutdown() run
// under one mutex, so the reaper never touches a socket number that has been
// closed and reused. Thread-safe.
#pragma once

#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace crimirror::relay {

class IdleReaper {
 public:
  // Starts the reaper thread, which checks about four times per
  // `idle_timeout` (at most once every second, at least every 50 ms).
  explicit IdleReaper(absl::Duration idle_timeout);
  // Stops the thread; connections still open are left alone.
  ~IdleReaper();
  IdleReaper(const IdleReaper&) = delete;
  IdleReaper& operator=(const IdleReaper&) = delete;

  // A connection was accepted on socket `fd`: idle from now. `connection`
  // is only a key (libmicrohttpd's MHD_Connection).
  void Opened(const void* connection, int fd) ABSL_LOCKS_EXCLUDED(mu_);
  // A request arrived: the connection is not reaped while it is served.
  void Busy(const void* connection) ABSL_LOCKS_EXCLUDED(mu_);
  // The request is over: idle from now.
  void Idle(const void* connection) ABSL_LOCKS_EXCLUDED(mu_);
  // The connection is closed (its socket is about to be).
  void Closed(const void* connection) ABSL_LOCKS_EXCLUDED(mu_);

  // Connections shut down by the reaper so far (for tests and logs).
  int reaped() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry {
    int fd = -1;
    bool busy = false;
    bool reaped = false;  // shut down; waiting for libmicrohttpd to close it
    absl::Time idle_since;
  };

  void Run();
  void ReapExpired(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const absl::Duration idle_timeout_;
  const absl::Duration period_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<const void*, Entry> entries_ ABSL_GUARDED_BY(mu_);
  int reaped_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace crimirror::relay
