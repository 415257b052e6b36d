// The credential sources of one [credentials] table, in the order issue 12
// gives: docker config files (auths, credHelpers, credsStore), then the
// kubelet's credential provider plugins. Built when a config is loaded and
// kept with it; the relay asks them after the kubelet's AuthConfig and the
// [host] table (see relay/endpoint_walk.h).
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "credentials/credential_source.h"

namespace crimirror::credentials {

// Asks each source in turn; the first answer wins.
class SourceChain : public CredentialSource {
 public:
  explicit SourceChain(std::vector<std::shared_ptr<const CredentialSource>> sources)
      : sources_(std::move(sources)) {}
  std::optional<FoundCredentials> Lookup(const CredentialQuery& query) const override;
  bool empty() const { return sources_.empty(); }

 private:
  const std::vector<std::shared_ptr<const CredentialSource>> sources_;
};

// The chain for `settings`. Errors (a provider config that cannot be
// parsed) name the file and line; the caller keeps the last good config.
absl::StatusOr<std::shared_ptr<const SourceChain>> BuildSources(
    const config::CredentialsSettings& settings);

}  // namespace crimirror::credentials
