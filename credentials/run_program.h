// Runs a credential helper or credential provider plugin: one short-lived
// program, given bytes on its standard input, whose standard output is the
// answer. The only process spawning in the daemon; bounded in time and in
// output so a helper that hangs or floods never hangs or bloats a pull.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace crimirror::credentials {

struct ProgramSpec {
  // Absolute path of the program, or a bare name looked up on $PATH.
  std::string path;
  // Arguments after argv[0] (argv[0] is `path`).
  std::vector<std::string> args;
  // Added to (or replacing in) the daemon's own environment, as the kubelet
  // does for its plugins' `env`.
  std::vector<std::pair<std::string, std::string>> env;
  // Written to the program's stdin, which is then closed.
  std::string stdin_data;
  // The program is killed (SIGKILL, its whole process group) after this.
  absl::Duration timeout = absl::Seconds(5);
  // Standard output beyond this many bytes is an error (and the program is
  // killed).
  std::size_t max_output = 1 << 20;
};

struct ProgramResult {
  int exit_code = 0;  // 0..255; 128+N when killed by signal N
  std::string stdout_data;
  // The first 512 bytes of stderr, for log lines (callers pass it through
  // log::Excerpt; helpers may print secrets there, so keep it out of
  // errors unless the caller knows the program).
  std::string stderr_head;
};

// Runs `spec` and waits for it. Returns the result whatever the exit code;
// errors: NotFound (program missing or not executable, naming it),
// DeadlineExceeded (timed out, killed), ResourceExhausted (output over
// max_output, killed), Internal (pipe/spawn failures). Never blocks longer
// than `timeout` plus the reaping of a killed program. Thread-safe.
absl::StatusOr<ProgramResult> RunProgram(const ProgramSpec& spec);

}  // namespace crimirror::credentials
