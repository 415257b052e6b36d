#include "relay/session_store.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace crimirror::relay {
namespace {

constexpr int kIdBytes = 16;        // 128 bits: names the session
constexpr int kPasswordBytes = 32;  // 256 bits: the secret

absl::StatusOr<std::string> RandomBytes(int n) {
  std::string out(static_cast<std::size_t>(n), '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), n) != 1) {
    return absl::InternalError(
        "relay session: OpenSSL RAND_bytes failed; the system random generator "
        "is not seeded or not available");
  }
  return out;
}

// Constant-time for equal lengths; lengths are public (fixed-size secrets).
bool SecretEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

SessionState::SessionState(std::string id, resolver::EndpointPlan plan,
                           std::optional<KubeletAuth> kubelet_auth, absl::Time expires_at,
                           TagPinPtr tag_pin)
    : id_(std::move(id)),
      plan_(std::move(plan)),
      credentials_(std::make_shared<const EndpointCredentials>(
          id_, plan_.reference.registry, std::move(kubelet_auth),
          plan_.config ? plan_.config->credential_sources : nullptr)),
      expires_at_(expires_at),
      tag_pin_(std::move(tag_pin)) {}

void SessionState::RecordAttempt(Attempt attempt) {
  absl::MutexLock lock(&mu_);
  if (attempts_.size() >= kMaxAttempts) {
    ++dropped_attempts_;
    return;
  }
  attempts_.push_back(std::move(attempt));
}

std::vector<Attempt> SessionState::Attempts() const {
  absl::MutexLock lock(&mu_);
  return attempts_;
}

std::size_t SessionState::dropped_attempts() const {
  absl::MutexLock lock(&mu_);
  return dropped_attempts_;
}

std::string SessionState::DescribeAttempts() const {
  absl::MutexLock lock(&mu_);
  std::string out = absl::StrJoin(attempts_, "; ", [](std::string* s, const Attempt& a) {
    absl::StrAppend(s, a.base_url, ": ", a.request, ": ", a.reason);
  });
  if (dropped_attempts_ > 0) {
    absl::StrAppend(&out, "; and ", dropped_attempts_, " more");
  }
  return out;
}

void SessionState::RecordBlobSource(std::string digest, std::string base_url) {
  absl::MutexLock lock(&mu_);
  auto it = blob_sources_.find(digest);
  if (it != blob_sources_.end()) {
    it->second = std::move(base_url);
  } else if (blob_sources_.size() < kMaxBlobSources) {
    blob_sources_.emplace(std::move(digest), std::move(base_url));
  }
}

std::optional<std::string> SessionState::BlobSource(std::string_view digest) const {
  absl::MutexLock lock(&mu_);
  auto it = blob_sources_.find(digest);
  if (it == blob_sources_.end()) return std::nullopt;
  return it->second;
}

ServedBy* SessionState::ServedLocked(const std::string& base_url) {
  for (ServedBy& served : served_) {
    if (served.base_url == base_url) return &served;
  }
  if (served_.size() >= kMaxBlobSources) return nullptr;
  served_.push_back(ServedBy{base_url});
  return &served_.back();
}

void SessionState::RecordManifestServed(const std::string& base_url) {
  absl::MutexLock lock(&mu_);
  if (ServedBy* served = ServedLocked(base_url)) ++served->manifests;
}

void SessionState::RecordBlobServed(const std::string& base_url) {
  absl::MutexLock lock(&mu_);
  if (ServedBy* served = ServedLocked(base_url)) ++served->blobs;
}

void SessionState::AddServedBytes(const std::string& base_url, std::uint64_t bytes) {
  served_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  absl::MutexLock lock(&mu_);
  if (ServedBy* served = ServedLocked(base_url)) served->bytes += bytes;
}

std::vector<ServedBy> SessionState::Served() const {
  absl::MutexLock lock(&mu_);
  return served_;
}

void SessionState::ExcludeEndpoint(std::string base_url) {
  absl::MutexLock lock(&mu_);
  excluded_.insert(std::move(base_url));
}

bool SessionState::IsExcluded(std::string_view base_url) const {
  absl::MutexLock lock(&mu_);
  return excluded_.find(base_url) != excluded_.end();
}

std::vector<std::string> SessionState::ExcludedEndpoints() const {
  absl::MutexLock lock(&mu_);
  return {excluded_.begin(), excluded_.end()};
}

void SessionState::DemoteEndpoint(const std::string& base_url) {
  absl::MutexLock lock(&mu_);
  demoted_.insert(base_url);
}

bool SessionState::IsDemoted(const std::string& base_url) const {
  absl::MutexLock lock(&mu_);
  return demoted_.count(base_url) > 0;
}

SessionStore::SessionStore(Clock now) : now_(now), pins_(std::move(now)) {}

absl::StatusOr<Session> SessionStore::Create(resolver::EndpointPlan plan,
                                             std::optional<KubeletAuth> kubelet_auth,
                                             absl::Duration ttl) {
  if (ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("relay session: ttl must be positive, got ", absl::FormatDuration(ttl)));
  }
  absl::StatusOr<std::string> id_bytes = RandomBytes(kIdBytes);
  if (!id_bytes.ok()) return id_bytes.status();
  absl::StatusOr<std::string> password_bytes = RandomBytes(kPasswordBytes);
  if (!password_bytes.ok()) return password_bytes.status();

  Session session;
  session.id = absl::BytesToHexString(*id_bytes);
  session.username = session.id;
  session.password = config::Secret(absl::WebSafeBase64Escape(*password_bytes));

  const absl::Time now = now_();
  TagPinPtr pin = plan.ResolvesTag() ? pins_.For(TagPinKey(plan)) : nullptr;
  auto state = std::make_shared<SessionState>(session.id, std::move(plan), std::move(kubelet_auth),
                                              now + ttl, std::move(pin));
  absl::MutexLock lock(&mu_);
  PurgeExpiredLocked(now);
  sessions_[session.id] = Entry{session.password, std::move(state)};
  return session;
}

absl::StatusOr<SessionStatePtr> SessionStore::Authenticate(std::string_view username,
                                                           std::string_view password) const {
  const absl::Time now = now_();
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(username);
  if (it == sessions_.end() || !SecretEquals(it->second.password.Reveal(), password)) {
    return absl::UnauthenticatedError(
        "relay: unknown or wrong session credential; cri-mirror passes it to containerd "
        "in the PullImage AuthConfig");
  }
  if (now >= it->second.state->expires_at()) {
    return absl::UnauthenticatedError(
        absl::StrCat("relay: pull session ", it->first, " expired; raise [server] pull_timeout"));
  }
  return it->second.state;
}

SessionStatePtr SessionStore::Find(std::string_view id) const {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second.state;
}

void SessionStore::Close(std::string_view id) {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(id);
  if (it != sessions_.end()) sessions_.erase(it);
}

std::size_t SessionStore::size() const {
  absl::MutexLock lock(&mu_);
  return sessions_.size();
}

void SessionStore::PurgeExpiredLocked(absl::Time now) {
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (now >= it->second.state->expires_at()) {
      it = sessions_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace crimirror::relay
