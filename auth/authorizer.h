// Authorizer: answers Bearer challenges with tokens and caches them per
// (host, scope, identity) until they expire, so later requests and later
// pulls to the same repository send the token up front instead of taking a
// 401 round trip (containerd builds a new authorizer per pull; we keep one
// for the process). Follows containerd's core/remotes/docker/authorizer.go
// but without the per-pull lifetime.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "auth/challenge.h"
#include "auth/credentials.h"
#include "auth/token.h"
#include "config/secret.h"

namespace crimirror::auth {

class Authorizer {
 public:
  struct Options {
    // The clock; injected so tests can move time. Defaults to absl::Now.
    std::function<absl::Time()> clock = [] { return absl::Now(); };
    // A cached token is dropped this long before it expires, so a request
    // never leaves with a token that expires in flight. Capped at half the
    // token's lifetime for very short-lived tokens.
    absl::Duration expiry_margin = absl::Seconds(10);
    // Upper bound on cached entries; the soonest-expiring go first.
    std::size_t max_entries = 4096;
  };

  // Creates an authorizer. InvalidArgument when the options are unusable
  // (no clock, negative margin, zero capacity).
  static absl::StatusOr<std::unique_ptr<Authorizer>> Create(Options options);

  // The cached token for `host` ("registry:5000"), `scope`
  // ("repository:library/nginx:pull") and `credentials`, if one is still
  // valid past the margin. Thread-safe.
  std::optional<config::Secret> CachedToken(std::string_view host, std::string_view scope,
                                            const Credentials& credentials) const;

  // Answers a Bearer `challenge` from `host`: returns the cached token for
  // (host, scope, credentials) or fetches one from the challenge's realm with
  // `fetcher` (scopes from the challenge's `scope` param, else `scope`),
  // caches it under `scope` and returns it. InvalidArgument when the
  // challenge is not Bearer or has no realm; fetcher errors pass through.
  // Thread-safe and single-flight: concurrent misses for one (host, scope,
  // credentials) make one fetch, without holding the lock; the others wait
  // for it and share its result, token or error (containerd fetches several
  // blobs at once, and each would otherwise hit the realm).
  absl::StatusOr<config::Secret> Authorize(std::string_view host, std::string_view scope,
                                           const Challenge& challenge,
                                           const Credentials& credentials,
                                           TokenFetcher& fetcher);

  // Forgets the token for (host, scope, credentials), e.g. after the
  // registry rejected it with a second 401. Thread-safe.
  void Invalidate(std::string_view host, std::string_view scope, const Credentials& credentials);

 private:
  // (host, scope, credentials fingerprint).
  using Key = std::tuple<std::string, std::string, std::string>;
  struct Entry {
    config::Secret token;
    absl::Time usable_until;
  };
  // One token fetch in progress; `result` is set when `done`.
  struct Flight {
    bool done = false;
    absl::StatusOr<Token> result = absl::UnknownError("token fetch in progress");
  };

  explicit Authorizer(Options options) : options_(std::move(options)) {}
  static Key MakeKey(std::string_view host, std::string_view scope,
                     const Credentials& credentials);
  std::optional<config::Secret> CachedLocked(const Key& key, absl::Time now) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void StoreLocked(const Key& key, const Token& token, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EvictLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable absl::Mutex mu_;
  std::map<Key, Entry> cache_ ABSL_GUARDED_BY(mu_);
  std::map<Key, std::shared_ptr<Flight>> flights_ ABSL_GUARDED_BY(mu_);
};

}  // namespace crimirror::auth
