#include "relay/endpoint_walk.h"

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "log/echo.h"
#include "log/log.h"
#include "metrics/metrics.h"
#include "relay/digest_verifier.h"
#include "relay/hedged_fetch.h"
#include "relay/http_headers.h"

namespace crimirror::relay {
namespace {

std::string Method(const FetchRequest& request) { return request.head ? "HEAD" : "GET"; }

std::string UpstreamUrl(const resolver::Endpoint& endpoint, const Route& route) {
  return absl::StrCat(endpoint.base_url, "/v2/", endpoint.repository,
                      route.kind == RouteKind::kManifest ? "/manifests/" : "/blobs/", route.ref);
}

// "UNAVAILABLE: connect to mirror:5000: Connection refused".
std::string Reason(const absl::Status& status) {
  return absl::StrCat(absl::StatusCodeToString(status.code()), ": ", status.message());
}

// The serial walk (blob GETs, single endpoints): one attempt at a time, on
// the caller's thread, until one succeeds.
HedgeOutcome RunSerially(const std::vector<HedgedAttempt>& attempts) {
  HedgeOutcome outcome;
  for (std::size_t i = 0; i < attempts.size(); ++i) {
    ++outcome.started;
    absl::StatusOr<Fetched> fetched = attempts[i].run(nullptr);
    if (fetched.ok()) {
      outcome.winner = i;
      outcome.fetched = *std::move(fetched);
      break;
    }
    outcome.failures.emplace_back(i, fetched.status());
  }
  return outcome;
}

// Endpoints that lost a hedged race: demoted for the rest of the pull, and
// recorded so that a failed pull can say why they were not used. One that
// lost to an endpoint behind it in the walk was hedged past: it counts as a
// response timeout in EndpointHealth, so later pulls skip it during its
// back-off instead of paying hedge_after again each (a cancelled request
// never reaches its own timeout to record one).
void RecordLosers(SessionState& session, EndpointHealth& health, const std::string& what,
                  const std::vector<const resolver::Endpoint*>& order,
                  const HedgeOutcome& outcome) {
  const resolver::Endpoint& winner = *order[*outcome.winner];
  for (std::size_t index : outcome.cancelled) {
    const resolver::Endpoint& loser = *order[index];
    session.DemoteEndpoint(loser.base_url);
    if (index < *outcome.winner) health.RecordFailure(loser.host);
    const std::string reason =
        absl::StrCat("hedged: ", winner.base_url, " answered first; cancelled and demoted for "
                     "this pull");
    session.RecordAttempt(Attempt{loser.base_url, what, reason});
    log::Debug("relay: session ", session.id(), ": ", what, ": ", loser.base_url, ": ", reason);
  }
}

bool MayServe(const SessionState& session, const resolver::Endpoint& endpoint,
              const FetchRequest& request) {
  const Route& route = request.route;
  if (session.IsExcluded(endpoint.base_url)) return false;
  if (request.trust == FetchRequest::Trust::kTrustedOnly && !endpoint.trusted) return false;
  if (request.trust == FetchRequest::Trust::kUntrustedOnly && endpoint.trusted) return false;
  if (route.kind != RouteKind::kManifest) return true;  // blobs: any endpoint
  return route.ref_is_digest ? endpoint.serves_digests : endpoint.serves_tags;
}

}  // namespace

EndpointWalk::EndpointWalk(Upstream* upstream, EndpointHealth* health, WalkLimits limits)
    : upstream_(upstream),
      health_(health),
      limits_(limits),
      hedger_(std::make_unique<HedgedFetcher>(limits.max_hedged_in_flight)) {}

EndpointWalk::~EndpointWalk() = default;

std::vector<const resolver::Endpoint*> EndpointWalk::Candidates(
    SessionState& session, const FetchRequest& request, const std::string& what,
    std::vector<std::string>* reasons) const {
  std::vector<const resolver::Endpoint*> candidates;
  for (const resolver::Endpoint& endpoint : session.plan().endpoints) {
    if (MayServe(session, endpoint, request)) candidates.push_back(&endpoint);
  }
  // A hedging loser (or an endpoint that broke a blob) goes behind the
  // others for the rest of the pull: blobs go to the winner first.
  std::stable_partition(candidates.begin(), candidates.end(), [&](const resolver::Endpoint* e) {
    return !session.IsDemoted(e->base_url);
  });
  std::vector<std::string> hosts;
  for (const resolver::Endpoint* endpoint : candidates) hosts.push_back(endpoint->host);
  // Endpoints in back-off are skipped (all of them tried, least recently
  // failed first, when every candidate is in back-off): a dead mirror costs
  // nothing while another endpoint can answer. Skips are recorded so the
  // PullImage error can say why an endpoint was not used.
  const std::vector<std::size_t> order = health_->Order(hosts);
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    if (std::find(order.begin(), order.end(), i) != order.end()) continue;
    const std::string reason = "skipped: in back-off after a connection failure";
    reasons->push_back(absl::StrCat(candidates[i]->base_url, ": ", reason));
    session.RecordAttempt(Attempt{candidates[i]->base_url, what, reason});
  }
  std::vector<const resolver::Endpoint*> ordered;
  for (std::size_t i : order) ordered.push_back(candidates[i]);
  return ordered;
}

