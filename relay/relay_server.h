// RelayServer: the loopback registry that containerd pulls from. It serves
// the read side of the OCI distribution API (GET /v2/, HEAD|GET manifests
// and blobs) for authenticated pull sessions (relay/session_store.h) and
// answers each request from the first endpoint of the session's plan that
// can serve it (relay/endpoint_walk.h), streaming blobs with back-pressure.
// Built on libmicrohttpd with one thread per connection. Binds loopback only.
// A connection with no request in progress is dropped after
// RelayLimits::idle_timeout of silence (before its first request and
// between requests; relay/idle_reaper.h), so idle local connections cannot
// starve pull sessions (issue 10 defect 6) and the keep-alive connections
// containerd leaves behind after every pull do not hold threads and memory
// (issue 15, soak).
//
// Responses:
//   GET /v2/                   200 + Docker-Distribution-API-Version for a
//                              valid session, else 401 Basic challenge.
//   HEAD|GET .../manifests/<r> upstream Content-Type, Docker-Content-Digest,
//                              Content-Length; 404 when every endpoint said
//                              404; 502 otherwise; OCI JSON error bodies.
//   HEAD|GET .../blobs/<d>     streamed; Range forwarded, 206 and
//                              Content-Range passed through.
//   no/expired credential      401 + WWW-Authenticate: Basic realm="cri-mirror"
//   name not the session's     404 NAME_UNKNOWN (name = RelayRepository(),
//                              relay/route.h); a tag other than the
//                              session's: 404 MANIFEST_UNKNOWN.
//   other paths                404; methods other than GET/HEAD: 405;
//   malformed paths            ('%', '..', bad names/digests, over 2 KiB),
//                              headers over RelayLimits::max_header_bytes,
//                              a body on GET/HEAD: 400. A request too big
//                              for RelayLimits::connection_memory itself
//                              never reaches cri-mirror: libmicrohttpd
//                              answers 431 (a URL beyond it: 414).
// Every response carries Docker-Distribution-API-Version: registry/2.0.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "relay/endpoint_health.h"
#include "relay/endpoint_walk.h"
#include "relay/idle_reaper.h"
#include "relay/session_store.h"
#include "relay/tag_history.h"
#include "relay/upstream.h"

struct MHD_Daemon;
struct MHD_Connection;

namespace crimirror::relay {

// Resource limits of the relay's HTTP server.
struct RelayLimits {
  // Concurrent client connections (each holds one mostly idle thread; see
  // "Capacity" in relay_server.cc). Capped by the open-file limit, which
  // Create() raises towards its hard limit when needed.
  unsigned max_connections = 1024;
  // While a request that presented a valid session credential is in
  // progress (its response still being sent), the connection may be silent
  // this long (libmicrohttpd's timeout), e.g. when containerd stops reading
  // for a while. Longer than
  // the upstream stall timeout so a slow upstream ends with its own clear
  // error first.
  absl::Duration connection_timeout = absl::Minutes(3);
  // A connection with no request in progress (nothing sent yet, a response
  // finished, or its last request had no valid credential) is closed by the
  // IdleReaper after this long idle: local processes cannot keep the slots of pull sessions,
  // and keep-alive connections do not outlive their use. containerd's CRI
  // makes a new HTTP transport for every pull and reuses a connection only
  // within that pull, back to back (milliseconds between requests), then
  // leaves it idle for its own 30 s IdleConnTimeout; each idle connection
  // holds a thread and its touched pool (about 100 KiB). With a 3-minute
  // keep-alive the soak (8 pulls every 2 s) held 300+ threads and 39 MiB
  // more anonymous memory after 3 minutes than after its first round.
  absl::Duration idle_timeout = absl::Seconds(5);
  // Per-connection memory for the request line, headers and the response
  // write buffer (MHD_OPTION_CONNECTION_MEMORY_LIMIT). Requests whose
  // headers do not fit are refused by libmicrohttpd (431/414).
  std::size_t connection_memory = 64 * 1024;
  // Request headers (names and values) larger than this get 400. containerd
  // sends well under 2 KiB; the limit sits below connection_memory so that
  // oversized requests get the relay's own clear error.
  std::size_t max_header_bytes = 16 * 1024;
  // Largest chunk handed from the upstream to the client at once. 256 KiB
  // (with CurlUpstream's 256 KiB buffer) brought a 512 MiB relay pull from
  // 1.21x to 0.94-0.99x of a direct pull (cri-mirror-bench --only pull); 8
  // parallel pulls of 256 MiB peaked at 28 MiB RSS.
  std::size_t stream_chunk = 256 * 1024;
  WalkLimits walk;
};

class RelayServer {
 public:
  struct Options {
    // "127.0.0.1:PORT", "[::1]:PORT" or "localhost:PORT"; port 0 picks a
    // free port. Any other address is refused.
    std::string listen = "127.0.0.1:0";
    // Not owned; must outlive the server.
    Upstream* upstream = nullptr;
    SessionStore* sessions = nullptr;
    EndpointHealth* health = nullptr;
    // The last_known digests (relay/tag_history.h); null: none kept, and a
    // rule with last_known = true refuses every mirror-only tag answer.
    TagHistory* tag_history = nullptr;
    RelayLimits limits;
  };

  // Starts serving. InvalidArgument for a malformed or non-loopback `listen`
  // or a null dependency; Unavailable when the address cannot be bound
  // (e.g. the port is in use).
  static absl::StatusOr<std::unique_ptr<RelayServer>> Create(Options options);

  // Stops (see Stop()).
  ~RelayServer();
  RelayServer(const RelayServer&) = delete;
  RelayServer& operator=(const RelayServer&) = delete;

  // The bound port (the chosen one when `listen` had port 0).
  std::uint16_t port() const { return port_; }
  // "127.0.0.1:PORT" / "[::1]:PORT": the registry host cri-mirror puts in
  // front of the reference it asks containerd to pull.
  const std::string& address() const { return address_; }

  // Stops accepting, ends streams between chunks and waits for connection
  // threads to finish (a thread blocked in an upstream read returns when
  // that read does: bounded by the upstream stall timeout). Idempotent;
  // not to be called from a request.
  void Stop();

 private:
  explicit RelayServer(Options options);

  Options options_;
  EndpointWalk walk_;
  std::atomic<bool> stopping_{false};
  // Closes idle connections (declared before daemon_: it outlives the
  // daemon's connection threads, which call it).
  std::unique_ptr<IdleReaper> reaper_;
  MHD_Daemon* daemon_ = nullptr;
  std::uint16_t port_ = 0;
  std::string address_;

  friend struct RelayServerAccess;
};

}  // namespace crimirror::relay
