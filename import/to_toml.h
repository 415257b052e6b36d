// Renders an Imported config as native cri-mirror TOML: one [[mirror]] per
// rule (with a "# from file:line" comment), one [host."h:p"] per host, and
// every note as a comment saying what was dropped or changed and why. The
// text passes ParseConfig(); it holds the imported credentials, so write it
// with mode 0600.
#pragma once

#include <string>
#include <string_view>

#include "import/imported.h"

namespace crimirror::importer {

// `header` is printed first as comment lines (e.g. the command that made it).
std::string ToNativeToml(const Imported& imported, std::string_view header);

// A TOML basic string with quotes: "a\"b".
std::string TomlString(std::string_view value);

}  // namespace crimirror::importer
