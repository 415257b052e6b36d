#include "log/log.h"

#include <unistd.h>

#include <atomic>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace crimirror::log {
namespace {

std::atomic<int> min_severity{static_cast<int>(Severity::kInfo)};
std::atomic<int> format{static_cast<int>(Format::kText)};

const char* SeverityName(Severity severity) {
  switch (severity) {
    case Severity::kDebug: return "DEBUG";
    case Severity::kInfo: return "INFO";
    case Severity::kWarning: return "WARN";
    case Severity::kError: return "ERROR";
  }
  return "?";
}

const char* LevelName(Severity severity) {
  switch (severity) {
    case Severity::kDebug: return "debug";
    case Severity::kInfo: return "info";
    case Severity::kWarning: return "warning";
    case Severity::kError: return "error";
  }
  return "?";
}

std::string Now() {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
}

std::string Dump(const nlohmann::ordered_json& value) {
  return value.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

bool Bare(const std::string& text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) return false;
  }
  return true;
}

void Emit(const std::string& line) {
  // A single write keeps concurrent lines whole; a short write to stderr is
  // not worth retrying for a log line.
  [[maybe_unused]] ssize_t written = ::write(STDERR_FILENO, line.data(), line.size());
}

std::string Line(Severity severity, std::string_view message,
                 const nlohmann::ordered_json* fields) {
  const std::string text(message);
  if (static_cast<Format>(format.load(std::memory_order_relaxed)) == Format::kJson) {
    nlohmann::ordered_json line = {{"time", Now()}, {"level", LevelName(severity)},
                                   {"msg", text}};
    if (fields != nullptr && fields->is_object()) {
      for (const auto& [key, value] : fields->items()) line[key] = value;
    }
    return Dump(line) + "\n";
  }
  std::string line = absl::StrCat(Now(), " ", SeverityName(severity), " ", text);
  if (fields != nullptr && fields->is_object()) {
    for (const auto& [key, value] : fields->items()) {
      absl::StrAppend(&line, " ", key, "=");
      if (value.is_string() && Bare(value.get<std::string>())) {
        absl::StrAppend(&line, value.get<std::string>());
      } else {
        absl::StrAppend(&line, Dump(value));
      }
    }
  }
  return line + "\n";
}

}  // namespace

void SetMinSeverity(Severity severity) {
  min_severity.store(static_cast<int>(severity), std::memory_order_relaxed);
}

bool Enabled(Severity severity) {
  return static_cast<int>(severity) >= min_severity.load(std::memory_order_relaxed);
}

void SetFormat(Format f) { format.store(static_cast<int>(f), std::memory_order_relaxed); }

void Write(Severity severity, std::string_view message) {
  Emit(Line(severity, message, nullptr));
}

void WriteEvent(Severity severity, std::string_view message,
                const nlohmann::ordered_json& fields) {
  if (!Enabled(severity)) return;
  Emit(Line(severity, message, &fields));
}

}  // namespace crimirror::log
