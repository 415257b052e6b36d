// Upstream: the relay's seam to real registries. One call opens one HTTP
// request to one endpoint and returns once the final response headers are in
// (redirects followed, registry auth challenges answered); the body is then
// pulled in bounded chunks by the caller, so a blob is never held whole in
// memory and a slow reader (containerd) slows the registry download
// (back-pressure) instead of growing a buffer.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "auth/credentials.h"
#include "config/config.h"

namespace crimirror::relay {

using Headers = std::vector<std::pair<std::string, std::string>>;

// Case-insensitive lookup of the first header named `name`.
std::optional<std::string> FindHeader(const Headers& headers, std::string_view name);

struct UpstreamRequest {
  std::string method = "GET";  // "GET" or "HEAD"
  // Full URL: "<endpoint.base_url>/v2/<repository>/manifests/<ref>".
  std::string url;
  // Forwarded request headers (Accept, Range). Never Authorization: the
  // upstream adds its own credentials.
  Headers headers;
  // [host] settings of the endpoint (CA, client cert, credentials, timeouts);
  // nullopt = defaults, anonymous.
  std::optional<config::HostSettings> host_settings;
  // The [host] table of another origin the request reaches (a redirect
  // target or token realm), by "host:port" (port always explicit; IPv6 in
  // brackets). Origins are matched on scheme, host and port: only the
  // endpoint's own origin gets `host_settings`. Empty function or nullopt:
  // defaults (system CAs, verification on, no client cert, 5 s / 15 s).
  std::function<std::optional<config::HostSettings>(std::string_view host_port)> host_lookup;
  // Fills `host_lookup` from a config snapshot (kept alive by the function);
  // a null snapshot leaves it empty.
  void LookUpHostsIn(config::ConfigPtr config) {
    if (config == nullptr) return;
    host_lookup = [config](std::string_view host_port) -> std::optional<config::HostSettings> {
      const config::HostSettings* host = config->FindHost(host_port);
      return host == nullptr ? std::nullopt : std::optional<config::HostSettings>(*host);
    };
  }
  // Repository on that endpoint, for the token scope "repository:<r>:pull".
  std::string repository;
  // Credentials for this endpoint by issue 12's order (chosen by
  // relay/endpoint_credentials.h): `kubelet_credentials` (the kubelet's
  // AuthConfig, set only for hosts it may reach) win over the [host]
  // table's; `source_credentials` (docker config, helpers, plugins) are used
  // when [host] has none. A registry_token is sent as is; an identity_token
  // or username/password answer challenges. Only the endpoint's own origin
  // and its token realm see them, never a redirect target.
  std::optional<auth::Credentials> kubelet_credentials;
  std::optional<auth::Credentials> source_credentials;
  // No body bytes for this long ends the read with DeadlineExceeded.
  absl::Duration stall_timeout = absl::Seconds(30);
  // Set to true (from any thread) to abandon the request: Open() and the
  // response's Read() then return Cancelled within about 50 ms. Null: never.
  std::shared_ptr<std::atomic<bool>> cancel;
  // The final response headers must arrive by then, token requests and
  // redirects included, else Open() returns DeadlineExceeded ("no answer
  // within the deadline"); on top of the [host] timeouts. For the tag
  // resolution's resolve_timeout (relay/tag_resolution.h).
  absl::Time deadline = absl::InfiniteFuture();
};

// Synthetic header an Upstream adds to a 401 response whose challenge it
// could not answer (token realm down, no credentials...), carrying the
// reason (never a secret) so the relay can record why it moved on.
inline constexpr std::string_view kAuthErrorHeader = "X-Cri-Mirror-Auth-Error";

// A response whose headers have arrived. Not thread-safe; one reader.
class UpstreamResponse {
 public:
  virtual ~UpstreamResponse() = default;
  virtual int status() const = 0;
  virtual const Headers& headers() const = 0;
  // Body length from Content-Length, if the registry sent one.
  virtual std::optional<std::size_t> content_length() const = 0;
  // Copies up to `max` body bytes into `buf`. Returns 0 at end of body.
  // Blocks until at least one byte, end of body or an error (Unavailable for
  // a broken connection, DeadlineExceeded for a stall).
  virtual absl::StatusOr<std::size_t> Read(char* buf, std::size_t max) = 0;
};
using UpstreamResponsePtr = std::unique_ptr<UpstreamResponse>;

// Opens requests to registries. Thread-safe: one instance serves all relay
// connections and shares connections, TLS sessions and tokens between them.
class Upstream {
 public:
  virtual ~Upstream() = default;
  // Returns the final response (any HTTP status: 200, 404, 401 after auth,
  // 5xx are responses, not errors). Errors are for failures below HTTP:
  // Unavailable (refused, reset, DNS), DeadlineExceeded (connect or response
  // timeout), FailedPrecondition (TLS verification or handshake failure),
  // InvalidArgument (bad URL), Cancelled (request.cancel was set). Messages
  // name the URL's host, never a secret.
  virtual absl::StatusOr<UpstreamResponsePtr> Open(const UpstreamRequest& request) = 0;
};
using UpstreamPtr = std::unique_ptr<Upstream>;

}  // namespace crimirror::relay
