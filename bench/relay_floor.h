// Copyright cri-mirror authors.
//
// The relay floor (issue 15, CPU per relayed GiB): what relaying bytes over
// loopback TCP costs the relaying thread, for the cheapest relays there can
// be. A source thread sends `bytes` to a relay thread, which passes them on
// to a sink thread, all on 127.0.0.1 in this process; the relay thread's own
// CPU time (RUSAGE_THREAD) is the figure. Two relays:
//   kCopy:   recv(2) into a user-space buffer, send(2) from it. Every relay
//            that holds the bytes in user space (cri-mirror's: libcurl in,
//            libmicrohttpd out) pays at least this: two copies and the TCP
//            work of both sockets, no parsing, no polling.
//   kSplice: splice(2) from the socket into a pipe and from the pipe into
//            the other socket: the kernel moves page references instead of
//            copying. Only a relay that owns both sockets and sends the body
//            as it arrives (no TLS, no chunked decoding) can do this.
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "bench/proc_stats.h"

namespace crimirror::bench {

enum class FloorRelay { kCopy, kSplice };

// CPU time of the relay thread for relaying `bytes` in pieces of at most
// `chunk` bytes. Unavailable when a socket, pipe or thread cannot be made or
// the transfer ends short.
absl::StatusOr<CpuTime> RelayFloorCpu(FloorRelay relay, std::uint64_t bytes, std::size_t chunk);

}  // namespace crimirror::bench
