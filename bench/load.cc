// Copyright cri-mirror authors.
//
// Load and soak (issues 10 and 15). One round: 64 concurrent CRI clients
// make ImageStatus/ListImages calls (alternating) through a cri-mirror that
// has a [[mirror]] rule, while 8 different 8 MiB images (1 MiB with
// --smoke) are pulled through that rule at the same time; then the images
// are removed and containerd's GC awaited. "load" is one round of 100k
// calls (64 x 1563; 64 x 8 with --smoke): every call and pull must
// succeed. "soak" repeats rounds of 10k calls for --soak-minutes (default
// 10; two rounds with --smoke) on the same instance; its RSS at rest must
// stay flat after the warm-up minute (growth < 1 MiB; see Soak()). The
// same instance serves both figures' rounds.
#include <algorithm>
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

// The largest rise of `samples` above the first one (0 when none).
uint64_t GrowthAfterFirst(const std::vector<uint64_t>& samples) {
  uint64_t growth = 0;
  for (std::size_t i = 1; i < samples.size(); ++i) {
    growth = std::max(growth, samples[i] > samples[0] ? samples[i] - samples[0] : 0);
  }
  return growth;
}

// Anonymous and file pages of the daemon, in bytes.
struct Memory {
  uint64_t anon = 0;
  uint64_t file = 0;
  uint64_t rss() const { return anon + file; }
};

absl::StatusOr<Memory> ReadMemory(pid_t pid) {
  auto anon = ProcStatusBytes(pid, "RssAnon");
  if (!anon.ok()) return anon.status();
  auto file = ProcStatusBytes(pid, "RssFile");
  if (!file.ok()) return file.status();
  return Memory{*anon, *file};
}

// Memory at rest: waits until the relay has closed every connection (no
// "MHD-connection" thread left; RelayLimits::idle_timeout closes them 5 s
// after their last response), then reads it. What a leak leaves behind shows
// here; what an open connection holds while in use does not.
absl::StatusOr<Memory> MemoryAtRest(pid_t pid) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (true) {
    absl::StatusOr<int> open = ThreadsNamed(pid, "MHD-connection");
    if (!open.ok()) return open.status();
    if (*open == 0) return ReadMemory(pid);
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat(*open, " relay connections still open 30 s after the load stopped"));
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
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

// The soak: rounds of kClients x 157 calls and kImages pulls for
// --soak-minutes (two rounds with --smoke). Once a minute (after every round
// with --smoke) the load pauses for a sample of the memory at rest. The first
// minute is the warm-up (and the soak's end has a sample of its own): containerd leaves the keep-alive connections of a
// pull idle for its own 30 s, so the population of connections, the pull
// journal's 50 records and the allocator's arenas reach their steady state
// within it. The at-rest sample that ends it is the baseline; the figure is
// the largest rise of a later at-rest sample above it. The note also gives
// RSS right after each round (connections still open) as a range.
Row Soak(Bed& bed, testbed::CriImageClient& through, const std::vector<testbed::BuiltImage>& built,
         pid_t pid, const std::string& figure) {
  const BenchOptions& options = bed.options();
  const absl::Duration length =
      options.smoke ? absl::ZeroDuration() : absl::Minutes(options.soak_minutes);
  const absl::Duration rest_every = options.smoke ? absl::ZeroDuration() : absl::Minutes(1);
  const absl::Time start = absl::Now();
  absl::Time next_rest = start + rest_every;
  std::vector<Memory> rest;
  uint64_t loaded_min = ~uint64_t{0}, loaded_max = 0;
  uint64_t failures = 0, calls = 0;
  int rounds = 0;
  bool rested = false;  // the last round was followed by an at-rest sample
  absl::Status problem;
  do {
    const RoundResult r = Round(bed, through, built, options.smoke ? 8 : 157);
    ++rounds;
    rested = false;
    failures += r.load.failures;
    calls += r.load.calls;
    if (problem.ok()) problem = r.pulls;
    if (!rest.empty()) {
      if (absl::StatusOr<Memory> m = ReadMemory(pid); m.ok()) {
        loaded_min = std::min(loaded_min, m->rss());
        loaded_max = std::max(loaded_max, m->rss());
      }
    }
    if (absl::Now() >= next_rest) {
      absl::StatusOr<Memory> m = MemoryAtRest(pid);
      if (!m.ok()) {
        if (problem.ok()) problem = m.status();
        break;
      }
      rest.push_back(*m);
      rested = true;
      next_rest = absl::Now() + rest_every;
    }
  } while (absl::Now() < start + length || rest.size() < 2);
  if (problem.ok() && !rested) {  // the soak's last rounds, at rest too
    absl::StatusOr<Memory> m = MemoryAtRest(pid);
    if (m.ok()) rest.push_back(*m);
    else problem = m.status();
  }
  std::vector<uint64_t> rss, anon, file;
  for (const Memory& m : rest) {
    rss.push_back(m.rss());
    anon.push_back(m.anon);
    file.push_back(m.file);
  }
  const uint64_t growth = GrowthAfterFirst(rss);
  const std::string loaded =
      loaded_max == 0 ? "-" : absl::StrCat(FormatMiB(loaded_min), "-", FormatMiB(loaded_max));
  return CountRow(
      figure, FormatMiB(growth),
      rest.size() >= 2 && growth < kMaxGrowthBytes && failures == 0 && problem.ok(), "< 1 MiB",
      absl::StrCat(
          rounds, " rounds over ", absl::FormatDuration(absl::Now() - start), "; RSS at rest ",
          rss.empty() ? "?" : FormatMiB(rss.front()), " after warm-up -> ",
          rss.empty() ? "?" : FormatMiB(rss.back()), " (", rest.size(),
          " samples; growth: anon ", FormatMiB(GrowthAfterFirst(anon)), ", files ",
          FormatMiB(GrowthAfterFirst(file)), "); RSS under load ", loaded, "; ", failures,
          " of ", calls, " calls failed; ",
          problem.ok() ? "pulls all OK" : std::string(problem.message())));
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
  if (soak) rows.push_back(Soak(bed, **through, built, pid, soak_figure));
  return rows;
}

}  // namespace crimirror::bench
