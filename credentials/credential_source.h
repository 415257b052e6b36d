// A place registry credentials can come from besides the config's own
// [host] tables and the kubelet's AuthConfig (issue 12): docker config.json
// files and their credential helpers, the kubelet's credential provider
// plugins. The relay asks its sources in order, about the image as it is
// named at the endpoint that will receive the credential, so a credential
// only ever reaches the host it was issued for.
//
// Contract of every source:
//  - Lookup() never fails the pull: a file that cannot be read, a helper or
//    plugin that fails, hangs (its timeout) or prints garbage is logged once
//    per cause (never the secret) and the answer is "none" (nullopt), so the
//    next source is asked;
//  - it is thread-safe and bounded in time (every exec has a timeout);
//  - `FoundCredentials::source` names where the credential came from for
//    logs and `resolve` ("docker config /root/.docker/config.json auths
//    \"https://index.docker.io/v1/\"", "credential helper docker-credential-x",
//    "credential provider ecr-provider"); it never holds the secret.
#pragma once

#include <optional>
#include <string>

#include "auth/credentials.h"

namespace crimirror::credentials {

// The image as named at one endpoint.
struct CredentialQuery {
  // Endpoint authority as the reference spells the registry: "127.0.0.1:5000",
  // "registry.example.com" (no port when the endpoint uses the scheme's
  // default one), "docker.io" for Docker Hub (sources treat docker.io,
  // index.docker.io and registry-1.docker.io as one registry).
  std::string registry;
  // Repository at that endpoint: "library/nginx", "team/app".
  std::string repository;

  // "registry/repository", the form docker config keys and the kubelet's
  // matchImages are matched against.
  std::string Image() const { return registry + "/" + repository; }
};

struct FoundCredentials {
  auth::Credentials credentials;
  // Where they came from, without the secret (see the banner).
  std::string source;
};

class CredentialSource {
 public:
  virtual ~CredentialSource() = default;
  // The credentials this source has for `query`, or nullopt (see banner).
  virtual std::optional<FoundCredentials> Lookup(const CredentialQuery& query) const = 0;
};

}  // namespace crimirror::credentials
