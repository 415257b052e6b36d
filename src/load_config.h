// How the daemon and its commands load a config: the file with its
// [import]s merged (importer::LoadConfigWithImports), then the credential
// sources of its [credentials] table built and kept with the snapshot
// (Config::credential_sources), so every reload rebuilds them.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "config/parse.h"

namespace crimirror::cli {

// Loads `path` as above. Errors: those of LoadConfigWithImports, and a
// credential provider config that cannot be used (naming the file); a bad
// docker config file is never an error (its source logs and answers none).
// Blocking file I/O.
absl::StatusOr<config::ParsedConfig> LoadDaemonConfig(const std::string& path);

}  // namespace crimirror::cli
