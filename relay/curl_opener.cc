#include "relay/curl_opener.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "auth/authorizer.h"
#include "auth/challenge.h"
#include "auth/credentials.h"
#include "auth/token.h"
#include "relay/address_policy.h"
#include "relay/curl_shared.h"
#include "relay/curl_token_fetcher.h"
#include "relay/curl_transfer.h"

namespace crimirror::relay::upstream_internal {
namespace {

using Shared = CurlUpstream::Shared;

// One Open(): the redirect loop and the single challenge answer.
class Opener {
 public:
  Opener(std::shared_ptr<Shared> shared, const UpstreamRequest& request, HostContext ctx)
      : shared_(std::move(shared)),
        request_(request),
        ctx_(std::move(ctx)),
        scope_(request.repository.empty() ? std::string()
                                          : auth::PullScope(request.repository)),
        basic_key_(absl::StrCat(ctx_.authority, "|", ctx_.credentials.Fingerprint())) {}

  absl::StatusOr<UpstreamResponsePtr> Run() {
    std::string url = request_.url;
    std::string referrer;  // "GET <previous URL>" once redirected
    std::optional<config::Secret> authorization = InitialAuthorization();
    bool proactive = authorization.has_value();
    bool answered = false;
    int redirects = 0;
    while (true) {
      absl::StatusOr<Target> target = MakeTarget(*shared_, url, ctx_);
      if (!target.ok()) return target.status();
      TransferSpec spec = BaseSpec(ctx_, *target, request_.method);
      spec.forwarded = request_.headers;
      if (target->endpoint_origin && request_.host_settings) {
        // [host] headers: to the endpoint's own origin only, never to a
        // redirect target or token service.
        for (const auto& [name, value] : request_.host_settings->headers) {
          spec.forwarded.emplace_back(name, value);
        }
      }
      spec.stall_timeout = request_.stall_timeout;
      spec.allow_loopback = endpoint_loopback_;
      spec.address_context = absl::StrCat("redirect from ", referrer, " to ", Display(url));
      if (target->endpoint_origin) spec.authorization = authorization;
      absl::StatusOr<std::unique_ptr<CurlTransfer>> transfer =
          CurlTransfer::Start(shared_, std::move(spec));
      if (!transfer.ok()) return transfer.status();
      if (referrer.empty()) {
        endpoint_loopback_ = ClassifyAddress((*transfer)->primary_ip()) == AddressClass::kLoopback;
      }
      int status = (*transfer)->status();
      if (status == 401 && target->endpoint_origin && !ctx_.credentials.registry_token.empty()) {
        // A registry token is final: there is nothing to fetch or retry.
        (*transfer)->AddHeader(std::string(kAuthErrorHeader),
                               "the registry refused the kubelet's registry_token");
        return UpstreamResponsePtr(*std::move(transfer));
      }
      if (status == 401 && target->endpoint_origin && !answered) {
        answered = true;
        if (proactive) Forget();
        authorization = Answer(**transfer);
        if (authorization) continue;
        return UpstreamResponsePtr(*std::move(transfer));
      }
      std::vector<std::string> location = (*transfer)->HeaderValues("location");
      if (!IsRedirect(status) || location.empty()) return UpstreamResponsePtr(*std::move(transfer));
      if (absl::Status s = NextUrl(**transfer, *target, location[0], ++redirects, url); !s.ok()) {
        return s;
      }
      referrer = (*transfer)->what();
    }
  }

