// The one place libcurl result codes become absl::Status codes, plus small
// status helpers shared by the files of the libcurl Upstream
// (curl_upstream.cc and the curl_*.cc files beside it). Internal to
// crimirror_relay_upstream.
#pragma once

#include <curl/curl.h>

#include <initializer_list>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace crimirror::relay::upstream_internal {

inline absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Maps a failed transfer's `code` to a Status whose message is
// "<what>: <reason> (<detail>)" plus a hint at the fix:
//   timeouts                              -> DeadlineExceeded
//   DNS, refused, reset, short read, h2   -> Unavailable (retry elsewhere)
//   TLS handshake/verification/cert files -> FailedPrecondition, "TLS" in text
//   malformed URL, unsupported scheme     -> InvalidArgument
//   out of memory, body too large         -> ResourceExhausted
//   anything else                         -> Unavailable
// `what` names the request ("GET https://host:port/v2/..."), `detail` is
// curl's error buffer (may be empty). Never contains a secret as long as
// `what` does not.
absl::Status StatusFromCurl(CURLcode code, std::string_view what, std::string_view detail);

// The first non-OK status among `statuses` (all were already evaluated:
// setopt calls are cheap), else OK.
absl::Status FirstError(std::initializer_list<absl::Status> statuses);

}  // namespace crimirror::relay::upstream_internal
