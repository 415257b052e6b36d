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

std::string Display(const std::string& url) {
  // A registry chooses redirect and realm URLs: echo a bounded part only.
  constexpr std::size_t kMaxShown = 256;
  std::string shown = url.substr(0, url.find_first_of("?#"));
  if (shown.size() > kMaxShown) shown = absl::StrCat(shown.substr(0, kMaxShown), "...");
  return shown;
}

namespace {

absl::StatusOr<OriginSettings> LoadOriginSettings(CurlUpstream::Shared& shared,
                                                  const config::HostSettings& host) {
  OriginSettings settings;
  settings.authority = host.host;
  settings.server_name = absl::AsciiStrToLower(host.tls_server_name);
  settings.connect_timeout = host.connect_timeout;
  settings.response_timeout = host.response_timeout;
  if (!host.ca_files.empty() || !host.client_cert.empty() || !host.client_key.empty() ||
      host.insecure_skip_verify) {
    absl::StatusOr<std::shared_ptr<const HostTls>> tls = shared.tls.Get(host, shared.system_ca_file);
    if (!tls.ok()) return tls.status();
    settings.tls = *std::move(tls);
  }
  return settings;
}

// Applies `settings.server_name` to a target dialled at `parts` (https
// only): the URL names the server, CONNECT_TO dials the configured address.
absl::Status ApplyServerName(const UrlParts& dialled, Target& target) {
  const std::string& name = target.settings.server_name;
  if (name.empty() || target.parts.scheme != "https") return absl::OkStatus();
  if (target.parts.host != name) {
    absl::StatusOr<std::string> renamed = RewriteUrl(target.url, CURLUPART_HOST, name);
    if (!renamed.ok()) return renamed.status();
    target.url = *std::move(renamed);
  }
  target.connect_to =
      absl::StrCat(name, ":", dialled.port, ":", dialled.host, ":", dialled.port);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<HostContext> MakeHostContext(CurlUpstream::Shared& shared,
                                            const UpstreamRequest& request) {
  HostContext ctx;
  absl::StatusOr<UrlParts> parts = ParseUrl(request.url);
  if (!parts.ok()) return parts.status();
  ctx.endpoint = *parts;
  ctx.authority = absl::StrCat(parts->host, ":", parts->port);
  ctx.cancel = request.cancel;
  ctx.deadline = request.deadline;
  ctx.host_lookup = request.host_lookup;
  if (request.host_settings) {
    const config::HostSettings& host = *request.host_settings;
    absl::StatusOr<auth::Credentials> credentials = auth::CredentialsFromHost(host);
    if (!credentials.ok()) return absl::FailedPreconditionError(credentials.status().message());
    ctx.credentials = *std::move(credentials);
    absl::StatusOr<OriginSettings> settings = LoadOriginSettings(shared, host);
    if (!settings.ok()) return settings.status();
    ctx.settings = *std::move(settings);
    if (ctx.settings.authority.empty()) ctx.settings.authority = ctx.authority;
  }
  if (request.kubelet_credentials && !request.kubelet_credentials->empty()) {
    ctx.credentials = *request.kubelet_credentials;
  } else if (ctx.credentials.empty() && request.source_credentials) {
    ctx.credentials = *request.source_credentials;
  }
  if (auth::HasControlBytes(ctx.credentials.registry_token.Reveal())) {
    // Issue 10 defect 5: never split the Authorization header.
    return absl::InvalidArgumentError(absl::StrCat(
        "the registry_token for ", ctx.authority,
        " contains control bytes (CR, LF, ...) and is not sent; fix the pull secret, docker "
        "config or credential provider that produced it"));
  }
  return ctx;
}

absl::StatusOr<Target> MakeTarget(CurlUpstream::Shared& shared, const std::string& url,
                                  const HostContext& ctx) {
  absl::StatusOr<UrlParts> parts = ParseUrl(url);
  if (!parts.ok()) return parts.status();
  const UrlParts& e = ctx.endpoint;
  Target target;
  target.url = url;
  target.parts = *parts;
  const std::string& name = ctx.settings.server_name;
  const bool named = !name.empty() && e.scheme == "https";
  target.endpoint_origin = parts->scheme == e.scheme && parts->port == e.port &&
                           (parts->host == e.host || (named && parts->host == name));
  if (target.endpoint_origin) {
    target.settings = ctx.settings;
    if (absl::Status s = ApplyServerName(e, target); !s.ok()) return s;
    return target;
  }
  // Another origin: its own [host] table or defaults, never the endpoint's
  // (issue 10 defect 2: a realm or storage host on the endpoint's host name
  // but another port or scheme used to get the endpoint's trust).
  std::optional<config::HostSettings> own;
  if (ctx.host_lookup) own = ctx.host_lookup(absl::StrCat(parts->host, ":", parts->port));
  if (!own) return target;
  absl::StatusOr<OriginSettings> settings = LoadOriginSettings(shared, *own);
  if (!settings.ok()) return settings.status();
  target.settings = *std::move(settings);
  if (absl::Status s = ApplyServerName(*parts, target); !s.ok()) return s;
  return target;
}

}  // namespace crimirror::relay::upstream_internal
