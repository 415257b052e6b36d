// Pull sessions: the credential that lets one containerd pull through the
// relay, bound to one endpoint plan. cri-mirror creates a session per
// PullImage, puts its username/password in the PullImageRequest's AuthConfig,
// and containerd presents them to the relay as `Authorization: Basic`. The
// session also collects what happened on each endpoint (Attempt records) so
// a failed PullImage can say which endpoints were tried and why they failed,
// which endpoint served each blob, and the endpoints excluded for this pull
// (issue 4 point 7: retry once without the endpoint that served bad bytes).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "auth/credentials.h"
#include "config/secret.h"
#include "relay/endpoint_credentials.h"
#include "relay/tag_pin.h"
#include "resolver/endpoint_plan.h"

namespace crimirror::relay {

// What the relay's client (containerd) needs: put `username` and `password`
// in the AuthConfig (with an empty server_address). `id` names the session in
// logs and in SessionStore::Find/Close; it is not secret, the password is.
struct Session {
  std::string id;           // 32 hex characters (128 random bits)
  std::string username;     // equal to `id`
  config::Secret password;  // 43 base64url characters (256 random bits)
};

// One endpoint request that did not succeed, for the PullImage error message.
// Never holds a secret: reasons come from HTTP statuses and Upstream error
// messages, which by contract name hosts, not credentials.
struct Attempt {
  std::string base_url;  // "https://mirror:5000"
  std::string request;   // "GET manifests/1.25", "GET blobs/sha256:ab12..."
  std::string reason;    // "404", "UNAVAILABLE: connect to ...: refused"
};

// What one endpoint served a session: manifest requests answered (GET and
// HEAD), blob bodies begun, and blob bytes delivered to containerd so far.
struct ServedBy {
  std::string base_url;
  int manifests = 0;
  int blobs = 0;
  std::uint64_t bytes = 0;
};

// The server-side state of one session. Thread-safe: relay connection threads
// record attempts concurrently while the plugin reads them.
class SessionState {
 public:
  // At most this many attempts are kept (oldest first); later ones are
  // counted in dropped_attempts().
  static constexpr std::size_t kMaxAttempts = 256;

  SessionState(std::string id, resolver::EndpointPlan plan, std::optional<KubeletAuth> kubelet_auth,
               absl::Time expires_at, TagPinPtr tag_pin = nullptr);

  const std::string& id() const { return id_; }
  // The plan this session may fetch; the relay serves only its reference's
  // name. Immutable.
  const resolver::EndpointPlan& plan() const { return plan_; }
  const std::optional<KubeletAuth>& kubelet_auth() const { return credentials_->kubelet(); }
  // The credentials each endpoint of this pull gets (issue 12 order, see
  // relay/endpoint_credentials.h), from the kubelet's AuthConfig, the
  // [host] tables and the plan config's credential sources. Never null;
  // shared with attempts that may outlive the session.
  const std::shared_ptr<const EndpointCredentials>& credentials() const { return credentials_; }
  absl::Time expires_at() const { return expires_at_; }
  // The pin of the plan's tag when the plan resolves it
  // (EndpointPlan::ResolvesTag; relay/tag_resolution.h), shared by the
  // sessions of one pull; null otherwise.
  const TagPinPtr& tag_pin() const { return tag_pin_; }

  // Appends a failed attempt (bounded, see kMaxAttempts).
  void RecordAttempt(Attempt attempt);
  // A copy of the attempts so far, in the order they happened.
  std::vector<Attempt> Attempts() const;
  std::size_t dropped_attempts() const;
  // "https://m:5000: GET manifests/1.25: 404; https://registry-1.docker.io:
  // GET ...: UNAVAILABLE: ..." (empty when nothing failed). For error
  // messages; contains no secret.
  std::string DescribeAttempts() const;

  // Records that `base_url` began a full (200) body of blob `digest`; a
  // later source of the same digest replaces it. containerd checks every
  // blob's digest itself; when it rejects one, BlobSource() names the
  // endpoint whose bytes it got. At most kMaxBlobSources digests are kept.
  static constexpr std::size_t kMaxBlobSources = 1024;
  void RecordBlobSource(std::string digest, std::string base_url);
  // The endpoint that last served blob `digest` in this session, if any.
  std::optional<std::string> BlobSource(std::string_view digest) const;

