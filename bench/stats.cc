// Copyright cri-mirror authors.
#include "bench/stats.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace crimirror::bench {

Row NotApplicable(const std::string& figure, const std::string& target,
                  const std::string& reason) {
  Row row;
  row.figure = figure;
  row.ours = "-";
  row.reference = "-";
  row.ratio = "-";
  row.target = target;
  row.verdict = Verdict::kNotApplicable;
  // One line in the table: keep the first line of multi-line errors.
  row.note = reason.substr(0, reason.find('\n'));
  return row;
}

double Median(std::vector<double> samples) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  size_t n = samples.size();
  return n % 2 == 1 ? samples[n / 2] : (samples[n / 2 - 1] + samples[n / 2]) / 2;
}

double Percentile(std::vector<double> samples, double p) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  double rank = std::ceil(p / 100.0 * static_cast<double>(samples.size()));
  size_t index = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return samples[std::min(index, samples.size() - 1)];
}

absl::Duration MedianDuration(const std::vector<absl::Duration>& samples) {
  std::vector<double> seconds;
  seconds.reserve(samples.size());
  for (absl::Duration d : samples) seconds.push_back(absl::ToDoubleSeconds(d));
  return absl::Seconds(Median(std::move(seconds)));
}

std::string DurationRange(const std::vector<absl::Duration>& samples) {
  if (samples.empty()) return "-";
  auto [low, high] = std::minmax_element(samples.begin(), samples.end());
  return absl::StrCat(HumanDuration(*low), "..", HumanDuration(*high));
}

std::string HumanDuration(absl::Duration d) {
  double us = absl::ToDoubleMicroseconds(d);
  if (us < 1000) return absl::StrFormat("%.0f us", us);
  if (us < 1e6) return absl::StrFormat("%.3g ms", us / 1e3);
  return absl::StrFormat("%.4g s", us / 1e6);
}

std::string FormatMiB(uint64_t bytes) {
  return absl::StrFormat("%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
}

std::string FormatRate(double per_second) {
  return absl::StrFormat("%.0f calls/s", per_second);
}

std::string FormatRatio(double ratio) {
  if (!std::isfinite(ratio) || ratio <= 0) return "-";
  return absl::StrFormat("%.2f", ratio);
}

Row RatioRow(const std::string& figure, const std::string& ours,
             const std::string& reference, double ratio, bool upper,
             double bound) {
  Row row;
  row.figure = figure;
  row.ours = ours;
  row.reference = reference;
  row.ratio = FormatRatio(ratio);
  row.target = absl::StrFormat("%s %.2f", upper ? "<=" : ">=", bound);
  bool pass = std::isfinite(ratio) && ratio > 0 && (upper ? ratio <= bound : ratio >= bound);
  row.verdict = pass ? Verdict::kPass : Verdict::kFail;
  return row;
}

}  // namespace crimirror::bench
