// The shared channel to the backend CRI runtime (containerd). One channel for
// the whole process: gRPC multiplexes calls over it and reconnects by itself
// when containerd restarts.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <grpcpp/channel.h>

#include "absl/status/statusor.h"

namespace crimirror::plugin {

// Checks that `target` is "unix:///absolute/path" (the only transport a
// node-local runtime offers). InvalidArgument naming the value otherwise.
absl::Status ValidateUnixTarget(const std::string& flag_name, const std::string& target);

// Returns the absolute socket path of a valid "unix:///..." target.
std::string UnixSocketPath(const std::string& target);

// Creates the backend channel. Reconnect back-off is capped at one second so
// that calls succeed again quickly once containerd is back; calls do not wait
// for readiness (fail fast with UNAVAILABLE while the backend is down).
// Message size limits are raised to 64 MiB: ListImages on a busy node exceeds
// gRPC's 4 MiB default receive limit.
absl::StatusOr<std::shared_ptr<grpc::Channel>> CreateBackendChannel(const std::string& target);

}  // namespace crimirror::plugin
