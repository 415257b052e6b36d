#include "relay/endpoint_walk.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "relay/digest_verifier.h"
#include "relay/http_headers.h"

namespace crimirror::relay {
namespace {

// Set by CurlUpstream (kAuthErrorHeader in relay/curl_upstream.h) on a 401
// whose challenge it could not answer, with the reason (never a secret).
constexpr char kUpstreamAuthErrorHeader[] = "X-Cri-Mirror-Auth-Error";

std::string Method(const FetchRequest& request) { return request.head ? "HEAD" : "GET"; }

std::string UpstreamUrl(const resolver::Endpoint& endpoint, const Route& route) {
  return absl::StrCat(endpoint.base_url, "/v2/", endpoint.repository,
                      route.kind == RouteKind::kManifest ? "/manifests/" : "/blobs/", route.ref);
}

// "UNAVAILABLE: connect to mirror:5000: Connection refused".
std::string Reason(const absl::Status& status) {
  return absl::StrCat(absl::StatusCodeToString(status.code()), ": ", status.message());
}

bool MayServe(const SessionState& session, const resolver::Endpoint& endpoint, const Route& route) {
  if (session.IsExcluded(endpoint.base_url)) return false;
  if (route.kind != RouteKind::kManifest) return true;  // blobs: any endpoint
  return route.ref_is_digest ? endpoint.serves_digests : endpoint.serves_tags;
}

}  // namespace

EndpointWalk::EndpointWalk(Upstream* upstream, EndpointHealth* health, WalkLimits limits)
    : upstream_(upstream), health_(health), limits_(limits) {}

absl::StatusOr<Fetched> EndpointWalk::Fetch(SessionState& session,
                                            const FetchRequest& request) const {
  const std::string what = absl::StrCat(Method(request), " ", request.route.Describe());
  std::vector<const resolver::Endpoint*> candidates;
  std::vector<std::string> hosts;
  for (const resolver::Endpoint& endpoint : session.plan().endpoints) {
    if (!MayServe(session, endpoint, request.route)) continue;
    candidates.push_back(&endpoint);
    hosts.push_back(endpoint.host);
  }
  if (candidates.empty()) {
    return absl::NotFoundError(
        absl::StrCat("relay: no endpoint of the plan may serve ", what,
                     " (all excluded for this pull or not trusted with this kind of reference)"));
  }
  // Endpoints in back-off are skipped (all of them tried, least recently
  // failed first, when every candidate is in back-off): a dead mirror costs
  // nothing while another endpoint can answer. Skips are recorded so the
  // PullImage error can say why an endpoint was not used.
  const std::vector<std::size_t> order = health_->Order(hosts);
  std::vector<std::string> reasons;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    if (std::find(order.begin(), order.end(), i) != order.end()) continue;
    const std::string reason = "skipped: in back-off after a connection failure";
    reasons.push_back(absl::StrCat(candidates[i]->base_url, ": ", reason));
    session.RecordAttempt(Attempt{candidates[i]->base_url, what, reason});
  }
  bool all_not_found = true;  // of the endpoints actually tried
  for (std::size_t i : order) {
    const resolver::Endpoint& endpoint = *candidates[i];
    absl::StatusOr<Fetched> fetched = TryEndpoint(session, request, endpoint);
    if (fetched.ok()) return fetched;
    const std::string reason(fetched.status().message());
    reasons.push_back(absl::StrCat(endpoint.base_url, ": ", reason));
    session.RecordAttempt(Attempt{endpoint.base_url, what, reason});
    if (!absl::IsNotFound(fetched.status())) all_not_found = false;
  }
  const std::string message =
      absl::StrCat("relay: ", what, " of ", request.route.name,
                   " failed on every endpoint: ", absl::StrJoin(reasons, "; "));
  return all_not_found ? absl::NotFoundError(message) : absl::UnavailableError(message);
}

