// Header-list helpers shared by the relay's walk and server. (FindHeader in
// relay/upstream.h belongs to the upstream library; the relay library keeps
// its own lookup so it depends only on the Upstream interface.)
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "relay/upstream.h"

namespace crimirror::relay {

// Debian's Abseil is built with absl::string_view as its own type, not an
// alias of std::string_view; our headers speak std::string_view.
inline absl::string_view AsAbsl(std::string_view s) { return {s.data(), s.size()}; }
inline std::string_view AsStd(absl::string_view s) { return {s.data(), s.size()}; }

// Every value of the headers named `name` (case-insensitive), in order.
inline std::vector<std::string> HeaderValues(const Headers& headers, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, AsAbsl(name))) out.push_back(value);
  }
  return out;
}

// The first value of the header named `name` (case-insensitive).
inline std::optional<std::string> FirstHeaderValue(const Headers& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, AsAbsl(name))) return value;
  }
  return std::nullopt;
}

}  // namespace crimirror::relay
