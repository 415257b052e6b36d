#include "relay/idle_reaper.h"

#include <sys/socket.h>

#include <algorithm>

namespace crimirror::relay {

IdleReaper::IdleReaper(absl::Duration idle_timeout)
    : idle_timeout_(idle_timeout),
      period_(std::clamp(idle_timeout / 4, absl::Milliseconds(50), absl::Seconds(1))),
      thread_([this] { Run(); }) {}

IdleReaper::~IdleReaper() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void IdleReaper::Opened(const void* connection, int fd) {
  absl::MutexLock lock(&mu_);
  entries_[connection] = Entry{fd, false, false, absl::Now()};
}

void IdleReaper::Busy(const void* connection) {
  absl::MutexLock lock(&mu_);
  if (auto it = entries_.find(connection); it != entries_.end()) it->second.busy = true;
}

void IdleReaper::Idle(const void* connection) {
  absl::MutexLock lock(&mu_);
  if (auto it = entries_.find(connection); it != entries_.end()) {
    it->second.busy = false;
    it->second.idle_since = absl::Now();
  }
}

void IdleReaper::Closed(const void* connection) {
  absl::MutexLock lock(&mu_);
  entries_.erase(connection);
}

int IdleReaper::reaped() const {
  absl::MutexLock lock(&mu_);
  return reaped_;
}

void IdleReaper::ReapExpired(absl::Time now) {
  for (auto& [connection, entry] : entries_) {
    if (entry.busy || entry.reaped || now - entry.idle_since < idle_timeout_) continue;
    // Under mu_: Closed() cannot have run, so `fd` is still this socket.
    (void)::shutdown(entry.fd, SHUT_RDWR);
    entry.reaped = true;
    ++reaped_;
  }
}

void IdleReaper::Run() {
  absl::MutexLock lock(&mu_);
  auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
  while (!mu_.AwaitWithTimeout(absl::Condition(&stopping), period_)) {
    ReapExpired(absl::Now());
  }
}

}  // namespace crimirror::relay
