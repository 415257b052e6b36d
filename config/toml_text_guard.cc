#include "config/toml_text_guard.h"

#include <cstddef>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace crimirror::config {
namespace {

enum class State { kNormal, kComment, kBasic, kLiteral, kMultiBasic, kMultiLiteral };

bool At(std::string_view text, std::size_t i, std::string_view what) {
  return text.substr(i, what.size()) == what;
}

}  // namespace

absl::Status CheckTomlText(std::string_view text, std::string_view file_name) {
  State state = State::kNormal;
  int line = 1;
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80 && state != State::kComment) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s:%d:%d: non-ASCII character (byte 0x%02X); cri-mirror's TOML files take "
          "non-ASCII only in comments: write host names in punycode, and put a password "
          "with such characters in password_file",
          file_name, line, i - line_start + 1, c));
    }
    if (c == '\n') {
      ++line;
      line_start = i + 1;
      if (state == State::kComment || state == State::kBasic || state == State::kLiteral) {
        state = State::kNormal;  // a single-line string ends here (toml++ reports it)
      }
      continue;
    }
    switch (state) {
      case State::kNormal:
        if (c == '#') {
          state = State::kComment;
        } else if (At(text, i, "\"\"\"")) {
          state = State::kMultiBasic;
          i += 2;
        } else if (At(text, i, "'''")) {
          state = State::kMultiLiteral;
          i += 2;
        } else if (c == '"') {
          state = State::kBasic;
        } else if (c == '\'') {
          state = State::kLiteral;
        }
        break;
      case State::kComment:
        break;
      case State::kBasic:
      case State::kMultiBasic:
        if (c == '\\') {
          // Skip the escaped byte unless it is a line break (counted above).
          if (i + 1 < text.size() && text[i + 1] != '\n') ++i;
        } else if (state == State::kBasic && c == '"') {
          state = State::kNormal;
        } else if (state == State::kMultiBasic && At(text, i, "\"\"\"")) {
          state = State::kNormal;
          i += 2;
        }
        break;
      case State::kLiteral:
        if (c == '\'') state = State::kNormal;
        break;
      case State::kMultiLiteral:
        if (At(text, i, "'''")) {
          state = State::kNormal;
          i += 2;
        }
        break;
    }
  }
  return absl::OkStatus();
}

}  // namespace crimirror::config
