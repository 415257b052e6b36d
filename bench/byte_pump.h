// Copyright cri-mirror authors.
//
// The byte pump: the cheapest proxy there can be. It accepts on one unix
// socket, connects each accepted connection to the backend socket and
// copies bytes both ways (one blocking thread per direction), without
// looking at them: no HTTP/2, no gRPC, no routing. The "cri" figure
// measures ImageStatus to containerd directly and through the pump: that
// is what any user-space hop costs on this machine (two extra socket
// copies and wake-ups per message), the floor under every proxy design,
// gRPC or not. Run in its own process (`cri-mirror-bench --byte-pump
// LISTEN BACKEND`) so it shares no threads with the benchmark's clients.
#pragma once

#include <string>

namespace crimirror::bench {

// Serves on `listen_path`, pumping to `backend_path`, until killed.
// Returns 1 if it cannot listen.
int RunBytePump(const std::string& listen_path, const std::string& backend_path);

}  // namespace crimirror::bench