absl::Duration EndpointWalk::HedgeAfter(const resolver::Endpoint& endpoint) const {
  if (endpoint.host_settings && endpoint.host_settings->hedge_after) {
    return *endpoint.host_settings->hedge_after;
  }
  return limits_.hedge_after;
}

absl::StatusOr<Fetched> EndpointWalk::Fetch(SessionState& session,
                                            const FetchRequest& request) const {
  const std::string what = absl::StrCat(Method(request), " ", request.route.Describe());
  std::vector<std::string> reasons;
  const std::vector<const resolver::Endpoint*> order =
      Candidates(session, request, what, &reasons);
  if (order.empty()) {
    return absl::NotFoundError(
        absl::StrCat("relay: no endpoint of the plan may serve ", what,
                     " (all excluded for this pull or not trusted with this kind of reference)"));
  }
  // Each attempt owns copies of what it needs: a hedged loser may outlive
  // this call (and the session), never the walk.
  std::vector<HedgedAttempt> attempts;
  for (const resolver::Endpoint* endpoint : order) {
    HedgedAttempt attempt;
    // Credential sources may run a helper: asked inside the attempt, only
    // for endpoints actually tried (issue 12).
    attempt.run = [this, request, endpoint = *endpoint, credentials = session.credentials(),
                   up = BuildRequest(session, request, *endpoint)](CancelFlag cancel) mutable {
      up.cancel = std::move(cancel);
      credentials->Apply(endpoint, up);
      return TryEndpoint(request, endpoint, up);
    };
    attempt.hedge_after = HedgeAfter(*endpoint);
    attempts.push_back(std::move(attempt));
  }
  // A blob GET's body streams after the walk: it is never hedged.
  const bool hedge =
      attempts.size() > 1 && (request.head || request.route.kind == RouteKind::kManifest);
  HedgeOutcome outcome = hedge ? hedger_->Run(std::move(attempts)) : RunSerially(attempts);
  bool all_not_found = true;  // of the endpoints actually tried
  for (const auto& [index, status] : outcome.failures) {
    const resolver::Endpoint& endpoint = *order[index];
    // Wrong bytes for a digest: not trusted again during this pull.
    if (absl::IsDataLoss(status) && request.route.kind == RouteKind::kManifest &&
        request.route.ref_is_digest && !request.head) {
      session.ExcludeEndpoint(endpoint.base_url);
    }
    const std::string reason(status.message());
    static metrics::Family& fallbacks = metrics::Registry::Default().Counter(
        "cri_mirror_fallbacks_total",
        "Requests an endpoint failed, moving the walk to the next endpoint (or ending it), "
        "by endpoint and reason (gRPC code of the failure).",
        {"endpoint", "reason"});
    fallbacks.Add({endpoint.base_url, absl::AsciiStrToLower(absl::StatusCodeToString(status.code()))});
    reasons.push_back(absl::StrCat(endpoint.base_url, ": ", reason));
    session.RecordAttempt(Attempt{endpoint.base_url, what, reason});
    if (!absl::IsNotFound(status)) all_not_found = false;
  }
  if (outcome.winner) {
    RecordLosers(session, *health_, what, order, outcome);
    return *std::move(outcome.fetched);
  }
  const std::string message =
      absl::StrCat("relay: ", what, " of ", request.route.name,
                   " failed on every endpoint: ", absl::StrJoin(reasons, "; "));
  return all_not_found ? absl::NotFoundError(message) : absl::UnavailableError(message);
}

UpstreamRequest EndpointWalk::BuildRequest(const SessionState& session,
                                           const FetchRequest& request,
                                           const resolver::Endpoint& endpoint) const {
  UpstreamRequest up;
  up.method = Method(request);
  up.url = UpstreamUrl(endpoint, request.route);
  up.headers = request.forward_headers;
  up.host_settings = endpoint.host_settings;
  up.LookUpHostsIn(session.plan().config);
  up.repository = endpoint.repository;
  up.stall_timeout = limits_.stall_timeout;
  up.deadline = request.deadline;
  return up;
}

absl::StatusOr<Fetched> EndpointWalk::FetchFrom(SessionState& session,
                                                const FetchRequest& request,
                                                const resolver::Endpoint& endpoint) const {
  UpstreamRequest up = BuildRequest(session, request, endpoint);
  session.credentials()->Apply(endpoint, up);
  return TryEndpoint(request, endpoint, up);
}

