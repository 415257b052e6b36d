#include "auth/authorizer.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace crimirror::auth {
namespace {

// Abseil here is built with its own string_view type (ABSL_OPTION_USE_STD_STRING_VIEW 0).
absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace

absl::StatusOr<std::unique_ptr<Authorizer>> Authorizer::Create(Options options) {
  if (!options.clock) {
    return absl::InvalidArgumentError("Authorizer::Options.clock is empty; leave the default");
  }
  if (options.expiry_margin < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("Authorizer::Options.expiry_margin is negative");
  }
  if (options.max_entries == 0) {
    return absl::InvalidArgumentError("Authorizer::Options.max_entries is 0");
  }
  return std::unique_ptr<Authorizer>(new Authorizer(std::move(options)));
}

Authorizer::Key Authorizer::MakeKey(std::string_view host, std::string_view scope,
                                    const Credentials& credentials) {
  return Key(std::string(host), std::string(scope), credentials.Fingerprint());
}

std::optional<config::Secret> Authorizer::CachedToken(std::string_view host,
                                                      std::string_view scope,
                                                      const Credentials& credentials) const {
  Key key = MakeKey(host, scope, credentials);
  absl::Time now = options_.clock();
  absl::MutexLock lock(&mu_);
  return CachedLocked(key, now);
}

std::optional<config::Secret> Authorizer::CachedLocked(const Key& key, absl::Time now) const {
  auto it = cache_.find(key);
  if (it == cache_.end() || now >= it->second.usable_until) return std::nullopt;
  return it->second.token;
}

absl::StatusOr<config::Secret> Authorizer::Authorize(std::string_view host,
                                                     std::string_view scope,
                                                     const Challenge& challenge,
                                                     const Credentials& credentials,
                                                     TokenFetcher& fetcher) {
  if (challenge.scheme != AuthScheme::kBearer) {
    return absl::InvalidArgumentError(absl::StrCat(
        "registry ", Sv(host), " sent a ", challenge.scheme_name,
        " challenge where a Bearer challenge was expected"));
  }
  std::string realm = challenge.Param("realm");
  if (realm.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "registry ", Sv(host), " sent a Bearer challenge without a realm; the registry's token "
        "auth is misconfigured"));
  }
  const Key key = MakeKey(host, scope, credentials);
  std::shared_ptr<Flight> flight;
  {
    absl::MutexLock lock(&mu_);
    if (std::optional<config::Secret> cached = CachedLocked(key, options_.clock())) {
      return *std::move(cached);
    }
    auto [it, leader] = flights_.try_emplace(key);
    if (!leader) {
      flight = it->second;
      mu_.Await(absl::Condition(&flight->done));
      if (!flight->result.ok()) return flight->result.status();
      return flight->result->token;
    }
    it->second = flight = std::make_shared<Flight>();
  }
  std::vector<std::string> scopes = SplitScopes(challenge.Param("scope"));
  if (scopes.empty() && !scope.empty()) scopes.emplace_back(scope);
  absl::StatusOr<Token> token =
      fetcher.FetchToken(realm, challenge.Param("service"), scopes, credentials);
  absl::MutexLock lock(&mu_);
  flight->result = token;
  flight->done = true;
  flights_.erase(key);
  if (!token.ok()) return token.status();
  StoreLocked(key, *token, options_.clock());
  return token->token;
}

void Authorizer::Invalidate(std::string_view host, std::string_view scope,
                            const Credentials& credentials) {
  Key key = MakeKey(host, scope, credentials);
  absl::MutexLock lock(&mu_);
  cache_.erase(key);
}

void Authorizer::StoreLocked(const Key& key, const Token& token, absl::Time now) {
  absl::Duration lifetime = token.expires - now;
  absl::Duration margin = std::min(options_.expiry_margin, lifetime / 2);
  absl::Time usable_until = token.expires - margin;
  if (usable_until <= now) return;  // already (nearly) expired: use once, do not cache
  cache_[key] = Entry{token.token, usable_until};
  EvictLocked(now);
}

void Authorizer::EvictLocked(absl::Time now) {
  for (auto it = cache_.begin(); it != cache_.end();) {
    it = now >= it->second.usable_until ? cache_.erase(it) : std::next(it);
  }
  while (cache_.size() > options_.max_entries) {
    auto soonest = std::min_element(cache_.begin(), cache_.end(), [](const auto& a, const auto& b) {
      return a.second.usable_until < b.second.usable_until;
    });
    cache_.erase(soonest);
  }
}

}  // namespace crimirror::auth
