// The cri-mirror command line: daemon flags and the subcommands.
//
//   cri-mirror [--config F] [--listen URL] [--backend URL] [--log-level L]
//   cri-mirror check-config [--config F]
//   cri-mirror resolve IMAGE [--config F] [--output text|json]
//   cri-mirror convert --from FORMAT PATH [--output FILE]
//   cri-mirror --help | --version
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace crimirror::cli {

enum class Command { kDaemon, kHelp, kVersion, kCheckConfig, kResolve, kConvert };

struct CommandLine {
  Command command = Command::kDaemon;
  std::string config_path;           // empty = the default path
  bool config_path_given = false;    // a missing default file is not an error
  std::optional<std::string> listen;   // overrides [server].listen
  std::optional<std::string> backend;  // overrides [server].backend
  std::string log_level = "info";      // debug | info | warning | error
  std::string image;                   // resolve IMAGE
  bool json = false;                   // resolve --output json
  std::string from;                    // convert --from FORMAT
  std::string convert_path;            // convert PATH
  std::string output_file;             // convert --output FILE (empty = stdout)
};

// Parses argv (without argv[0]). InvalidArgument naming the bad argument and
// pointing at --help.
absl::StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args);

// The --help text.
std::string UsageText();

}  // namespace crimirror::cli
