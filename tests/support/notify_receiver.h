// NotifyReceiver: the receiving end of $NOTIFY_SOCKET for tests and the
// bench, a unix datagram socket bound at a path ("/...") or an abstract name
// ("@..."), the way systemd receives sd_notify messages.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace crimirror::test_support {

class NotifyReceiver {
 public:
  // Binds `name`. Internal with errno text when it cannot; InvalidArgument
  // when the name does not fit a sockaddr_un.
  static absl::StatusOr<std::unique_ptr<NotifyReceiver>> Create(const std::string& name);
  // Closes the socket and removes a path socket's file.
  ~NotifyReceiver();
  NotifyReceiver(const NotifyReceiver&) = delete;
  NotifyReceiver& operator=(const NotifyReceiver&) = delete;

  // The next datagram, or nullopt when none arrives within `timeout`.
  std::optional<std::string> Receive(absl::Duration timeout);

  const std::string& name() const { return name_; }

 private:
  NotifyReceiver(std::string name, int fd) : name_(std::move(name)), fd_(fd) {}
  std::string name_;
  int fd_;
};

}  // namespace crimirror::test_support
