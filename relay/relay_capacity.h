// Relay capacity (issue 10 defect 6): how many client connections the relay
// serves and how long an idle one keeps its slot.
//
// Any local process can connect to the relay, so a connection must not be a
// resource an idle client can hold: with 128 slots and a 3-minute timeout for
// everyone, 128 idle sockets starved every pull. Kept: libmicrohttpd's one
// thread per connection, because the request handler blocks in the endpoint
// walk and the stream reader blocks in UpstreamResponse::Read; its
// event-driven mode would need suspend/resume plus worker threads, a rewrite
// of the streaming primitive (relay_server.cc), for a saving that does not
// matter at this scale. Changed:
//   1. a connection with no request in progress may stay silent only
//      RelayLimits::idle_timeout (5 s): before its first request, and
//      again after each response (issue 15: containerd leaves every pull's
//      keep-alive connections idle for 30 s). The IdleReaper closes it
//      (relay/idle_reaper.h: libmicrohttpd's own timeout busy-waits through
//      its last second). A request that presents a valid session credential
//      has libmicrohttpd's connection_timeout (3 min) while it is served;
//   2. 1024 slots instead of 128, with the open-file limit raised to fit
//      (FitConnectionsToFileLimit).
// Measured (relay_capacity_test, 2 vCPUs): 400 idle connections cost 3.9 MiB
// RSS in all, about 10 KiB each (a sleeping thread; the 64 KiB per-connection
// pool is not touched before a request), and open in 0.6 s. Holding the relay
// now takes more than 1024 connections re-opened every 5 s; 400 held idle
// connections leave pulls unaffected (tests/integration/hedging_capacity_test.cc).
#pragma once

namespace crimirror::relay {

// Raises the soft open-file limit (systemd's default is 1024) towards the
// hard one so that `wanted` relay connections fit beside 1024 descriptors
// for upstream connections, the CRI sockets and files. Returns `wanted`, or
// fewer (at least 1, with a warning naming LimitNOFILE) when the hard limit
// is too low. Process-wide; call once, at relay start.
unsigned FitConnectionsToFileLimit(unsigned wanted);

}  // namespace crimirror::relay
