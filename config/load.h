// LoadConfigFile(): the thin I/O layer around ParseConfig(). Reads the file,
// validates it, then checks that every file the config names can be read and
// loads secret files. Kept separate so ParseConfig() stays pure and fuzzable.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "config/parse.h"

namespace crimirror::config {

// Reads and validates the config at `path`.
//  - NotFound when `path` does not exist (the daemon may then run with a
//    default Config when `path` is kDefaultConfigPath); the message names it.
//  - PermissionDenied / FailedPrecondition when it cannot be read.
//  - InvalidArgument listing every error, one per line, including ca_file,
//    client_cert, client_key and password_file that cannot be read
//    ("file:line:col: [host.\"m:5000\"].ca_file: cannot read /x: No such
//    file or directory").
// On success HostSettings::password holds the contents of password_file (one
// trailing newline trimmed), and `warnings` also lists secret files
// (client_key, password_file) that are group- or world-readable.
// Thread-safe; blocking file I/O.
absl::StatusOr<ParsedConfig> LoadConfigFile(const std::string& path);

// The file checks of LoadConfigFile on an already parsed config (used for
// imported configs): InvalidArgument listing every unreadable ca_file,
// client_cert, client_key or password_file, messages prefixed by
// `file_name`; reads password_file into password; adds warnings. Blocking.
absl::Status CheckConfigFiles(const std::string& file_name,
                              ParsedConfig* parsed);

}  // namespace crimirror::config
