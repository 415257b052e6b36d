// `cri-mirror pull IMAGE` and `cri-mirror prefetch --file LIST`: pulls
// through the running daemon's CRI socket ([server] listen or --listen), as
// the kubelet would, so mirror rules, credentials sources and naming apply.
// On a terminal `pull` shows bytes and rate while it runs (read from the
// status socket when the caller may use it); otherwise it prints one line
// when done.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/command_line.h"

namespace crimirror::cli {

// Exit code 0 pulled; 1 failed (the daemon's reason on `err`); 2 bad input.
int RunPull(const CommandLine& cl, std::ostream& out, std::ostream& err);

// Exit code 0 all pulled; 1 any failed (each named, with a summary).
int RunPrefetch(const CommandLine& cl, std::ostream& out, std::ostream& err);

// The images of a prefetch list: one a line, blank lines and '#' comments
// skipped, surrounding spaces trimmed. InvalidArgument "LIST:LINE: ..." for a
// line that is not an image reference (every bad line listed) or an empty
// list; NotFound when the file cannot be read.
absl::StatusOr<std::vector<std::string>> ReadPrefetchList(const std::string& path);

}  // namespace crimirror::cli
