// CurlUpstream: the libcurl + OpenSSL implementation of relay::Upstream.
//
// One instance serves the whole process. It owns a CURLSH share handle (DNS
// cache and TLS sessions, guarded by per-data-kind mutexes), a pool of idle
// CURLM multi handles (each keeps its own connection cache, so a later
// request to the same registry reuses a warm TCP/TLS connection), the
// per-host TLS trust material (system bundle + `ca_file`, client cert/key)
// and the bearer-token cache (auth::Authorizer) shared by every pull.
//
// Per request it: applies the endpoint's `[host]` settings (CA, mTLS,
// insecure_skip_verify, tls_server_name, connect/response timeouts); sends
// anonymously (or with a cached token / known Basic credentials); answers a
// 401 challenge once (Basic with the host's or the pull's credentials,
// Bearer via a token fetched from the realm); follows up to
// `max_redirects` redirects by hand, sending credentials only to the
// endpoint's own origin (scheme, host and port), giving every other origin
// its own `[host]` table (UpstreamRequest::host_lookup) or defaults, refusing
// https -> http downgrades and link-local/unspecified targets; and returns as
// soon as the final response headers are in. The body is then streamed by the caller's
// Read() calls, at most one libcurl read at a time (see the design comment in
// curl_transfer.cc).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "relay/upstream.h"

namespace crimirror::relay {

class CurlUpstream : public Upstream {
 public:
  struct Options {
    // PEM bundle the per-host `ca_file` is appended to. Empty: libcurl's
    // built-in default (Debian: /etc/ssl/certs/ca-certificates.crt).
    std::string system_ca_file;
    // CURLOPT_BUFFERSIZE: the largest chunk one Read() can be handed and the
    // unit of buffering per response. 1 KiB .. 512 KiB. Matches the relay's
    // stream chunk (see RelayLimits::stream_chunk for the measurement).
    std::size_t buffer_size = 256 * 1024;
    // Redirects followed per request (blob GETs are often redirected to
    // object storage). 0 .. 20.
    int max_redirects = 5;
    std::string user_agent = "cri-mirror/0.1";
    // Clock for the token cache; tests inject a fake one.
    std::function<absl::Time()> clock = [] { return absl::Now(); };
    // Idle multi handles (each with its warm connections) kept for reuse.
    std::size_t max_idle_connections = 16;
  };

  // Initializes libcurl (once per process) and the shared handles.
  // InvalidArgument for out-of-range options, Internal when libcurl lacks a
  // required feature (HTTP, share locking).
  static absl::StatusOr<std::unique_ptr<CurlUpstream>> Create(Options options);

  ~CurlUpstream() override;
  CurlUpstream(const CurlUpstream&) = delete;
  CurlUpstream& operator=(const CurlUpstream&) = delete;

  // See Upstream::Open. Thread-safe. Additionally returns InvalidArgument for
  // a request whose method is not GET/HEAD, whose URL is not http(s) or whose
  // forwarded headers contain CR/LF, and FailedPrecondition when the host's
  // TLS files (ca_file, client_cert/key) cannot be used or its `auth` is not
  // base64 user:pass. The returned response may outlive this object.
  absl::StatusOr<UpstreamResponsePtr> Open(const UpstreamRequest& request) override;

  // Implementation state shared with live responses (opaque).
  struct Shared;

 private:
  explicit CurlUpstream(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

  std::shared_ptr<Shared> shared_;
};

}  // namespace crimirror::relay
