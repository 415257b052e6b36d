// The cri-mirror daemon: wires the configuration, the loopback relay, the
// pull interceptor and the kubelet-facing gRPC server, then serves until
// SIGTERM/SIGINT. SIGHUP (and edits to the config file) reload the config;
// a config that fails validation is rejected and the last good one stays.
// Under systemd it reports readiness, reloads, shutdown and watchdog pings
// with sd_notify (src/serve_loop.h), and keeps containerd's sandbox image and
// [server].ensure_images present (node/image_ensurer.h).
#pragma once

#include "src/command_line.h"

namespace crimirror::cli {

// Runs the daemon in the foreground. Returns the process exit code: 0 after a
// clean shutdown, 1 when start-up failed (the reason is logged).
int RunDaemon(const CommandLine& command_line);

}  // namespace crimirror::cli
