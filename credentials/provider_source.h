// The kubelet's credential provider plugins as credential sources (issue 12
// source 4). STUB: filled in by the provider work.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "credentials/credential_source.h"

namespace crimirror::credentials {

// One source per provider of `settings.provider_config` (none when unset).
// Errors name the provider config file (and line) and the fix.
absl::StatusOr<std::vector<std::shared_ptr<const CredentialSource>>> ProviderSources(
    const config::CredentialsSettings& settings);

}  // namespace crimirror::credentials
