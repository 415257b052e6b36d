// Syntax of the addresses a config names: endpoint URLs, registry keys
// ("host[:port][/path]" or "*") and host:port authorities. Pure string
// functions shared by the config validator and the resolver so both agree on
// what a host:port is.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace crimirror::config {

// A parsed endpoint URL such as "http://127.0.0.1:5001/dockerhub".
struct EndpointUrl {
  std::string scheme;  // "http" or "https"
  std::string host;    // "127.0.0.1", "mirror.corp", "[::1]" (lowercased)
  int port = 0;        // explicit port, or 443/80 from the scheme
  bool explicit_port = false;
  // Repository prefix from the path, without slashes: "dockerhub", "a/b";
  // empty for no path, "/" and "/v2" (the Harbor proxy-cache convention).
  std::string path_prefix;

  // "https://mirror.corp:5000" exactly as configured (scheme + authority).
  std::string BaseUrl() const;
  // "mirror.corp:5000" with the port always explicit; the [host] table key.
  std::string HostPort() const;
};

// Parses an endpoint URL. InvalidArgument (message without the "file:line"
// prefix, e.g. "scheme must be http or https, got \"ftp\"") when the scheme is
// not http/https, the host is missing or malformed, the port is not 1-65535,
// or the URL has userinfo, a query or a fragment, or a path component that is
// not a valid repository path component.
absl::StatusOr<EndpointUrl> ParseEndpointUrl(std::string_view url);

// A parsed `[[mirror]] registry` value.
struct RegistryKey {
  bool wildcard = false;  // "*"
  // "example.com" for "*.example.com" (registries.conf subdomain prefixes):
  // every registry host below it, at any depth and on any port, not the
  // domain itself. Then `host` and `path` are empty.
  std::string subdomains_of;
  std::string host;       // "docker.io", "host:5000" (lowercased)
  std::string path;       // "bitnami" for "docker.io/bitnami"; may be empty
};

// Parses "host[:port][/path]", "*.domain" or "*". "index.docker.io" is
// normalized to "docker.io" as image references are. InvalidArgument on bad
// syntax; "*.domain" takes no port and no path (as containers/image).
absl::StatusOr<RegistryKey> ParseRegistryKey(std::string_view key);

// "host[:port]" split into its parts; `host` keeps IPv6 brackets.
struct HostAndPort {
  std::string host;
  int port = 0;
  bool has_port = false;
};

// Splits and validates "host[:port]" (host: DNS name, IPv4 or [IPv6]; port
// 1-65535, or 0-65535 when `allow_zero_port`). InvalidArgument otherwise.
absl::StatusOr<HostAndPort> SplitHostPort(std::string_view host_port,
                                          bool allow_zero_port = false);

// Where a registry itself is reached when a rule falls back to upstream:
// docker.io -> https://registry-1.docker.io ("registry-1.docker.io:443"),
// anything else -> https://<registry> ("<registry>:443" unless it has a port).
struct Upstream {
  std::string base_url;
  std::string host_port;  // the [host] table key
};
Upstream UpstreamFor(std::string_view registry);

// Validates "host:port" with a mandatory port (the [host."h:p"] key form);
// returns the lowercased form.
absl::StatusOr<std::string> ParseHostPort(std::string_view host_port,
                                          bool port_required);

// True for a DNS name (letters, digits, '-', '.'), an IPv4 address, or a
// bracketed IPv6 address.
bool IsValidHost(std::string_view host);

// True when `component` matches the repository path-component grammar
// [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*.
bool IsValidPathComponent(std::string_view component);

}  // namespace crimirror::config
