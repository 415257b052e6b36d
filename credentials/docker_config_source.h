// docker config.json files as credential sources (issue 12 source 3): one
// source per `[credentials] docker_config` file, asked in the order the
// files are listed. For an image as named at an endpoint a file answers
// from, in order: its `auths` entry (most specific matching key first,
// credentials/docker_config.h), the `credHelpers` helper for that registry,
// then its `credsStore` helper (credentials/credential_helper.h).
//
// The file is stat()ed on every Lookup (mtime, size, inode: cheap) and
// re-read when it changed, so `docker login` or a rotated kubelet
// config.json applies to the next pull without a reload. A missing file
// answers none without a log line (it may appear later); a file that cannot
// be read or parsed answers none and is logged once per change of the
// file, naming it and the key (never a secret), so a bad docker config never
// breaks a config reload or a pull.
#pragma once

#include <memory>
#include <vector>

#include "config/config.h"
#include "credentials/credential_source.h"

namespace crimirror::credentials {

// One source per `settings.docker_config` file, in order; helpers run with
// `settings.helper_timeout`. Never fails (see the banner).
std::vector<std::shared_ptr<const CredentialSource>> DockerConfigSources(
    const config::CredentialsSettings& settings);

}  // namespace crimirror::credentials
