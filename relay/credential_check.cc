#include "relay/credential_check.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "log/echo.h"
#include "relay/http_headers.h"

namespace crimirror::relay {
namespace {

// Every manifest type containerd accepts, so a registry answers the HEAD as
// it would answer the pull (an OCI index is not a 404).
constexpr char kManifestTypes[] =
    "application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

// The upstream's [host] table without its own credentials: TLS settings
// and the client identity stay, timeouts are bounded by `timeout`.
config::HostSettings TrustOnly(const resolver::Endpoint& endpoint, absl::Duration timeout) {
  config::HostSettings host;
  if (endpoint.host_settings) host = *endpoint.host_settings;
  host.host = endpoint.host;
  host.username.clear();
  host.password = config::Secret();
  host.password_file.clear();
  host.auth = config::Secret();
  host.identity_token = config::Secret();
  host.connect_timeout = std::min(host.connect_timeout, timeout);
  host.response_timeout = std::min(host.response_timeout, timeout);
  return host;
}

}  // namespace

CheckResult KubeletCredentialCheck::Check(const resolver::EndpointPlan& plan,
                                          const KubeletAuth& kubelet,
                                          absl::Duration timeout) const {
  CheckResult result;
  const auto upstream = std::find_if(
      plan.endpoints.begin(), plan.endpoints.end(),
      [](const resolver::Endpoint& e) { return e.kind == resolver::EndpointKind::kUpstream; });
  if (upstream == plan.endpoints.end()) {
    result.detail = "the rule has no upstream endpoint";
    return result;
  }
  UpstreamRequest request;
  request.method = "HEAD";
  request.url = absl::StrCat(upstream->base_url, "/v2/", upstream->repository, "/manifests/",
                             plan.reference.FetchRef());
  request.headers = {{"Accept", kManifestTypes}};
  request.host_settings = TrustOnly(*upstream, timeout);
  request.LookUpHostsIn(plan.config);
  request.repository = upstream->repository;
  request.kubelet_credentials = kubelet.credentials;
  request.stall_timeout = timeout;
  absl::StatusOr<UpstreamResponsePtr> opened = upstream_->Open(request);
  if (!opened.ok()) {
    result.verdict = CheckVerdict::kUnverified;
    result.detail = absl::StrCat(upstream->base_url, ": ", opened.status().message());
    return result;
  }
  result.http_status = (*opened)->status();
  result.detail = absl::StrCat(upstream->base_url, " answered HTTP ", result.http_status);
  if (std::optional<std::string> why = FirstHeaderValue((*opened)->headers(), kAuthErrorHeader)) {
    absl::StrAppend(&result.detail, ": ", log::Excerpt(*why));  // registry-sent, bounded
  }
  if (result.http_status >= 200 && result.http_status < 300) {
    result.verdict = CheckVerdict::kAccepted;
  } else if (result.http_status == 401 || result.http_status == 403) {
    result.verdict = CheckVerdict::kRefused;
  } else {
    result.verdict = CheckVerdict::kUnverified;
  }
  return result;
}

}  // namespace crimirror::relay
