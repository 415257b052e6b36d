// containerd's CRI registry tables in config.toml (the MicroK8s
// containerd-template.toml style): `[plugins."io.containerd.grpc.v1.cri"
// .registry]` (version 2; `plugins.cri` in version 1 and
// "io.containerd.cri.v1.images" in version 3 are read too).
//
// `mirrors."name".endpoint` is ordered; containerd appends the registry itself
// (http:// for localhost, https:// otherwise) unless an endpoint already is
// it, which becomes fallback_to_upstream or an explicit last endpoint. An
// endpoint path is the API root as is (empty means /v2). `configs."host"`
// `.auth` (username, password, auth, identitytoken) and `.tls` (ca_file,
// cert_file, key_file, insecure_skip_verify) become [host] tables for every
// endpoint with that authority. `config_path`, `headers` and `auths` are
// dropped with a note.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "import/imported.h"

namespace crimirror::importer {

// Parses a containerd config.toml. A file without CRI registry tables
// yields nothing and a note. InvalidArgument with "file:line:col: key: ..."
// errors for TOML syntax and values of the wrong type. Pure; thread-safe.
absl::StatusOr<Imported> ParseContainerdConfig(std::string_view text,
                                               std::string_view file_name);

}  // namespace crimirror::importer
