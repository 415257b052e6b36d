// Copyright cri-mirror authors.
//
// Pull throughput. Each repetition pulls the same big image twice, once
// direct (127.0.0.1:P/big/image:v1, containerd talks to the registry) and
// once through cri-mirror (bench.example:5000/big/image:v1, a [[mirror]]
// rule to the same registry, so containerd pulls from cri-mirror's relay),
// in alternating order, after one untimed pull of each. Between pulls the
// image is removed with CRI RemoveImage and we wait until containerd's
// garbage collector deleted its layer blobs (CRI removes the last name with
// a synchronous delete), so every pull downloads and unpacks all bytes; one
// push serves every run.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/figures.h"
#include "bench/proc_stats.h"
#include "bench/stats.h"

namespace crimirror::bench {
namespace {

constexpr const char* kMirroredRegistry = Bed::kMirroredRegistry;
constexpr absl::Duration kPullDeadline = absl::Minutes(10);

// Pulls `image` via `client`, then removes it and waits for the GC.
absl::StatusOr<absl::Duration> PullOnce(Bed& bed, testbed::CriImageClient& client,
                                        const std::string& image,
                                        const testbed::BuiltImage& built) {
  auto took = TimePull(client, image, kPullDeadline);
  absl::Status removed = RemoveAndCollect(bed.direct(), image, built, bed.ContainerdRoot());
  if (!took.ok()) return took.status();
  if (!removed.ok()) return removed;
  return took;
}

std::string TimeAndRate(absl::Duration d, uint64_t mib) {
  double seconds = absl::ToDoubleSeconds(d);
  return absl::StrFormat("%s (%.0f MiB/s)", HumanDuration(d),
                         seconds > 0 ? static_cast<double>(mib) / seconds : 0.0);
}

}  // namespace

std::vector<Row> RunPullThroughput(Bed& bed) {
  const std::string figure = absl::StrCat("pull ", bed.BigImageMiB(), " MiB image: time");
  const std::string target = "<= 1.03";
  auto built = bed.BigImage();
  if (!built.ok()) return {NotApplicable(figure, target, built.status().ToString())};
  auto mirror = bed.StartMirrorToRegistry();
  if (!mirror.ok()) return {NotApplicable(figure, target, mirror.status().ToString())};
  auto through = testbed::CriImageClient::Create((*mirror)->Endpoint());
  if (!through.ok()) return {NotApplicable(figure, target, through.status().ToString())};
  const std::string direct_name = absl::StrCat(bed.registry().HostPort(), "/", Bed::BigRepoTag());
  const std::string mirror_name = absl::StrCat(kMirroredRegistry, "/", Bed::BigRepoTag());
  // One untimed pull per leg first: the first pull after the bed starts
  // reads the registry's blobs from disk and would be charged to one leg.
  for (bool direct_leg : {true, false}) {
    if (bed.options().smoke) break;
    auto warm = direct_leg ? PullOnce(bed, bed.direct(), direct_name, *built)
                           : PullOnce(bed, **through, mirror_name, *built);
    if (!warm.ok()) return {NotApplicable(figure, target, warm.status().ToString())};
  }
  std::vector<absl::Duration> ours, ref;
  const pid_t pid = (*mirror)->process()->pid();
  CpuTime cpu;  // cri-mirror's CPU time in the timed through-pulls
  for (int r = 0; r < bed.options().repetitions; ++r) {
    for (int leg = 0; leg < 2; ++leg) {
      bool direct_leg = (leg == 0) == (r % 2 == 0);
      auto cpu_before = ProcCpuTime(pid);
      auto took = direct_leg ? PullOnce(bed, bed.direct(), direct_name, *built)
                             : PullOnce(bed, **through, mirror_name, *built);
      if (!took.ok()) {
        return {NotApplicable(figure, target,
                              absl::StrCat(direct_leg ? "direct: " : "through cri-mirror: ",
                                           took.status().message()))};
      }
      (direct_leg ? ref : ours).push_back(*took);
      auto cpu_after = ProcCpuTime(pid);
      if (!direct_leg && cpu_before.ok() && cpu_after.ok()) cpu += *cpu_after - *cpu_before;
    }
  }
  absl::Duration ours_median = MedianDuration(ours), ref_median = MedianDuration(ref);
  Row row = RatioRow(figure, TimeAndRate(ours_median, bed.BigImageMiB()),
                     TimeAndRate(ref_median, bed.BigImageMiB()),
                     absl::ToDoubleSeconds(ours_median) / absl::ToDoubleSeconds(ref_median),
                     true, 1.03);
  const double gib = static_cast<double>(bed.BigImageMiB() * ours.size()) / 1024.0;
  row.note = absl::StrFormat("%d layers, relay vs direct; runs %s vs %s; cri-mirror CPU %s per GiB",
                             built->layer_digests.size(), DurationRange(ours), DurationRange(ref),
                             CpuPerGiB(cpu, gib));
  return {row};
}

}  // namespace crimirror::bench
