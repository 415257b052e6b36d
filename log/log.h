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

namespace crimirror::log {

enum class Severity { kDebug, kInfo, kWarning, kError };

// Messages below this severity are dropped. Default kInfo; thread-safe.
void SetMinSeverity(Severity severity);
bool Enabled(Severity severity);

// Writes "2026-11-23T09:19:33.123Z INFO message" to stderr in one write(2).
void Write(Severity severity, std::string_view message);

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
