// The foreign formats by name, their loaders, and the native config merged
// with its [import]s: what `cri-mirror convert` and the daemon's config store
// use.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "config/parse.h"
#include "import/imported.h"

namespace crimirror::importer {

enum class Format { kContainerdHosts, kContainerdConfig, kK3s, kRegistriesConf };

// "containerd-hosts", "containerd-config", "k3s", "registries-conf";
// InvalidArgument listing them otherwise.
absl::StatusOr<Format> ParseFormat(std::string_view name);

// Reads `path` in `format` (a directory for containerd-hosts; registries.conf
// plus its .d drop-ins). Errors: NotFound / PermissionDenied naming the path,
// InvalidArgument with file:line errors. Blocking file I/O.
absl::StatusOr<Imported> LoadForeign(Format format, const std::string& path);

// Validates `imported` as native config would be (ParseConfig on its native
// TOML, then the file checks); returns the parsed form with the imported
// rules' origins kept. InvalidArgument naming `source`.
absl::StatusOr<config::ParsedConfig> ValidateImported(const Imported& imported,
                                                      const std::string& source);

// LoadConfigFile(path), then every [import] in the order containerd_hosts_dir,
// containerd_config, k3s_registries, registries_conf, merged under the native
// rules: a native rule (or [host] table) for the same registry (host) wins,
// with a warning naming both places; among imports the first wins. Import
// notes become warnings. `watched_paths` lists the imported files and
// directories. Any import that fails to load or validate fails the whole
// load (so a reload keeps the last good config). Blocking file I/O.
absl::StatusOr<config::ParsedConfig> LoadConfigWithImports(const std::string& path);

}  // namespace crimirror::importer
