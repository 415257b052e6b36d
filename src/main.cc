// cri-mirror: entry point. Parses the command line and dispatches to the
// daemon or a subcommand; see src/command_line.h for the grammar.
#include <malloc.h>

#include <iostream>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "log/log.h"
#include "src/command_line.h"
#include "src/config_commands.h"
#include "src/daemon.h"
#include "src/pull_command.h"
#include "src/status_command.h"

#ifndef CRI_MIRROR_VERSION
#define CRI_MIRROR_VERSION "unknown"
#endif

namespace {

bool SetLogLevel(const std::string& level) {
  using crimirror::log::Severity;
  if (level == "debug") crimirror::log::SetMinSeverity(Severity::kDebug);
  else if (level == "info") crimirror::log::SetMinSeverity(Severity::kInfo);
  else if (level == "warning") crimirror::log::SetMinSeverity(Severity::kWarning);
  else if (level == "error") crimirror::log::SetMinSeverity(Severity::kError);
  else return false;
  return true;
}

// glibc's allocator, tuned for a daemon whose relay runs one thread per
// connection (issue 15, soak). By default glibc makes up to 8 arenas per
// core, one per busy thread, and raises its mmap threshold to the largest
// block freed, after which the relay's 256 KiB buffers (libcurl's download
// buffer, libmicrohttpd's response block) come from those arenas and stay
// there when freed. The soak (8 pulls every 2 s beside 64 CRI clients) then
// held 20-25 MiB of anonymous memory; with two arenas and a fixed 128 KiB
// mmap threshold (large transient buffers are mapped and unmapped, never
// kept) it held 9-12 MiB. Two arenas, not one: the gRPC serving thread keeps
// an arena of its own beside the relay threads.
void TuneAllocatorForDaemon() {
  (void)mallopt(M_ARENA_MAX, 2);
  (void)mallopt(M_MMAP_THRESHOLD, 128 * 1024);
}

}  // namespace

int main(int argc, char** argv) {
  // Debian builds Abseil without NDEBUG, which leaves absl::Mutex deadlock
  // detection on: a lock-order graph update on every lock, in our code and
  // in gRPC's. It cost ~5% of the proxy's CPU per call (perf, ImageStatus).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::vector<std::string> args(argv + 1, argv + argc);
  auto command_line = crimirror::cli::ParseCommandLine(args);
  if (!command_line.ok()) {
    std::cerr << "cri-mirror: " << command_line.status().message() << "\n";
    return 2;
  }
  if (!SetLogLevel(command_line->log_level)) {
    std::cerr << "cri-mirror: --log-level must be debug, info, warning or error\n";
    return 2;
  }
  crimirror::log::SetFormat(command_line->log_format == "json" ? crimirror::log::Format::kJson
                                                                 : crimirror::log::Format::kText);
  using crimirror::cli::Command;
  switch (command_line->command) {
    case Command::kHelp:
      std::cout << crimirror::cli::UsageText();
      return 0;
    case Command::kVersion:
      std::cout << "cri-mirror " << CRI_MIRROR_VERSION << "\n";
      return 0;
    case Command::kCheckConfig:
      return crimirror::cli::RunCheckConfig(command_line->config_path, std::cout, std::cerr);
    case Command::kResolve:
      return crimirror::cli::RunResolve(command_line->image, command_line->config_path,
                                        command_line->json, std::cout, std::cerr,
                                        command_line->pod_namespace);
    case Command::kConvert:
      return crimirror::cli::RunConvert(command_line->from, command_line->convert_path,
                                        command_line->output_file, std::cout, std::cerr);
    case Command::kStatus:
      return crimirror::cli::RunStatus(*command_line, std::cout, std::cerr);
    case Command::kPull:
      return crimirror::cli::RunPull(*command_line, std::cout, std::cerr);
    case Command::kPrefetch:
      return crimirror::cli::RunPrefetch(*command_line, std::cout, std::cerr);
    case Command::kDaemon:
      TuneAllocatorForDaemon();
      return crimirror::cli::RunDaemon(*command_line);
  }
  return 2;
}
