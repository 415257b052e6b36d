#include "relay/address_policy.h"

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace crimirror::relay::upstream_internal {
namespace {

AddressClass ClassifyV4(const unsigned char* b) {
  if (b[0] == 127) return AddressClass::kLoopback;
  if (b[0] == 169 && b[1] == 254) return AddressClass::kLinkLocal;
  if (b[0] == 0) return AddressClass::kUnspecified;
  return AddressClass::kPublic;
}

}  // namespace

AddressClass ClassifyAddress(std::string_view ip) {
  std::string text(ip);
  if (!text.empty() && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  if (std::size_t zone = text.find('%'); zone != std::string::npos) text.resize(zone);
  unsigned char b[16];
  if (inet_pton(AF_INET, text.c_str(), b) == 1) return ClassifyV4(b);
  if (inet_pton(AF_INET6, text.c_str(), b) != 1) return AddressClass::kInvalid;
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(b, kMapped, sizeof(kMapped)) == 0) return ClassifyV4(b + 12);
  static constexpr unsigned char kZero[16] = {};
  if (std::memcmp(b, kZero, 15) == 0) {
    if (b[15] == 0) return AddressClass::kUnspecified;
    if (b[15] == 1) return AddressClass::kLoopback;
  }
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return AddressClass::kLinkLocal;
  return AddressClass::kPublic;
}

std::string RefuseAddress(std::string_view ip, bool allow_loopback) {
  absl::string_view shown(ip.data(), std::min<std::size_t>(ip.size(), 64));
  switch (ClassifyAddress(ip)) {
    case AddressClass::kPublic:
      return "";
    case AddressClass::kLoopback:
      if (allow_loopback) return "";
      return absl::StrCat(shown, " is a loopback address and the endpoint is not");
    case AddressClass::kLinkLocal:
      return absl::StrCat(shown, " is a link-local address");
    case AddressClass::kUnspecified:
      return absl::StrCat(shown, " is an unspecified address");
    case AddressClass::kInvalid:
      break;
  }
  return absl::StrCat("\"", shown, "\" is not an IP address");
}

}  // namespace crimirror::relay::upstream_internal
