#include "relay/upstream.h"

#include "absl/strings/match.h"

namespace crimirror::relay {

std::optional<std::string> FindHeader(const Headers& headers, std::string_view name) {
  absl::string_view wanted(name.data(), name.size());
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, wanted)) return value;
  }
  return std::nullopt;
}

}  // namespace crimirror::relay
