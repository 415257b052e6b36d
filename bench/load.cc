// Copyright cri-mirror authors.
//
// Load and soak (issues 10 and 15). One round: 64 concurrent CRI clients
// make ImageStatus/ListImages calls (alternating) through a cri-mirror that
// has a [[mirror]] rule, while 8 different 8 MiB images (1 MiB with
// --smoke) are pulled through that rule at the same time; then the images
// are removed and containerd's GC awaited. "load" is one round of 100k
// calls (64 x 1563; 64 x 8 with --smoke): every call and pull must
// succeed. "soak" repeats rounds of 10k calls for --soak-minutes (default
// 10; two rounds with --smoke) on the same instance and samples its RSS
// after every round: after the first (warm-up) round it must stay flat
// (growth < 1 MiB). The same instance serves both figures' rounds.
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
constexpr int kImages = 8;
constexpr int kClients = 64;
constexpr uint64_t kMaxGrowthBytes = 1 << 20;

std::string RepoTag(int i) { return absl::StrCat("load/img-", i, ":v1"); }
std::string Mirrored(int i) { return absl::StrCat(kMirroredRegistry, "/", RepoTag(i)); }

struct RoundResult {
  Load load;
  absl::Status pulls;
};

// `calls_each` calls from each of kClients clients while every image is
// pulled; then the images are removed.
RoundResult Round(Bed& bed, testbed::CriImageClient& through,
                  const std::vector<testbed::BuiltImage>& built, int calls_each) {
  RoundResult result;
  std::vector<absl::Status> pulls(kImages);
  std::vector<std::thread> pullers;
  for (int i = 0; i < kImages; ++i) {
    pullers.emplace_back(
        [&, i] { pulls[i] = TimePull(through, Mirrored(i), absl::Minutes(10)).status(); });
  }
  result.load = RunLoad(through.stub(), {ImageStatusCall(Mirrored(0)), ListImagesCall()},
                        kClients, calls_each);
  for (std::thread& t : pullers) t.join();
  for (int i = 0; i < kImages; ++i) {
    absl::Status removed =
        RemoveAndCollect(bed.direct(), Mirrored(i), built[i], bed.ContainerdRoot());
    if (pulls[i].ok() && !removed.ok()) pulls[i] = removed;
    if (result.pulls.ok() && !pulls[i].ok()) result.pulls = pulls[i];
  }
  return result;
}

Row CountRow(const std::string& figure, const std::string& ours, bool pass,
             const std::string& target, const std::string& note) {
  Row row;
  row.figure = figure;
  row.ours = ours;
  row.reference = "-";
  row.ratio = "-";
  row.target = target;
  row.verdict = pass ? Verdict::kPass : Verdict::kFail;
  row.note = note;
  return row;
}

}  // namespace

std::vector<Row> RunLoadAndSoak(Bed& bed, bool load, bool soak) {
  const BenchOptions& options = bed.options();
  const std::string load_figure =
      absl::StrCat("load: ", kClients, " CRI clients during ", kImages, " pulls");
  const std::string soak_figure = "soak: RSS growth after warm-up";
  auto fail = [&](const std::string& why) {
    std::vector<Row> rows;
    if (load) rows.push_back(NotApplicable(load_figure, "0 failed", why));
    if (soak) rows.push_back(NotApplicable(soak_figure, "< 1 MiB", why));
    return rows;
  };
  const uint64_t mib = options.smoke ? 1 : 8;
  std::vector<std::string> repo_tags;
  for (int i = 0; i < kImages; ++i) repo_tags.push_back(RepoTag(i));
  auto pushed = bed.PushImages(repo_tags, mib, 7000);
  if (!pushed.ok()) return fail(pushed.status().ToString());
  const std::vector<testbed::BuiltImage>& built = *pushed;
  auto mirror = bed.StartMirrorToRegistry();
  if (!mirror.ok()) return fail(mirror.status().ToString());
  auto through = testbed::CriImageClient::Create((*mirror)->Endpoint());
  if (!through.ok()) return fail(through.status().ToString());
  const pid_t pid = (*mirror)->process()->pid();
  std::vector<Row> rows;
  if (load) {
    auto before = ProcStatusBytes(pid, "VmRSS");
    const RoundResult r = Round(bed, **through, built, options.smoke ? 8 : 1563);
    auto after = ProcStatusBytes(pid, "VmRSS");
    rows.push_back(CountRow(
        load_figure, absl::StrCat(r.load.failures, " of ", r.load.calls, " calls failed"),
        r.load.failures == 0 && r.pulls.ok(), "0 failed, pulls OK",
        absl::StrCat(FormatRate(r.load.calls_per_second), ", p99 ",
                     HumanDuration(absl::Microseconds(r.load.p99_us)), "; pulls: ",
                     r.pulls.ok() ? "all OK" : std::string(r.pulls.message()), "; RSS ",
                     before.ok() ? FormatMiB(*before) : "?", " -> ",
                     after.ok() ? FormatMiB(*after) : "?")));
  }
  if (soak) {
    const absl::Duration length =
        options.smoke ? absl::ZeroDuration() : absl::Minutes(options.soak_minutes);
    const absl::Time end = absl::Now() + length;
    std::vector<uint64_t> rss;
    uint64_t failures = 0, calls = 0;
    absl::Status pulls;
    do {
      const RoundResult r = Round(bed, **through, built, options.smoke ? 8 : 157);
      failures += r.load.failures;
      calls += r.load.calls;
      if (pulls.ok()) pulls = r.pulls;
      if (auto now = ProcStatusBytes(pid, "VmRSS"); now.ok()) rss.push_back(*now);
    } while (absl::Now() < end || rss.size() < 2);
    uint64_t growth = 0;
    for (std::size_t i = 1; i < rss.size(); ++i) {
      growth = std::max(growth, rss[i] > rss[0] ? rss[i] - rss[0] : 0);
    }
    rows.push_back(CountRow(
        soak_figure, FormatMiB(growth),
        rss.size() >= 2 && growth < kMaxGrowthBytes && failures == 0 && pulls.ok(), "< 1 MiB",
        absl::StrCat(rss.size(), " rounds over ", absl::FormatDuration(length), ", RSS ",
                     rss.empty() ? "?" : FormatMiB(rss.front()), " -> ",
                     rss.empty() ? "?" : FormatMiB(rss.back()), "; ", failures, " of ", calls,
                     " calls failed; pulls: ",
                     pulls.ok() ? "all OK" : std::string(pulls.message()))));
  }
  return rows;
}

}  // namespace crimirror::bench
