// Which credentials each endpoint of one pull receives (issue 12), in this
// order:
//  1. the kubelet's AuthConfig, only for the image's own registry (upstream
//     endpoints) and for mirrors whose [host] sets
//     `forward_kubelet_credentials = true`, never any other host; when the
//     kubelet named a server_address, only if it names that endpoint's
//     registry or the image's own registry;
//  2. the endpoint's [host] credentials;
//  3. the config snapshot's credential sources (docker config files,
//     credential helpers, provider plugins), asked about the image as named
//     at that endpoint. Sources may exec programs: they are asked lazily, on
//     the attempt's own thread, only for endpoints actually tried, and at
//     most once per endpoint per pull.
// Each endpoint's choice is logged once per pull (never the secret).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "auth/credentials.h"
#include "credentials/credential_source.h"
#include "relay/upstream.h"
#include "resolver/endpoint_plan.h"

namespace crimirror::relay {

// The kubelet's credential for this pull (CRI AuthConfig username/password,
// `auth` already decoded, identity_token, registry_token) and the registry
// it named (AuthConfig.server_address; empty = not named).
struct KubeletAuth {
  auth::Credentials credentials;
  std::string server_address;
};

// The query credential sources get for `endpoint`: its authority without
// the scheme's default port ("127.0.0.1:5000", "registry.example.com"),
// "docker.io" for Docker Hub, and the repository at that endpoint.
credentials::CredentialQuery QueryFor(const resolver::Endpoint& endpoint);

// Whether `kubelet` may be sent to `endpoint` of a pull of an image in
// `image_registry` (rule 1 of the banner).
bool KubeletMayReceive(const KubeletAuth& kubelet, const resolver::Endpoint& endpoint,
                       const std::string& image_registry);

// Where `endpoint` gets credentials from, for logs and `resolve`:
// "kubelet AuthConfig", "[host] table", the source's description, or
// "anonymous". Never a secret.
struct CredentialChoice {
  std::optional<auth::Credentials> kubelet;  // rule 1
  std::optional<auth::Credentials> source;   // rule 3
  std::string origin;
};

// The credential choices of one pull session. Thread-safe; shared (by
// shared_ptr) with the attempts of the session, which may outlive it.
class EndpointCredentials {
 public:
  EndpointCredentials(std::string session_id, std::string image_registry,
                      std::optional<KubeletAuth> kubelet,
                      std::shared_ptr<const credentials::CredentialSource> sources);

  // The choice for `endpoint` (the banner's order), computed once per
  // endpoint (by base_url) and logged then; later calls return the memo.
  // May run a credential helper or plugin (bounded by its timeout): call it
  // only for an endpoint about to be tried.
  CredentialChoice Choose(const resolver::Endpoint& endpoint) const;

  // Sets `up.kubelet_credentials` and `up.source_credentials` from
  // Choose(endpoint).
  void Apply(const resolver::Endpoint& endpoint, UpstreamRequest& up) const;

  const std::optional<KubeletAuth>& kubelet() const { return kubelet_; }

 private:
  struct Entry {
    absl::Mutex mu;
    std::optional<CredentialChoice> choice ABSL_GUARDED_BY(mu);
  };
  CredentialChoice Compute(const resolver::Endpoint& endpoint) const;

  const std::string session_id_;
  const std::string image_registry_;
  const std::optional<KubeletAuth> kubelet_;
  const std::shared_ptr<const credentials::CredentialSource> sources_;
  mutable absl::Mutex mu_;
  mutable std::map<std::string, std::shared_ptr<Entry>, std::less<>> entries_ ABSL_GUARDED_BY(mu_);
};

// Where `endpoint` would get credentials from when the kubelet sends none,
// for `resolve`: "[host] table", the sources' answer (which may run a
// credential helper), or "anonymous". `sources` may be null.
std::string DescribeCredentialSource(const resolver::Endpoint& endpoint,
                                     const credentials::CredentialSource* sources);

}  // namespace crimirror::relay
