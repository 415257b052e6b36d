// The kubelet's CredentialProviderConfig (the file given to
// --image-credential-provider-config), parsed and validated as the kubelet
// does it (pkg/credentialprovider/plugin/config.go): YAML or JSON,
// `kind: CredentialProviderConfig`, apiVersion kubelet.config.k8s.io/v1
// (v1beta1 and v1alpha1 too), `providers[]` with name, matchImages,
// defaultCacheDuration, apiVersion, args, env and tokenAttributes. Unknown
// keys are errors, as in the kubelet's strict decoding, so a typo is caught
// here rather than silently ignored. Pure: no file I/O (see
// provider_config_file.h).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace crimirror::credentials {

// One `providers[]` entry.
struct ProviderSpec {
  // The binary's file name in the provider bin dir, and the name in logs.
  std::string name;
  // Globs the image must match for the plugin to be run (match_images.h).
  std::vector<std::string> match_images;
  // Cache lifetime when a response has no cacheDuration (zero: no cache).
  absl::Duration default_cache_duration = absl::ZeroDuration();
  // "credentialprovider.kubelet.k8s.io/v1" (or v1beta1, v1alpha1): the
  // request's apiVersion, which the response must repeat.
  std::string api_version;
  std::vector<std::string> args;
  // Added to the daemon's environment for the plugin.
  std::vector<std::pair<std::string, std::string>> env;
  // tokenAttributes.requireServiceAccount: the plugin needs a pod's
  // service-account token, which a node daemon never has (skipped). With
  // tokenAttributes and requireServiceAccount false the kubelet runs the
  // plugin without a token for pods that have none; so do we.
  bool require_service_account = false;
  // "file:line" of the entry, for log lines.
  std::string where;
};

struct ProviderConfig {
  std::vector<ProviderSpec> providers;
};

// Parses `text` (YAML or JSON) as the kubelet would. Errors are
// InvalidArgument, one line per problem, each
// "FILE:LINE:COL: providers[I].KEY: what is wrong; the fix", never quoting
// env values (they may hold secrets).
absl::StatusOr<ProviderConfig> ParseProviderConfig(std::string_view text,
                                                   std::string_view file_name);

}  // namespace crimirror::credentials
