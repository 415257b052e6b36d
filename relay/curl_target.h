// URL parts and per-request target selection for the libcurl Upstream:
// which settings of the endpoint's `[host]` table (TLS trust, client
// identity, tls_server_name, timeouts, credentials) apply to one URL the
// request reaches (the endpoint itself, a redirect target, a token realm).
// Internal to crimirror_relay_upstream.
//
// tls_server_name: the request URL's host is replaced by the server name and
// CURLOPT_CONNECT_TO maps "<name>:<port>" to the configured address, so curl
// verifies the certificate for, sends SNI and Host for, and keys its TLS
// sessions and connections by the server name while dialling the address.
// CURLOPT_RESOLVE was rejected: it would plant the name in the shared DNS
// cache for every other request.
#pragma once

#include <curl/curl.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "auth/credentials.h"
#include "config/config.h"
#include "relay/curl_upstream.h"
#include "relay/tls_cache.h"
#include "relay/upstream.h"

namespace crimirror::relay::upstream_internal {

// An http(s) URL's parts, scheme and host lower-cased, port always set
// (CURLU_DEFAULT_PORT).
struct UrlParts {
  std::string scheme, host, port, path;
};

// InvalidArgument (naming the URL without query) unless `url` is a valid
// http:// or https:// URL.
absl::StatusOr<UrlParts> ParseUrl(const std::string& url);

// `url` with `part` replaced by `value`: the host (tls_server_name), or with
// CURLUPART_URL a relative redirect `location` resolved against it.
// InvalidArgument when the result is not a URL.
absl::StatusOr<std::string> RewriteUrl(const std::string& url, CURLUPart part,
                                       const std::string& value);

// For messages: a URL without query or fragment (presigned redirect URLs
// carry signatures there), cut to 256 bytes plus "...".
std::string Display(const std::string& url);

// The `[host]` settings that apply to one origin (scheme://host:port),
// loaded once per Open(). Defaults (no table): system CAs, verification on,
// no client certificate, the default timeouts.
struct OriginSettings {
  std::string authority;    // "host:port" of the table ("" for defaults), for messages
  std::string server_name;  // tls_server_name, lower-cased ("" = none)
  std::shared_ptr<const HostTls> tls;  // null: no TLS settings
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration response_timeout = absl::Seconds(15);
};

// The endpoint of one Open() and its `[host]` settings, resolved once.
struct HostContext {
  UrlParts endpoint;      // the configured endpoint origin
  std::string authority;  // "host:port" key for token and Basic caches
  auth::Credentials credentials;
  OriginSettings settings;  // the endpoint's own [host] table (or defaults)
  // Other origins' [host] tables (UpstreamRequest::host_lookup); may be empty.
  std::function<std::optional<config::HostSettings>(std::string_view)> host_lookup;
  std::shared_ptr<std::atomic<bool>> cancel;  // UpstreamRequest::cancel
  absl::Time deadline = absl::InfiniteFuture();  // UpstreamRequest::deadline
};

// The endpoint and settings of `request`. FailedPrecondition when its TLS
// files cannot be used or its `auth` is not base64 user:pass;
// InvalidArgument for a bad URL or a kubelet registry_token with control
// bytes.
absl::StatusOr<HostContext> MakeHostContext(CurlUpstream::Shared& shared,
                                            const UpstreamRequest& request);

// Where one HTTP request goes and which settings apply.
struct Target {
  std::string url;         // what curl requests (host may be tls_server_name)
  std::string connect_to;  // CURLOPT_CONNECT_TO entry, "" for none
  UrlParts parts;          // of the URL as given (before a tls_server_name rewrite)
  // Same scheme, host and port as the endpoint (or its tls_server_name):
  // the endpoint's credentials and settings apply.
  bool endpoint_origin = false;
  OriginSettings settings;  // the origin's own [host] table, or defaults
};

// The target for `url` (the endpoint URL, a redirect Location or a token
// realm) reached during a request to `ctx`'s endpoint. Matching is on
// scheme, host AND port (issue 10 defect 2): another origin gets its own
// [host] table through ctx.host_lookup, else defaults; never the
// endpoint's. FailedPrecondition when that table's TLS files are unusable.
absl::StatusOr<Target> MakeTarget(CurlUpstream::Shared& shared, const std::string& url,
                                  const HostContext& ctx);

}  // namespace crimirror::relay::upstream_internal
