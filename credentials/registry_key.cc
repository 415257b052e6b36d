#include "credentials/registry_key.h"

#include <fnmatch.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace crimirror::credentials {
namespace {

absl::Status Bad(absl::string_view key, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("registry key \"", key.substr(0, 256), "\" ", why,
                   "; write it as host[:port][/path] or https://host[:port][/path]"));
}

bool HostPartMatches(const std::string& pattern, const std::string& part) {
  if (pattern.find_first_of("*?[") == std::string::npos) return pattern == part;
  return fnmatch(pattern.c_str(), part.c_str(), 0) == 0;
}

}  // namespace

std::string RegistryKey::Spelling() const {
  std::string out = host;
  if (!port.empty()) absl::StrAppend(&out, ":", port);
  absl::StrAppend(&out, path);
  return out;
}

std::string CanonicalRegistryHost(std::string_view host) {
  std::string lower = absl::AsciiStrToLower(absl::string_view(host.data(), host.size()));
  if (lower == "index.docker.io" || lower == "registry-1.docker.io") return "docker.io";
  return lower;
}

absl::StatusOr<RegistryKey> ParseRegistryKey(std::string_view key_in) {
  const absl::string_view key(key_in.data(), key_in.size());
  absl::string_view rest = absl::StripAsciiWhitespace(key);
  if (const std::size_t scheme = rest.find("://"); scheme != absl::string_view::npos) {
    const std::string lower = absl::AsciiStrToLower(rest.substr(0, scheme));
    if (lower != "https" && lower != "http") return Bad(key, "has a scheme other than https/http");
    rest.remove_prefix(scheme + 3);
  }
  rest = rest.substr(0, rest.find_first_of("?#"));
  const std::size_t slash = rest.find('/');
  absl::string_view authority = rest.substr(0, slash);
  std::string path(slash == absl::string_view::npos ? "" : rest.substr(slash));
  if (authority.empty()) return Bad(key, "has no host");
  if (absl::StrContains(authority, '@')) return Bad(key, "has user information");
  RegistryKey parsed;
  absl::string_view host = authority;
  if (authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == absl::string_view::npos) return Bad(key, "has an unclosed '['");
    host = authority.substr(0, close + 1);
    absl::string_view after = authority.substr(close + 1);
    if (!after.empty() && !absl::ConsumePrefix(&after, ":")) return Bad(key, "has junk after ']'");
    parsed.port = std::string(after);
  } else if (const std::size_t colon = authority.rfind(':'); colon != absl::string_view::npos) {
    host = authority.substr(0, colon);
    parsed.port = std::string(authority.substr(colon + 1));
  }
  if (host.empty()) return Bad(key, "has no host");
  if (!parsed.port.empty()) {
    int port = 0;
    if (!absl::SimpleAtoi(parsed.port, &port) || port <= 0 || port > 65535) {
      return Bad(key, "has a bad port");
    }
    parsed.port = absl::StrCat(port);
  }
  parsed.host = CanonicalRegistryHost(std::string_view(host.data(), host.size()));
  // Docker writes API versions into keys: "https://index.docker.io/v1/".
  if (absl::StartsWith(path, "/v1/") || absl::StartsWith(path, "/v2/") || path == "/v1" ||
      path == "/v2") {
    path.erase(0, 3);
  }
  while (!path.empty() && path.back() == '/') path.pop_back();
  parsed.path = std::move(path);
  return parsed;
}

bool KeyMatches(const RegistryKey& key, const RegistryKey& image) {
  if (key.port != image.port) return false;
  const std::vector<std::string> key_parts = absl::StrSplit(key.host, '.');
  const std::vector<std::string> image_parts = absl::StrSplit(image.host, '.');
  if (key_parts.size() != image_parts.size()) return false;
  for (std::size_t i = 0; i < key_parts.size(); ++i) {
    if (!HostPartMatches(key_parts[i], image_parts[i])) return false;
  }
  if (key.path.empty()) return true;
  if (!absl::StartsWith(image.path, key.path)) return false;
  return image.path.size() == key.path.size() || image.path[key.path.size()] == '/';
}

}  // namespace crimirror::credentials
