// Renders an Imported config as native cri-mirror TOML: one [[mirror]] per
// rule (with a "# from file:line" comment), one [host."h:p"] per host, and
// every note as a comment saying what was dropped or changed and why. With
// Secrets::kInclude the text passes ParseConfig() and holds the imported
// credentials (write it with mode 0600); with Secrets::kRedact (for a
// terminal or a CI log) each password, auth and identity_token is a comment
// saying it was left out and how to get it.
#pragma once

#include <string>
#include <string_view>

#include "import/imported.h"

namespace crimirror::importer {

enum class Secrets { kInclude, kRedact };

// `header` is printed first as comment lines (e.g. the command that made it).
std::string ToNativeToml(const Imported& imported, std::string_view header,
                         Secrets secrets);

// A TOML basic string with quotes: "a\"b".
std::string TomlString(std::string_view value);

}  // namespace crimirror::importer
