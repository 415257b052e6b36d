#include "log/echo.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace crimirror::log {
namespace {

std::string Total(std::size_t size) { return absl::StrCat("...(", size, " bytes in all)"); }

}  // namespace

std::string Excerpt(std::string_view text, std::size_t max_bytes) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    // One byte at a time, so that an escape ("\x9c", "\"") is kept whole.
    const std::string escaped = absl::CHexEscape(absl::string_view(&text[i], 1));
    if (out.size() + escaped.size() > max_bytes) {
      absl::StrAppend(&out, Total(text.size()));
      return out;
    }
    out += escaped;
  }
  return out;
}

std::string Shorten(std::string_view message, std::size_t max_bytes) {
  if (message.size() <= max_bytes) return std::string(message);
  std::size_t end = max_bytes;
  // Back off UTF-8 continuation bytes (10xxxxxx) and the lead byte before them.
  while (end > 0 && (static_cast<unsigned char>(message[end]) & 0xc0) == 0x80) --end;
  return absl::StrCat(absl::string_view(message.data(), end), Total(message.size()));
}

}  // namespace crimirror::log
