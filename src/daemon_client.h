// What the commands that talk to a running daemon (status, pull, prefetch)
// share: the daemon's addresses from the config file, and byte counts for
// people.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "src/command_line.h"

namespace crimirror::cli {

// [server] of --config (a missing default file: the defaults), with
// --listen applied. A file that does not load (an operator looking at a
// daemon that rejected it) gives the defaults, with `*warning` set to the
// error naming the file.
config::ServerSettings DaemonServerSettings(const CommandLine& cl, std::string* warning);

// "unix:///run/x.sock" -> "/run/x.sock".
std::string SocketPath(const std::string& unix_url);

// "0 B", "512 B", "1.5 KiB", "12.3 MiB", "1.02 GiB".
std::string HumanBytes(std::uint64_t bytes);

}  // namespace crimirror::cli
