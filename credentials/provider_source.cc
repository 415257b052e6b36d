#include "credentials/provider_source.h"

namespace crimirror::credentials {

absl::StatusOr<std::vector<std::shared_ptr<const CredentialSource>>> ProviderSources(
    const config::CredentialsSettings&) {
  return std::vector<std::shared_ptr<const CredentialSource>>{};
}

}  // namespace crimirror::credentials
