// PullJournal: the pulls through mirror rules in flight and the most recent
// finished ones (issue 11, `cri-mirror status` and `cri-mirror pull`'s
// progress). Thread-safe; nothing here is secret (see pull_record.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "plugin/pull_record.h"
#include "relay/session_store.h"

namespace crimirror::plugin {

// A pull in flight.
struct ActivePull {
  std::uint64_t id = 0;
  std::string reference;  // canonical original reference
  std::string rule;
  absl::Time started;
  std::uint64_t bytes = 0;  // relayed to containerd so far, every try
};

class PullJournal {
 public:
  // Keeps the `keep_recent` newest finished pulls.
  explicit PullJournal(std::size_t keep_recent = 50);
  PullJournal(const PullJournal&) = delete;
  PullJournal& operator=(const PullJournal&) = delete;

  // A pull starts; the id names it in Attach() and Finish().
  std::uint64_t Begin(const std::string& reference, const std::string& rule, absl::Time started)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The pull's current relay session: its bytes count as progress. A later
  // session (the retry) adds to the bytes of the earlier ones.
  void Attach(std::uint64_t id, relay::SessionStatePtr session) ABSL_LOCKS_EXCLUDED(mu_);
  // The pull ended: it leaves the active list and heads the recent ones.
  void Finish(std::uint64_t id, PullRecord record) ABSL_LOCKS_EXCLUDED(mu_);

  // In flight, oldest first.
  std::vector<ActivePull> Active() const ABSL_LOCKS_EXCLUDED(mu_);
  // Finished, newest first.
  std::vector<PullRecord> Recent() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry {
    ActivePull pull;
    std::uint64_t earlier_bytes = 0;  // of sessions before `session`
    relay::SessionStatePtr session;
  };

  const std::size_t keep_recent_;
  mutable absl::Mutex mu_;
  std::uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<std::uint64_t, Entry> active_ ABSL_GUARDED_BY(mu_);
  std::deque<PullRecord> recent_ ABSL_GUARDED_BY(mu_);
};

}  // namespace crimirror::plugin
