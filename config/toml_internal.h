// Private to crimirror_config: the one place toml++ is included.
//
// Debian's libtomlplusplus.so is built with exceptions (only the `ex` ABI
// namespace is exported), so we use toml++ header-only with
// TOML_EXCEPTIONS=0 (the `noex` ABI namespace; parse() returns a
// toml::parse_result). The tomlplusplus::tomlplusplus target is deliberately
// not linked: it forces TOML_HEADER_ONLY=0.
#pragma once

#undef TOML_HEADER_ONLY
#define TOML_HEADER_ONLY 1
#undef TOML_EXCEPTIONS
#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>
