#include "config/endpoint_url.h"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace crimirror::config {
namespace {

bool IsAlnum(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c));
}

bool IsDnsLabel(absl::string_view label) {
  if (label.empty() || label.size() > 63) return false;
  if (!IsAlnum(label.front()) || !IsAlnum(label.back())) return false;
  for (char c : label) {
    if (!IsAlnum(c) && c != '-') return false;
  }
  return true;
}

bool IsIpv6Literal(absl::string_view host) {
  if (host.size() < 4 || host.front() != '[' || host.back() != ']')
    return false;
  absl::string_view inner = host.substr(1, host.size() - 2);
  for (char c : inner) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) && c != ':' &&
        c != '.') {
      return false;
    }
  }
  return inner.find(':') != absl::string_view::npos;
}

// Splits "host[:port]" where host may be "[v6]". Port text empty if absent.
bool SplitAuthority(absl::string_view authority, absl::string_view* host,
                    absl::string_view* port, bool* has_port) {
  size_t colon;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == absl::string_view::npos) return false;
    colon = close + 1 < authority.size() ? close + 1 : absl::string_view::npos;
    if (colon != absl::string_view::npos && authority[colon] != ':')
      return false;
  } else {
    colon = authority.rfind(':');
  }
  *has_port = colon != absl::string_view::npos;
  *host = authority.substr(0, colon);
  *port = *has_port ? authority.substr(colon + 1) : absl::string_view();
  return true;
}

absl::StatusOr<int> ParsePort(absl::string_view text, bool allow_zero) {
  int port = 0;
  bool digits = !text.empty() && text.size() <= 5 &&
                text.find_first_not_of("0123456789") == absl::string_view::npos;
  if (!digits || !absl::SimpleAtoi(text, &port) || port > 65535 ||
      (port == 0 && !allow_zero)) {
    return absl::InvalidArgumentError(
        absl::StrCat("port \"", text, "\" is not a number from ",
                     allow_zero ? 0 : 1, " to 65535"));
  }
  return port;
}

absl::Status ParsePathPrefix(absl::string_view path, EndpointUrl* url) {
  absl::string_view trimmed = path;
  while (absl::ConsumePrefix(&trimmed, "/")) {
  }
  while (absl::ConsumeSuffix(&trimmed, "/")) {
  }
  if (trimmed.empty() || trimmed == "v2") return absl::OkStatus();
  for (absl::string_view component : absl::StrSplit(trimmed, '/')) {
    if (!IsValidPathComponent(
            std::string_view(component.data(), component.size()))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "path component \"", component,
          "\" is not a valid repository name component (lowercase letters, "
          "digits, and single '.', '_' or '-' between them); the path is "
          "used as a repository prefix on this endpoint"));
    }
  }
  url->path_prefix = std::string(trimmed);
  return absl::OkStatus();
}

}  // namespace

std::string EndpointUrl::BaseUrl() const {
  return explicit_port ? absl::StrCat(scheme, "://", host, ":", port)
                       : absl::StrCat(scheme, "://", host);
}

std::string EndpointUrl::HostPort() const {
  return absl::StrCat(host, ":", port);
}

bool IsValidHost(std::string_view host_std) {
  absl::string_view host(host_std.data(), host_std.size());
  if (host.empty() || host.size() > 253) return false;
  if (host.front() == '[') return IsIpv6Literal(host);
  for (absl::string_view label : absl::StrSplit(host, '.')) {
    if (!IsDnsLabel(label)) return false;
  }
  return true;
}

bool IsValidPathComponent(std::string_view component_std) {
  absl::string_view component(component_std.data(), component_std.size());
  auto lower_alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  };
  if (component.empty() || !lower_alnum(component.front()) ||
      !lower_alnum(component.back())) {
    return false;
  }
  for (size_t i = 0; i < component.size();) {
    if (lower_alnum(component[i])) {
      ++i;
      continue;
    }
    // A separator run: ".", "_", "__" or one or more '-'.
    size_t j = i;
    while (j < component.size() && !lower_alnum(component[j])) ++j;
    absl::string_view sep = component.substr(i, j - i);
    bool ok = sep == "." || sep == "_" || sep == "__" ||
              sep.find_first_not_of('-') == absl::string_view::npos;
    if (!ok) return false;
    i = j;
  }
  return true;
}

absl::StatusOr<HostAndPort> SplitHostPort(std::string_view host_port_std,
                                          bool allow_zero_port) {
  absl::string_view host_port(host_port_std.data(), host_port_std.size());
  absl::string_view host, port;
  HostAndPort out;
  if (!SplitAuthority(host_port, &host, &port, &out.has_port) ||
      !IsValidHost(std::string_view(host.data(), host.size()))) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", host_port,
                     "\" is not a valid host[:port] (a DNS name, IPv4 "
                     "address or [IPv6] address)"));
  }
  out.host = std::string(host);
  if (out.has_port) {
    absl::StatusOr<int> p = ParsePort(port, allow_zero_port);
    if (!p.ok()) return p.status();
    out.port = *p;
  }
  return out;
}