// The error message of a failed try is the reason recorded on the session.
absl::StatusOr<Fetched> EndpointWalk::TryEndpoint(const FetchRequest& request,
                                                  const resolver::Endpoint& endpoint,
                                                  const UpstreamRequest& up) const {
  absl::StatusOr<UpstreamResponsePtr> opened = upstream_->Open(up);
  static metrics::Family& requests = metrics::Registry::Default().Counter(
      "cri_mirror_relay_requests_total",
      "Requests the relay sent to endpoints, by endpoint, kind and HTTP status class.",
      {"endpoint", "kind", "class"});
  requests.Add({endpoint.base_url, request.route.kind == RouteKind::kManifest ? "manifest" : "blob",
                metrics::StatusClass(opened.ok() ? (*opened)->status() : 0)});
  if (!opened.ok()) {
    if (EndpointHealth::IsConnectionFailure(opened.status())) health_->RecordFailure(endpoint.host);
    return absl::Status(opened.status().code(), Reason(opened.status()));
  }
  health_->RecordSuccess(endpoint.host);
  const int status = (*opened)->status();
  const bool is_manifest = request.route.kind == RouteKind::kManifest;
  if (status == 404) return absl::NotFoundError("HTTP 404");
  if (status == 401 || status == 403) {
    std::string why;
    if (std::optional<std::string> reason =
            FirstHeaderValue((*opened)->headers(), kAuthErrorHeader)) {
      why = absl::StrCat(": ", log::Excerpt(*reason));  // registry-sent (issue 10 defect 11)
    }
    return absl::PermissionDeniedError(absl::StrCat("HTTP ", status, " after authentication", why,
                                                    " (check the credentials for ", endpoint.host,
                                                    ": kubelet AuthConfig, [host] table or "
                                                    "[credentials] sources)"));
  }
  if (status != 200 && (is_manifest || status != 206)) {
    return absl::UnavailableError(absl::StrCat("HTTP ", status));
  }
  Fetched fetched{endpoint, *std::move(opened), std::nullopt, std::nullopt};
  if (!is_manifest) return fetched;
  if (request.head) {
    // No body to hash: at least refuse a mirror that announces another digest.
    std::optional<std::string> announced =
        FirstHeaderValue(fetched.response->headers(), "Docker-Content-Digest");
    if (request.route.ref_is_digest && announced && *announced != request.route.ref) {
      return absl::DataLossError(
          absl::StrCat("Docker-Content-Digest ", log::Excerpt(*announced),
                       " does not match the request"));
    }
    return fetched;
  }
  if (absl::Status s = ReadManifest(request, fetched); !s.ok()) return s;
  return fetched;
}

absl::Status EndpointWalk::ReadManifest(const FetchRequest& request, Fetched& fetched) const {
  std::string body;
  char buf[16 * 1024];
  while (true) {
    absl::StatusOr<std::size_t> n = fetched.response->Read(buf, sizeof(buf));
    if (!n.ok()) {
      if (EndpointHealth::IsConnectionFailure(n.status())) {
        health_->RecordFailure(fetched.endpoint.host);
      }
      return absl::Status(n.status().code(),
                          absl::StrCat("reading manifest body: ", Reason(n.status())));
    }
    if (*n == 0) break;
    body.append(buf, *n);
    if (body.size() > limits_.max_manifest_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("manifest larger than ", limits_.max_manifest_bytes, " bytes"));
    }
  }
  std::optional<std::size_t> length = fetched.response->content_length();
  if (length && *length != body.size()) {
    return absl::DataLossError(
        absl::StrCat("manifest body has ", body.size(), " bytes, Content-Length said ", *length));
  }
  if (request.route.ref_is_digest) {
    absl::StatusOr<std::unique_ptr<DigestVerifier>> verifier =
        DigestVerifier::Create(request.route.ref);
    if (!verifier.ok()) return verifier.status();
    (*verifier)->Update(body);
    if (!(*verifier)->Matches()) {
      return absl::DataLossError(
          absl::StrCat("manifest digest mismatch: served bytes hash to ", (*verifier)->actual()));
    }
    fetched.computed_digest = request.route.ref;
  } else if (std::optional<std::string> announced =
                 FirstHeaderValue(fetched.response->headers(), "Docker-Content-Digest")) {
    // By tag the relay passes the upstream's digest on (containerd trusts
    // it to name the image): it must be the digest of the bytes served
    // (issue 10 defect 9), else this endpoint fails over.
    absl::StatusOr<std::unique_ptr<DigestVerifier>> verifier = DigestVerifier::Create(*announced);
    if (!verifier.ok()) {
      return absl::DataLossError(absl::StrCat("Docker-Content-Digest ", log::Excerpt(*announced),
                                              " is not a digest the relay can check"));
    }
    (*verifier)->Update(body);
    if (!(*verifier)->Matches()) {
      return absl::DataLossError(absl::StrCat("Docker-Content-Digest ", *announced,
                                              " does not match the manifest body, which hashes to ",
                                              (*verifier)->actual()));
    }
    fetched.computed_digest = *announced;
  } else {
    fetched.computed_digest = DigestVerifier::Sha256(body);
  }
  fetched.manifest_body = std::move(body);
  return absl::OkStatus();
}

}  // namespace crimirror::relay
