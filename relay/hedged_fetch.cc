#include "relay/hedged_fetch.h"

#include <algorithm>
#include <deque>
#include <list>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace crimirror::relay {

// Holds the helper threads. A helper marks itself done as its last step;
// it is then joined (by the next Launch() or by ~HedgedFetcher), so its
// thread-local state (OpenSSL's error queue, libcurl's) is torn down before
// the fetcher is gone: a detached thread could still be tearing it down when
// the process exits, and LeakSanitizer reports that state as leaked.
struct HedgedFetcher::Tracker {
  struct Helper {
    std::thread thread;
    bool done = false;
  };
  mutable absl::Mutex mu;
  std::size_t running ABSL_GUARDED_BY(mu) = 0;
  std::list<Helper> helpers ABSL_GUARDED_BY(mu);

  // Moves the helpers that are done out, to be joined without the lock.
  std::list<Helper> TakeDone() ABSL_LOCKS_EXCLUDED(mu) {
    std::list<Helper> done;
    absl::MutexLock lock(&mu);
    for (auto it = helpers.begin(); it != helpers.end();) {
      auto here = it++;
      if (here->done) done.splice(done.end(), helpers, here);
    }
    return done;
  }
  static void JoinAll(std::list<Helper>& list) {
    for (auto& helper : list) {
      if (helper.thread.joinable()) helper.thread.join();
    }
  }
};

// One race, shared by Run() and its helper threads (which may outlive Run).
struct HedgedFetcher::Race {
  explicit Race(std::vector<HedgedAttempt> a) : attempts(std::move(a)) {
    for (std::size_t i = 0; i < attempts.size(); ++i) {
      cancels.push_back(std::make_shared<std::atomic<bool>>(false));
    }
  }
  const std::vector<HedgedAttempt> attempts;
  std::vector<CancelFlag> cancels;
  absl::Mutex mu;
  // Finished attempts not yet looked at by Run(), in finishing order.
  std::deque<std::pair<std::size_t, absl::StatusOr<Fetched>>> finished ABSL_GUARDED_BY(mu);
  // Set by Run() once it has its answer: late results are dropped.
  bool over ABSL_GUARDED_BY(mu) = false;
};

HedgedFetcher::HedgedFetcher(std::size_t max_in_flight)
    : max_in_flight_(std::max<std::size_t>(1, max_in_flight)),
      tracker_(std::make_shared<Tracker>()) {}

HedgedFetcher::~HedgedFetcher() {
  std::list<Tracker::Helper> all;
  {
    absl::MutexLock lock(&tracker_->mu);
    tracker_->mu.Await(absl::Condition(
        +[](std::size_t* running) { return *running == 0; }, &tracker_->running));
    all.swap(tracker_->helpers);
  }
  Tracker::JoinAll(all);
}

std::size_t HedgedFetcher::helpers_running() const {
  absl::MutexLock lock(&tracker_->mu);
  return tracker_->running;
}

void HedgedFetcher::Launch(const std::shared_ptr<Race>& race, std::size_t index) const {
  std::list<Tracker::Helper> done = tracker_->TakeDone();
  Tracker::JoinAll(done);
  absl::MutexLock launching(&tracker_->mu);
  ++tracker_->running;
  tracker_->helpers.emplace_back();
  Tracker::Helper* self = &tracker_->helpers.back();  // list nodes stay put
  self->thread = std::thread([race, index, self, tracker = tracker_] {
    absl::StatusOr<Fetched> result = race->attempts[index].run(race->cancels[index]);
    {
      absl::MutexLock lock(&race->mu);
      if (!race->over) {
        race->finished.emplace_back(index, std::move(result));
      }
    }
    // A late result (response and all) is released here, off the caller's
    // thread, before the thread stops counting as running.
    result = absl::CancelledError("dropped");
    absl::MutexLock lock(&tracker->mu);
    --tracker->running;
    self->done = true;
  });
}

HedgeOutcome HedgedFetcher::Run(std::vector<HedgedAttempt> attempts) const {
  HedgeOutcome outcome;
  if (attempts.empty()) return outcome;
  auto race = std::make_shared<Race>(std::move(attempts));
  const std::size_t n = race->attempts.size();
  std::vector<bool> pending(n, false);
  std::size_t next = 0;
  std::size_t in_flight = 0;
  absl::Time hedge_at = absl::InfiniteFuture();
  // Starts the next attempt if the bound allows; arms its hedge timer.
  auto start_next = [&] {
    if (next >= n || in_flight >= max_in_flight_) return;
    pending[next] = true;
    ++in_flight;
    ++outcome.started;
    const absl::Duration after = race->attempts[next].hedge_after;
    hedge_at = after > absl::ZeroDuration() ? absl::Now() + after : absl::InfiniteFuture();
    Launch(race, next++);
  };
  start_next();
  while (in_flight > 0) {
    std::optional<std::pair<std::size_t, absl::StatusOr<Fetched>>> done;
    {
      absl::MutexLock lock(&race->mu);
      auto has_finished = [](std::deque<std::pair<std::size_t, absl::StatusOr<Fetched>>>* q) {
        return !q->empty();
      };
      race->mu.AwaitWithDeadline(absl::Condition(+has_finished, &race->finished), hedge_at);
      if (!race->finished.empty()) {
        done = std::move(race->finished.front());
        race->finished.pop_front();
      }
    }
    if (!done) {  // hedge timer: the next attempt joins the pending ones
      if (next >= n || in_flight >= max_in_flight_) hedge_at = absl::InfiniteFuture();
      start_next();
      continue;
    }
    const std::size_t index = done->first;
    pending[index] = false;
    --in_flight;
    if (done->second.ok()) {
      outcome.winner = index;
      outcome.fetched = *std::move(done->second);
      break;
    }
    outcome.failures.emplace_back(index, done->second.status());
    start_next();  // a failure starts the next attempt at once
  }
  std::deque<std::pair<std::size_t, absl::StatusOr<Fetched>>> late;
  {
    absl::MutexLock lock(&race->mu);
    race->over = true;
    late.swap(race->finished);
  }
  // Finished while the winner was handled: failures count as such; a second
  // success lost the race like the attempts still pending.
  for (auto& [index, result] : late) {
    if (result.ok()) continue;
    pending[index] = false;
    outcome.failures.emplace_back(index, result.status());
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (!pending[i]) continue;
    race->cancels[i]->store(true);
    outcome.cancelled.push_back(i);  // pending, or a success that came second
  }
  return outcome;
}

}  // namespace crimirror::relay
