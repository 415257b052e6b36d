#include "relay/route.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "log/echo.h"
#include "relay/http_headers.h"

namespace crimirror::relay {
namespace {

// Request input as it may appear in a message (issue 10 defect 11).
std::string Echo(absl::string_view text) { return log::Excerpt(AsStd(text)); }

bool IsLowerAlnum(char c) { return absl::ascii_isdigit(c) || (c >= 'a' && c <= 'z'); }

// Characters that may appear anywhere in a route path: the union of the
// registry host, repository, tag and digest alphabets.
bool IsPathChar(char c) {
  return absl::ascii_isalnum(c) || c == '/' || c == '.' || c == '_' || c == '-' || c == ':' ||
         c == '+' || c == '=';
}

// Registry: the first component, as RelayRepository() encodes it
// ("docker.io", "h__5000"); ':' is tolerated for hand-made requests.
bool IsRegistryComponent(absl::string_view s) {
  if (s.empty() || s.size() > 255 || !absl::ascii_isalnum(s.front())) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '-' && c != ':' && c != '_') return false;
  }
  return true;
}

// Repository path component, distribution/reference grammar:
// [a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*
bool IsRepositoryComponent(absl::string_view s) {
  if (s.empty() || !IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (IsLowerAlnum(c) || c == '-') continue;
    if (c == '.' || c == '_') {
      // Separators: ".", "_", "__"; never "..", "._", "___".
      const bool double_underscore = c == '_' && i + 1 < s.size() && s[i + 1] == '_';
      const std::size_t next = i + (double_underscore ? 2 : 1);
      if (next >= s.size() || !IsLowerAlnum(s[next])) return false;
      i = next - 1;
      continue;
    }
    return false;
  }
  return true;
}

// Tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
bool IsTag(absl::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  if (!absl::ascii_isalnum(s.front()) && s.front() != '_') return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

absl::Status ValidateName(absl::string_view name) {
  std::vector<absl::string_view> parts = absl::StrSplit(name, '/');
  if (parts.size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat("relay: name \"", Echo(name),
                                                   "\" must be <registry>/<repository>, e.g. "
                                                   "docker.io/library/nginx"));
  }
  if (!IsRegistryComponent(parts[0])) {
    return absl::InvalidArgumentError(
        absl::StrCat("relay: invalid registry \"", Echo(parts[0]), "\" in name"));
  }
  for (std::size_t i = 1; i < parts.size(); ++i) {
    if (!IsRepositoryComponent(parts[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("relay: invalid repository component \"", Echo(parts[i]),
                       "\" (lowercase letters, digits and single . _ __ - separators)"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckRawPath(absl::string_view path) {
  if (path.size() > kMaxPathLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("relay: request path longer than ", kMaxPathLength, " bytes"));
  }
  for (char c : path) {
    if (c == '%') {
      return absl::InvalidArgumentError(
          "relay: percent-encoded characters are not allowed in the path");
    }
    if (!IsPathChar(c)) {
      return absl::InvalidArgumentError("relay: invalid character in the request path");
    }
  }
  if (path.empty() || path.front() != '/') {
    return absl::InvalidArgumentError("relay: request path must start with /");
  }
  std::vector<absl::string_view> segments = absl::StrSplit(path.substr(1), '/');
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const bool trailing = i + 1 == segments.size() && segments[i].empty();
    if ((segments[i].empty() && !trailing) || segments[i] == "." || segments[i] == "..") {
      return absl::InvalidArgumentError(
          "relay: empty, \".\" or \"..\" segments are not allowed in the path");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Route> ParseReferenceRoute(RouteKind kind, absl::string_view name,
                                          absl::string_view ref) {
  if (absl::Status s = ValidateName(name); !s.ok()) return s;
  Route route;
  route.kind = kind;
  route.name = std::string(name);
  route.ref = std::string(ref);
  route.ref_is_digest = absl::StrContains(ref, ':');
  if (route.ref_is_digest) {
    if (!IsSupportedDigest(AsStd(ref))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "relay: digest \"", Echo(ref), "\" is not sha256/sha384/sha512 with lowercase hex"));
    }
  } else if (kind == RouteKind::kBlob) {
    return absl::InvalidArgumentError(
        absl::StrCat("relay: blobs are fetched by digest, got \"", Echo(ref), "\""));
  } else if (!IsTag(ref)) {
    return absl::InvalidArgumentError(absl::StrCat("relay: invalid tag \"", Echo(ref), "\""));
  }
  return route;
}

}  // namespace

std::string Route::Describe() const {
  switch (kind) {
    case RouteKind::kBase:
      return "/v2/";
    case RouteKind::kManifest:
      return absl::StrCat("manifests/", ref);
    case RouteKind::kBlob:
      return absl::StrCat("blobs/", ref);
  }
  return "";
}

bool IsSupportedDigest(std::string_view std_digest) {
  absl::string_view digest = AsAbsl(std_digest);
  std::size_t hex_len = 0;
  if (absl::ConsumePrefix(&digest, "sha256:")) {
    hex_len = 64;
  } else if (absl::ConsumePrefix(&digest, "sha384:")) {
    hex_len = 96;
  } else if (absl::ConsumePrefix(&digest, "sha512:")) {
    hex_len = 128;
  } else {
    return false;
  }
  if (digest.size() != hex_len) return false;
  for (char c : digest) {
    if (!absl::ascii_isdigit(c) && !(c >= 'a' && c <= 'f')) return false;
  }
  return true;
}

absl::StatusOr<Route> ParseRoute(std::string_view std_raw_path) {
  const absl::string_view raw_path = AsAbsl(std_raw_path);
  if (absl::Status s = CheckRawPath(raw_path); !s.ok()) return s;
  if (raw_path == "/v2/" || raw_path == "/v2") return Route{};
  absl::string_view rest = raw_path;
  if (!absl::ConsumePrefix(&rest, "/v2/")) {
    return absl::NotFoundError("relay: only the /v2/ registry API is served");
  }
  const std::size_t ref_slash = rest.rfind('/');
  if (ref_slash == absl::string_view::npos) {
    return absl::NotFoundError("relay: unknown /v2/ route");
  }
  const absl::string_view ref = rest.substr(ref_slash + 1);
  const absl::string_view head = rest.substr(0, ref_slash);
  const std::size_t kind_slash = head.rfind('/');
  if (kind_slash == absl::string_view::npos || ref.empty()) {
    return absl::NotFoundError("relay: unknown /v2/ route");
  }
  const absl::string_view kind = head.substr(kind_slash + 1);
  const absl::string_view name = head.substr(0, kind_slash);
  if (kind == "manifests") return ParseReferenceRoute(RouteKind::kManifest, name, ref);
  if (kind == "blobs") return ParseReferenceRoute(RouteKind::kBlob, name, ref);
  return absl::NotFoundError("relay: unknown /v2/ route; only manifests and blobs are served");
}

std::string RelayRepository(const resolver::Reference& reference) {
  std::string registry;
  for (char c : reference.registry) {
    c = absl::ascii_tolower(c);
    if (c == ':') {
      registry += "__";
    } else if (IsLowerAlnum(c) || c == '.' || c == '-') {
      registry += c;
    } else {
      registry += '-';
    }
  }
  const std::size_t first = registry.find_first_not_of("-._");
  const std::size_t last = registry.find_last_not_of("-._");
  registry = first == std::string::npos ? "registry" : registry.substr(first, last - first + 1);
  return absl::StrCat(registry, "/", reference.repository);
}

std::string RelayPullReference(std::string_view relay_address,
                               const resolver::Reference& reference) {
  return absl::StrCat(AsAbsl(relay_address), "/", RelayRepository(reference),
                      reference.digest.empty() ? ":" : "@", reference.FetchRef());
}

absl::StatusOr<std::pair<std::string, std::string>> ParseBasicAuthorization(
    std::string_view header_value) {
  absl::string_view value = absl::StripAsciiWhitespace(AsAbsl(header_value));
  const std::size_t space = value.find(' ');
  if (space == absl::string_view::npos ||
      !absl::EqualsIgnoreCase(value.substr(0, space), "basic")) {
    return absl::UnauthenticatedError("relay: Authorization is not Basic");
  }
  std::string decoded;
  if (!absl::Base64Unescape(absl::StripAsciiWhitespace(value.substr(space + 1)), &decoded)) {
    return absl::UnauthenticatedError("relay: Basic credential is not valid base64");
  }
  const std::size_t colon = decoded.find(':');
  if (colon == std::string::npos) {
    return absl::UnauthenticatedError("relay: Basic credential has no ':'");
  }
  return std::make_pair(decoded.substr(0, colon), decoded.substr(colon + 1));
}

}  // namespace crimirror::relay
