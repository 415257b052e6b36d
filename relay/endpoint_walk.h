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
#include <vector>

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
  // Manifest GET/HEAD and blob HEAD requests: an endpoint that has not
  // answered within this long gets the next endpoint raced beside it
  // (relay/hedged_fetch.h). `[server] hedge_after`; a [host] table's own
  // `hedge_after` wins for its endpoints. Zero: no hedging.
  absl::Duration hedge_after = absl::Milliseconds(500);
  // At most this many endpoints answer one hedged request at once.
  std::size_t max_hedged_in_flight = 3;
};

// A request to walk: the parsed route, HEAD or GET, and the client headers
// to forward (Accept, all values, and Range).
struct FetchRequest {
  Route route;
  bool head = false;
  Headers forward_headers;
  // Which endpoints may answer, by resolver::Endpoint::trusted (the tag
  // resolution of issue 14, relay/tag_resolution.h); kAny for the rest.
  enum class Trust { kAny, kTrustedOnly, kUntrustedOnly };
  Trust trust = Trust::kAny;
  // UpstreamRequest::deadline of every attempt (resolve_timeout).
  absl::Time deadline = absl::InfiniteFuture();
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

class HedgedFetcher;

// Stateless apart from the shared Upstream and EndpointHealth; thread-safe.
class EndpointWalk {
 public:
  // `upstream` and `health` must outlive the walk.
  EndpointWalk(Upstream* upstream, EndpointHealth* health, WalkLimits limits);
  // Waits for hedged attempts that lost a race and still run (see
  // HedgedFetcher); bounded by the upstream's cancellation or timeouts.
  ~EndpointWalk();

  // Walks `session`'s plan for `request`. Skipped: endpoints excluded on
  // the session, endpoints not trusted with this kind of manifest reference
  // (serves_tags/serves_digests) and endpoints in back-off unless all are
  // (back-off skips are recorded as attempts); endpoints demoted on the
  // session go last. 200/206 wins. Manifest GET/HEAD and blob HEAD are
  // hedged (WalkLimits::hedge_after): the first valid answer wins, the
  // endpoints still pending are cancelled and demoted for the rest of the
  // pull (recorded as attempts), and those ahead of the winner count as a
  // connection failure in EndpointHealth (they were hedged past); blob GETs
  // walk one endpoint at a time and
  // are never hedged (their body streams after the walk). A manifest GET
  // is read whole; by digest it is hashed, and an endpoint whose bytes do
  // not match is failed over and excluded for the rest of the session
  // (SessionState::ExcludeEndpoint). Errors: NotFound when every endpoint
  // tried answered 404 or none may serve the request (-> HTTP 404);
  // Unavailable otherwise (-> HTTP 502). Messages list each endpoint and
  // reason, never a secret. Blocks on Upstream::Open.
  absl::StatusOr<Fetched> Fetch(SessionState& session, const FetchRequest& request) const;

  // One endpoint of Fetch's walk: `request` sent to `endpoint` alone (for
  // BlobPump's Range resume). Same answers as one step of Fetch, without
  // the skips and hedging; the error message is the endpoint's reason.
  absl::StatusOr<Fetched> FetchFrom(SessionState& session, const FetchRequest& request,
                                    const resolver::Endpoint& endpoint) const;

 private:
  // Candidates of `session`'s plan for `request` in walk order; records
  // back-off skips in `reasons` and on the session.
  std::vector<const resolver::Endpoint*> Candidates(SessionState& session,
                                                    const FetchRequest& request,
                                                    const std::string& what,
                                                    std::vector<std::string>* reasons) const;
  UpstreamRequest BuildRequest(const SessionState& session, const FetchRequest& request,
                               const resolver::Endpoint& endpoint) const;
  // Thread-safe and independent of the session: runs on hedging threads.
  absl::StatusOr<Fetched> TryEndpoint(const FetchRequest& request,
                                      const resolver::Endpoint& endpoint,
                                      const UpstreamRequest& up) const;
  absl::Status ReadManifest(const FetchRequest& request, Fetched& fetched) const;
  absl::Duration HedgeAfter(const resolver::Endpoint& endpoint) const;

  Upstream* const upstream_;
  EndpointHealth* const health_;
  const WalkLimits limits_;
  // Declared last: destroyed (waiting for its threads) before the rest.
  const std::unique_ptr<HedgedFetcher> hedger_;
};

}  // namespace crimirror::relay
