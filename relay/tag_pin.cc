#include "relay/tag_pin.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace crimirror::relay {

absl::StatusOr<PinnedTag> TagPin::Get(absl::FunctionRef<absl::StatusOr<PinnedTag>()> resolve) {
  absl::MutexLock lock(&mu_);
  if (pinned_) return *pinned_;
  absl::StatusOr<PinnedTag> resolved = resolve();
  if (!resolved.ok()) {
    last_error_ = resolved.status();
    return resolved.status();
  }
  pinned_ = *resolved;
  last_error_ = absl::OkStatus();
  return resolved;
}

std::optional<PinnedTag> TagPin::pinned() const {
  absl::MutexLock lock(&mu_);
  return pinned_;
}

absl::Status TagPin::last_error() const {
  absl::MutexLock lock(&mu_);
  return last_error_;
}

TagPins::TagPins(std::function<absl::Time()> now) : now_(std::move(now)) {}

TagPinPtr TagPins::For(const std::string& key) {
  const absl::Time now = now_();
  absl::MutexLock lock(&mu_);
  for (auto it = pins_.begin(); it != pins_.end();) {
    it = now - it->second.made > kKeep ? pins_.erase(it) : std::next(it);
  }
  auto it = pins_.find(key);
  if (it != pins_.end()) return it->second.pin;
  if (pins_.size() >= kMaxPins) {
    auto oldest = pins_.begin();
    for (auto i = pins_.begin(); i != pins_.end(); ++i) {
      if (i->second.made < oldest->second.made) oldest = i;
    }
    pins_.erase(oldest);
  }
  TagPinPtr pin = std::make_shared<TagPin>();
  pins_.emplace(key, Entry{pin, now});
  return pin;
}

void TagPins::Forget(const std::string& key) {
  absl::MutexLock lock(&mu_);
  pins_.erase(key);
}

std::size_t TagPins::size() const {
  absl::MutexLock lock(&mu_);
  return pins_.size();
}

std::string TagPinKey(const resolver::EndpointPlan& plan) {
  return absl::StrCat(plan.matched_rule, "|", plan.pod_namespace, "|",
                      plan.reference.Canonical());
}

}  // namespace crimirror::relay
