// Copyright cri-mirror authors.
//
// The null server: a gRPC callback generic server on a unix socket that
// answers every call with one empty message (a valid, empty response of any
// protobuf type) and status OK, doing no work of its own. The "cri" figure
// measures ImageStatus to it directly and through cri-mirror: that is the
// cost of one bare gRPC hop on this machine, the floor under any proxy's
// overhead. Run in its own process (`cri-mirror-bench --null-server PATH`)
// so it shares no gRPC threads with the benchmark's clients.
#pragma once

#include <string>

namespace crimirror::bench {

// Serves on unix:`socket_path` until killed. Returns 1 if it cannot serve.
int RunNullServer(const std::string& socket_path);

}  // namespace crimirror::bench
