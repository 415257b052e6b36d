#include "log/log.h"

#include <unistd.h>

#include <atomic>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace crimirror::log {
namespace {

std::atomic<int> min_severity{static_cast<int>(Severity::kInfo)};

const char* SeverityName(Severity severity) {
  switch (severity) {
    case Severity::kDebug: return "DEBUG";
    case Severity::kInfo: return "INFO";
    case Severity::kWarning: return "WARN";
    case Severity::kError: return "ERROR";
  }
  return "?";
}

}  // namespace

void SetMinSeverity(Severity severity) {
  min_severity.store(static_cast<int>(severity), std::memory_order_relaxed);
}

bool Enabled(Severity severity) {
  return static_cast<int>(severity) >= min_severity.load(std::memory_order_relaxed);
}

void Write(Severity severity, std::string_view message) {
  std::string line = absl::StrCat(
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()), " ",
      SeverityName(severity), " ", absl::string_view(message.data(), message.size()), "\n");
  // A single write keeps concurrent lines whole; a short write to stderr is
  // not worth retrying for a log line.
  [[maybe_unused]] ssize_t written = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace crimirror::log
