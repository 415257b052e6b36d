#include "credentials/go_duration.h"

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"

namespace crimirror::credentials {
namespace {

absl::string_view A(std::string_view s) { return {s.data(), s.size()}; }

constexpr uint64_t kNanosecond = 1;
constexpr uint64_t kMicrosecond = 1000 * kNanosecond;
constexpr uint64_t kMillisecond = 1000 * kMicrosecond;
constexpr uint64_t kSecond = 1000 * kMillisecond;
constexpr uint64_t kMinute = 60 * kSecond;
constexpr uint64_t kHour = 60 * kMinute;
// Go's durations are int64 nanoseconds: 1<<63 is allowed only as -1<<63.
constexpr uint64_t kMaxMagnitude = uint64_t{1} << 63;

absl::Status Invalid(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "invalid duration \"", text.substr(0, 64), "\": ", why,
      " (write it as Go does, e.g. \"12h\", \"1h30m\", \"90s\")"));
}

uint64_t UnitNanos(absl::string_view unit) {
  if (unit == "ns") return kNanosecond;
  if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") return kMicrosecond;
  if (unit == "ms") return kMillisecond;
  if (unit == "s") return kSecond;
  if (unit == "m") return kMinute;
  if (unit == "h") return kHour;
  return 0;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Leading decimal digits of `s` into `value`; false on overflow past 1<<63.
bool LeadingInt(absl::string_view& s, uint64_t& value) {
  std::size_t i = 0;
  value = 0;
  for (; i < s.size() && IsDigit(s[i]); ++i) {
    if (value > (kMaxMagnitude - 1) / 10) return false;
    value = value * 10 + static_cast<uint64_t>(s[i] - '0');
    if (value > kMaxMagnitude) return false;
  }
  s.remove_prefix(i);
  return true;
}

// Fraction digits: the value and scale as far as they fit (Go drops the
// digits that would overflow, keeping the precision it can).
void LeadingFraction(absl::string_view& s, uint64_t& value, double& scale) {
  std::size_t i = 0;
  value = 0;
  scale = 1;
  bool overflow = false;
  for (; i < s.size() && IsDigit(s[i]); ++i) {
    if (overflow) continue;
    if (value > (kMaxMagnitude - 1) / 10) {
      overflow = true;
      continue;
    }
    const uint64_t next = value * 10 + static_cast<uint64_t>(s[i] - '0');
    if (next > kMaxMagnitude) {
      overflow = true;
      continue;
    }
    value = next;
    scale *= 10;
  }
  s.remove_prefix(i);
}

}  // namespace

absl::StatusOr<absl::Duration> ParseGoDuration(std::string_view text_in) {
  const absl::string_view text = A(text_in);
  absl::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return absl::ZeroDuration();
  if (s.empty()) return Invalid(text, "empty");
  uint64_t total = 0;
  while (!s.empty()) {
    if (!(s[0] == '.' || IsDigit(s[0]))) return Invalid(text, "expected a number");
    const std::size_t before = s.size();
    uint64_t whole = 0;
    if (!LeadingInt(s, whole)) return Invalid(text, "out of range");
    const bool had_whole = s.size() != before;
    uint64_t fraction = 0;
    double scale = 1;
    bool had_fraction = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      const std::size_t at = s.size();
      LeadingFraction(s, fraction, scale);
      had_fraction = s.size() != at;
    }
    if (!had_whole && !had_fraction) return Invalid(text, "expected digits");
    std::size_t unit_len = 0;
    while (unit_len < s.size() && s[unit_len] != '.' && !IsDigit(s[unit_len])) ++unit_len;
    if (unit_len == 0) return Invalid(text, "missing unit");
    const uint64_t unit = UnitNanos(s.substr(0, unit_len));
    if (unit == 0) return Invalid(text, absl::StrCat("unknown unit \"", s.substr(0, unit_len), "\""));
    s.remove_prefix(unit_len);
    if (whole > kMaxMagnitude / unit) return Invalid(text, "out of range");
    uint64_t value = whole * unit;
    if (fraction > 0) {
      value += static_cast<uint64_t>(static_cast<double>(fraction) *
                                     (static_cast<double>(unit) / scale));
      if (value > kMaxMagnitude) return Invalid(text, "out of range");
    }
    total += value;
    if (total > kMaxMagnitude) return Invalid(text, "out of range");
  }
  if (total == kMaxMagnitude && !negative) return Invalid(text, "out of range");
  absl::Duration d = absl::Nanoseconds(static_cast<int64_t>(total == kMaxMagnitude ? total - 1 : total));
  if (total == kMaxMagnitude) d += absl::Nanoseconds(1);
  return negative ? -d : d;
}

}  // namespace crimirror::credentials
