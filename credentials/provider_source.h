// The kubelet's credential provider plugins as a credential source (issue
// 12 source 4): [credentials] provider_config (the kubelet's
// --image-credential-provider-config file or directory) and
// provider_bin_dir (--image-credential-provider-bin-dir). The providers
// are asked in the file's order; the first whose matchImages match the
// image and whose plugin answers with an `auth` entry for it wins
// (provider_plugin.h). Providers with tokenAttributes.requireServiceAccount
// true are skipped with one log line when the file is read: a node daemon
// has no pod service-account token to give them.
//
// The file is read (and every plugin binary checked) when the source is
// built; afterwards Lookup() notices a rewritten file (a stat at most once
// a second) and reads it again; a rewrite that does not validate is logged
// once and the last good providers stay in use.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "credentials/credential_source.h"
#include "credentials/provider_plugin.h"

namespace crimirror::credentials {

// The provider source of `settings` (an empty list when provider_config is
// unset). Errors name the provider config file (and line) or the missing
// plugin binary, and the fix (provider_config_file.h).
absl::StatusOr<std::vector<std::shared_ptr<const CredentialSource>>> ProviderSources(
    const config::CredentialsSettings& settings);

// The same source with the clock its caches and reload checks use (tests).
absl::StatusOr<std::shared_ptr<const CredentialSource>> NewProviderSource(
    const config::CredentialsSettings& settings, ProviderPlugin::Clock clock);

}  // namespace crimirror::credentials
