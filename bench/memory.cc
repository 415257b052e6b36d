// Copyright cri-mirror authors.
//
// Memory: cri-mirror's peak resident set (VmHWM of /proc/<pid>/status).
// One fresh instance: "idle" is the peak after start-up and a few
// pass-through calls; "pulling" is the peak after 8 concurrent CRI pulls
// of the big image through a [[mirror]] rule (the same reference each
// time, as in issue 5: containerd shares the layer downloads, cri-mirror
// serves 8 manifest resolutions and every blob request). A peak is a
// maximum, not a typical value, so it is measured once per run.
#include <fstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "bench/figures.h"
#include "bench/stats.h"

namespace crimirror::bench {
namespace {

constexpr char kMirroredRegistry[] = "bench.example:5000";
constexpr int kParallelPulls = 8;
constexpr uint64_t kIdleTargetMiB = 15;
constexpr uint64_t kPullingTargetMiB = 64;

// `field` ("VmHWM") of /proc/<pid>/status in bytes. NotFound if absent.
absl::StatusOr<uint64_t> ProcStatusBytes(pid_t pid, const std::string& field) {
  const std::string path = absl::StrCat("/proc/", pid, "/status");
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

// "RSS = anon A MiB + library files F MiB": the process's own memory vs the clean
// pages of mapped shared libraries (gRPC, OpenSSL, ...), which RSS counts.
std::string RssSplit(pid_t pid) {
  auto anon = ProcStatusBytes(pid, "RssAnon");
  auto file = ProcStatusBytes(pid, "RssFile");
  if (!anon.ok() || !file.ok()) return "RSS split unavailable";
  return absl::StrFormat("RSS = anon %.1f MiB + library files %.1f MiB",
                         static_cast<double>(*anon) / (1 << 20),
                         static_cast<double>(*file) / (1 << 20));
}

Row MemoryRow(const std::string& figure, uint64_t bytes, uint64_t target_mib,
              const std::string& note) {
  Row row;
  row.figure = figure;
  row.ours = FormatMiB(bytes);
  row.reference = "-";
  row.ratio = "-";
  row.target = absl::StrCat("<= ", target_mib, " MiB");
  row.verdict = bytes <= target_mib * testbed::kMiB ? Verdict::kPass : Verdict::kFail;
  row.note = note;
  return row;
}

// Runs kParallelPulls pulls of `image`; the first error, if any.
absl::Status ParallelPulls(testbed::CriImageClient& client, const std::string& image) {
  std::vector<absl::Status> results(kParallelPulls);
  std::vector<std::thread> threads;
  for (int i = 0; i < kParallelPulls; ++i) {
    threads.emplace_back([&, i] {
      results[i] = TimePull(client, image, absl::Minutes(20)).status();
    });
  }
  for (std::thread& t : threads) t.join();
  for (const absl::Status& s : results) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<Row> RunMemory(Bed& bed) {
  const std::string idle_figure = "memory: peak RSS idle";
  const std::string pull_figure =
      absl::StrCat("memory: peak RSS, ", kParallelPulls, " parallel pulls");
  auto fail = [&](const absl::Status& status) -> std::vector<Row> {
    return {NotApplicable(idle_figure, absl::StrCat("<= ", kIdleTargetMiB, " MiB"),
                          status.ToString()),
            NotApplicable(pull_figure, absl::StrCat("<= ", kPullingTargetMiB, " MiB"),
                          status.ToString())};
  };
  auto built = bed.BigImage();
  if (!built.ok()) return fail(built.status());
  auto mirror = bed.StartMirror(absl::StrCat(
      "[[mirror]]\nregistry = \"", kMirroredRegistry, "\"\nendpoints = [\"",
      bed.registry().Url(), "\"]\nfallback_to_upstream = false\n"));
  if (!mirror.ok()) return fail(mirror.status());
  auto client = testbed::CriImageClient::Create((*mirror)->Endpoint());
  if (!client.ok()) return fail(client.status());
  for (int i = 0; i < 20; ++i) (*client)->List();
  const pid_t pid = (*mirror)->process()->pid();
  auto idle = ProcStatusBytes(pid, "VmHWM");
  if (!idle.ok()) return fail(idle.status());
  const std::string idle_split = RssSplit(pid);
  const std::string image = absl::StrCat(kMirroredRegistry, "/", Bed::BigRepoTag());
  absl::Status pulled = ParallelPulls(**client, image);
  auto peak = ProcStatusBytes(pid, "VmHWM");
  absl::Status removed = RemoveAndCollect(bed.direct(), image, *built, bed.ContainerdRoot());
  Row idle_row = MemoryRow(idle_figure, *idle, kIdleTargetMiB,
                           absl::StrCat("after start + 20 ListImages; ", idle_split));
  if (!pulled.ok()) return {idle_row, fail(pulled).back()};
  if (!peak.ok()) return {idle_row, fail(peak.status()).back()};
  Row pull_row = MemoryRow(pull_figure, *peak, kPullingTargetMiB,
                           absl::StrCat(bed.BigImageMiB(), " MiB image, one run"));
  if (!removed.ok()) pull_row.note += absl::StrCat("; ", removed.message());
  return {idle_row, pull_row};
}

}  // namespace crimirror::bench
