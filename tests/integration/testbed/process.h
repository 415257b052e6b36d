// Copyright cri-mirror authors.
//
// Process runs one child program of the test bed (containerd, docker-registry,
// cri-mirror, skopeo, openssl...) with an explicit argv and environment, its
// stdout and stderr appended to a log file, in its own process group so that
// Stop() also reaches grandchildren (containerd shims). The child gets
// PR_SET_PDEATHSIG=SIGKILL, so a test binary that crashes or is killed by a
// ctest timeout does not leave daemons behind. RunCommand() is the one-shot
// form for CLI tools.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace crimirror::testbed {

// How to start a child.
struct ProcessOptions {
  // argv[0] is the program: an absolute path, or a name looked up in PATH.
  std::vector<std::string> argv;
  // Environment as NAME -> value. With inherit_env the child starts from the
  // test's environment and these entries override it; otherwise the child
  // gets exactly these (plus PATH=/usr/sbin:/usr/bin:/sbin:/bin if absent,
  // and the test's ASAN/UBSAN/LSAN/TSAN_OPTIONS if set).
  std::map<std::string, std::string> env;
  bool inherit_env = false;
  // File receiving stdout (created or appended to). Required.
  std::string log_path;
  // File receiving stderr; empty means the same file as stdout.
  std::string stderr_path;
  // Working directory of the child; empty keeps the current one.
  std::string working_dir;
};

// A running (or exited) child process. Not thread-safe. The destructor
// calls Stop().
class Process {
 public:
  // Forks and execs. Returns NotFound if the program is not found or not
  // executable, Internal if fork/exec/open fail (the message names the
  // program and the log file). On success the child is running (it may of
  // course exit right away; check Running()).
  static absl::StatusOr<std::unique_ptr<Process>> Start(
      const ProcessOptions& options);

  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }
  // Short name (basename of argv[0]) for messages.
  const std::string& name() const { return name_; }

  // True while the child has not been reaped. Reaps it if it exited.
  bool Running();

  // Waits up to `timeout` for the child to exit. Returns its exit code, or
  // 128+signal if it was killed by a signal. DeadlineExceeded if it is
  // still running after `timeout`.
  absl::StatusOr<int> Wait(absl::Duration timeout);

  // SIGTERM to the process group, waits up to `grace`, then SIGKILL to the
  // group and reaps. Idempotent. Returns the exit code as Wait() does
  // (143 for a clean SIGTERM death of a program that does not handle it).
  int Stop(absl::Duration grace = absl::Seconds(10));

  // SIGKILL to the process group and reap. Idempotent. Use this to simulate
  // a crash (no graceful shutdown).
  void Kill();

  // Sends `signal` to the main process only (not the group). Returns
  // FailedPrecondition if it already exited.
  absl::Status Signal(int signal);

  // Last `max_bytes` of the log file, for failure messages.
  std::string LogTail(size_t max_bytes = 4096) const;

  // Exit code once the child was reaped (see Wait()).
  std::optional<int> exit_code() const { return exit_code_; }

 private:
  Process(pid_t pid, std::string name, std::string log_path)
      : pid_(pid), name_(std::move(name)), log_path_(std::move(log_path)) {}
  bool Reap(bool block);

  pid_t pid_;
  std::string name_;
  std::string log_path_;
  std::optional<int> exit_code_;
};

// Result of a finished RunCommand().
struct CommandResult {
  int exit_code = -1;
  std::string stdout_text;
  std::string stderr_text;
};

// Runs argv to completion with stdout and stderr captured into
// `log_prefix`.stdout / `log_prefix`.stderr (kept for debugging). Returns
// the result whatever the exit code; DeadlineExceeded (after killing it)
// if it runs longer than `timeout`; errors of Process::Start.
absl::StatusOr<CommandResult> RunCommand(
    const std::vector<std::string>& argv, const std::string& log_prefix,
    absl::Duration timeout = absl::Seconds(60),
    const std::map<std::string, std::string>& env = {});

// Like RunCommand but a non-zero exit is an Internal error whose message
// has the command line and the tail of stderr. Returns stdout.
absl::StatusOr<std::string> RunCommandOk(
    const std::vector<std::string>& argv, const std::string& log_prefix,
    absl::Duration timeout = absl::Seconds(60),
    const std::map<std::string, std::string>& env = {});

// Resolves a program name through PATH (or checks an absolute path).
// Returns NotFound naming the program and the PATH searched.
absl::StatusOr<std::string> FindProgram(const std::string& name);

}  // namespace crimirror::testbed
