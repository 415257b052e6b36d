#include "relay/curl_handles.h"

#include <mutex>

#include "absl/strings/str_cat.h"

namespace crimirror::relay {
absl::Status SetoptStatus(CURLcode rc, CURLoption option) {
  if (rc == CURLE_OK) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("curl_easy_setopt(", CurlOptionName(option),
                                          ") failed: ", curl_easy_strerror(rc),
                                          "; this libcurl build lacks a feature cri-mirror needs"));
}

absl::Status EnsureCurlGlobalInit() {
  static std::once_flag once;
  static CURLcode result = CURLE_OK;
  std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (result == CURLE_OK) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat("curl_global_init failed: ", curl_easy_strerror(result)));
}

absl::StatusOr<CurlEasyPtr> NewCurlEasy() {
  CurlEasyPtr easy(curl_easy_init());
  if (!easy) return absl::ResourceExhaustedError("curl_easy_init failed (out of memory)");
  return easy;
}

absl::StatusOr<CurlMultiPtr> NewCurlMulti() {
  CurlMultiPtr multi(curl_multi_init());
  if (!multi) return absl::ResourceExhaustedError("curl_multi_init failed (out of memory)");
  return multi;
}

absl::StatusOr<CurlSharePtr> NewCurlShare() {
  CurlSharePtr share(curl_share_init());
  if (!share) return absl::ResourceExhaustedError("curl_share_init failed (out of memory)");
  return share;
}

absl::StatusOr<CurlUrlPtr> NewCurlUrl() {
  CurlUrlPtr url(curl_url());
  if (!url) return absl::ResourceExhaustedError("curl_url failed (out of memory)");
  return url;
}

absl::Status SetLongOpt(CURL* easy, CURLoption option, long value) {
  return SetoptStatus(curl_easy_setopt(easy, option, value), option);
}

absl::Status SetOffOpt(CURL* easy, CURLoption option, curl_off_t value) {
  return SetoptStatus(curl_easy_setopt(easy, option, value), option);
}

absl::Status SetStringOpt(CURL* easy, CURLoption option, const std::string& value) {
  return SetoptStatus(curl_easy_setopt(easy, option, value.c_str()), option);
}

absl::Status SetPointerOpt(CURL* easy, CURLoption option, void* value) {
  return SetoptStatus(curl_easy_setopt(easy, option, value), option);
}

absl::Status SetSlistOpt(CURL* easy, CURLoption option, curl_slist* list) {
  return SetoptStatus(curl_easy_setopt(easy, option, list), option);
}

absl::Status SetBlobOpt(CURL* easy, CURLoption option, std::string_view data) {
  curl_blob blob;
  blob.data = const_cast<char*>(data.data());
  blob.len = data.size();
  blob.flags = CURL_BLOB_NOCOPY;
  return SetoptStatus(curl_easy_setopt(easy, option, &blob), option);
}

absl::Status SetShareOpt(CURL* easy, CURLSH* share) {
  return SetoptStatus(curl_easy_setopt(easy, CURLOPT_SHARE, share), CURLOPT_SHARE);
}

absl::Status AppendSlist(CurlSlistPtr& list, const std::string& line) {
  curl_slist* appended = curl_slist_append(list.get(), line.c_str());
  if (appended == nullptr) return absl::ResourceExhaustedError("curl_slist_append failed");
  (void)list.release();  // `appended` is the (possibly new) head owning the old nodes
  list.reset(appended);
  return absl::OkStatus();
}

absl::Status ShareSetOpt(CURLSH* share, CURLSHoption option, long value) {
  CURLSHcode rc = curl_share_setopt(share, option, value);
  if (rc == CURLSHE_OK) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat("curl_share_setopt failed: ", curl_share_strerror(rc)));
}

absl::Status ShareSetPointer(CURLSH* share, CURLSHoption option, void* value) {
  CURLSHcode rc = curl_share_setopt(share, option, value);
  if (rc == CURLSHE_OK) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat("curl_share_setopt failed: ", curl_share_strerror(rc)));
}

absl::Status MultiSetLong(CURLM* multi, CURLMoption option, long value) {
  return MultiStatus(curl_multi_setopt(multi, option, value), "curl_multi_setopt");
}

absl::Status MultiStatus(CURLMcode code, std::string_view call) {
  if (code == CURLM_OK) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(absl::string_view(call.data(), call.size()),
                                          " failed: ", curl_multi_strerror(code)));
}

std::string CurlOptionName(CURLoption option) {
  const curl_easyoption* info = curl_easy_option_by_id(option);
  if (info == nullptr || info->name == nullptr) return absl::StrCat("option ", static_cast<int>(option));
  return absl::StrCat("CURLOPT_", info->name);
}

}  // namespace crimirror::relay
