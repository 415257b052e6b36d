// The `replace` syntax of `[[mirror]] rewrite` rules. Users write $1..$9 for
// groups (the familiar sed/JS form); RE2::Replace wants \1..\9. Both are
// accepted; "$$" is a literal '$'.
#pragma once

#include <string>
#include <string_view>

namespace crimirror::config {

// Converts a configured `replace` string to RE2::Replace's rewrite syntax:
// "$N" -> "\N" (N a digit), "$$" -> "$"; everything else, including "\N" and
// "\\", is kept as is. Pure.
std::string ToRe2Rewrite(std::string_view replace);

}  // namespace crimirror::config
