#include "relay/endpoint_health.h"

#include <algorithm>
#include <numeric>
#include <utility>

namespace crimirror::relay {

EndpointHealth::EndpointHealth(Options options)
    : initial_(std::max(options.initial, absl::Milliseconds(1))),
      max_(std::max(options.max, std::max(options.initial, absl::Milliseconds(1)))),
      now_(options.now ? std::move(options.now) : Clock(absl::Now)),
      max_hosts_(std::max<std::size_t>(options.max_hosts, 1)) {}

EndpointHealth::Options EndpointHealth::OptionsFrom(const config::ServerSettings& server) {
  Options options;
  options.initial = server.endpoint_backoff_initial;
  options.max = server.endpoint_backoff_max;
  return options;
}

bool EndpointHealth::IsConnectionFailure(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kFailedPrecondition:
      return true;
    default:
      return false;
  }
}

void EndpointHealth::RecordFailure(std::string_view host) {
  const absl::Time now = now_();
  absl::MutexLock lock(&mu_);
  if (states_.find(host) == states_.end()) MakeRoom(now);
  State& state = states_[std::string(host)];
  state.consecutive_failures = std::min(state.consecutive_failures + 1, 62);
  absl::Duration backoff = initial_;
  for (int i = 1; i < state.consecutive_failures && backoff < max_; ++i) backoff *= 2;
  state.last_failure = now;
  state.until = now + std::min(backoff, max_);
}

void EndpointHealth::RecordSuccess(std::string_view host) {
  absl::MutexLock lock(&mu_);
  auto it = states_.find(host);
  if (it != states_.end()) states_.erase(it);
}

void EndpointHealth::MakeRoom(absl::Time now) {
  if (states_.size() < max_hosts_) return;
  for (auto it = states_.begin(); it != states_.end();) {
    // Back-off over for longer than the longest one: a fresh failure would
    // start from `initial` again, as if never seen.
    if (now - it->second.until > max_) {
      it = states_.erase(it);
    } else {
      ++it;
    }
  }
  while (states_.size() >= max_hosts_) {
    auto oldest =
        std::min_element(states_.begin(), states_.end(), [](const auto& a, const auto& b) {
          return a.second.last_failure < b.second.last_failure;
        });
    states_.erase(oldest);
  }
}

std::size_t EndpointHealth::size() const {
  absl::MutexLock lock(&mu_);
  return states_.size();
}

std::vector<EndpointHealth::HostState> EndpointHealth::Snapshot() const {
  absl::MutexLock lock(&mu_);
  std::vector<HostState> out;
  out.reserve(states_.size());
  for (const auto& [host, state] : states_) {
    out.push_back(HostState{host, state.consecutive_failures, state.until});
  }
  return out;
}

bool EndpointHealth::IsBackedOff(std::string_view host) const {
  return now_() < BackedOffUntil(host);
}

absl::Time EndpointHealth::BackedOffUntil(std::string_view host) const {
  absl::MutexLock lock(&mu_);
  auto it = states_.find(host);
  return it == states_.end() ? absl::InfinitePast() : it->second.until;
}

std::vector<std::size_t> EndpointHealth::Order(absl::Span<const std::string> hosts) const {
  const absl::Time now = now_();
  std::vector<absl::Time> last_failure(hosts.size(), absl::InfinitePast());
  std::vector<std::size_t> healthy;
  {
    absl::MutexLock lock(&mu_);
    for (std::size_t i = 0; i < hosts.size(); ++i) {
      auto it = states_.find(hosts[i]);
      if (it == states_.end() || now >= it->second.until) {
        healthy.push_back(i);
      } else {
        last_failure[i] = it->second.last_failure;
      }
    }
  }
  if (!healthy.empty()) return healthy;
  std::vector<std::size_t> all(hosts.size());
  std::iota(all.begin(), all.end(), 0);
  std::stable_sort(all.begin(), all.end(),
                   [&](std::size_t a, std::size_t b) { return last_failure[a] < last_failure[b]; });
  return all;
}

}  // namespace crimirror::relay
