// Copyright cri-mirror authors.
//
// Memory, counted as issue 15 decided: the daemon's own memory, i.e. its
// anonymous pages (RssAnon of /proc/<pid>/status), with RSS, PSS and
// private dirty pages in the notes and the clean shared-library pages
// shown apart. One fresh instance: "idle" after start-up and a few
// pass-through calls; "under load" is the largest anonymous size sampled
// (every 20 ms) during a 64-client CRI load and then during 8 concurrent
// CRI pulls of the big image through a [[mirror]] rule (the same reference
// each time, as in issue 5: containerd shares the layer downloads,
// cri-mirror serves 8 manifest resolutions and every blob request). Peak
// RSS (VmHWM) stays as an information row. A peak is a maximum, not a
// typical value, so it is measured once per run.
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/cri_load.h"
#include "bench/figures.h"
#include "bench/proc_stats.h"
#include "bench/stats.h"

namespace crimirror::bench {
namespace {

constexpr const char* kMirroredRegistry = Bed::kMirroredRegistry;
constexpr int kParallelPulls = 8;
constexpr uint64_t kIdleTargetMiB = 4;
constexpr uint64_t kLoadedTargetMiB = 24;

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
  const std::string idle_figure = "memory: anonymous, idle";
  const std::string load_figure = absl::StrCat(
      "memory: anonymous, 64-client load then ", kParallelPulls, " parallel pulls");
  const std::string peak_figure = "memory: peak RSS (VmHWM) over both";
  auto fail = [&](const absl::Status& status) -> std::vector<Row> {
    return {NotApplicable(idle_figure, absl::StrCat("<= ", kIdleTargetMiB, " MiB"),
                          status.ToString()),
            NotApplicable(load_figure, absl::StrCat("<= ", kLoadedTargetMiB, " MiB"),
                          status.ToString())};
  };
  auto built = bed.BigImage();
  if (!built.ok()) return fail(built.status());
  auto mirror = bed.StartMirrorToRegistry();
  if (!mirror.ok()) return fail(mirror.status());
  auto client = testbed::CriImageClient::Create((*mirror)->Endpoint());
  if (!client.ok()) return fail(client.status());
  for (int i = 0; i < 20; ++i) (*client)->List();
  const pid_t pid = (*mirror)->process()->pid();
  auto idle = ProcStatusBytes(pid, "RssAnon");
  if (!idle.ok()) return fail(idle.status());
  Row idle_row = MemoryRow(idle_figure, *idle, kIdleTargetMiB,
                           absl::StrCat("after start + 20 ListImages; ", MemorySplit(pid)));

  const std::string image = absl::StrCat(kMirroredRegistry, "/", Bed::BigRepoTag());
  absl::Status pulled;
  Load load;
  uint64_t anon_peak = 0;
  {
    PeakSampler sampler(pid, "RssAnon");
    const int each = bed.options().smoke ? 4 : 100;
    load = RunLoad((*client)->stub(),
                   {ImageStatusCall(image), ListImagesCall()}, 64, each);
    pulled = ParallelPulls(**client, image);
    anon_peak = sampler.peak();
  }
  const std::string after_split = MemorySplit(pid);
  auto peak = ProcStatusBytes(pid, "VmHWM");
  absl::Status removed = RemoveAndCollect(bed.direct(), image, *built, bed.ContainerdRoot());
  if (!pulled.ok()) return {idle_row, fail(pulled).back()};
  if (!peak.ok()) return {idle_row, fail(peak.status()).back()};
  Row load_row = MemoryRow(
      load_figure, anon_peak, kLoadedTargetMiB,
      absl::StrCat(load.calls, " CRI calls (", load.failures, " failed), ",
                   bed.BigImageMiB(), " MiB image, sampled every 20 ms; after: ", after_split));
  if (!removed.ok()) load_row.note += absl::StrCat("; ", removed.message());
  Row peak_row;
  peak_row.figure = peak_figure;
  peak_row.ours = FormatMiB(*peak);
  peak_row.reference = "-";
  peak_row.ratio = "-";
  peak_row.target.assign(1, '-');
  peak_row.verdict = Verdict::kInfo;
  peak_row.note = "RSS counts the clean pages of Debian's shared gRPC/OpenSSL libraries";
  return {idle_row, load_row, peak_row};
}

}  // namespace crimirror::bench
