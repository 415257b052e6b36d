#include "credentials/sources.h"

#include "credentials/docker_config_source.h"
#include "credentials/provider_source.h"

namespace crimirror::credentials {

std::optional<FoundCredentials> SourceChain::Lookup(const CredentialQuery& query) const {
  for (const auto& source : sources_) {
    if (std::optional<FoundCredentials> found = source->Lookup(query)) return found;
  }
  return std::nullopt;
}

absl::StatusOr<std::shared_ptr<const SourceChain>> BuildSources(
    const config::CredentialsSettings& settings) {
  std::vector<std::shared_ptr<const CredentialSource>> sources = DockerConfigSources(settings);
  absl::StatusOr<std::vector<std::shared_ptr<const CredentialSource>>> providers =
      ProviderSources(settings);
  if (!providers.ok()) return providers.status();
  sources.insert(sources.end(), providers->begin(), providers->end());
  return std::make_shared<const SourceChain>(std::move(sources));
}

}  // namespace crimirror::credentials
