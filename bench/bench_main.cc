// Copyright cri-mirror authors.
//
// cri-mirror-bench: runs the figures of issue 5 on a private test bed and
// prints one table. See bench/README.md. Exit code 0 when the table was
// produced (missed targets are reported in it, not in the exit code), 1
// when the bed could not start, 2 for a bad command line.
#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bench/figures.h"
#include "bench/byte_pump.h"
#include "bench/null_server.h"
#include "bench/table.h"

namespace crimirror::bench {
namespace {

#ifdef CRI_MIRROR_BINARY
constexpr char kDefaultBinary[] = CRI_MIRROR_BINARY;
#else
constexpr char kDefaultBinary[] = "";
#endif

constexpr char kUsage[] =
    "Usage: cri-mirror-bench [--repetitions N] [--smoke] [--image-mib M]\n"
    "                        [--soak-minutes N] [--only ROW] [--cri-mirror PATH]\n"
    "  --repetitions N  median of N runs per figure (default 5)\n"
    "  --smoke          tiny sizes, one repetition, every row (CI)\n"
    "  --image-mib M    size of the big image of the pull/memory rows (default 1024)\n"
    "  --soak-minutes N length of the soak row (default 10)\n"
    "  --only ROW       one of: cri, pull, parallel, failover, hosts-toml, mid-blob,\n"
    "                   podman, memory, load, soak, startup, instructions\n"
    "  --cri-mirror P   cri-mirror binary (default: the one built with this tree)\n"
    "Needs root and the test bed's programs (see tests/integration/README.md).\n";

struct Figure {
  std::string id;
  std::function<std::vector<Row>(Bed&)> run;
};

const std::vector<Figure>& Figures() {
  static const auto* figures = new std::vector<Figure>{
      {"cri", RunCriOverhead},
      {"pull", RunPullThroughput},
      {"parallel", RunParallelPulls},
      {"failover", RunFailover},
      {"hosts-toml", RunContainerdFallback},
      {"mid-blob", RunMidBlobFailover},
      {"podman", RunPodman},
      {"memory", RunMemory},
      {"load", [](Bed& bed) { return RunLoadAndSoak(bed, true, false); }},
      {"soak", [](Bed& bed) { return RunLoadAndSoak(bed, false, true); }},
      {"startup", RunStartup},
      {"instructions", RunInstructions}};
  return *figures;
}

// Parses argv into `options`; an error message (empty = OK, "help" = usage).
std::string ParseFlags(int argc, char** argv, BenchOptions* options) {
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (flag == "--help" || flag == "-h") return "help";
    if (flag == "--smoke") {
      options->smoke = true;
    } else if (flag == "--repetitions" || flag == "--image-mib" || flag == "--soak-minutes") {
      const char* v = value();
      uint64_t n = 0;
      if (v == nullptr || !absl::SimpleAtoi(v, &n) || n == 0) {
        return absl::StrCat(flag, " needs a positive integer");
      }
      if (flag == "--repetitions") options->repetitions = static_cast<int>(n);
      if (flag == "--image-mib") options->image_mib = n;
      if (flag == "--soak-minutes") options->soak_minutes = n;
    } else if (flag == "--only" || flag == "--cri-mirror") {
      const char* v = value();
      if (v == nullptr) return absl::StrCat(flag, " needs a value");
      (flag == "--only" ? options->only : options->cri_mirror_binary) = v;
    } else {
      return absl::StrCat("unknown flag ", flag);
    }
  }
  if (!options->only.empty() &&
      std::find(kFigureIds.begin(), kFigureIds.end(), options->only) == kFigureIds.end()) {
    return absl::StrCat("--only ", options->only, ": expected one of ",
                        absl::StrJoin(kFigureIds, ", "));
  }
  if (options->smoke) options->repetitions = 1;
  return "";
}

// One N/A row per selected figure, all with `reason`.
std::vector<Row> AllNotApplicable(const BenchOptions& options, const std::string& reason) {
  std::vector<Row> rows;
  for (const Figure& figure : Figures()) {
    if (options.only.empty() || options.only == figure.id) {
      rows.push_back(NotApplicable(figure.id, "-", reason));
    }
  }
  return rows;
}

int Run(const BenchOptions& options) {
  if (auto missing = testbed::MissingPrerequisites(); missing.has_value()) {
    std::fputs(RenderTable(AllNotApplicable(options, *missing)).c_str(), stdout);
    return 0;
  }
  auto bed = Bed::Create(options);
  if (!bed.ok()) {
    std::fprintf(stderr, "cri-mirror-bench: test bed did not start: %s\n",
                 bed.status().ToString().c_str());
    return 1;
  }
  std::vector<Row> rows;
  for (const Figure& figure : Figures()) {
    if (!options.only.empty() && options.only != figure.id) continue;
    std::fprintf(stderr, "cri-mirror-bench: running %s...\n", figure.id.c_str());
    absl::Time start = absl::Now();
    for (Row& row : figure.run(**bed)) rows.push_back(std::move(row));
    std::fprintf(stderr, "cri-mirror-bench: %s took %s\n", figure.id.c_str(),
                 absl::FormatDuration(absl::Now() - start).c_str());
  }
  std::printf("cri-mirror-bench: %d repetition(s)%s, big image %llu MiB, bed %s\n\n",
              options.repetitions, options.smoke ? " (smoke)" : "",
              static_cast<unsigned long long>((*bed)->BigImageMiB()),  // NOLINT
              (*bed)->dir().path().c_str());
  std::fputs(RenderTable(rows).c_str(), stdout);
  return 0;
}

}  // namespace
}  // namespace crimirror::bench

int main(int argc, char** argv) {
  // Internal: the "cri" figure's null server and byte pump run as
  // children of the bench.
  if (argc == 3 && std::string(argv[1]) == "--null-server") {
    return crimirror::bench::RunNullServer(argv[2]);
  }
  if (argc == 4 && std::string(argv[1]) == "--byte-pump") {
    return crimirror::bench::RunBytePump(argv[2], argv[3]);
  }
  crimirror::bench::BenchOptions options;
  options.cri_mirror_binary = crimirror::bench::kDefaultBinary;
  std::string error = crimirror::bench::ParseFlags(argc, argv, &options);
  if (error == "help") {
    std::fputs(crimirror::bench::kUsage, stdout);
    return 0;
  }
  if (!error.empty()) {
    std::fprintf(stderr, "cri-mirror-bench: %s\n%s", error.c_str(), crimirror::bench::kUsage);
    return 2;
  }
  return crimirror::bench::Run(options);
}
