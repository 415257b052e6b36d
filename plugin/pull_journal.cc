#include "plugin/pull_journal.h"

#include <utility>

namespace crimirror::plugin {

PullJournal::PullJournal(std::size_t keep_recent) : keep_recent_(keep_recent) {}

std::uint64_t PullJournal::Begin(const std::string& reference, const std::string& rule,
                                 absl::Time started) {
  absl::MutexLock lock(&mu_);
  const std::uint64_t id = next_id_++;
  Entry& entry = active_[id];
  entry.pull.id = id;
  entry.pull.reference = reference;
  entry.pull.rule = rule;
  entry.pull.started = started;
  return id;
}

void PullJournal::Attach(std::uint64_t id, relay::SessionStatePtr session) {
  absl::MutexLock lock(&mu_);
  auto it = active_.find(id);
  if (it == active_.end()) return;
  if (it->second.session != nullptr) it->second.earlier_bytes += it->second.session->served_bytes();
  it->second.session = std::move(session);
}

void PullJournal::Finish(std::uint64_t id, PullRecord record) {
  absl::MutexLock lock(&mu_);
  active_.erase(id);
  recent_.push_front(std::move(record));
  while (recent_.size() > keep_recent_) recent_.pop_back();
}

std::vector<ActivePull> PullJournal::Active() const {
  absl::MutexLock lock(&mu_);
  std::vector<ActivePull> pulls;
  pulls.reserve(active_.size());
  for (const auto& [id, entry] : active_) {
    ActivePull pull = entry.pull;
    pull.bytes = entry.earlier_bytes + (entry.session ? entry.session->served_bytes() : 0);
    pulls.push_back(std::move(pull));
  }
  return pulls;
}

std::vector<PullRecord> PullJournal::Recent() const {
  absl::MutexLock lock(&mu_);
  return {recent_.begin(), recent_.end()};
}

}  // namespace crimirror::plugin
