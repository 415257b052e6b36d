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
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "auth/credentials.h"
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
// carry signatures there).
std::string Display(const std::string& url);

// The endpoint of one Open() and its `[host]` settings, resolved once.
struct HostContext {
  UrlParts endpoint;      // the configured endpoint origin
  std::string authority;  // "host:port" key for token and Basic caches
  std::string server_name;
  auth::Credentials credentials;
  std::shared_ptr<const HostTls> tls;  // null when the host has no TLS settings
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration response_timeout = absl::Seconds(15);
  std::shared_ptr<std::atomic<bool>> cancel;  // UpstreamRequest::cancel
};

// The endpoint and settings of `request`. FailedPrecondition when its TLS
// files cannot be used or its `auth` is not base64 user:pass;
// InvalidArgument for a bad URL.
absl::StatusOr<HostContext> MakeHostContext(CurlUpstream::Shared& shared,
                                            const UpstreamRequest& request);

// Where one HTTP request goes and which settings apply.
struct Target {
  std::string url;         // what curl requests (host may be tls_server_name)
  std::string connect_to;  // CURLOPT_CONNECT_TO entry, "" for none
  bool endpoint_host = false;  // the endpoint's own host: credentials + TLS apply
  bool same_hostname = false;  // same host name, other port: CA trust applies
};

// The target for `url` (the endpoint URL, a redirect Location or a token
// realm) reached during a request to `ctx`'s endpoint.
absl::StatusOr<Target> MakeTarget(const std::string& url, const HostContext& ctx);

}  // namespace crimirror::relay::upstream_internal
