// Tag pins: the digest a tag was resolved to, kept for one pull (issue 14).
// The kubelet repeats PullImage once per candidate credential, cri-mirror
// retries a pull without an endpoint that served bad bytes, and concurrent
// identical pulls share one: each of those opens its own relay session, and
// every one of them must get the same image. SessionStore::Create hands each
// session of a plan that resolves its tag (EndpointPlan::ResolvesTag) the
// pin of its reference; the first manifest request resolves it
// (relay/tag_resolution.h) and the rest reuse the digest.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "resolver/endpoint_plan.h"

namespace crimirror::relay {

// What a tag was resolved to, and by whom.
struct PinnedTag {
  std::string digest;    // "sha256:<64 hex>"
  std::string source;    // base_url of the endpoint that named it
  bool trusted = false;  // the source is a trusted endpoint
  // Why a mirror's answer was taken instead ("" when trusted): the trusted
  // endpoints' failures, for the warning and the pull record.
  std::string note;
};

// One reference's pin. Thread-safe.
class TagPin {
 public:
  // The pinned tag. While nothing is pinned, `resolve` runs under the pin's
  // lock (concurrent callers wait for it, then share its answer); a success
  // is pinned for good, a failure is returned and kept in last_error() but
  // not pinned, so the next caller tries again.
  absl::StatusOr<PinnedTag> Get(absl::FunctionRef<absl::StatusOr<PinnedTag>()> resolve);
  std::optional<PinnedTag> pinned() const;
  // The last failed resolution since the last success (OK if none).
  absl::Status last_error() const;

 private:
  mutable absl::Mutex mu_;
  std::optional<PinnedTag> pinned_ ABSL_GUARDED_BY(mu_);
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);
};

using TagPinPtr = std::shared_ptr<TagPin>;

// The pins of recent pulls, by TagPinKey. Thread-safe.
class TagPins {
 public:
  // A pin is handed out for this long after it was made; then a new pull
  // of the tag resolves it afresh. Covers the kubelet's repeated calls and
  // cri-mirror's retry; a pull that succeeds forgets its pin at once.
  static constexpr absl::Duration kKeep = absl::Minutes(1);
  // Pins kept at most (the oldest are dropped first).
  static constexpr std::size_t kMaxPins = 4096;

  explicit TagPins(std::function<absl::Time()> now = absl::Now);

  // The pin for `key`, made now if there is none or it is older than kKeep.
  TagPinPtr For(const std::string& key);
  // Drops `key`'s pin (sessions holding it keep theirs).
  void Forget(const std::string& key);
  std::size_t size() const;

 private:
  struct Entry {
    TagPinPtr pin;
    absl::Time made;
  };
  const std::function<absl::Time()> now_;
  mutable absl::Mutex mu_;
  std::map<std::string, Entry> pins_ ABSL_GUARDED_BY(mu_);
};

// "<rule>|<pod namespace>|<canonical reference>": pulls of one reference
// under one rule share a pin (another rule may trust other endpoints).
std::string TagPinKey(const resolver::EndpointPlan& plan);

}  // namespace crimirror::relay
