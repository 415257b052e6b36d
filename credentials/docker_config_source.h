// docker config.json files as credential sources (issue 12 source 3).
// STUB: filled in by the docker-config work.
#pragma once

#include <memory>
#include <vector>

#include "config/config.h"
#include "credentials/credential_source.h"

namespace crimirror::credentials {

// One source per `settings.docker_config` file, in order.
std::vector<std::shared_ptr<const CredentialSource>> DockerConfigSources(
    const config::CredentialsSettings& settings);

}  // namespace crimirror::credentials
