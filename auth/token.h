// Bearer tokens: the TokenFetcher seam (network side, implemented by the
// relay with libcurl) and the pure pieces around it: building the token
// request of the Docker token protocol and parsing its JSON answer. Mirrors
// containerd's core/remotes/docker/auth/fetch.go.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "auth/credentials.h"
#include "config/secret.h"

namespace crimirror::auth {

// Lifetime assumed when a token response carries no (or a non-positive)
// expires_in, as the Docker token spec prescribes.
inline constexpr absl::Duration kDefaultTokenLifetime = absl::Seconds(60);

// A bearer token and the instant it stops being valid.
struct Token {
  config::Secret token;
  absl::Time expires = absl::InfinitePast();
};

// Fetches bearer tokens from a token realm. Implementations are the I/O seam
// (CurlUpstream has one); they must be thread-safe.
class TokenFetcher {
 public:
  virtual ~TokenFetcher() = default;
  // Asks `realm` (an absolute http(s) URL from a Bearer challenge) for a
  // token for `service` and `scopes` ("repository:library/nginx:pull"),
  // presenting `credentials` (anonymous when empty). Returns
  // Unauthenticated/PermissionDenied when the realm refuses the credentials,
  // Unavailable/DeadlineExceeded for transport failures, InvalidArgument for a
  // response that is not a token. Messages never contain a secret.
  virtual absl::StatusOr<Token> FetchToken(std::string_view realm, std::string_view service,
                                           const std::vector<std::string>& scopes,
                                           const Credentials& credentials) = 0;
};
using TokenFetcherPtr = std::unique_ptr<TokenFetcher>;

// Parses a token endpoint's JSON body: `token` or `access_token` (the first
// non-empty), `expires_in` (seconds; absent or <= 0 -> kDefaultTokenLifetime)
// and `issued_at` (RFC 3339; used as the start of the lifetime when it is
// not after `now`, so a realm clock ahead of ours cannot extend a token).
// Returns InvalidArgument naming `realm` for bodies that are not JSON objects,
// carry no token or a token with control bytes (HasControlBytes). Never
// crashes on garbage.
// True when `token` holds a byte below 0x20 (CR, LF, TAB, NUL...) or DEL:
// such a token must never be put in an Authorization header.
bool HasControlBytes(std::string_view token);

absl::StatusOr<Token> ParseTokenResponse(std::string_view body, absl::Time now,
                                         std::string_view realm);

// Percent-encodes `value` for a URL query or form body (RFC 3986 unreserved
// characters kept).
std::string UrlEncode(std::string_view value);

// The GET token URL: realm + "?service=..&scope=..&scope=.." (keeping any
// query the realm already has).
std::string TokenGetUrl(std::string_view realm, std::string_view service,
                        const std::vector<std::string>& scopes);

// The form body of the OAuth2 refresh-token POST:
// grant_type=refresh_token&refresh_token=..&service=..&scope=a b&client_id=..
config::Secret TokenPostForm(std::string_view service, const std::vector<std::string>& scopes,
                             const config::Secret& refresh_token, std::string_view client_id);

// Splits a challenge's `scope` parameter (space-separated) into scopes.
std::vector<std::string> SplitScopes(std::string_view scope);

// The pull scope for a repository: "repository:<repository>:pull".
std::string PullScope(std::string_view repository);

}  // namespace crimirror::auth
