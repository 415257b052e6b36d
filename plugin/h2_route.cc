#include "plugin/h2_route.h"

#include "absl/strings/str_format.h"
#include "plugin/proxy_call.h"

namespace crimirror::plugin {

CallRoute RouteOf(std::string_view path) {
  if (path == kPullImageMethod || !path.starts_with(kImageServicePrefix)) {
    return CallRoute::kInternal;
  }
  return CallRoute::kBackend;
}

std::string_view MethodLabel(std::string_view path) {
  static constexpr std::string_view kKnownUnary[] = {"ListImages", "ImageStatus", "PullImage",
                                                     "RemoveImage", "ImageFsInfo"};
  if (!path.starts_with(kImageServicePrefix)) return "other";
  const std::string_view method = path.substr(kImageServicePrefix.size());
  for (std::string_view known : kKnownUnary) {
    if (method == known) return known;
  }
  return "other";
}

std::string GrpcMessageValue(std::string_view message) {
  std::string out;
  out.reserve(message.size());
  for (unsigned char c : message) {
    if (c >= 0x20 && c <= 0x7e && c != '%') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

}  // namespace crimirror::plugin
