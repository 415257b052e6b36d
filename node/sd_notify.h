// Readiness and liveness towards systemd without libsystemd: the sd_notify
// datagram protocol (systemd's man/notify-selfcontained-example.c), about 30
// lines of socket code, instead of a run-time dependency on libsystemd for
// five fixed messages (and a build dependency that non-systemd nodes and
// containers would not otherwise need).
//
// $NOTIFY_SOCKET names a unix datagram socket: an absolute path, or "@name"
// for the abstract namespace. Each message is one datagram of
// newline-separated KEY=VALUE lines. The daemon sends READY=1 once it serves,
// RELOADING=1 (with MONOTONIC_USEC) and READY=1 around a SIGHUP reload,
// STOPPING=1 at shutdown and WATCHDOG=1 every half WATCHDOG_USEC, only when
// WATCHDOG_PID is unset or this process (coreos/go-systemd
// daemon/watchdog.go): a child that inherited the variables must not ping
// for its parent.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace crimirror::node {

// What the environment asks for, parsed (pure).
struct NotifySettings {
  std::string socket;                             // empty: not under systemd
  std::optional<absl::Duration> watchdog_every;   // half of WATCHDOG_USEC
  std::string warning;                            // a variable that was ignored, and why
};

// Parses the three variables (each may be null). `self` is getpid().
NotifySettings ParseNotifyEnvironment(const char* notify_socket, const char* watchdog_usec,
                                      const char* watchdog_pid, pid_t self);

class Notifier {
 public:
  // From the process environment (NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID).
  static Notifier FromEnvironment();
  explicit Notifier(NotifySettings settings) : settings_(std::move(settings)) {}

  // True when NOTIFY_SOCKET is set.
  bool enabled() const { return !settings_.socket.empty(); }
  const NotifySettings& settings() const { return settings_; }

  // Sends `state` ("READY=1\nSTATUS=...") as one datagram; OK without doing
  // anything when disabled. InvalidArgument for an empty state or a socket
  // name that is neither "/path" nor "@abstract" (or too long); Unavailable
  // with errno text when connect or send fails. Thread-safe.
  absl::Status Notify(std::string_view state) const;

  // The messages the daemon sends.
  absl::Status Ready(std::string_view status_text) const;
  absl::Status Reloading() const;  // RELOADING=1, MONOTONIC_USEC=<CLOCK_MONOTONIC us>
  absl::Status Stopping() const;
  absl::Status WatchdogPing() const;

 private:
  NotifySettings settings_;
};

}  // namespace crimirror::node
