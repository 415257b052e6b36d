// Reading the kubelet's credential provider config from disk: the file (or,
// as kubelets since 1.35 accept, a directory of *.json, *.yaml and *.yml
// files merged in name order), validated by ParseProviderConfig, and the
// provider bin dir checked for one executable per provider, as the kubelet
// checks at start. Also the cheap stat fingerprint used to notice that the
// file changed.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "credentials/provider_config.h"

namespace crimirror::credentials {

struct LoadedProviderConfig {
  ProviderConfig config;
  // ProviderConfigFingerprint(path) when the files were read.
  std::string fingerprint;
};

// Reads and validates `path`, then checks `bin_dir`. Errors name the file
// (and line) or the missing binary and the fix: InvalidArgument (bad
// content, a provider name twice across files), NotFound (no such file or
// directory, an empty directory, a plugin binary missing or not
// executable), FailedPrecondition (unreadable).
absl::StatusOr<LoadedProviderConfig> LoadProviderConfig(const std::string& path,
                                                        const std::string& bin_dir);

// Identity and mtime of `path` and, for a directory, of the config files in
// it: two equal fingerprints mean nothing was rewritten. Never fails (a
// missing path has its own fingerprint). A few stat calls.
std::string ProviderConfigFingerprint(const std::string& path);

}  // namespace crimirror::credentials
