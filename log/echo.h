// Bounded echoes of untrusted text in messages (issue 10 defect 11). An
// error message that quotes a 120 kB image reference, or a registry's whole
// answer, becomes a gRPC trailer larger than a client's metadata limit: the
// client then sees RESOURCE_EXHAUSTED instead of the error. Every message that
// quotes caller input or what a registry sent passes it through Excerpt();
// messages built from several such parts are capped with Shorten(). Pure.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>

namespace crimirror::log {

// Default bound for one echoed piece of input, in bytes of output.
inline constexpr std::size_t kMaxExcerpt = 200;
// Default bound for a whole status message (gRPC clients refuse trailers
// over 8 kB by default; this leaves room for the rest).
inline constexpr std::size_t kMaxMessage = 4096;

// `text` ready to quote: C-escaped (control bytes, '"', '\\' and non-ASCII
// bytes as escapes, so a quoted excerpt cannot break a log line or a
// terminal), at most `max_bytes` of output; when cut, followed by
// "...(<n> bytes in all)". Never cuts an escape sequence in two.
std::string Excerpt(std::string_view text, std::size_t max_bytes = kMaxExcerpt);

// `message` unchanged when it has at most `max_bytes`; else its first bytes
// (not ending inside a UTF-8 sequence) and "...(<n> bytes in all)", at most
// `max_bytes` + 32 bytes. For messages whose parts are already safe to show.
std::string Shorten(std::string_view message, std::size_t max_bytes = kMaxMessage);

// The same for string types that do not convert to std::string_view
// (absl::string_view is its own type in Debian's Abseil).
template <typename T,
          typename = std::enable_if_t<!std::is_convertible_v<const T&, std::string_view>>>
std::string Excerpt(const T& text, std::size_t max_bytes = kMaxExcerpt) {
  return Excerpt(std::string_view(text.data(), text.size()), max_bytes);
}
template <typename T,
          typename = std::enable_if_t<!std::is_convertible_v<const T&, std::string_view>>>
std::string Shorten(const T& message, std::size_t max_bytes = kMaxMessage) {
  return Shorten(std::string_view(message.data(), message.size()), max_bytes);
}

}  // namespace crimirror::log
