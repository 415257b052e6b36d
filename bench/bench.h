// Copyright cri-mirror authors.
//
// Shared vocabulary of the benchmark harness (library crimirror_bench,
// namespace crimirror::bench): the command's options and one row of the
// result table. Every figure (cri_overhead.cc, pull_throughput.cc, ...)
// turns its measurements into Rows; table.cc prints them; bench_main.cc
// owns the command line. A row never aborts the run: a figure that cannot
// be measured yields a kNotApplicable row carrying the reason.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace crimirror::bench {

// Options of one `cri-mirror-bench` run.
struct BenchOptions {
  // Each figure is measured this many times; the table shows medians.
  int repetitions = 5;
  // Tiny sizes, one repetition, every row still exercised (CI smoke).
  bool smoke = false;
  // Size of the big image of the pull and memory rows, in MiB.
  uint64_t image_mib = 1024;
  // Empty: every figure; otherwise one figure id (see kFigureIds).
  std::string only;
  // Length of the soak figure, in minutes.
  uint64_t soak_minutes = 10;
  // Absolute path of the cri-mirror executable under test.
  std::string cri_mirror_binary;
};

// Figure ids accepted by --only, in table order.
inline const std::vector<std::string> kFigureIds = {
    "cri",    "pull", "parallel", "failover", "hosts-toml",  "mid-blob",
    "podman", "memory", "load",   "soak",     "startup",     "instructions"};

// Outcome of a row against its target.
enum class Verdict {
  kPass,
  kFail,
  kNotApplicable,  // could not be measured; `note` says why
  kInfo,           // a reference figure without a target of its own
};

// One line of the result table: raw numbers of cri-mirror ("ours") and of
// the reference measured in the same run, their ratio and the target.
struct Row {
  std::string figure;     // "CRI ImageStatus p50, 1 client"
  std::string ours;       // "p50 182 us p99 402 us"
  std::string reference;  // same units, or "-"
  std::string ratio;      // "1.07" or "-"
  std::string target;     // "<= 1.10"
  Verdict verdict = Verdict::kNotApplicable;
  std::string note;       // reason for N/A, or a remark
};

// A kNotApplicable row for `figure` with `reason` (single line).
Row NotApplicable(const std::string& figure, const std::string& target,
                  const std::string& reason);

}  // namespace crimirror::bench
