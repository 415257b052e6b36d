// CurlTransfer's easy-handle options (curl_transfer.h): method, TLS
// material, headers, timeouts and the address check of redirect targets and
// token realms (issue 10 defect 4). Split from curl_transfer.cc, which holds
// the drive loop and the streaming primitive.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "auth/token.h"
#include "relay/address_policy.h"
#include "relay/curl_shared.h"
#include "relay/curl_status.h"
#include "relay/curl_transfer.h"

namespace crimirror::relay::upstream_internal {
namespace {

bool IsHopByHopOrAuth(std::string_view name) {
  for (const char* banned : {"authorization", "proxy-authorization", "host", "cookie",
                             "connection", "content-length", "transfer-encoding", "expect"}) {
    if (absl::EqualsIgnoreCase(Sv(name), banned)) return true;
  }
  return false;
}

long Millis(absl::Duration d) {
  return static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(d)));
}

}  // namespace

bool CurlTransfer::RefusedAddress(const char* ip) {
  std::string why = RefuseAddress(ip == nullptr ? "" : ip, spec_.allow_loopback);
  if (why.empty()) return false;
  refused_ = absl::StrCat(spec_.address_context, " refused: it connects to ", why,
                          "; a registry may not send the relay to link-local or unspecified "
                          "addresses, nor to loopback unless the endpoint is loopback itself");
  return true;
}

// Checked before a new connection is made (so nothing is dialled)...
curl_socket_t CurlTransfer::OnOpenSocket(void* self, curlsocktype, curl_sockaddr* address) {
  char ip[INET6_ADDRSTRLEN] = "";
  if (address->family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&address->addr)->sin_addr, ip, sizeof(ip));
  } else if (address->family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&address->addr)->sin6_addr, ip,
              sizeof(ip));
  }
  if (static_cast<CurlTransfer*>(self)->RefusedAddress(ip)) return CURL_SOCKET_BAD;
  return ::socket(address->family, address->socktype, address->protocol);
}

// ...and again before the request goes out, which also covers a reused
// connection opened earlier for a request that was allowed to use it.
int CurlTransfer::OnPrereq(void* self, char* primary_ip, char*, int, int) {
  if (static_cast<CurlTransfer*>(self)->RefusedAddress(primary_ip)) return CURL_PREREQFUNC_ABORT;
  return CURL_PREREQFUNC_OK;
}

absl::Status CurlTransfer::Configure() {
  CURL* e = easy_.get();
  const CurlUpstream::Options& options = shared_->options;
  absl::Status s = FirstError({
      SetShareOpt(e, shared_->share.get()),
      SetStringOpt(e, CURLOPT_URL, spec_.target.url),
      SetStringOpt(e, CURLOPT_PROTOCOLS_STR, "http,https"),
      SetLongOpt(e, CURLOPT_NOSIGNAL, 1L),
      SetLongOpt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS)),
      SetLongOpt(e, CURLOPT_CONNECTTIMEOUT_MS, Millis(spec_.connect_timeout)),
      SetLongOpt(e, CURLOPT_BUFFERSIZE, static_cast<long>(options.buffer_size)),
      SetPointerOpt(e, CURLOPT_ERRORBUFFER, errbuf_.data()),
      SetStringOpt(e, CURLOPT_USERAGENT, options.user_agent),
      SetLongOpt(e, CURLOPT_FOLLOWLOCATION, 0L),  // redirects are followed by hand
      SetLongOpt(e, CURLOPT_TCP_KEEPALIVE, 1L),
      SetCallbackOpt(e, CURLOPT_HEADERFUNCTION, &CurlTransfer::OnHeader),
      SetPointerOpt(e, CURLOPT_HEADERDATA, this),
      SetCallbackOpt(e, CURLOPT_WRITEFUNCTION, &CurlTransfer::OnBody),
      SetPointerOpt(e, CURLOPT_WRITEDATA, this),
  });
  if (!s.ok()) return s;
  if (spec_.check_address) {
    s = FirstError({
        SetCallbackOpt(e, CURLOPT_OPENSOCKETFUNCTION, &CurlTransfer::OnOpenSocket),
        SetPointerOpt(e, CURLOPT_OPENSOCKETDATA, this),
        SetCallbackOpt(e, CURLOPT_PREREQFUNCTION, &CurlTransfer::OnPrereq),
        SetPointerOpt(e, CURLOPT_PREREQDATA, this),
    });
    if (!s.ok()) return s;
  }
  if (!spec_.target.connect_to.empty()) {
    if (s = AppendSlist(connect_to_, spec_.target.connect_to); !s.ok()) return s;
    if (s = SetSlistOpt(e, CURLOPT_CONNECT_TO, connect_to_.get()); !s.ok()) return s;
  }
  if (s = ConfigureMethod(); !s.ok()) return s;
  if (s = ConfigureTls(); !s.ok()) return s;
  return ConfigureHeaders();
}

