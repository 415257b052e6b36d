#include "credentials/docker_config_source.h"

namespace crimirror::credentials {

std::vector<std::shared_ptr<const CredentialSource>> DockerConfigSources(
    const config::CredentialsSettings&) {
  return {};
}

}  // namespace crimirror::credentials