 private:
  // Resolves redirect `location` against `target` into `url`. Unavailable
  // past max_redirects; PermissionDenied for an https -> http downgrade
  // (issue 10 defect 4). Addresses are checked by the transfer.
  absl::Status NextUrl(const CurlTransfer& transfer, const Target& target,
                       const std::string& location, int redirects, std::string& url) const {
    if (redirects > shared_->options.max_redirects) {
      return absl::UnavailableError(absl::StrCat(
          transfer.what(), ": more than ", shared_->options.max_redirects,
          " redirects; the registry or its storage redirects in a loop"));
    }
    absl::StatusOr<std::string> next = RewriteUrl(target.url, CURLUPART_URL, location);
    if (!next.ok()) return next.status();
    absl::StatusOr<UrlParts> parts = ParseUrl(*next);
    if (!parts.ok()) return parts.status();
    if (target.parts.scheme == "https" && parts->scheme == "http") {
      return absl::PermissionDeniedError(absl::StrCat(
          "redirect from ", transfer.what(), " to ", Display(*next),
          " refused: an https -> http downgrade; the registry (or its storage) must redirect "
          "to https"));
    }
    url = *std::move(next);
    return absl::OkStatus();
  }

  static bool IsRedirect(int status) {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
  }

  std::optional<config::Secret> InitialAuthorization() {
    if (!ctx_.credentials.registry_token.empty()) {
      return auth::BearerAuthorization(ctx_.credentials.registry_token);
    }
    if (std::optional<config::Secret> token =
            shared_->authorizer->CachedToken(ctx_.authority, scope_, ctx_.credentials)) {
      return auth::BearerAuthorization(*token);
    }
    if (ctx_.credentials.has_basic()) {
      absl::MutexLock lock(&shared_->mu);
      if (shared_->basic_hosts.count(basic_key_) > 0) {
        return auth::BasicAuthorization(ctx_.credentials);
      }
    }
    return std::nullopt;
  }

  void Forget() {
    shared_->authorizer->Invalidate(ctx_.authority, scope_, ctx_.credentials);
    absl::MutexLock lock(&shared_->mu);
    shared_->basic_hosts.erase(basic_key_);
  }

  // The Authorization answering the 401's challenges, preferring Bearer;
  // nullopt (and an explanatory synthetic header) when none can be answered.
  std::optional<config::Secret> Answer(CurlTransfer& response) {
    std::vector<auth::Challenge> challenges =
        auth::ParseWwwAuthenticateValues(response.HeaderValues("www-authenticate"));
    for (const auth::Challenge& challenge : challenges) {
      if (challenge.scheme != auth::AuthScheme::kBearer) continue;
      CurlTokenFetcher fetcher(shared_, ctx_, endpoint_loopback_);
      absl::StatusOr<config::Secret> token = shared_->authorizer->Authorize(
          ctx_.authority, scope_, challenge, ctx_.credentials, fetcher);
      if (token.ok()) return auth::BearerAuthorization(*token);
      response.AddHeader(std::string(kAuthErrorHeader), token.status().ToString());
      return std::nullopt;
    }
    for (const auth::Challenge& challenge : challenges) {
      if (challenge.scheme != auth::AuthScheme::kBasic || !ctx_.credentials.has_basic()) continue;
      absl::MutexLock lock(&shared_->mu);
      if (shared_->basic_hosts.size() > 4096) shared_->basic_hosts.clear();
      shared_->basic_hosts.insert(basic_key_);
      return auth::BasicAuthorization(ctx_.credentials);
    }
    response.AddHeader(std::string(kAuthErrorHeader),
                       challenges.empty() ? "no usable WWW-Authenticate challenge"
                                          : "no credentials configured for this challenge");
    return std::nullopt;
  }

  std::shared_ptr<Shared> shared_;
  const UpstreamRequest& request_;
  const HostContext ctx_;
  const std::string scope_;
  const std::string basic_key_;
  // The endpoint's own address is loopback: redirect targets and realms may
  // be loopback too (set from the first transfer).
  bool endpoint_loopback_ = false;
};

}  // namespace

absl::StatusOr<UpstreamResponsePtr> OpenWithAuth(std::shared_ptr<CurlUpstream::Shared> shared,
                                                 const UpstreamRequest& request, HostContext ctx) {
  return Opener(std::move(shared), request, std::move(ctx)).Run();
}

}  // namespace crimirror::relay::upstream_internal
