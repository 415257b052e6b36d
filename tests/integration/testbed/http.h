// Copyright cri-mirror authors.
//
// A minimal synchronous HTTP(S) client (libcurl) for tests: probe a
// registry's /v2/, check that auth is enforced (401 without credentials,
// 200 with), talk to cri-mirror's relay. Not for production code paths.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace crimirror::testbed {

// One request.
struct HttpRequest {
  std::string url;
  std::string method = "GET";  // "GET", "HEAD", or "POST"/"PUT" with `body`.
  std::string body;            // sent by POST and PUT
  // Extra request headers, "Name: value".
  std::vector<std::string> headers;
  // Basic auth when username is non-empty.
  std::string username;
  std::string password;
  // TLS: a CA bundle to trust (in addition to nothing: the system store is
  // not used when set), a client certificate and key for mTLS, or no
  // verification at all.
  std::string ca_file;
  std::string client_cert;
  std::string client_key;
  bool insecure_skip_verify = false;
  // curl --resolve entries "host:port:address", e.g.
  // "docker-registry:5000:127.0.0.1", to reach a name without /etc/hosts.
  std::vector<std::string> resolve;
  absl::Duration timeout = absl::Seconds(10);
};

// A response; header names are lower-cased (last value wins).
struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
};

// Performs the request. Any HTTP status is OK (check response.status);
// transport failures (refused, TLS, timeout) return Unavailable with
// curl's error text and the url.
absl::StatusOr<HttpResponse> HttpGet(const HttpRequest& request);

}  // namespace crimirror::testbed
