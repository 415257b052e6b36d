#include "relay/curl_upstream.h"

#include <curl/curl.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "auth/authorizer.h"
#include "relay/curl_handles.h"
#include "relay/curl_opener.h"
#include "relay/curl_pool.h"
#include "relay/curl_shared.h"
#include "relay/curl_status.h"
#include "relay/curl_target.h"

// The implementation is split by responsibility (issue 10): curl_status
// (curl codes -> Status), curl_pool (share locks, multi-handle pool),
// tls_cache (TLS material), curl_target (URL parts, per-origin settings),
// address_policy (which addresses redirect targets may reach),
// curl_transfer (one HTTP exchange, the streaming primitive) and
// curl_transfer_options (its easy-handle options), curl_token_fetcher
// (token realms) and curl_opener (auth and redirects).

namespace crimirror::relay {

using upstream_internal::FirstError;
using upstream_internal::ShareLocks;

absl::StatusOr<std::unique_ptr<CurlUpstream>> CurlUpstream::Create(Options options) {
  if (options.buffer_size < 1024 || options.buffer_size > 512 * 1024) {
    return absl::InvalidArgumentError("CurlUpstream: buffer_size must be 1 KiB .. 512 KiB");
  }
  if (options.max_redirects < 0 || options.max_redirects > 20) {
    return absl::InvalidArgumentError("CurlUpstream: max_redirects must be 0 .. 20");
  }
  if (!options.clock) return absl::InvalidArgumentError("CurlUpstream: clock is empty");
  if (absl::Status s = EnsureCurlGlobalInit(); !s.ok()) return s;
  auto shared = std::make_shared<Shared>(options);
  shared->system_ca_file = options.system_ca_file;
  if (shared->system_ca_file.empty()) {
    const curl_version_info_data* info = curl_version_info(CURLVERSION_NOW);
    shared->system_ca_file = info != nullptr && info->cainfo != nullptr
                                 ? info->cainfo
                                 : "/etc/ssl/certs/ca-certificates.crt";
  }
  absl::StatusOr<CurlSharePtr> share = NewCurlShare();
  if (!share.ok()) return share.status();
  shared->share = *std::move(share);
  CURLSH* sh = shared->share.get();
  absl::Status s = FirstError({
      ShareSetCallback(sh, CURLSHOPT_LOCKFUNC, &ShareLocks::Lock),
      ShareSetCallback(sh, CURLSHOPT_UNLOCKFUNC, &ShareLocks::Unlock),
      ShareSetPointer(sh, CURLSHOPT_USERDATA, &shared->locks),
      ShareSetOpt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS),
      ShareSetOpt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION),
  });
  if (!s.ok()) return s;
  auth::Authorizer::Options auth_options;
  auth_options.clock = options.clock;
  absl::StatusOr<std::unique_ptr<auth::Authorizer>> authorizer =
      auth::Authorizer::Create(auth_options);
  if (!authorizer.ok()) return authorizer.status();
  shared->authorizer = *std::move(authorizer);
  return std::unique_ptr<CurlUpstream>(new CurlUpstream(std::move(shared)));
}

CurlUpstream::~CurlUpstream() = default;

absl::StatusOr<UpstreamResponsePtr> CurlUpstream::Open(const UpstreamRequest& request) {
  if (request.method != "GET" && request.method != "HEAD") {
    return absl::InvalidArgumentError(absl::StrCat(
        "upstream method \"", request.method, "\" is not supported; only GET and HEAD"));
  }
  absl::StatusOr<upstream_internal::HostContext> ctx =
      upstream_internal::MakeHostContext(*shared_, request);
  if (!ctx.ok()) return ctx.status();
  return upstream_internal::OpenWithAuth(shared_, request, *std::move(ctx));
}

}  // namespace crimirror::relay
