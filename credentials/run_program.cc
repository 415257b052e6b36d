#include "credentials/run_program.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace crimirror::credentials {
namespace {

constexpr std::size_t kStderrHead = 512;

std::vector<std::string> Environment(const ProgramSpec& spec) {
  std::map<std::string, std::string> vars;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    const std::size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    vars[std::string(entry.substr(0, eq))] = std::string(entry.substr(eq + 1));
  }
  for (const auto& [name, value] : spec.env) vars[name] = value;
  std::vector<std::string> out;
  out.reserve(vars.size());
  for (const auto& [name, value] : vars) out.push_back(absl::StrCat(name, "=", value));
  return out;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

int ExitCode(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 255;
}

// Kills the program's process group and reaps it.
void KillAndReap(pid_t pid) {
  kill(-pid, SIGKILL);
  kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

absl::Status Errno(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<ProgramResult> RunProgram(const ProgramSpec& spec) {
  if (spec.path.empty()) return absl::InvalidArgumentError("no program to run");
  // stdin is a socket so that writing to a program that exited early gives
  // EPIPE (MSG_NOSIGNAL), never SIGPIPE for the daemon.
  int in[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0) return Errno("socketpair");
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]);
    close(in[1]);
    return Errno("pipe");
  }
  int err[2];
  if (pipe2(err, O_CLOEXEC) != 0) {
    for (int fd : {in[0], in[1], out[0], out[1]}) close(fd);
    return Errno("pipe");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[1], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  sigset_t all;
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);  // its own group, killed as one
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);
  std::vector<std::string> argv_strings{spec.path};
  argv_strings.insert(argv_strings.end(), spec.args.begin(), spec.args.end());
  std::vector<std::string> env_strings = Environment(spec);
  std::vector<char*> argv = Pointers(argv_strings);
  std::vector<char*> envp = Pointers(env_strings);
  pid_t pid = 0;
  const int spawned = posix_spawnp(&pid, spec.path.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(in[1]);
  close(out[1]);
  close(err[1]);
  absl::Cleanup close_ours = [&] {
    if (in[0] >= 0) close(in[0]);
    close(out[0]);
    close(err[0]);
  };
  if (spawned != 0) {
    if (spawned == ENOENT || spawned == EACCES || spawned == ENOEXEC) {
      return absl::NotFoundError(absl::StrCat("cannot run ", spec.path, ": ",
                                              std::strerror(spawned)));
    }
    errno = spawned;
    return Errno(absl::StrCat("cannot run ", spec.path));
  }
  fcntl(in[0], F_SETFL, fcntl(in[0], F_GETFL) | O_NONBLOCK);
  std::size_t written = 0;
  if (spec.stdin_data.empty()) {
    close(in[0]);
    in[0] = -1;
  }
  ProgramResult result;
  bool out_open = true;
  bool err_open = true;
  const absl::Time deadline = absl::Now() + spec.timeout;
  char buf[16384];
  while (out_open || err_open) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      KillAndReap(pid);
      return absl::DeadlineExceededError(
          absl::StrCat(spec.path, " did not answer within ", absl::FormatDuration(spec.timeout),
                       " (killed)"));
    }
    pollfd fds[3] = {{out_open ? out[0] : -1, POLLIN, 0},
                     {err_open ? err[0] : -1, POLLIN, 0},
                     {in[0], POLLOUT, 0}};
    const int ready =
        poll(fds, 3, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno != EINTR) {
      KillAndReap(pid);
      return Errno("poll");
    }
    if (in[0] >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
      const ssize_t n = send(in[0], spec.stdin_data.data() + written,
                             spec.stdin_data.size() - written, MSG_NOSIGNAL);
      if (n > 0) written += static_cast<std::size_t>(n);
      if (n < 0 && errno != EAGAIN && errno != EINTR) written = spec.stdin_data.size();
      if (written >= spec.stdin_data.size()) {
        close(in[0]);  // end of input
        in[0] = -1;
      }
    }
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      const ssize_t n = read(out[0], buf, sizeof buf);
      if (n > 0) {
        result.stdout_data.append(buf, static_cast<std::size_t>(n));
        if (result.stdout_data.size() > spec.max_output) {
          KillAndReap(pid);
          return absl::ResourceExhaustedError(absl::StrCat(
              spec.path, " printed more than ", spec.max_output, " bytes (killed)"));
        }
      } else if (n == 0 || errno != EINTR) {
        out_open = false;
      }
    }
    if ((fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      const ssize_t n = read(err[0], buf, sizeof buf);
      if (n > 0) {
        const std::size_t room = kStderrHead - std::min(kStderrHead, result.stderr_head.size());
        result.stderr_head.append(buf, std::min(room, static_cast<std::size_t>(n)));
      } else if (n == 0 || errno != EINTR) {
        err_open = false;
      }
    }
  }
  // Both outputs closed: the program is exiting (or handed them to a child
  // it left behind); reap it within what is left of the deadline.
  for (;;) {
    siginfo_t info{};
    // WNOWAIT keeps the zombie, so its group id cannot be reused before
    // whatever it left behind in the group is killed.
    const int waited = waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
    if (waited == 0 && info.si_pid == pid) {
      kill(-pid, SIGKILL);
      int status = 0;
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      result.exit_code = ExitCode(status);
      return result;
    }
    if (waited < 0 && errno != EINTR) return Errno("waitid");
    if (absl::Now() >= deadline) {
      KillAndReap(pid);
      return absl::DeadlineExceededError(
          absl::StrCat(spec.path, " did not exit within ", absl::FormatDuration(spec.timeout),
                       " (killed)"));
    }
    absl::SleepFor(absl::Milliseconds(2));
  }
}

}  // namespace crimirror::credentials
