#include "relay/curl_status.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace crimirror::relay::upstream_internal {

absl::Status StatusFromCurl(CURLcode code, std::string_view what, std::string_view detail) {
  std::string reason = curl_easy_strerror(code);
  if (!detail.empty() && detail != reason) absl::StrAppend(&reason, " (", Sv(detail), ")");
  std::string prefix = absl::StrCat(Sv(what), ": ");
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return absl::DeadlineExceededError(absl::StrCat(
          prefix, "timed out: ", reason,
          "; raise connect_timeout/response_timeout in the [host] table if the registry is slow"));
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return absl::UnavailableError(absl::StrCat(prefix, "cannot resolve the host: ", reason));
    case CURLE_PEER_FAILED_VERIFICATION:
      return absl::FailedPreconditionError(absl::StrCat(
          prefix, "TLS certificate verification failed: ", reason,
          "; set ca_file to the registry's CA and, when dialling by IP, tls_server_name to the "
          "name on its certificate, in its [host] table"));
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CLIENTCERT:
      return absl::FailedPreconditionError(absl::StrCat(
          prefix, "TLS handshake failed: ", reason,
          "; check that the endpoint speaks https and the [host] client_cert/client_key"));
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return absl::InvalidArgumentError(absl::StrCat(prefix, "bad URL: ", reason));
    case CURLE_OUT_OF_MEMORY:
    case CURLE_FILESIZE_EXCEEDED:
      return absl::ResourceExhaustedError(absl::StrCat(prefix, reason));
    default:
      return absl::UnavailableError(absl::StrCat(prefix, reason));
  }
}

absl::Status FirstError(std::initializer_list<absl::Status> statuses) {
  for (const absl::Status& s : statuses) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace crimirror::relay::upstream_internal
