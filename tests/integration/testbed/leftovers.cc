// Copyright cri-mirror authors.
#include "tests/integration/testbed/leftovers.h"

#include <signal.h>
#include <sys/mount.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "tests/integration/testbed/temp_dir.h"
#include "tests/integration/testbed/wait.h"

namespace crimirror::testbed {
namespace {

std::vector<pid_t> AllPids() {
  std::vector<pid_t> pids;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    int pid = 0;
    if (absl::SimpleAtoi(entry.path().filename().string(), &pid)) {
      pids.push_back(pid);
    }
  }
  return pids;
}

// A /proc file's text; "" once the process is gone.
std::string Slurp(const std::string& path) { return ReadFile(path).value_or(""); }

// State letter and parent pid from /proc/<pid>/stat ("pid (comm) S ppid
// ..."; comm may hold spaces and parentheses, so parse after the last ')').
bool StatOf(pid_t pid, char* state, pid_t* ppid) {
  std::string stat = Slurp(absl::StrCat("/proc/", pid, "/stat"));
  size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 4 > stat.size()) return false;
  std::vector<std::string> fields =
      absl::StrSplit(stat.substr(close + 2), ' ', absl::SkipEmpty());
  if (fields.size() < 2 || fields[0].empty()) return false;
  *state = fields[0][0];
  int parent = 0;
  if (!absl::SimpleAtoi(fields[1], &parent)) return false;
  *ppid = parent;
  return true;
}

// mountinfo escapes blanks and backslashes in paths as \ooo octal.
std::string Unescape(const std::string& path) {
  std::string out;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '\\' && i + 3 < path.size()) {
      int value = 0;
      bool octal = true;
      for (size_t k = 1; k <= 3; ++k) {
        char c = path[i + k];
        if (c < '0' || c > '7') octal = false;
        value = value * 8 + (c - '0');
      }
      if (octal) {
        out.push_back(static_cast<char>(value));
        i += 3;
        continue;
      }
    }
    out.push_back(path[i]);
  }
  return out;
}

// The -address argument of a live containerd shim; "" for other processes.
std::string ShimAddress(pid_t pid) {
  if (!ProcessAlive(pid)) return "";
  std::vector<std::string> argv =
      absl::StrSplit(Slurp(absl::StrCat("/proc/", pid, "/cmdline")), '\0');
  if (argv.empty() || !absl::StrContains(argv[0], "containerd-shim")) return "";
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == "-address") return argv[i + 1];
  }
  return "";
}

}  // namespace

std::vector<pid_t> ShimPids(const std::string& containerd_socket) {
  std::vector<pid_t> shims;
  for (pid_t pid : AllPids()) {
    if (ShimAddress(pid) == containerd_socket) shims.push_back(pid);
  }
  return shims;
}

int KillOrphanShims() {
  int killed = 0;
  for (pid_t pid : AllPids()) {
    std::string address = ShimAddress(pid);
    if (absl::StartsWith(address, "/tmp/") &&
        absl::EndsWith(address, "/containerd/containerd.sock") &&
        !UnixSocketConnectable(address)) {
      killed += KillProcessTree(pid);
      // Its sandbox shm and root file system mounts: below the dead
      // containerd's directory (the test's dir itself is left as a killed
      // test leaves it).
      UnmountBelow(std::string(absl::StripSuffix(address, "/containerd.sock")));
    }
  }
  return killed;
}

std::vector<pid_t> Descendants(pid_t root) {
  std::multimap<pid_t, pid_t> children;
  for (pid_t pid : AllPids()) {
    char state = 0;
    pid_t ppid = 0;
    if (StatOf(pid, &state, &ppid) && state != 'Z') children.emplace(ppid, pid);
  }
  std::vector<pid_t> out;
  std::vector<pid_t> todo = {root};
  while (!todo.empty()) {
    pid_t parent = todo.back();
    todo.pop_back();
    auto [begin, end] = children.equal_range(parent);
    for (auto it = begin; it != end; ++it) {
      out.push_back(it->second);
      todo.push_back(it->second);
    }
  }
  return out;
}

bool ProcessAlive(pid_t pid) {
  char state = 0;
  pid_t ppid = 0;
  return StatOf(pid, &state, &ppid) && state != 'Z' && state != 'X';
}

int KillProcessTree(pid_t pid) {
  std::vector<pid_t> all = Descendants(pid);
  all.push_back(pid);
  for (pid_t p : all) kill(p, SIGKILL);
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (absl::Now() < deadline &&
         std::any_of(all.begin(), all.end(), ProcessAlive)) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  return static_cast<int>(all.size());
}

int UnmountBelow(const std::string& dir) {
  std::vector<std::string> points;
  std::istringstream lines(Slurp("/proc/self/mountinfo"));
  for (std::string line; std::getline(lines, line);) {
    std::vector<std::string> fields = absl::StrSplit(line, ' ');
    if (fields.size() < 5) continue;
    std::string point = Unescape(fields[4]);
    if (point == dir || absl::StartsWith(point, dir + "/")) points.push_back(point);
  }
  // Deepest first: a longer path cannot be a parent of a shorter one.
  std::sort(points.begin(), points.end(),
            [](const std::string& a, const std::string& b) {
              return a.size() > b.size();
            });
  int count = 0;
  for (const std::string& point : points) {
    if (umount2(point.c_str(), MNT_DETACH) == 0) ++count;
  }
  return count;
}

}  // namespace crimirror::testbed