  // What each endpoint served (ServedBy), for the per-pull log line and
  // `cri-mirror status`; bytes are added as they reach containerd, so a
  // pull in flight shows its progress. At most kMaxBlobSources endpoints.
  void RecordManifestServed(const std::string& base_url);
  void RecordBlobServed(const std::string& base_url);
  void AddServedBytes(const std::string& base_url, std::uint64_t bytes);
  // In the order endpoints first served something.
  std::vector<ServedBy> Served() const;
  // The sum of every endpoint's bytes; lock-free, for progress polling.
  std::uint64_t served_bytes() const { return served_bytes_.load(std::memory_order_relaxed); }

  // Endpoints (by Endpoint::base_url) the relay must not use for this pull.
  void ExcludeEndpoint(std::string base_url);
  bool IsExcluded(std::string_view base_url) const;
  std::vector<std::string> ExcludedEndpoints() const;

  // Moves `base_url` behind every endpoint not demoted, for the rest of this
  // pull (a hedging loser, an endpoint that broke a blob). Thread-safe.
  void DemoteEndpoint(const std::string& base_url);
  bool IsDemoted(const std::string& base_url) const;

 private:
  const std::string id_;
  const resolver::EndpointPlan plan_;
  const std::shared_ptr<const EndpointCredentials> credentials_;
  const absl::Time expires_at_;
  const TagPinPtr tag_pin_;

  mutable absl::Mutex mu_;
  std::vector<Attempt> attempts_ ABSL_GUARDED_BY(mu_);
  std::size_t dropped_attempts_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<std::string, std::less<>> excluded_ ABSL_GUARDED_BY(mu_);
  std::set<std::string, std::less<>> demoted_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string, std::less<>> blob_sources_ ABSL_GUARDED_BY(mu_);
  std::vector<ServedBy> served_ ABSL_GUARDED_BY(mu_);
  std::atomic<std::uint64_t> served_bytes_{0};

  ServedBy* ServedLocked(const std::string& base_url) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
};

using SessionStatePtr = std::shared_ptr<SessionState>;

// All live sessions. Thread-safe (one absl::Mutex). Sessions are removed by
// Close() or, lazily, once expired.
class SessionStore {
 public:
  using Clock = std::function<absl::Time()>;

  // `now` is injected for tests; defaults to the wall clock.
  explicit SessionStore(Clock now = absl::Now);
  SessionStore(const SessionStore&) = delete;
  SessionStore& operator=(const SessionStore&) = delete;

  // Opens a session for `plan` that expires `ttl` from now. Credentials are
  // 128-bit (id) and 256-bit (password) values from OpenSSL RAND_bytes.
  // Internal if the random generator fails; InvalidArgument if ttl <= 0.
  absl::StatusOr<Session> Create(resolver::EndpointPlan plan,
                                 std::optional<KubeletAuth> kubelet_auth, absl::Duration ttl);

  // The session whose credential this is. The password is compared in
  // constant time (CRYPTO_memcmp). Unauthenticated for an unknown username,
  // a wrong password or an expired session (the message says which of
  // "unknown or wrong credential" / "expired", never the values).
  absl::StatusOr<SessionStatePtr> Authenticate(std::string_view username,
                                               std::string_view password) const;

  // The session with this id (expired or not) until Close() or until purged:
  // expired sessions are purged by Create(). nullptr when unknown. Call it
  // right after Create() and keep the pointer to read attempts after the
  // pull and to add exclusions.
  SessionStatePtr Find(std::string_view id) const;

  // Forgets the session; requests presenting its credential get 401. Holders
  // of its SessionStatePtr keep a valid object. Unknown ids are ignored.
  void Close(std::string_view id);

  // Number of sessions held (expired ones not yet purged included).
  std::size_t size() const;

  // Forgets the tag pin of `plan`'s reference (relay/tag_pin.h), once a
  // pull with it succeeded: the next pull resolves the tag afresh.
  void ForgetTagPin(const resolver::EndpointPlan& plan) { pins_.Forget(TagPinKey(plan)); }

 private:
  struct Entry {
    config::Secret password;
    SessionStatePtr state;
  };
  void PurgeExpiredLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock now_;
  mutable absl::Mutex mu_;
  std::map<std::string, Entry, std::less<>> sessions_ ABSL_GUARDED_BY(mu_);
  TagPins pins_;
};

}  // namespace crimirror::relay
