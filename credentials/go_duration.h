// Go's time.ParseDuration, for the durations the kubelet's credential
// provider files and plugins write ("12h", "1h2m3s", "1.5s", "0"): the
// config's defaultCacheDuration and a plugin response's cacheDuration are
// metav1.Duration values, which Go decodes with exactly this grammar. Pure.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace crimirror::credentials {

// Parses `text` as Go's time.ParseDuration does: an optional sign, then one
// or more decimal numbers (optionally with a fraction) each followed by a
// unit ("ns", "us", "µs", "μs", "ms", "s", "m", "h"); "0" alone is zero.
// Errors: InvalidArgument (empty, missing or unknown unit, overflow past
// Go's int64 nanoseconds), the message quoting at most the first 64 bytes.
absl::StatusOr<absl::Duration> ParseGoDuration(std::string_view text);

}  // namespace crimirror::credentials