// The error message of a failed try is the reason recorded on the session.
absl::StatusOr<Fetched> EndpointWalk::TryEndpoint(SessionState& session,
                                                  const FetchRequest& request,
                                                  const resolver::Endpoint& endpoint) const {
  UpstreamRequest up;
  up.method = Method(request);
  up.url = UpstreamUrl(endpoint, request.route);
  up.headers = request.forward_headers;
  up.host_settings = endpoint.host_settings;
  if (config::ConfigPtr config = session.plan().config) {
    up.host_lookup = [config](std::string_view host_port) -> std::optional<config::HostSettings> {
      const config::HostSettings* host = config->FindHost(host_port);
      return host == nullptr ? std::nullopt : std::optional<config::HostSettings>(*host);
    };
  }
  up.repository = endpoint.repository;
  if (endpoint.kind == resolver::EndpointKind::kUpstream && session.kubelet_auth()) {
    up.fallback_credentials = *session.kubelet_auth();
  }
  up.stall_timeout = limits_.stall_timeout;
  absl::StatusOr<UpstreamResponsePtr> opened = upstream_->Open(up);
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
            FirstHeaderValue((*opened)->headers(), kUpstreamAuthErrorHeader)) {
      why = absl::StrCat(": ", *reason);
    }
    return absl::PermissionDeniedError(absl::StrCat("HTTP ", status, " after authentication", why,
                                                    " (check [host] credentials for ",
                                                    endpoint.host, ")"));
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
          absl::StrCat("Docker-Content-Digest ", *announced, " does not match the request"));
    }
    return fetched;
  }
  if (absl::Status s = ReadManifest(request, fetched); !s.ok()) {
    // Wrong bytes for a digest: not trusted again during this pull.
    if (absl::IsDataLoss(s) && request.route.ref_is_digest) {
      session.ExcludeEndpoint(endpoint.base_url);
    }
    return s;
  }
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
  } else {
    fetched.computed_digest = DigestVerifier::Sha256(body);
  }
  fetched.manifest_body = std::move(body);
  return absl::OkStatus();
}

BlobPump::BlobPump(Fetched fetched, SessionStatePtr session, EndpointHealth* health,
                   std::string request_description, std::optional<std::string> digest)
    : fetched_(std::move(fetched)),
      session_(std::move(session)),
      health_(health),
      request_description_(std::move(request_description)) {
  if (std::optional<std::size_t> length = fetched_.response->content_length()) {
    expected_length_ = *length;
  }
  if (digest && session_ && fetched_.response->status() == 200) {
    session_->RecordBlobSource(*std::move(digest), fetched_.endpoint.base_url);
  }
}

absl::StatusOr<std::size_t> BlobPump::Fill(char* buf, std::size_t max) {
  std::size_t want = max;
  if (expected_length_) {
    want = static_cast<std::size_t>(std::min<std::uint64_t>(want, *expected_length_ - delivered_));
    if (want == 0) return 0;  // everything delivered
  }
  absl::StatusOr<std::size_t> n = fetched_.response->Read(buf, want);
  if (!n.ok()) {
    return Fail(
        absl::Status(n.status().code(), absl::StrCat("reading body: ", Reason(n.status()))));
  }
  if (*n == 0) {
    if (absl::Status s = CheckEnd(); !s.ok()) return s;
    return 0;
  }
  *n = std::min(*n, want);
  delivered_ += *n;
  return *n;
}

absl::Status BlobPump::CheckEnd() {
  if (expected_length_ && delivered_ < *expected_length_) {
    return Fail(absl::DataLossError(
        absl::StrCat("body ended after ", delivered_, " of ", *expected_length_, " bytes")));
  }
  return absl::OkStatus();
}

absl::Status BlobPump::Fail(absl::Status status) {
  if (EndpointHealth::IsConnectionFailure(status)) health_->RecordFailure(fetched_.endpoint.host);
  if (session_) {
    session_->RecordAttempt(
        Attempt{fetched_.endpoint.base_url, request_description_, std::string(status.message())});
  }
  return status;
}

}  // namespace crimirror::relay
