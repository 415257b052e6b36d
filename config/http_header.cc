#include "config/http_header.h"

#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace crimirror::config {
namespace {

bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

}  // namespace

absl::Status CheckRegistryHeader(const std::string& name, const std::string& value) {
  if (name.empty() || name.size() > 256) {
    return absl::InvalidArgumentError("a header name must be 1 to 256 characters");
  }
  for (char c : name) {
    if (!IsTokenChar(c)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", absl::CHexEscape(name), "\" is not an HTTP header name; use letters, digits "
          "and - (e.g. \"X-Mirror-Tenant\")"));
    }
  }
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "authorization" || lower == "proxy-authorization") {
    return absl::InvalidArgumentError(absl::StrCat(
        name, " is set by cri-mirror from the host's credentials; use username and password "
              "(or identity_token) instead"));
  }
  for (const char* reserved : {"host", "content-length", "transfer-encoding", "connection",
                               "upgrade", "range", "accept", "cookie", "te", "keep-alive"}) {
    if (lower == reserved) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, " cannot be set: cri-mirror or containerd set it for each request; remove it"));
    }
  }
  if (value.size() > 8192) {
    return absl::InvalidArgumentError(absl::StrCat("the value of ", name, " is over 8192 bytes"));
  }
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) {
      return absl::InvalidArgumentError(
          absl::StrCat("the value of ", name, " contains a control character or line break"));
    }
  }
  return absl::OkStatus();
}

}  // namespace crimirror::config
