// Endpoint health: remembers which registry endpoints failed at the
// connection level (refused, timed out, TLS failure) and keeps the relay from
// waiting on them again for a back-off period (issue 4 point 5). containerd
// itself waits minutes per blob on a black-hole mirror; with this, only the
// first request of the first pull pays the connect timeout, later requests
// and later pulls go straight to the next endpoint. Keyed by
// resolver::Endpoint::host ("mirror:5000"), shared by all sessions.
// Bounded (issue 10 defect 7: under a `*` rule every failing registry would
// add an entry forever): an entry is forgotten once its back-off ended more
// than `max` ago, and at most `max_hosts` are kept (the least recently
// failed goes first).
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "config/config.h"

namespace crimirror::relay {

// Thread-safe (one absl::Mutex); one instance for the whole daemon.
class EndpointHealth {
 public:
  using Clock = std::function<absl::Time()>;

  struct Options {
    // After the n-th consecutive failure an endpoint is skipped for
    // min(initial * 2^(n-1), max).
    absl::Duration initial = absl::Seconds(5);
    absl::Duration max = absl::Minutes(5);
    Clock now = absl::Now;
    // Most hosts remembered at once.
    std::size_t max_hosts = 1024;
  };

  explicit EndpointHealth(Options options);
  // Back-off from `[server] endpoint_backoff_initial/max`, wall clock.
  static Options OptionsFrom(const config::ServerSettings& server);

  // Whether `status` (from Upstream::Open or UpstreamResponse::Read) is a
  // connection-level failure that should back the endpoint off:
  // Unavailable, DeadlineExceeded, FailedPrecondition.
  static bool IsConnectionFailure(const absl::Status& status);

  // A connection-level failure of `host`: extends its back-off.
  void RecordFailure(std::string_view host);
  // Any HTTP response from `host` (even a 404): clears its back-off.
  void RecordSuccess(std::string_view host);
  // True while `host` is inside its back-off period.
  bool IsBackedOff(std::string_view host) const;
  // When `host`'s back-off ends; InfinitePast when it is healthy.
  absl::Time BackedOffUntil(std::string_view host) const;

  // Order in which to try `hosts` (indexes into it): the hosts that are not
  // backed off, in the given order; if every host is backed off, all of them,
  // least recently failed first (trying beats failing without trying).
  std::vector<std::size_t> Order(absl::Span<const std::string> hosts) const;

  // Hosts remembered (backed off or not yet forgotten); for tests.
  std::size_t size() const;

  // Each remembered host's consecutive connection failures and back-off
  // end (for metrics and status).
  struct HostState {
    std::string host;
    int consecutive_failures = 0;
    absl::Time until = absl::InfinitePast();
  };
  std::vector<HostState> Snapshot() const;

 private:
  struct State {
    int consecutive_failures = 0;
    absl::Time last_failure = absl::InfinitePast();
    absl::Time until = absl::InfinitePast();
  };

  // Makes room for one more host: drops forgotten entries, then the least
  // recently failed while full.
  void MakeRoom(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const absl::Duration initial_;
  const absl::Duration max_;
  const Clock now_;
  const std::size_t max_hosts_;
  mutable absl::Mutex mu_;
  std::map<std::string, State, std::less<>> states_ ABSL_GUARDED_BY(mu_);
};

}  // namespace crimirror::relay
