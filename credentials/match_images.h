// The kubelet's image matching for credential provider plugins, byte for
// byte (pkg/credentialprovider/keyring.go: ParseSchemelessURL, SplitURL,
// URLsMatch): a provider's `matchImages` and the keys of a plugin's `auth`
// map are globs over "host[:port][/path]" matched against the image
// "registry/repository". Pure.
//
// Rules, as the kubelet applies them:
//  - the host is split on '.'; glob and image need the same number of
//    parts, each matched with Go's filepath.Match ('*', '?', '[a-z]',
//    '\\' escapes; a '*' never spans a '.'), so "*.example.com" matches
//    "a.example.com" but neither "example.com" nor "a.b.example.com";
//  - the ports must be equal (no port matches only no port);
//  - the glob's path must be a string prefix of the image's path (no
//    globbing there): "registry.io/team" matches "registry.io/teamx/app".
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace crimirror::credentials {

// A "host[:port][/path]" as Go's url.Parse("https://" + text) splits it.
struct SchemelessUrl {
  std::string host;  // authority as written, port included ("a.io:5000")
  std::string path;  // percent-decoded, "" or starting with '/'
};

// Go's url.Parse("https://" + text) with the scheme dropped. Errors
// (InvalidArgument) where Go's parser has one: control characters, a port
// that is not digits, a character a host cannot hold (space, '{', '|', ...),
// a bad %-escape, an unclosed '[' of an IPv6 literal.
absl::StatusOr<SchemelessUrl> ParseSchemelessUrl(std::string_view text);

// Go's path/filepath.Match on Linux. A malformed pattern (an unclosed
// '[', a trailing '\\') matches nothing.
bool GoFilepathMatch(std::string_view pattern, std::string_view name);

// The kubelet's URLsMatchStr(glob, target): true when `target` (an image,
// "registry/repository") matches `glob` (see the banner). Either side
// failing to parse is no match.
bool UrlsMatch(std::string_view glob, std::string_view target);

// The kubelet's normalisation of a docker config / plugin `auth` key
// (BasicDockerKeyring.Add): "https://" or "http://" dropped, a "/v1/" or
// "/v2/" path prefix dropped, "host" + path unless the path is "" or "/".
// Errors when the key does not parse (the kubelet ignores such keys).
absl::StatusOr<std::string> NormalizeAuthKey(std::string_view key);

// Of `keys` (normalised auth keys), the one the kubelet tries first for
// `image`: keys sorted in reverse byte order (longer paths before their
// prefixes), the first that matches; else, for a Docker Hub image
// ("docker.io/..." or "index.docker.io/..."), the key "index.docker.io".
// Returns the index into `keys`, or -1 when none applies.
int BestAuthKey(const std::vector<std::string>& keys, std::string_view image);

}  // namespace crimirror::credentials
