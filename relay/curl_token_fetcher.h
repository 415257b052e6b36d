// CurlTokenFetcher: the auth::TokenFetcher of the libcurl Upstream, fetching
// bearer tokens from a registry's token realm: GET with Basic (Docker token
// protocol) or the OAuth2 refresh-token POST when an identity token is
// configured (containerd's core/remotes/docker/auth/fetch.go). Internal to
// crimirror_relay_upstream.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "auth/token.h"
#include "config/secret.h"
#include "relay/curl_target.h"
#include "relay/curl_upstream.h"

namespace crimirror::relay::upstream_internal {

// One per challenge answer; borrows `ctx`, which must outlive it. A realm
// on the endpoint's own origin (scheme, host, port) gets the endpoint's
// [host] settings; a realm elsewhere gets its own [host] table
// (ctx.host_lookup) or defaults, and its address is checked like a
// redirect's (loopback only when `endpoint_loopback`). Refused outright
// (FailedPrecondition): a plain-http realm for an https registry. Basic
// credentials never go to a plain-http realm (the GET is then anonymous).
class CurlTokenFetcher final : public auth::TokenFetcher {
 public:
  CurlTokenFetcher(std::shared_ptr<CurlUpstream::Shared> shared, const HostContext& ctx,
                   bool endpoint_loopback);

  // See auth::TokenFetcher. Realm answers map to Unauthenticated (401),
  // PermissionDenied (403), NotFound (404/405, no token endpoint) and
  // Unavailable (anything else); messages name the realm and the registry,
  // never a secret.
  absl::StatusOr<auth::Token> FetchToken(std::string_view realm, std::string_view service,
                                         const std::vector<std::string>& scopes,
                                         const auth::Credentials& credentials) override;

 private:
  absl::StatusOr<auth::Token> Exchange(const std::string& url, std::string method,
                                       std::optional<config::Secret> authorization,
                                       std::optional<config::Secret> form,
                                       std::string_view realm);
  absl::Status RealmError(int status, const std::string& realm) const;

  std::shared_ptr<CurlUpstream::Shared> shared_;
  const HostContext& ctx_;
  const bool endpoint_loopback_;
  bool basic_withheld_ = false;  // the last GET went without the Basic credentials
};

}  // namespace crimirror::relay::upstream_internal
