// Minimal structured-enough logging for cri-mirror: one line per event on
// stderr (journald adds its own timestamp under systemd, but we keep ours so
// that test logs and foreground runs read the same). Thread-safe.
//
// Never pass a secret here: config::Secret prints as "<redacted>" if one is
// passed by mistake.
#pragma once

#include <string_view>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace crimirror::log {

enum class Severity { kDebug, kInfo, kWarning, kError };

// Messages below this severity are dropped. Default kInfo; thread-safe.
void SetMinSeverity(Severity severity);
bool Enabled(Severity severity);

// --log-format: kText writes "2026-11-23T09:19:33.123Z INFO message"; kJson
// one JSON object a line: {"time":"2026-11-23T09:19:33.123Z","level":"info",
// "msg":"message"} (invalid UTF-8 replaced). Default kText; thread-safe.
enum class Format { kText, kJson };
void SetFormat(Format format);

// Writes one line to stderr in one write(2), in the format set.
void Write(Severity severity, std::string_view message);

// Writes one line with structured fields (an object): kJson puts them beside
// time, level and msg; kText appends " key=value" for each, strings bare
// when they hold no space, quote or '=' (else JSON-quoted), other values as
// JSON. Same severity filter as Write.
void WriteEvent(Severity severity, std::string_view message,
                const nlohmann::ordered_json& fields);

// absl::StrCat takes absl::string_view, which Debian builds as its own type:
// std::string_view arguments are converted here so callers need not care.
template <typename T>
decltype(auto) Loggable(const T& value) {
  if constexpr (std::is_convertible_v<const T&, std::string_view> &&
                !std::is_convertible_v<const T&, absl::string_view>) {
    std::string_view view = value;
    return absl::string_view(view.data(), view.size());
  } else {
    return (value);
  }
}

template <typename... Args>
void Debug(const Args&... args) {
  if (Enabled(Severity::kDebug)) Write(Severity::kDebug, absl::StrCat(Loggable(args)...));
}
template <typename... Args>
void Info(const Args&... args) {
  if (Enabled(Severity::kInfo)) Write(Severity::kInfo, absl::StrCat(Loggable(args)...));
}
template <typename... Args>
void Warning(const Args&... args) {
  if (Enabled(Severity::kWarning)) Write(Severity::kWarning, absl::StrCat(Loggable(args)...));
}
template <typename... Args>
void Error(const Args&... args) {
  Write(Severity::kError, absl::StrCat(Loggable(args)...));
}

}  // namespace crimirror::log
