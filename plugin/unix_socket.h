// Preparing the path of cri-mirror's listening unix socket: parent directory,
// stale sockets, permissions.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace crimirror::plugin {

// Makes `socket_path` ready to bind: creates missing parent directories
// (mode 0755), removes a stale socket left by a dead process, and refuses
// (FailedPrecondition naming the path) when a live process still accepts
// connections on it or when the path is something other than a socket.
absl::Status PrepareSocketPath(const std::string& socket_path);

// Sets the socket's mode (0660: the kubelet runs as root; a group may be
// granted access by the operator).
absl::Status SetSocketMode(const std::string& socket_path, unsigned mode);

// True when something accepts connections on `socket_path` now.
bool SocketAcceptsConnections(const std::string& socket_path);

}  // namespace crimirror::plugin
