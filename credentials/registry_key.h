// Registry keys as docker config.json `auths` keys, credHelpers keys and
// the kubelet's AuthConfig.server_address spell them, and how a key matches
// the image as named at one endpoint. Pure: no I/O.
//
// Follows the kubelet's keyring (kubernetes/kubernetes
// pkg/credentialprovider/keyring.go: BasicDockerKeyring.Add, Lookup and
// URLsMatch; config.go's ParseSchemelessURL): a key is parsed as a URL
// (https:// assumed when it has no scheme), a leading "/v1/" or "/v2/" of
// its path is dropped (Docker's "https://index.docker.io/v1/"), and a key
// matches an image when both hosts have the same number of dot-separated
// parts and each part matches (a part may be a glob, `*.example.com`), the
// ports are equal (a key without a port only matches an image without one),
// and the key's path is a prefix of the image's path. Callers try keys most
// specific first: the kubelet's reverse order of Spelling(). One deliberate
// difference: the path prefix must end at a '/' boundary ("host/team"
// does not match "host/teamx/app"), so a credential never reaches a
// repository it was not written for. docker.io, index.docker.io and
// registry-1.docker.io are one registry, spelled "docker.io".
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace crimirror::credentials {

struct RegistryKey {
  std::string host;  // lowercase; "docker.io" for Docker Hub's aliases
  std::string port;  // "" when the key has none
  std::string path;  // "" or "/team/app" (no trailing '/')

  // "host[:port][/path]", the normalized spelling (also the sort key).
  std::string Spelling() const;
  friend bool operator==(const RegistryKey&, const RegistryKey&) = default;
};

// "docker.io" for "docker.io", "index.docker.io", "registry-1.docker.io";
// otherwise `host` lowercased.
std::string CanonicalRegistryHost(std::string_view host);

// Parses `key` ("host", "host:5000", "host/path", "https://host/v1/",
// "http://[::1]:5000"). InvalidArgument (naming the key, which is never
// secret) when it has no host, a bad port or an unsupported scheme.
absl::StatusOr<RegistryKey> ParseRegistryKey(std::string_view key);

// Whether `key` applies to `image` (an image parsed with ParseRegistryKey
// from "registry/repository"), by the rules in the banner.
bool KeyMatches(const RegistryKey& key, const RegistryKey& image);

}  // namespace crimirror::credentials
