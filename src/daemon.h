// The cri-mirror daemon: wires the configuration, the loopback relay, the
// pull interceptor and the kubelet-facing gRPC server, then serves until
// SIGTERM/SIGINT. SIGHUP (and edits to the config file) reload the config;
// a config that fails validation is rejected and the last good one stays.
#pragma once

#include "src/command_line.h"

namespace crimirror::cli {

// Runs the daemon in the foreground. Returns the process exit code: 0 after a
// clean shutdown, 1 when start-up failed (the reason is logged).
int RunDaemon(const CommandLine& command_line);

}  // namespace crimirror::cli
