#include "relay/curl_token_fetcher.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "auth/credentials.h"
#include "relay/curl_shared.h"
#include "relay/curl_transfer.h"

namespace crimirror::relay::upstream_internal {
namespace {

constexpr std::size_t kMaxTokenBody = 1 << 20;

}  // namespace

CurlTokenFetcher::CurlTokenFetcher(std::shared_ptr<CurlUpstream::Shared> shared,
                                   const HostContext& ctx, bool endpoint_loopback)
    : shared_(std::move(shared)), ctx_(ctx), endpoint_loopback_(endpoint_loopback) {}

absl::StatusOr<auth::Token> CurlTokenFetcher::FetchToken(std::string_view realm,
                                                       std::string_view service,
                                                       const std::vector<std::string>& scopes,
                                                       const auth::Credentials& credentials) {
  absl::StatusOr<UrlParts> parts = ParseUrl(std::string(realm));
  if (!parts.ok()) return parts.status();
  const bool plain = parts->scheme == "http";
  if (plain && ctx_.endpoint.scheme == "https") {
    // Issue 10 defect 3: the token (and any credentials) would cross the
    // network in clear text although the registry itself is https.
    return absl::FailedPreconditionError(absl::StrCat(
        "token realm ", Display(std::string(realm)), " of https registry ", ctx_.authority,
        " is plain http: refused, its tokens and the credentials sent to it would travel in "
        "clear text; configure the registry's token service on an https:// realm"));
  }
  if (!credentials.identity_token.empty()) {
    config::Secret form = auth::TokenPostForm(service, scopes, credentials.identity_token,
                                              "cri-mirror");
    absl::StatusOr<auth::Token> token = Exchange(std::string(realm), "POST", std::nullopt,
                                                 std::move(form), realm);
    if (token.ok() || token.status().code() != absl::StatusCode::kNotFound ||
        !credentials.has_basic()) {
      return token;
    }
    // Realms without the OAuth2 endpoint answer 404/405: fall back to GET.
  }
  std::optional<config::Secret> authorization;
  // Basic credentials never go to a realm over plain http (the GET is then
  // anonymous; a realm that insists answers 401, explained in RealmError).
  basic_withheld_ = plain && credentials.has_basic();
  if (credentials.has_basic() && !plain) authorization = auth::BasicAuthorization(credentials);
  return Exchange(auth::TokenGetUrl(realm, service, scopes), "GET", std::move(authorization),
                  std::nullopt, realm);
}

absl::StatusOr<auth::Token> CurlTokenFetcher::Exchange(
    const std::string& url, std::string method, std::optional<config::Secret> authorization,
    std::optional<config::Secret> form, std::string_view realm) {
  absl::StatusOr<Target> target = MakeTarget(*shared_, url, ctx_);
  if (!target.ok()) return target.status();
  TransferSpec spec = BaseSpec(ctx_, *target, std::move(method));
  spec.allow_loopback = endpoint_loopback_;
  spec.address_context = absl::StrCat("token realm ", Display(std::string(realm)));
  spec.authorization = std::move(authorization);
  spec.post_form = std::move(form);
  spec.stall_timeout = target->settings.response_timeout;
  absl::StatusOr<std::unique_ptr<CurlTransfer>> transfer =
      CurlTransfer::Start(shared_, std::move(spec));
  if (!transfer.ok()) return transfer.status();
  std::string display_realm = Display(std::string(realm));
  int status = (*transfer)->status();
  if (status != 200) return RealmError(status, display_realm);
  absl::StatusOr<std::string> body = (*transfer)->ReadAll(kMaxTokenBody);
  if (!body.ok()) return body.status();
  return auth::ParseTokenResponse(*body, shared_->options.clock(), display_realm);
}

absl::Status CurlTokenFetcher::RealmError(int status, const std::string& realm) const {
  std::string prefix = absl::StrCat("token realm ", realm, " (for registry ", ctx_.authority,
                                    ") answered HTTP ", status);
  switch (status) {
    case 401:
      if (basic_withheld_) {
        return absl::UnauthenticatedError(absl::StrCat(
            prefix, "; the credentials of [host.\"", ctx_.authority,
            "\"] were not sent because Basic credentials never go to a plain-http realm; "
            "serve the token realm over https"));
      }
      return absl::UnauthenticatedError(absl::StrCat(
          prefix, "; the credentials of [host.\"", ctx_.authority, "\"]",
          ctx_.credentials.username.empty() ? "" : " (user ",
          ctx_.credentials.username, ctx_.credentials.username.empty() ? "" : ")",
          " are missing or wrong"));
    case 403:
      return absl::PermissionDeniedError(
          absl::StrCat(prefix, "; the account may not pull this repository"));
    case 404:
    case 405:
      return absl::NotFoundError(absl::StrCat(prefix, "; no token endpoint there"));
    default:
      return absl::UnavailableError(prefix);
  }
}

}  // namespace crimirror::relay::upstream_internal