absl::Status CurlTransfer::ConfigureMethod() {
  CURL* e = easy_.get();
  if (spec_.method == "GET") return SetLongOpt(e, CURLOPT_HTTPGET, 1L);
  if (spec_.method == "HEAD") return SetLongOpt(e, CURLOPT_NOBODY, 1L);
  if (spec_.method == "POST" && spec_.post_form) {
    const std::string& form = spec_.post_form->Reveal();
    return FirstError({
        SetOffOpt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(form.size())),
        SetPointerOpt(e, CURLOPT_POSTFIELDS, const_cast<char*>(form.data())),
    });
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "upstream method \"", spec_.method, "\" is not supported; the relay only sends GET and HEAD"));
}

absl::Status CurlTransfer::ConfigureTls() {
  if (!spec_.tls) return absl::OkStatus();
  CURL* e = easy_.get();
  const auth::TlsMaterial& m = spec_.tls->material;
  if (m.insecure_skip_verify) {
    absl::Status s = FirstError({SetLongOpt(e, CURLOPT_SSL_VERIFYPEER, 0L),
                                 SetLongOpt(e, CURLOPT_SSL_VERIFYHOST, 0L)});
    if (!s.ok()) return s;
  }
  if (!spec_.tls->ca_bundle.empty()) {
    if (absl::Status s = SetBlobOpt(e, CURLOPT_CAINFO_BLOB, spec_.tls->ca_bundle); !s.ok()) {
      return s;
    }
  }
  if (!m.client_cert.empty()) {
    return FirstError({SetStringOpt(e, CURLOPT_SSLCERT, m.client_cert),
                       SetStringOpt(e, CURLOPT_SSLCERTTYPE, "PEM"),
                       SetStringOpt(e, CURLOPT_SSLKEY, m.client_key),
                       SetStringOpt(e, CURLOPT_SSLKEYTYPE, "PEM")});
  }
  return absl::OkStatus();
}

absl::Status CurlTransfer::ConfigureHeaders() {
  for (const auto& [name, value] : spec_.forwarded) {
    if (IsHopByHopOrAuth(name)) continue;
    if (name.empty() || name.find_first_of(":\r\n") != std::string::npos ||
        value.find_first_of("\r\n") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          what_, ": forwarded header \"", absl::CHexEscape(name.substr(0, 64)),
          "\" has a bad name or a line break in its value"));
    }
    if (absl::Status s = AppendSlist(header_list_, absl::StrCat(name, ": ", value)); !s.ok()) {
      return s;
    }
  }
  if (spec_.authorization && auth::HasControlBytes(spec_.authorization->Reveal())) {
    // Tokens are checked where they enter (realm answer, kubelet); this is
    // the last line: a header is never split, whatever the source.
    return absl::InvalidArgumentError(
        absl::StrCat(what_, ": the Authorization value contains control bytes; not sent"));
  }
  if (spec_.authorization) {
    absl::Status s = AppendSlist(header_list_,
                                 absl::StrCat("Authorization: ", spec_.authorization->Reveal()));
    if (!s.ok()) return s;
  }
  if (!header_list_) return absl::OkStatus();
  return SetSlistOpt(easy_.get(), CURLOPT_HTTPHEADER, header_list_.get());
}

}  // namespace crimirror::relay::upstream_internal
