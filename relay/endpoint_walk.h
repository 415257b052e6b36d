// The endpoint walk: for one relay request, try the session plan's endpoints
// in order until one serves it (issue 4 point 3), recording why each other
// endpoint failed on the session and feeding connection failures to
// EndpointHealth. Independent of the HTTP server so it can be unit-tested
// with a fake Upstream; relay_server.cc turns its result into a response.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "relay/endpoint_health.h"
#include "relay/route.h"
#include "relay/session_store.h"
#include "relay/upstream.h"
#include "resolver/endpoint_plan.h"

namespace crimirror::relay {

struct WalkLimits {
  // Manifests are read whole (to verify digests); larger ones fail the
  // endpoint. containerd itself caps manifests at 4 MiB.
  std::size_t max_manifest_bytes = 4 << 20;
  // Passed to UpstreamRequest::stall_timeout.
  absl::Duration stall_timeout = absl::Seconds(30);
};

// A request to walk: the parsed route, HEAD or GET, and the client headers
// to forward (Accept, all values, and Range).
struct FetchRequest {
  Route route;
  bool head = false;
  Headers forward_headers;
};

// The winning endpoint's response.
struct Fetched {
  resolver::Endpoint endpoint;
  UpstreamResponsePtr response;
  // GET manifests: the whole body, already read (and verified when fetched
  // by digest); `response` has no body left.
  std::optional<std::string> manifest_body;
  // Docker-Content-Digest to send when the upstream sent none (GET by tag:
  // sha256 of the body; by digest: the digest).
  std::optional<std::string> computed_digest;
};

// Stateless apart from the shared Upstream and EndpointHealth; thread-safe.
class EndpointWalk {
 public:
  // `upstream` and `health` must outlive the walk.
  EndpointWalk(Upstream* upstream, EndpointHealth* health, WalkLimits limits);

  // Walks `session`'s plan for `request`. Skipped: endpoints excluded on
  // the session, endpoints not trusted with this kind of manifest reference
  // (serves_tags/serves_digests) and endpoints in back-off unless all are
  // (demoted endpoints, SessionState::DemoteEndpoint, go after the others)
  // (back-off skips are recorded as attempts). 200/206 wins. A manifest GET
  // is read whole; by digest it is hashed, and an endpoint whose bytes do
  // not match is failed over and excluded for the rest of the session
  // (SessionState::ExcludeEndpoint). Errors: NotFound when every endpoint
  // tried answered 404 or none may serve the request (-> HTTP 404);
  // Unavailable otherwise (-> HTTP 502). Messages list each endpoint and
  // reason, never a secret. Blocks on Upstream::Open.
  absl::StatusOr<Fetched> Fetch(SessionState& session, const FetchRequest& request) const;

  // One endpoint of Fetch's walk: `request` sent to `endpoint` alone (for
  // BlobPump's Range resume). Same answers and records as one step of
  // Fetch, without the skips; the error message is the endpoint's reason.
  absl::StatusOr<Fetched> FetchFrom(SessionState& session, const FetchRequest& request,
                                    const resolver::Endpoint& endpoint) const;

 private:
  absl::StatusOr<Fetched> TryEndpoint(SessionState& session, const FetchRequest& request,
                                      const resolver::Endpoint& endpoint) const;
  absl::Status ReadManifest(const FetchRequest& request, Fetched& fetched) const;

  Upstream* const upstream_;
  EndpointHealth* const health_;
  const WalkLimits limits_;
};

}  // namespace crimirror::relay
