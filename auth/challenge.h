// WWW-Authenticate parsing (RFC 7235 section 4.1) for registry auth
// challenges. Pure: no I/O. Follows the split of containerd's
// core/remotes/docker/auth/parse.go: the parser only turns header text into
// challenges; deciding what to answer is the Authorizer's and the upstream's
// job.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace crimirror::auth {

// The schemes the relay can answer. Anything else is kept as kOther so the
// caller can skip it.
enum class AuthScheme { kBasic, kBearer, kOther };

// One challenge: `Bearer realm="https://auth.example/token",service="reg"`.
struct Challenge {
  AuthScheme scheme = AuthScheme::kOther;
  // The scheme as sent, lower-cased ("bearer", "negotiate").
  std::string scheme_name;
  // Parameters by lower-cased name; values unquoted and unescaped. A
  // parameter repeated in one challenge keeps its first value.
  std::map<std::string, std::string, std::less<>> params;
  // A token68 credential hint (`Negotiate abc==`), rarely used by registries.
  std::string token68;

  // The value of parameter `name` (lower-case), or "" when absent.
  std::string Param(std::string_view name) const;
};

// Parses one WWW-Authenticate header value, which may hold several
// challenges (`Basic realm="x", Bearer realm="y",scope="a,b"`). Scheme and
// parameter names are case-insensitive; quoted strings may contain commas
// and backslash escapes. Returns InvalidArgument for an empty header, an
// unterminated quoted string or bytes that fit no challenge syntax; the
// message quotes at most a short prefix of the header (challenges carry no
// secrets, but keep messages small). Never crashes on any input.
absl::StatusOr<std::vector<Challenge>> ParseWwwAuthenticate(std::string_view header);

// Parses every WWW-Authenticate value of a response and concatenates the
// challenges; values that do not parse are skipped (a registry sending one
// broken challenge next to a good one still gets answered). Returns an empty
// vector when nothing parses.
std::vector<Challenge> ParseWwwAuthenticateValues(const std::vector<std::string>& values);

}  // namespace crimirror::auth
