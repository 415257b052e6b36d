// Copyright cri-mirror authors.
#include "bench/proc_stats.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace crimirror::bench {
namespace {

// "Field:   1234 kB" lines of a /proc file.
absl::StatusOr<uint64_t> KibField(const std::string& path, const std::string& field) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view rest(line);
    if (!absl::ConsumePrefix(&rest, field + ":")) continue;
    rest = absl::StripAsciiWhitespace(rest);
    absl::ConsumeSuffix(&rest, " kB");
    uint64_t kib = 0;
    if (absl::SimpleAtoi(rest, &kib)) return kib * 1024;
  }
  return absl::NotFoundError(absl::StrCat("no ", field, " in ", path));
}

double MiB(uint64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

}  // namespace

absl::StatusOr<uint64_t> ProcStatusBytes(pid_t pid, const std::string& field) {
  return KibField(absl::StrCat("/proc/", pid, "/status"), field);
}

absl::StatusOr<uint64_t> SmapsRollupBytes(pid_t pid, const std::string& field) {
  return KibField(absl::StrCat("/proc/", pid, "/smaps_rollup"), field);
}

absl::StatusOr<int> ThreadsNamed(pid_t pid, const std::string& name) {
  const std::string tasks = absl::StrCat("/proc/", pid, "/task");
  std::error_code error;
  std::filesystem::directory_iterator it(tasks, error);
  if (error) return absl::NotFoundError(absl::StrCat("cannot list ", tasks, ": ", error.message()));
  int count = 0;
  for (const auto& task : it) {
    std::ifstream comm(task.path() / "comm");
    std::string line;
    if (std::getline(comm, line) && line == name) ++count;
  }
  return count;
}

absl::StatusOr<CpuTime> ProcCpuTime(pid_t pid) {
  const std::string path = absl::StrCat("/proc/", pid, "/stat");
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const std::string stat = text.str();
  // The command name may hold spaces: fields are counted after its ')'.
  const std::size_t close = stat.rfind(')');
  if (close == std::string::npos) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(stat).substr(close + 2), ' ', absl::SkipEmpty());
  // After ')': state is field 3 of stat(5), utime 14 and stime 15.
  uint64_t utime = 0, stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return absl::NotFoundError(absl::StrCat("no utime/stime in ", path));
  }
  const long ticks = ::sysconf(_SC_CLK_TCK);
  const double tick = 1.0 / static_cast<double>(ticks);
  return CpuTime{absl::Seconds(static_cast<double>(utime) * tick),
                 absl::Seconds(static_cast<double>(stime) * tick)};
}

std::string CpuPerGiB(const CpuTime& cpu, double gib) {
  if (gib <= 0) return "no GiB relayed";
  return absl::StrFormat("%.2f s (user %.2f + system %.2f)",
                         absl::ToDoubleSeconds(cpu.total()) / gib,
                         absl::ToDoubleSeconds(cpu.user) / gib,
                         absl::ToDoubleSeconds(cpu.system) / gib);
}

std::string MemorySplit(pid_t pid) {
  auto anon = ProcStatusBytes(pid, "RssAnon");
  auto file = ProcStatusBytes(pid, "RssFile");
  auto pss = SmapsRollupBytes(pid, "Pss");
  auto dirty = SmapsRollupBytes(pid, "Private_Dirty");
  if (!anon.ok() || !file.ok() || !pss.ok() || !dirty.ok()) return "memory split unavailable";
  return absl::StrFormat("RSS %.1f MiB = anon %.1f + files %.1f; PSS %.1f; private dirty %.1f",
                         MiB(*anon + *file), MiB(*anon), MiB(*file), MiB(*pss), MiB(*dirty));
}

PeakSampler::PeakSampler(pid_t pid, std::string field, absl::Duration every)
    : thread_([this, pid, field = std::move(field), every] {
        while (!stop_.load()) {
          if (auto value = ProcStatusBytes(pid, field); value.ok() && *value > peak_.load()) {
            peak_.store(*value);
          }
          absl::SleepFor(every);
        }
      }) {}

PeakSampler::~PeakSampler() {
  stop_.store(true);
  thread_.join();
}

}  // namespace crimirror::bench
