// docker config.json (the file `docker login` writes, and the kubelet's
// /var/lib/kubelet/config.json) parsed into what cri-mirror can use: the
// `auths` entries, `credHelpers` and `credsStore`. Pure: no I/O. Keys are
// matched like the kubelet's keyring does (credentials/registry_key.h).
//
// An `auths` entry is one of: `auth` (base64 "user:password"),
// `username`/`password`, `identitytoken` (OAuth2 refresh token, with the
// username if any), `registrytoken` (bearer token sent as is). An entry
// with none of them (Docker Desktop writes `{}` beside a credsStore) is
// ignored so the store is asked. `email` and `serveraddress` are ignored.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "auth/credentials.h"
#include "credentials/registry_key.h"

namespace crimirror::credentials {

struct DockerAuthEntry {
  std::string key;  // as written in the file: "https://index.docker.io/v1/"
  RegistryKey parsed;
  auth::Credentials credentials;
};

struct DockerHelperEntry {
  std::string key;  // as written
  RegistryKey parsed;
  std::string helper;  // NAME of docker-credential-NAME
};

struct DockerConfig {
  // Most specific key first (reverse order of RegistryKey::Spelling()).
  std::vector<DockerAuthEntry> auths;
  std::vector<DockerHelperEntry> cred_helpers;
  std::string creds_store;  // "" when not set
  // Entries skipped as unusable, one message each ("<file>: auths
  // \"reg:5000\": auth is not base64"); never a secret.
  std::vector<std::string> problems;
};

// Parses `text` (the contents of `file_name`, which only prefixes
// messages). InvalidArgument when it is not JSON or not an object, or when
// `auths`, `credHelpers` or `credsStore` have the wrong type; a single bad
// entry (bad key, bad base64, a helper name that is not a plain name) only
// adds a `problems` line and is skipped. Messages never contain secrets
// (nor bytes of the file other than keys).
absl::StatusOr<DockerConfig> ParseDockerConfig(std::string_view text, std::string_view file_name);

// Whether `name` may be run as docker-credential-NAME: letters, digits,
// '.', '_' and '-' only (no path, no option).
bool IsValidHelperName(std::string_view name);

// The first entry (most specific first) whose key matches `image`, or
// nullptr.
const DockerAuthEntry* MatchAuth(const DockerConfig& config, const RegistryKey& image);
const DockerHelperEntry* MatchHelper(const DockerConfig& config, const RegistryKey& image);

}  // namespace crimirror::credentials
