// ParseConfig(): TOML text in, a validated Config (or every error at once)
// out. Pure: no file access, no clock; the file I/O lives in config/load.h.
//
// Every error has the form
//   file:line:col: key.path: what is wrong; how to fix
// e.g. `config.toml:14:3: [host."mirror:5000"].ca_file: must be an absolute
// path; write e.g. "/etc/cri-mirror/certs/ca.pem"`. Key paths are written
// `[server].listen`, `[[mirror]][0].endpoints[1]`, `[host."h:5000"].password`.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "config/config.h"

namespace crimirror::config {

// Default location of the configuration file.
inline constexpr char kDefaultConfigPath[] = "/etc/cri-mirror/config.toml";

// Where a key was written, for messages produced after parsing (the loader's
// file checks). 1-based.
struct SourceLocation {
  int line = 0;
  int column = 0;
};

// The outcome of a successful parse.
struct ParsedConfig {
  Config config;
  // Non-fatal findings, already formatted "file:line:col: key: ...".
  std::vector<Warning> warnings;
  // Location of selected keys by key path (`[host."h:p"].ca_file`); used by
  // LoadConfigFile to point at the key naming an unreadable file.
  std::map<std::string, SourceLocation, std::less<>> locations;
};

// Parses and validates `text`; `file_name` only prefixes messages.
// Returns InvalidArgument whose message lists every error, one per line, in
// source order (a TOML syntax error stops parsing, so it is reported alone).
// `[[mirror]] registry` values are stored normalized (lowercase host,
// "index.docker.io" -> "docker.io"). `password_file` is recorded but not read.
// Thread-safe (no shared state).
absl::StatusOr<ParsedConfig> ParseConfig(std::string_view text,
                                         std::string_view file_name);

}  // namespace crimirror::config
