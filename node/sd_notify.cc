#include "node/sd_notify.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace crimirror::node {

NotifySettings ParseNotifyEnvironment(const char* notify_socket, const char* watchdog_usec,
                                      const char* watchdog_pid, pid_t self) {
  NotifySettings settings;
  if (notify_socket != nullptr) settings.socket = notify_socket;
  if (watchdog_usec == nullptr || *watchdog_usec == '\0') return settings;
  uint64_t usec = 0;
  if (!absl::SimpleAtoi(watchdog_usec, &usec) || usec == 0) {
    settings.warning = absl::StrCat("WATCHDOG_USEC=", watchdog_usec, " is not a positive integer");
    return settings;
  }
  if (watchdog_pid != nullptr && *watchdog_pid != '\0') {
    int64_t pid = 0;
    if (!absl::SimpleAtoi(watchdog_pid, &pid) || pid != self) {
      // Not ours: set for another process (we were started by it).
      return settings;
    }
  }
  settings.watchdog_every = absl::Microseconds(usec) / 2;
  return settings;
}

Notifier Notifier::FromEnvironment() {
  return Notifier(ParseNotifyEnvironment(std::getenv("NOTIFY_SOCKET"),
                                         std::getenv("WATCHDOG_USEC"),
                                         std::getenv("WATCHDOG_PID"), getpid()));
}

absl::Status Notifier::Notify(std::string_view state) const {
  if (!enabled()) return absl::OkStatus();
  if (state.empty()) return absl::InvalidArgumentError("sd_notify: empty state");
  const std::string& path = settings_.socket;
  sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  if ((path[0] != '/' && path[0] != '@') || path.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "NOTIFY_SOCKET=", path, " is not an absolute socket path or @abstract name that fits"));
  }
  memcpy(address.sun_path, path.data(), path.size());
  if (address.sun_path[0] == '@') address.sun_path[0] = '\0';
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("sd_notify: socket: ", strerror(errno)));
  socklen_t length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  absl::Status result;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address), length) != 0) {
    result = absl::UnavailableError(absl::StrCat("sd_notify: connect ", path, ": ", strerror(errno)));
  } else {
    ssize_t written = send(fd, state.data(), state.size(), MSG_NOSIGNAL);
    if (written != static_cast<ssize_t>(state.size())) {
      result = absl::UnavailableError(absl::StrCat(
          "sd_notify: send to ", path, ": ", written < 0 ? strerror(errno) : "short write"));
    }
  }
  close(fd);
  return result;
}

absl::Status Notifier::Ready(std::string_view status_text) const {
  std::string state = "READY=1";
  if (!status_text.empty()) {
    absl::StrAppend(&state, "\nSTATUS=", absl::string_view(status_text.data(), status_text.size()));
  }
  return Notify(state);
}

absl::Status Notifier::Reloading() const {
  timespec now = {};
  clock_gettime(CLOCK_MONOTONIC, &now);
  uint64_t usec = static_cast<uint64_t>(now.tv_sec) * 1000000 +
                  static_cast<uint64_t>(now.tv_nsec) / 1000;
  return Notify(absl::StrCat("RELOADING=1\nMONOTONIC_USEC=", usec));
}

absl::Status Notifier::Stopping() const { return Notify("STOPPING=1"); }

absl::Status Notifier::WatchdogPing() const { return Notify("WATCHDOG=1"); }

}  // namespace crimirror::node