absl::StatusOr<std::string> ParseHostPort(std::string_view host_port,
                                          bool port_required) {
  absl::StatusOr<HostAndPort> split = SplitHostPort(host_port);
  if (!split.ok()) return split.status();
  std::string text(host_port);
  if (!split->has_port && port_required) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\" has no port; write it as \"", text,
                     ":443\" (or the port the endpoint URL uses)"));
  }
  return absl::AsciiStrToLower(text);
}

Upstream UpstreamFor(std::string_view registry_std) {
  std::string registry = absl::AsciiStrToLower(
      absl::string_view(registry_std.data(), registry_std.size()));
  if (registry == "docker.io") registry = "registry-1.docker.io";
  absl::StatusOr<HostAndPort> split = SplitHostPort(registry);
  bool has_port = split.ok() && split->has_port;
  return {absl::StrCat("https://", registry),
          has_port ? registry : absl::StrCat(registry, ":443")};
}

absl::StatusOr<EndpointUrl> ParseEndpointUrl(std::string_view text_std) {
  absl::string_view text(text_std.data(), text_std.size());
  EndpointUrl url;
  size_t sep = text.find("://");
  if (sep == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "not a URL; write it as http://host[:port][/path] or "
        "https://host[:port][/path]");
  }
  url.scheme = std::string(text.substr(0, sep));
  if (url.scheme != "http" && url.scheme != "https") {
    return absl::InvalidArgumentError(
        absl::StrCat("scheme must be http or https, got \"", url.scheme, "\""));
  }
  absl::string_view rest = text.substr(sep + 3);
  if (rest.find_first_of("?#") != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "URL must not have a query (?) or fragment (#); remove it");
  }
  size_t slash = rest.find('/');
  absl::string_view authority = rest.substr(0, slash);
  absl::string_view path = slash == absl::string_view::npos
                               ? absl::string_view()
                               : rest.substr(slash);
  if (authority.find('@') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "URL must not contain user:password@; put credentials in a "
        "[host.\"host:port\"] table");
  }
  if (authority.empty()) {
    return absl::InvalidArgumentError("URL has no host");
  }
  absl::StatusOr<HostAndPort> split =
      SplitHostPort(std::string_view(authority.data(), authority.size()));
  if (!split.ok()) return split.status();
  url.host = absl::AsciiStrToLower(split->host);
  url.explicit_port = split->has_port;
  url.port = split->has_port ? split->port : (url.scheme == "https" ? 443 : 80);
  if (absl::Status s = ParsePathPrefix(path, &url); !s.ok()) return s;
  return url;
}

absl::StatusOr<RegistryKey> ParseRegistryKey(std::string_view key_std) {
  absl::string_view key(key_std.data(), key_std.size());
  RegistryKey out;
  if (key == "*") {
    out.wildcard = true;
    return out;
  }
  if (absl::StartsWith(key, "*.")) {
    // containers/image refuses "/", "@" and ":" after the wildcard; a
    // bracketed IPv6 address has no subdomains.
    absl::string_view domain = key.substr(2);
    absl::StatusOr<std::string> host = absl::InvalidArgumentError("has a port or path");
    if (!domain.empty() && domain.find_first_of(":/@[") == absl::string_view::npos) {
      host = ParseHostPort(std::string_view(domain.data(), domain.size()), false);
    }
    if (!host.ok()) {
      return absl::InvalidArgumentError(
          "a subdomain wildcard is \"*.domain\", without port or path");
    }
    out.subdomains_of = *std::move(host);
    return out;
  }
  size_t slash = key.find('/');
  absl::string_view authority = key.substr(0, slash);
  absl::StatusOr<std::string> host = ParseHostPort(
      std::string_view(authority.data(), authority.size()), false);
  if (!host.ok()) return host.status();
  out.host = *host == "index.docker.io" ? "docker.io" : *host;
  if (slash == absl::string_view::npos) return out;
  absl::string_view path = key.substr(slash + 1);
  if (path.empty()) {
    return absl::InvalidArgumentError(
        "trailing \"/\"; write \"host\" or \"host/path\"");
  }
  for (absl::string_view component : absl::StrSplit(path, '/')) {
    if (!IsValidPathComponent(
            std::string_view(component.data(), component.size()))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "path component \"", component,
          "\" is not a valid repository name component (lowercase letters, "
          "digits, single '.', '_' or '-' between them)"));
    }
  }
  out.path = std::string(path);
  return out;
}

}  // namespace crimirror::config
