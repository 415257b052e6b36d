// k3s / RKE2 / k3d `registries.yaml` (k3s pkg/agent/containerd/config.go):
//
//   mirrors:
//     docker.io:
//       endpoint: ["https://mirror.example:5000"]
//       rewrite: {"^rancher/(.*)": "mirrorproject/rancher-images/$1"}
//     "*": {endpoint: [...]}          # every registry without its own entry
//   configs:
//     "mirror.example:5000":
//       auth: {username: ..., password: ..., auth: ..., identity_token: ...}
//       tls: {ca_file: ..., cert_file: ..., key_file: ..., insecure_skip_verify: true}
//
// Endpoints without a scheme are https (http for localhost on a port other
// than 443); a path "", "/" or "/v2" means /v2, any other path is the API
// root as is (k3s sets override_path). The registry itself is appended last
// (fallback_to_upstream) unless the default endpoint is disabled. An endpoint
// that does not parse is skipped with a note, as k3s warns and skips it.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "import/imported.h"

namespace crimirror::importer {

struct K3sOptions {
  // k3s --disable-default-registry-endpoint: never append the registry.
  bool disable_default_endpoint = false;
};

// Parses registries.yaml. InvalidArgument "file:line:col: key: ..." for YAML
// syntax errors and values of the wrong shape. Pure; thread-safe.
absl::StatusOr<Imported> ParseK3sRegistries(std::string_view text,
                                            std::string_view file_name,
                                            K3sOptions options = {});

}  // namespace crimirror::importer
