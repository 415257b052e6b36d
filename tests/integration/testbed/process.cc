// Copyright cri-mirror authors.
#include "tests/integration/testbed/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "tests/integration/testbed/temp_dir.h"

extern char** environ;

namespace crimirror::testbed {
namespace {

constexpr absl::Duration kPollInterval = absl::Milliseconds(10);

bool IsExecutable(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         access(path.c_str(), X_OK) == 0;
}

std::string Basename(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Builds "NAME=value" strings for execve from the options.
std::vector<std::string> BuildEnv(const ProcessOptions& options) {
  std::map<std::string, std::string> merged;
  if (options.inherit_env) {
    for (char** e = environ; *e != nullptr; ++e) {
      absl::string_view kv(*e);
      size_t eq = kv.find('=');
      if (eq == absl::string_view::npos) continue;
      merged[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
    }
  }
  // The sanitizer settings of a sanitized test run (scripts/test.sh) reach
  // the sanitized cri-mirror it starts; other programs ignore them.
  for (const char* name : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS"}) {
    if (const char* value = std::getenv(name); value != nullptr) merged[name] = value;
  }
  for (const auto& [k, v] : options.env) merged[k] = v;
  if (!merged.contains("PATH"))
    merged["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin";
  std::vector<std::string> out;
  for (const auto& [k, v] : merged) out.push_back(absl::StrCat(k, "=", v));
  return out;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

int OpenLog(const std::string& path) {
  return open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

// File descriptors handed to the child, closed in the parent when done.
// The report pipe is close-on-exec: it reads EOF when exec succeeds and the
// child's errno when it fails.
struct ChildFds {
  int out = -1;
  int err = -1;
  int null = -1;
  int report_read = -1;
  int report_write = -1;

  // False (errno set) if a file or the pipe cannot be opened.
  bool Open(const ProcessOptions& options) {
    out = OpenLog(options.log_path);
    err = options.stderr_path.empty() ? out : OpenLog(options.stderr_path);
    null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int report[2];
    if (out < 0 || err < 0 || null < 0 || pipe2(report, O_CLOEXEC) != 0) {
      return false;
    }
    report_read = report[0];
    report_write = report[1];
    return true;
  }

  // After fork: 0 if exec succeeded, else the child's errno.
  int ReadExecError() {
    close(report_write);
    report_write = -1;
    int child_errno = 0;
    ssize_t n;
    do {
      n = read(report_read, &child_errno, sizeof(child_errno));
    } while (n < 0 && errno == EINTR);
    return n == sizeof(child_errno) ? child_errno : 0;
  }

  ~ChildFds() {
    int saved = errno;
    if (err >= 0 && err != out) close(err);
    for (int fd : {out, null, report_read, report_write}) {
      if (fd >= 0) close(fd);
    }
    errno = saved;
  }
};

// Runs in the child between fork and exec: only async-signal-safe calls.
// Reports errno through `err_fd` (close-on-exec) if exec fails.
[[noreturn]] void ExecChild(const char* program, char** argv, char** envp,
                            int out_fd, int err_fd_log, int null_fd,
                            const char* cwd, int report_fd) {
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  // Unblock everything: gRPC or absl may have blocked signals in our thread.
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  dup2(null_fd, STDIN_FILENO);
  dup2(out_fd, STDOUT_FILENO);
  dup2(err_fd_log, STDERR_FILENO);
  if (cwd != nullptr && chdir(cwd) != 0) {
    int e = errno;
    (void)!write(report_fd, &e, sizeof(e));
    _exit(127);
  }
  execve(program, argv, envp);
  int e = errno;
  (void)!write(report_fd, &e, sizeof(e));
  _exit(127);
}

// Program and subcommand only: argv may carry test credentials
// (skopeo --dest-creds, htpasswd -b) and messages never show secrets.
std::string ShortCommand(const std::vector<std::string>& argv) {
  std::string out = argv.empty() ? "" : Basename(argv[0]);
  if (argv.size() > 1) absl::StrAppend(&out, " ", argv[1]);
  return absl::StrCat("'", out, " ...'");
}

}  // namespace

absl::StatusOr<std::string> FindProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    if (IsExecutable(name)) return name;
    return absl::NotFoundError(
        absl::StrCat("program ", name, " does not exist or is not executable"));
  }
  const char* path_env = std::getenv("PATH");
  std::string path = path_env != nullptr ? path_env : "/usr/bin:/bin";
  path += ":/usr/sbin:/sbin";
  for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", name);
    if (IsExecutable(candidate)) return candidate;
  }
  return absl::NotFoundError(
      absl::StrCat("program ", name, " not found in PATH (", path,
                   "); install it (scripts/install-deps.sh)"));
}

absl::StatusOr<std::unique_ptr<Process>> Process::Start(
    const ProcessOptions& options) {
  if (options.argv.empty() || options.log_path.empty()) {
    return absl::InvalidArgumentError("Process::Start needs argv and log_path");
  }
  absl::StatusOr<std::string> program = FindProgram(options.argv[0]);
  if (!program.ok()) return program.status();
  std::vector<std::string> argv_strings = options.argv;
  std::vector<std::string> env_strings = BuildEnv(options);
  std::vector<char*> argv = CStrings(argv_strings);
  std::vector<char*> envp = CStrings(env_strings);
  ChildFds fds;
  if (!fds.Open(options)) {
    return absl::InternalError(absl::StrCat("cannot open log ",
                                            options.log_path, " for ", *program,
                                            ": ", strerror(errno)));
  }
  const char* cwd =
      options.working_dir.empty() ? nullptr : options.working_dir.c_str();
  pid_t pid = fork();
  if (pid < 0) {
    return absl::InternalError(
        absl::StrCat("fork for ", *program, ": ", strerror(errno)));
  }
  if (pid == 0) {
    ExecChild(program->c_str(), argv.data(), envp.data(), fds.out, fds.err,
              fds.null, cwd, fds.report_write);
  }
  // Also set the group from the parent side to close the race where we
  // signal the group before the child ran setpgid.
  setpgid(pid, pid);
  int child_errno = fds.ReadExecError();
  auto process = std::unique_ptr<Process>(
      new Process(pid, Basename(options.argv[0]), options.log_path));
  if (child_errno != 0) {
    process->Reap(/*block=*/true);
    return absl::InternalError(
        absl::StrCat("exec ", *program, " failed: ", strerror(child_errno)));
  }
  return process;
}

Process::~Process() { Stop(); }

bool Process::Reap(bool block) {
  if (exit_code_.has_value()) return true;
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return false;
  if (r < 0) {
    exit_code_ = -1;  // ECHILD: someone else reaped it.
    return true;
  }
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return true;
}

bool Process::Running() { return !Reap(/*block=*/false); }

absl::StatusOr<int> Process::Wait(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (!Reap(/*block=*/false)) {
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat(name_, " (pid ", pid_, ") still running after ",
                       absl::FormatDuration(timeout)));
    }
    absl::SleepFor(kPollInterval);
  }
  return *exit_code_;
}

int Process::Stop(absl::Duration grace) {
  if (Reap(/*block=*/false)) {
    kill(-pid_, SIGKILL);  // Leftover grandchildren of an exited leader.
    return *exit_code_;
  }
  kill(-pid_, SIGTERM);
  if (Wait(grace).ok()) {
    kill(-pid_, SIGKILL);
    return *exit_code_;
  }
  Kill();
  return *exit_code_;
}

void Process::Kill() {
  kill(-pid_, SIGKILL);
  kill(pid_, SIGKILL);
  Reap(/*block=*/true);
}

absl::Status Process::Signal(int signal) {
  if (!Running()) {
    return absl::FailedPreconditionError(
        absl::StrCat(name_, " (pid ", pid_, ") already exited"));
  }
  if (kill(pid_, signal) != 0) {
    return absl::InternalError(
        absl::StrCat("kill(", pid_, "): ", strerror(errno)));
  }
  return absl::OkStatus();
}

std::string Process::LogTail(size_t max_bytes) const {
  std::ifstream in(log_path_, std::ios::binary | std::ios::ate);
  if (!in) return absl::StrCat("(no log at ", log_path_, ")");
  std::streamoff size = in.tellg();
  std::streamoff start = size > static_cast<std::streamoff>(max_bytes)
                             ? size - static_cast<std::streamoff>(max_bytes)
                             : 0;
  in.seekg(start);
  std::string out(static_cast<size_t>(size - start), '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  return out;
}

absl::StatusOr<CommandResult> RunCommand(
    const std::vector<std::string>& argv, const std::string& log_prefix,
    absl::Duration timeout, const std::map<std::string, std::string>& env) {
  ProcessOptions options;
  options.argv = argv;
  options.env = env;
  options.inherit_env = true;
  options.log_path = log_prefix + ".stdout";
  options.stderr_path = log_prefix + ".stderr";
  // Fresh files per run: the output is the result.
  for (const auto& p : {options.log_path, options.stderr_path}) {
    absl::Status s = WriteFile(p, "");
    if (!s.ok()) return s;
  }
  absl::StatusOr<std::unique_ptr<Process>> process = Process::Start(options);
  if (!process.ok()) return process.status();
  absl::StatusOr<int> code = (*process)->Wait(timeout);
  if (!code.ok()) {
    (*process)->Kill();
    return absl::DeadlineExceededError(absl::StrCat(
        ShortCommand(argv), ": no exit after ", absl::FormatDuration(timeout),
        "; output in ", log_prefix, ".*"));
  }
  CommandResult result;
  result.exit_code = *code;
  result.stdout_text = ReadFile(options.log_path).value_or("");
  result.stderr_text = ReadFile(options.stderr_path).value_or("");
  return result;
}

absl::StatusOr<std::string> RunCommandOk(
    const std::vector<std::string>& argv, const std::string& log_prefix,
    absl::Duration timeout, const std::map<std::string, std::string>& env) {
  absl::StatusOr<CommandResult> result =
      RunCommand(argv, log_prefix, timeout, env);
  if (!result.ok()) return result.status();
  if (result->exit_code != 0) {
    std::string err = result->stderr_text;
    if (err.size() > 2000) err = err.substr(err.size() - 2000);
    return absl::InternalError(absl::StrCat(ShortCommand(argv), " exited with ",
                                            result->exit_code, ": ", err));
  }
  return std::move(result->stdout_text);
}

}  // namespace crimirror::testbed
