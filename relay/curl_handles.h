// RAII owners and typed option setters for libcurl handles (CURL*, CURLM*,
// CURLSH*, CURLU*, curl_slist*). Internal to the relay's upstream: only
// curl_upstream.cc and its test include it. Every CURLcode/CURLMcode/CURLUcode
// is turned into an absl::Status naming the option, so a failing setopt is
// never silently ignored; curl_easy_setopt's varargs are reached only
// through the typed helpers below, so a wrong argument type (int for long)
// cannot slip through.
#pragma once

#include <curl/curl.h>

#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace crimirror::relay {

// Deleters calling the matching libcurl cleanup function; the *Ptr aliases
// below own one handle each (move-only, null-safe).
struct CurlEasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct CurlMultiDeleter {
  void operator()(CURLM* h) const { curl_multi_cleanup(h); }
};
struct CurlShareDeleter {
  void operator()(CURLSH* h) const { curl_share_cleanup(h); }
};
struct CurlSlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
struct CurlUrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
using CurlEasyPtr = std::unique_ptr<CURL, CurlEasyDeleter>;
using CurlMultiPtr = std::unique_ptr<CURLM, CurlMultiDeleter>;
using CurlSharePtr = std::unique_ptr<CURLSH, CurlShareDeleter>;
using CurlSlistPtr = std::unique_ptr<curl_slist, CurlSlistDeleter>;
using CurlUrlPtr = std::unique_ptr<CURLU, CurlUrlDeleter>;

// Runs curl_global_init once per process (thread-safe). Internal on failure.
absl::Status EnsureCurlGlobalInit();

// Handle constructors; ResourceExhausted when curl cannot allocate.
absl::StatusOr<CurlEasyPtr> NewCurlEasy();
absl::StatusOr<CurlMultiPtr> NewCurlMulti();
absl::StatusOr<CurlSharePtr> NewCurlShare();
absl::StatusOr<CurlUrlPtr> NewCurlUrl();

// OK for CURLE_OK, else Internal naming the option.
absl::Status SetoptStatus(CURLcode rc, CURLoption option);

// Typed curl_easy_setopt wrappers. Internal naming the option on failure
// (an option unknown to this libcurl build, a bad value).
absl::Status SetLongOpt(CURL* easy, CURLoption option, long value);
absl::Status SetOffOpt(CURL* easy, CURLoption option, curl_off_t value);
// The string is copied by libcurl.
absl::Status SetStringOpt(CURL* easy, CURLoption option, const std::string& value);
absl::Status SetPointerOpt(CURL* easy, CURLoption option, void* value);
// The list must outlive the transfer (libcurl does not copy it).
absl::Status SetSlistOpt(CURL* easy, CURLoption option, curl_slist* list);
// The blob is NOT copied (CURL_BLOB_NOCOPY): `data` must outlive the handle.
absl::Status SetBlobOpt(CURL* easy, CURLoption option, std::string_view data);
absl::Status SetShareOpt(CURL* easy, CURLSH* share);

// Sets a callback option to a plain function pointer.
template <typename Fn>
absl::Status SetCallbackOpt(CURL* easy, CURLoption option, Fn* fn) {
  static_assert(std::is_function_v<Fn>, "callbacks must be plain function pointers");
  return SetoptStatus(curl_easy_setopt(easy, option, fn), option);
}

// Appends "Name: value" to `list`. ResourceExhausted on allocation failure.
absl::Status AppendSlist(CurlSlistPtr& list, const std::string& line);

// Share and multi option wrappers.
absl::Status ShareSetOpt(CURLSH* share, CURLSHoption option, long value);
template <typename Fn>
absl::Status ShareSetCallback(CURLSH* share, CURLSHoption option, Fn* fn) {
  static_assert(std::is_function_v<Fn>, "callbacks must be plain function pointers");
  if (curl_share_setopt(share, option, fn) == CURLSHE_OK) return absl::OkStatus();
  return absl::InternalError("curl_share_setopt(callback) failed");
}
absl::Status ShareSetPointer(CURLSH* share, CURLSHoption option, void* value);
absl::Status MultiSetLong(CURLM* multi, CURLMoption option, long value);

// Status for a failed multi call, naming the call.
absl::Status MultiStatus(CURLMcode code, std::string_view call);

// The name of a curl option, for messages ("CURLOPT_CAINFO_BLOB").
std::string CurlOptionName(CURLoption option);

}  // namespace crimirror::relay
