// The cri-mirror command line: daemon flags and the subcommands.
//
//   cri-mirror [--config F] [--listen URL] [--backend URL] [--log-level L]
//   cri-mirror check-config [--config F]
//   cri-mirror resolve IMAGE [--namespace NS] [--config F] [--output text|json]
//   cri-mirror convert --from FORMAT PATH [--output FILE]
//   cri-mirror status [--config F] [--output text|json]
//   cri-mirror pull IMAGE [--config F] [--listen URL]
//   cri-mirror prefetch --file LIST [--parallel N] [--config F] [--listen URL]
//   (every form takes --log-format text|json and --log-level L)
//   cri-mirror --help | --version
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace crimirror::cli {

enum class Command {
  kDaemon, kHelp, kVersion, kCheckConfig, kResolve, kConvert, kStatus, kPull, kPrefetch
};

struct CommandLine {
  Command command = Command::kDaemon;
  std::string config_path;           // empty = the default path
  bool config_path_given = false;    // a missing default file is not an error
  std::optional<std::string> listen;   // overrides [server].listen
  std::optional<std::string> backend;  // overrides [server].backend
  std::string log_level = "info";      // debug | info | warning | error
  std::string log_format = "text";     // text | json
  std::string image;                   // resolve IMAGE, pull IMAGE
  bool json = false;                   // resolve/status --output json
  std::string pod_namespace;           // resolve --namespace NS (empty: none)
  std::string list_file;               // prefetch --file LIST
  int parallel = 4;                    // prefetch --parallel N (1..64)
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
