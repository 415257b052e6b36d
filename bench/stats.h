// Copyright cri-mirror authors.
//
// Small numeric and formatting helpers of the benchmark harness: medians and
// percentiles of samples, human units for durations, sizes and rates, and
// ratio rows. Pure functions; thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "bench/bench.h"

namespace crimirror::bench {

// Median of `samples` (mean of the two middle values for an even count);
// 0 for an empty vector.
double Median(std::vector<double> samples);

// Nearest-rank percentile `p` in [0, 100] of `samples`; 0 when empty.
double Percentile(std::vector<double> samples, double p);

// Median of durations.
absl::Duration MedianDuration(const std::vector<absl::Duration>& samples);

// "7.02 s..7.93 s": the smallest and largest of `samples`; "-" when empty.
std::string DurationRange(const std::vector<absl::Duration>& samples);

// "183 us", "12.4 ms", "3.21 s" (three significant digits).
std::string HumanDuration(absl::Duration d);

// "12.3 MiB".
std::string FormatMiB(uint64_t bytes);

// "1234 calls/s".
std::string FormatRate(double per_second);

// "1.07"; "-" when the denominator is 0.
std::string FormatRatio(double ratio);

// A row whose verdict is ratio <= max (upper = true) or ratio >= min
// (upper = false), with the target text built from `bound`.
Row RatioRow(const std::string& figure, const std::string& ours,
             const std::string& reference, double ratio, bool upper,
             double bound);

}  // namespace crimirror::bench
