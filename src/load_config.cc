#include "src/load_config.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "credentials/sources.h"
#include "import/load.h"

namespace crimirror::cli {

absl::StatusOr<config::ParsedConfig> LoadDaemonConfig(const std::string& path) {
  absl::StatusOr<config::ParsedConfig> parsed = importer::LoadConfigWithImports(path);
  if (!parsed.ok()) return parsed.status();
  absl::StatusOr<std::shared_ptr<const credentials::SourceChain>> sources =
      credentials::BuildSources(parsed->config.credentials);
  if (!sources.ok()) {
    return absl::Status(sources.status().code(),
                        absl::StrCat(path, ": [credentials]: ", sources.status().message()));
  }
  parsed->config.credential_sources = *std::move(sources);
  return parsed;
}

}  // namespace crimirror::cli
