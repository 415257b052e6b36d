// The auth-and-redirect dance of one CurlUpstream::Open(): send (with a
// cached token or known Basic credentials), answer one 401 challenge, follow
// redirects by hand. Internal to crimirror_relay_upstream.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "relay/curl_target.h"
#include "relay/curl_upstream.h"
#include "relay/upstream.h"

namespace crimirror::relay::upstream_internal {

// Runs `request` against `ctx`'s endpoint and returns the final response
// (see CurlUpstream::Open for the contract). Credentials and the client
// identity go only to the endpoint's own origin; at most
// options.max_redirects redirects are followed (then Unavailable).
// A 401 whose challenge cannot be answered is returned with a
// kAuthErrorHeader saying why.
absl::StatusOr<UpstreamResponsePtr> OpenWithAuth(std::shared_ptr<CurlUpstream::Shared> shared,
                                                 const UpstreamRequest& request, HostContext ctx);

}  // namespace crimirror::relay::upstream_internal
