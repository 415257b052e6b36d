#include "relay/curl_target.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "auth/token.h"
#include "relay/curl_handles.h"
#include "relay/curl_shared.h"
#include "relay/curl_status.h"

namespace crimirror::relay::upstream_internal {

absl::StatusOr<UrlParts> ParseUrl(const std::string& url) {
  absl::StatusOr<CurlUrlPtr> handle = NewCurlUrl();
  if (!handle.ok()) return handle.status();
  auto bad = [&url](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "upstream URL \"", url.substr(0, url.find_first_of("?#")), "\" ", Sv(why),
        "; endpoints must be http:// or https:// URLs"));
  };
  if (curl_url_set(handle->get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
    return bad("is not a valid URL");
  }
  UrlParts parts;
  struct Part {
    CURLUPart part;
    std::string* out;
    unsigned flags;
  };
  for (const Part& p : {Part{CURLUPART_SCHEME, &parts.scheme, 0},
                        Part{CURLUPART_HOST, &parts.host, 0},
                        Part{CURLUPART_PORT, &parts.port, CURLU_DEFAULT_PORT},
                        Part{CURLUPART_PATH, &parts.path, 0}}) {
    char* value = nullptr;
    if (curl_url_get(handle->get(), p.part, &value, p.flags) != CURLUE_OK) {
      return bad("has no scheme, host or port");
    }
    *p.out = value;
    curl_free(value);
  }
  parts.scheme = absl::AsciiStrToLower(parts.scheme);
  parts.host = absl::AsciiStrToLower(parts.host);
  if (parts.scheme != "http" && parts.scheme != "https") return bad("is not http or https");
  return parts;
}

absl::StatusOr<std::string> RewriteUrl(const std::string& url, CURLUPart part,
                                       const std::string& value) {
  absl::StatusOr<CurlUrlPtr> handle = NewCurlUrl();
  if (!handle.ok()) return handle.status();
  char* out = nullptr;
  if (curl_url_set(handle->get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK ||
      curl_url_set(handle->get(), part, value.c_str(), 0) != CURLUE_OK ||
      curl_url_get(handle->get(), CURLUPART_URL, &out, 0) != CURLUE_OK) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot build a URL from \"", url.substr(0, url.find_first_of("?#")),
        "\" (redirect Location or tls_server_name is malformed)"));
  }
  std::string result = out;
  curl_free(out);
  return result;
}

std::string Display(const std::string& url) { return url.substr(0, url.find_first_of("?#")); }

absl::StatusOr<HostContext> MakeHostContext(CurlUpstream::Shared& shared,
                                            const UpstreamRequest& request) {
  HostContext ctx;
  absl::StatusOr<UrlParts> parts = ParseUrl(request.url);
  if (!parts.ok()) return parts.status();
  ctx.endpoint = *parts;
  ctx.authority = absl::StrCat(parts->host, ":", parts->port);
  ctx.cancel = request.cancel;
  if (request.host_settings) {
    const config::HostSettings& host = *request.host_settings;
    ctx.server_name = absl::AsciiStrToLower(host.tls_server_name);
    ctx.connect_timeout = host.connect_timeout;
    ctx.response_timeout = host.response_timeout;
    absl::StatusOr<auth::Credentials> credentials = auth::CredentialsFromHost(host);
    if (!credentials.ok()) return absl::FailedPreconditionError(credentials.status().message());
    ctx.credentials = *std::move(credentials);
    if (!host.ca_file.empty() || !host.client_cert.empty() || !host.client_key.empty() ||
        host.insecure_skip_verify) {
      absl::StatusOr<std::shared_ptr<const HostTls>> tls =
          shared.tls.Get(host, shared.system_ca_file);
      if (!tls.ok()) return tls.status();
      ctx.tls = *std::move(tls);
    }
  }
  if (ctx.credentials.empty() && request.fallback_credentials) {
    ctx.credentials = *request.fallback_credentials;
  }
  if (auth::HasControlBytes(ctx.credentials.registry_token.Reveal())) {
    // Issue 10 defect 5: never split the Authorization header.
    return absl::InvalidArgumentError(absl::StrCat(
        "the kubelet's registry_token for ", ctx.authority,
        " contains control bytes (CR, LF, ...) and is not sent; fix the pull secret or "
        "credential provider that produced it"));
  }
  return ctx;
}

absl::StatusOr<Target> MakeTarget(const std::string& url, const HostContext& ctx) {
  absl::StatusOr<UrlParts> parts = ParseUrl(url);
  if (!parts.ok()) return parts.status();
  const UrlParts& e = ctx.endpoint;
  Target target;
  target.url = url;
  bool named = !ctx.server_name.empty() && e.scheme == "https";
  bool is_endpoint = parts->scheme == e.scheme && parts->port == e.port &&
                     (parts->host == e.host || (named && parts->host == ctx.server_name));
  target.same_hostname = parts->host == e.host || (named && parts->host == ctx.server_name);
  if (!is_endpoint) return target;
  target.endpoint_host = true;
  if (named) {
    if (parts->host != ctx.server_name) {
      absl::StatusOr<std::string> renamed = RewriteUrl(url, CURLUPART_HOST, ctx.server_name);
      if (!renamed.ok()) return renamed.status();
      target.url = *std::move(renamed);
    }
    target.connect_to = absl::StrCat(ctx.server_name, ":", e.port, ":", e.host, ":", e.port);
  }
  return target;
}

}  // namespace crimirror::relay::upstream_internal
