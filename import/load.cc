#include "import/load.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "config/load.h"
#include "import/containerd_config.h"
#include "import/containerd_hosts.h"
#include "import/files.h"
#include "import/k3s.h"
#include "import/registries_conf.h"
#include "import/to_toml.h"

namespace crimirror::importer {
namespace {

absl::StatusOr<Imported> ReadAndParse(
    const std::string& path,
    absl::StatusOr<Imported> (*parse)(std::string_view, std::string_view)) {
  absl::StatusOr<std::string> text = ReadWholeFile(path);
  if (!text.ok()) return text.status();
  return parse(*text, path);
}

absl::StatusOr<Imported> ParseK3sDefault(std::string_view text,
                                         std::string_view file) {
  return ParseK3sRegistries(text, file);
}

void MergeUnderNative(const Imported& imported, const config::ParsedConfig& validated,
                      config::ParsedConfig* native) {
  config::Config& config = native->config;
  for (const config::MirrorRule& rule : validated.config.mirrors) {
    const config::MirrorRule* winner = nullptr;
    for (const config::MirrorRule& have : config.mirrors) {
      // A native namespaced rule leaves the imported (generic) one in place
      // for the other namespaces.
      if (have.registry == rule.registry && have.namespaces.empty()) winner = &have;
    }
    if (winner != nullptr) {
      native->warnings.push_back({absl::StrCat(
          winner->origin, ": rule for \"", rule.registry,
          "\" wins over the imported one at ", rule.origin)});
      continue;
    }
    config.mirrors.push_back(rule);
  }
  for (const auto& [key, host] : validated.config.hosts) {
    if (config.hosts.count(key) != 0) {
      native->warnings.push_back({absl::StrCat(
          "[host.\"", key, "\"] of the native config wins over an imported one")});
      continue;
    }
    config.hosts.emplace(key, host);
  }
  for (const Note& note : imported.notes) {
    native->warnings.push_back(
        {absl::StrCat("import: ", note.where.empty() ? "" : note.where + ": ",
                      note.message)});
  }
}

}  // namespace

absl::StatusOr<Format> ParseFormat(std::string_view name) {
  if (name == "containerd-hosts") return Format::kContainerdHosts;
  if (name == "containerd-config") return Format::kContainerdConfig;
  if (name == "k3s") return Format::kK3s;
  if (name == "registries-conf") return Format::kRegistriesConf;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown format \"", std::string(name),
      "\"; use containerd-hosts, containerd-config, k3s or registries-conf"));
}

absl::StatusOr<Imported> LoadForeign(Format format, const std::string& path) {
  switch (format) {
    case Format::kContainerdHosts:
      return LoadContainerdHostsDir(path);
    case Format::kContainerdConfig:
      return ReadAndParse(path, ParseContainerdConfig);
    case Format::kK3s:
      return ReadAndParse(path, ParseK3sDefault);
    case Format::kRegistriesConf:
      return LoadRegistriesConf(path);
  }
  return absl::InternalError("unknown format");
}

absl::StatusOr<config::ParsedConfig> ValidateImported(const Imported& imported,
                                                      const std::string& source) {
  std::string name = absl::StrCat(source, " (converted)");
  absl::StatusOr<config::ParsedConfig> parsed =
      config::ParseConfig(ToNativeToml(imported, "", Secrets::kInclude), name);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": the converted rules do not validate:\n", parsed.status().message()));
  }
  if (absl::Status s = config::CheckConfigFiles(name, &*parsed); !s.ok()) return s;
  // Same order as imported.mirrors: restore the foreign origins.
  for (size_t i = 0; i < parsed->config.mirrors.size() && i < imported.mirrors.size(); ++i) {
    parsed->config.mirrors[i].origin = imported.mirrors[i].origin;
  }
  return parsed;
}

absl::StatusOr<config::ParsedConfig> LoadConfigWithImports(const std::string& path) {
  absl::StatusOr<config::ParsedConfig> native = config::LoadConfigFile(path);
  if (!native.ok()) return native.status();
  const config::ImportSettings imports = native->config.imports;
  struct {
    const char* key;
    const std::string& path;
    Format format;
  } sources[] = {
      {"containerd_hosts_dir", imports.containerd_hosts_dir, Format::kContainerdHosts},
      {"containerd_config", imports.containerd_config, Format::kContainerdConfig},
      {"k3s_registries", imports.k3s_registries, Format::kK3s},
      {"registries_conf", imports.registries_conf, Format::kRegistriesConf},
  };
  for (const auto& source : sources) {
    if (source.path.empty()) continue;
    native->config.watched_paths.push_back(source.path);
    if (source.format == Format::kRegistriesConf) {
      native->config.watched_paths.push_back(source.path + ".d");
    }
    absl::StatusOr<Imported> imported = LoadForeign(source.format, source.path);
    absl::StatusOr<config::ParsedConfig> validated =
        imported.ok() ? ValidateImported(*imported, source.path)
                      : absl::StatusOr<config::ParsedConfig>(imported.status());
    if (!validated.ok()) {
      return absl::Status(validated.status().code(),
                          absl::StrCat(path, ": [import].", source.key, ": ",
                                       validated.status().message()));
    }
    MergeUnderNative(*imported, *validated, &*native);
  }
  return native;
}

}  // namespace crimirror::importer
