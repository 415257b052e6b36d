#include "src/daemon_client.h"

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "config/load.h"

namespace crimirror::cli {

config::ServerSettings DaemonServerSettings(const CommandLine& cl, std::string* warning) {
  config::ServerSettings server;
  struct stat info {};
  if (cl.config_path_given || ::stat(cl.config_path.c_str(), &info) == 0) {
    absl::StatusOr<config::ParsedConfig> parsed = config::LoadConfigFile(cl.config_path);
    if (parsed.ok()) {
      server = parsed->config.server;
    } else {
      *warning = absl::StrCat("warning: ", parsed.status().message(),
                              "\n(using the default [server] addresses)");
    }
  }
  if (cl.listen) server.listen = *cl.listen;
  return server;
}

std::string SocketPath(const std::string& unix_url) {
  return std::string(absl::StripPrefix(unix_url, "unix://"));
}

std::string HumanBytes(std::uint64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes) / 1024;
  int unit = 0;
  while (value >= 1024 && unit < 3) {
    value /= 1024;
    ++unit;
  }
  return absl::StrFormat(value < 10 ? "%.2f %s" : value < 100 ? "%.1f %s" : "%.0f %s", value,
                         units[unit]);
}

}  // namespace crimirror::cli
