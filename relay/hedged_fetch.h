// Hedged requests (issue 10): races one relay request over several
// endpoints so that a mirror that accepts and never answers costs
// `hedge_after` (500 ms by default) instead of its whole response timeout.
//
// Design, after Go's net.dialParallel, Envoy's per-try timeout
// (router.cc onPerTryTimeoutCommon / resetOtherUpstreams) and
// cristalhq/hedgedhttp:
//   - attempt 0 starts at once; when it has not finished within its
//     `hedge_after`, attempt 1 starts beside it (attempt 0 keeps running),
//     and so on, at most `max_in_flight` at a time;
//   - a FAILED attempt (404, 5xx, refused, bad digest) never wins over one
//     still pending that may succeed: it only starts the next attempt at
//     once (dialParallel starts the fallback as soon as the primary fails);
//   - the first SUCCESSFUL attempt wins; every attempt still pending is
//     cancelled through its cancel flag (UpstreamRequest::cancel) and
//     reported, so the caller can demote its endpoint for the rest of the
//     pull; attempts not started yet are never started;
//   - `hedge_after` zero means "never hedge past this attempt": the next one
//     starts only when it fails (the serial walk of issue 4).
// Only requests whose whole answer fits the attempt are hedged (manifests,
// HEAD); a blob body is streamed after the race, from the winner alone, so
// nothing is ever hedged once a body has begun (Envoy's rule).
//
// Each attempt runs on its own helper thread, which may outlive Run(). A
// loser whose upstream does not honour the cancel flag runs to its own
// timeout; its late result is dropped on its thread. Finished helpers are
// joined by the next Run() and by ~HedgedFetcher, which waits for every
// helper thread, so whatever an attempt's closure points at (the Upstream,
// EndpointHealth) only has to outlive the HedgedFetcher.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "relay/endpoint_walk.h"  // Fetched

namespace crimirror::relay {

using CancelFlag = std::shared_ptr<std::atomic<bool>>;

// One attempt of a race.
struct HedgedAttempt {
  // Runs the request on one endpoint, on a helper thread; passes `cancel` on
  // to UpstreamRequest::cancel. Must not touch anything that may die before
  // the HedgedFetcher (e.g. a pull session): it may still run after Run()
  // returned.
  std::function<absl::StatusOr<Fetched>(CancelFlag cancel)> run;
  // How long this attempt may run alone before the next one starts beside
  // it. Zero: the next one starts only when this one fails.
  absl::Duration hedge_after = absl::ZeroDuration();
};

// What a race produced. Indexes refer to the attempts given to Run().
struct HedgeOutcome {
  // The winning attempt and its result; nullopt when every attempt failed.
  std::optional<std::size_t> winner;
  std::optional<Fetched> fetched;
  // Failed attempts, in the order they failed.
  std::vector<std::pair<std::size_t, absl::Status>> failures;
  // Attempts that lost: still pending when the winner answered (their
  // cancel flags are set), or a second success that came too late. Empty
  // when nothing was hedged.
  std::vector<std::size_t> cancelled;
  // Attempts started (1 + hedges + starts after failures).
  std::size_t started = 0;
};

// Thread-safe: any number of Run() calls at once. One per EndpointWalk.
class HedgedFetcher {
 public:
  // `max_in_flight` >= 1 attempts of one race run at once (1: no hedging,
  // only the next attempt after a failure).
  explicit HedgedFetcher(std::size_t max_in_flight);
  // Waits for every helper thread still running a cancelled or late attempt
  // (bounded by the upstream's cancellation or, before it honours the flag,
  // its response timeout).
  ~HedgedFetcher();
  HedgedFetcher(const HedgedFetcher&) = delete;
  HedgedFetcher& operator=(const HedgedFetcher&) = delete;

  // Races `attempts` (in preference order, at least one) as described in
  // the banner and blocks until one succeeds or all failed.
  HedgeOutcome Run(std::vector<HedgedAttempt> attempts) const;

  // Helper threads running now (for tests).
  std::size_t helpers_running() const;

 private:
  struct Tracker;
  struct Race;
  void Launch(const std::shared_ptr<Race>& race, std::size_t index) const;

  const std::size_t max_in_flight_;
  const std::shared_ptr<Tracker> tracker_;
};

}  // namespace crimirror::relay
