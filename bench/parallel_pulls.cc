// Copyright cri-mirror authors.
//
// Parallel pulls (issue 15): 8 DIFFERENT images of --image-mib / 4 MiB each
// (256 MiB with the default 1 GiB; 1 MiB with --smoke) pulled at once,
// direct from the registry vs through a cri-mirror [[mirror]] rule, in
// alternating order after one untimed round of each. Two rows: the wall
// time of the whole round (relay/direct), and cri-mirror's CPU seconds
// (user + system, /proc/<pid>/stat) per GiB it relayed in the timed rounds.
// Between rounds every image is removed and containerd's GC awaited, as in
// the pull row. Then the relay floors (bench/relay_floor.h) as INFO rows:
// the CPU per GiB of the cheapest copying relay and of a splice(2) relay.
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/figures.h"
#include "bench/proc_stats.h"
#include "bench/relay_floor.h"
#include "bench/stats.h"

namespace crimirror::bench {
namespace {

constexpr const char* kMirroredRegistry = Bed::kMirroredRegistry;
constexpr int kImages = 8;
constexpr double kWallBound = 1.03;
constexpr double kCpuSecondsPerGiB = 0.4;

std::string RepoTag(int i) { return absl::StrCat("parallel/img-", i, ":v1"); }

// Pulls every image at once through `client` (names under `registry`),
// then removes them and waits for the GC. Wall time of the pulls.
absl::StatusOr<absl::Duration> Round(Bed& bed, testbed::CriImageClient& client,
                                     const std::string& registry,
                                     const std::vector<testbed::BuiltImage>& built) {
  std::vector<absl::Status> results(kImages);
  std::vector<std::thread> threads;
  const absl::Time start = absl::Now();
  for (int i = 0; i < kImages; ++i) {
    threads.emplace_back([&, i] {
      results[i] =
          TimePull(client, absl::StrCat(registry, "/", RepoTag(i)), absl::Minutes(20)).status();
    });
  }
  for (std::thread& t : threads) t.join();
  const absl::Duration took = absl::Now() - start;
  for (int i = 0; i < kImages; ++i) {
    absl::Status removed = RemoveAndCollect(bed.direct(), absl::StrCat(registry, "/", RepoTag(i)),
                                            built[i], bed.ContainerdRoot());
    if (results[i].ok() && !removed.ok()) results[i] = removed;
  }
  for (const absl::Status& s : results) {
    if (!s.ok()) return s;
  }
  return took;
}

// An INFO row: the CPU one loopback relay of `relay`'s kind spends per GiB
// (bench/relay_floor.h), in the relay's own 256 KiB pieces.
Row FloorRow(FloorRelay relay, bool smoke) {
  const bool copy = relay == FloorRelay::kCopy;
  const std::string figure = copy ? "relay floor: recv/send copy relay, CPU per GiB"
                                  : "relay floor: splice(2) relay, CPU per GiB";
  const std::uint64_t bytes = (smoke ? 64ULL : 1024ULL) << 20;
  absl::StatusOr<CpuTime> cpu = RelayFloorCpu(relay, bytes, 256 * 1024);
  if (!cpu.ok()) return NotApplicable(figure, "-", cpu.status().ToString());
  const double gib = static_cast<double>(bytes) / (1 << 30);
  Row row;
  row.figure = figure;
  row.ours = absl::StrFormat("%.2f s", absl::ToDoubleSeconds(cpu->total()) / gib);
  row.reference = "-";
  row.ratio = "-";
  row.target.assign(1, '-');
  row.verdict = Verdict::kInfo;
  row.note = absl::StrCat(
      CpuPerGiB(*cpu, gib), ", the relaying thread alone, one loopback TCP stream; ",
      copy ? "the least any relay that holds the bytes in user space spends"
           : "zero-copy, only for a relay that owns both sockets and forwards plain bytes");
  return row;
}

}  // namespace

std::vector<Row> RunParallelPulls(Bed& bed) {
  const uint64_t mib = bed.options().smoke ? 1 : std::max<uint64_t>(1, bed.options().image_mib / 4);
  const std::string figure =
      absl::StrCat(kImages, " parallel pulls of ", kImages, " different ", mib, " MiB images");
  const std::string cpu_figure = "cri-mirror CPU per relayed GiB";
  auto fail = [&](const std::string& why) -> std::vector<Row> {
    return {NotApplicable(figure + ": wall time", absl::StrFormat("<= %.2f", kWallBound), why),
            NotApplicable(cpu_figure, absl::StrFormat("<= %.1f s", kCpuSecondsPerGiB), why)};
  };
  std::vector<std::string> repo_tags;
  for (int i = 0; i < kImages; ++i) repo_tags.push_back(RepoTag(i));
  auto pushed = bed.PushImages(repo_tags, mib, 5000);
  if (!pushed.ok()) return fail(pushed.status().ToString());
  const std::vector<testbed::BuiltImage>& built = *pushed;
  auto mirror = bed.StartMirrorToRegistry();
  if (!mirror.ok()) return fail(mirror.status().ToString());
  auto through = testbed::CriImageClient::Create((*mirror)->Endpoint());
  if (!through.ok()) return fail(through.status().ToString());
  const pid_t pid = (*mirror)->process()->pid();
  const std::string direct_registry = bed.registry().HostPort();
  const int repetitions = std::min(bed.options().repetitions, 3);
  std::vector<absl::Duration> ours, ref;
  CpuTime cpu;
  for (int r = -1; r < repetitions; ++r) {  // r = -1: untimed warm-up round
    for (int leg = 0; leg < 2; ++leg) {
      const bool direct_leg = (leg == 0) == (r % 2 == 0);
      auto cpu_before = ProcCpuTime(pid);
      auto took = direct_leg ? Round(bed, bed.direct(), direct_registry, built)
                             : Round(bed, **through, kMirroredRegistry, built);
      auto cpu_after = ProcCpuTime(pid);
      if (!took.ok()) {
        return fail(absl::StrCat(direct_leg ? "direct: " : "through cri-mirror: ",
                                 took.status().message()));
      }
      if (r < 0) continue;
      (direct_leg ? ref : ours).push_back(*took);
      if (!direct_leg && cpu_before.ok() && cpu_after.ok()) cpu += *cpu_after - *cpu_before;
    }
  }
  const absl::Duration ours_median = MedianDuration(ours), ref_median = MedianDuration(ref);
  Row wall = RatioRow(figure + ": wall time", HumanDuration(ours_median), HumanDuration(ref_median),
                      absl::ToDoubleSeconds(ours_median) / absl::ToDoubleSeconds(ref_median),
                      true, kWallBound);
  wall.note = absl::StrCat("relay vs direct; runs ", DurationRange(ours), " vs ",
                           DurationRange(ref));
  const double gib = static_cast<double>(mib * kImages * ours.size()) / 1024.0;
  const double per_gib = gib > 0 ? absl::ToDoubleSeconds(cpu.total()) / gib : 0.0;
  Row cpu_row;
  cpu_row.figure = cpu_figure;
  cpu_row.ours = absl::StrFormat("%.2f s", per_gib);
  cpu_row.reference = "-";
  cpu_row.ratio = "-";
  cpu_row.target = absl::StrFormat("<= %.1f s", kCpuSecondsPerGiB);
  cpu_row.verdict = per_gib > 0 && per_gib <= kCpuSecondsPerGiB ? Verdict::kPass : Verdict::kFail;
  cpu_row.note = absl::StrFormat("%s over %.2f GiB relayed in %zu rounds of %d pulls",
                                 CpuPerGiB(cpu, gib), gib, ours.size(), kImages);
  return {wall, cpu_row, FloorRow(FloorRelay::kCopy, bed.options().smoke),
          FloorRow(FloorRelay::kSplice, bed.options().smoke)};
}

}  // namespace crimirror::bench
