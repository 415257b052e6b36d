#include "auth/challenge.h"

#include <cstddef>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "log/echo.h"

namespace crimirror::auth {
namespace {

// Abseil here is built with its own string_view type (ABSL_OPTION_USE_STD_STRING_VIEW 0).
absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// RFC 7230 tchar.
bool IsTokenChar(char c) {
  if (absl::ascii_isalnum(static_cast<unsigned char>(c))) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*':
    case '+': case '-': case '.': case '^': case '_': case '`': case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

// RFC 7235 token68 adds '/' (and trailing '=' handled by the caller).
bool IsToken68Char(char c) { return IsTokenChar(c) || c == '/'; }

absl::Status Malformed(std::string_view header, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "malformed WWW-Authenticate header \"", log::Excerpt(header),
      "\": ", Sv(why), "; the registry sent a challenge that is not RFC 7235"));
}

// A cursor over the header with the small lexer the grammar needs.
class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return AtEnd() ? '\0' : text_[pos_]; }
  std::size_t pos() const { return pos_; }
  void Rewind(std::size_t pos) { pos_ = pos; }
  void Advance() { ++pos_; }

  void SkipSpaces() {
    while (!AtEnd() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
  }
  // Skips whitespace and empty list elements (`a, , b` is legal).
  void SkipSpacesAndCommas() {
    while (!AtEnd() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == ',')) {
      ++pos_;
    }
  }
  std::string_view Token() {
    std::size_t start = pos_;
    while (!AtEnd() && IsTokenChar(text_[pos_])) ++pos_;
    return text_.substr(start, pos_ - start);
  }
  // token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
  std::string_view Token68() {
    std::size_t start = pos_;
    while (!AtEnd() && IsToken68Char(text_[pos_])) ++pos_;
    while (!AtEnd() && text_[pos_] == '=') ++pos_;
    return text_.substr(start, pos_ - start);
  }
  // Reads a quoted-string starting at '"'; nullopt when unterminated.
  std::optional<std::string> Quoted() {
    std::string out;
    ++pos_;  // opening quote
    while (!AtEnd()) {
      char c = text_[pos_++];
      if (c == '"') return out;
      if (c == '\\') {
        if (AtEnd()) return std::nullopt;
        c = text_[pos_++];
      }
      out.push_back(c);
    }
    return std::nullopt;
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

AuthScheme SchemeFromName(std::string_view lower) {
  if (lower == "basic") return AuthScheme::kBasic;
  if (lower == "bearer") return AuthScheme::kBearer;
  return AuthScheme::kOther;
}

// Parses `name=value` pairs after a scheme until the next challenge starts
// (a token not followed by '=') or the header ends.
absl::Status ParseParams(std::string_view header, Lexer& lex, Challenge& challenge) {
  while (true) {
    lex.SkipSpacesAndCommas();
    if (lex.AtEnd()) return absl::OkStatus();
    std::size_t start = lex.pos();
    std::string_view name = lex.Token();
    if (name.empty()) return Malformed(header, "expected a parameter name");
    lex.SkipSpaces();
    if (lex.Peek() != '=') {  // a new challenge begins here
      lex.Rewind(start);
      return absl::OkStatus();
    }
    lex.Advance();
    lex.SkipSpaces();
    std::string value;
    if (lex.Peek() == '"') {
      std::optional<std::string> quoted = lex.Quoted();
      if (!quoted) return Malformed(header, "unterminated quoted string");
      value = std::move(*quoted);
    } else {
      value = std::string(lex.Token());
      if (value.empty()) return Malformed(header, "expected a parameter value");
    }
    challenge.params.emplace(absl::AsciiStrToLower(Sv(name)), std::move(value));
    lex.SkipSpaces();
    if (!lex.AtEnd() && lex.Peek() != ',') {
      return Malformed(header, "expected ',' between parameters");
    }
  }
}

// Parses what follows a scheme: nothing, a token68, or a parameter list.
absl::Status ParseChallengeBody(std::string_view header, Lexer& lex, Challenge& challenge) {
  bool had_space = lex.Peek() == ' ' || lex.Peek() == '\t';
  lex.SkipSpaces();
  if (lex.AtEnd() || lex.Peek() == ',') return ParseParams(header, lex, challenge);
  if (!had_space) return Malformed(header, "expected a space after the scheme");
  // token68 versus auth-param: `Bearer abc==` ends (or reaches ',') right
  // after the word, whereas `realm=...` continues with a value.
  std::size_t start = lex.pos();
  std::string_view word = lex.Token68();
  lex.SkipSpaces();
  if (!word.empty() && (lex.AtEnd() || lex.Peek() == ',')) {
    challenge.token68 = std::string(word);
    return ParseParams(header, lex, challenge);
  }
  lex.Rewind(start);
  return ParseParams(header, lex, challenge);
}

}  // namespace

std::string Challenge::Param(std::string_view name) const {
  auto it = params.find(name);
  return it == params.end() ? std::string() : it->second;
}

absl::StatusOr<std::vector<Challenge>> ParseWwwAuthenticate(std::string_view header) {
  Lexer lex(header);
  lex.SkipSpacesAndCommas();
  if (lex.AtEnd()) return Malformed(header, "no challenge");
  std::vector<Challenge> challenges;
  while (true) {
    lex.SkipSpacesAndCommas();
    if (lex.AtEnd()) break;
    std::string_view scheme = lex.Token();
    if (scheme.empty()) return Malformed(header, "expected an auth scheme");
    Challenge challenge;
    challenge.scheme_name = absl::AsciiStrToLower(Sv(scheme));
    challenge.scheme = SchemeFromName(challenge.scheme_name);
    if (absl::Status s = ParseChallengeBody(header, lex, challenge); !s.ok()) return s;
    challenges.push_back(std::move(challenge));
  }
  return challenges;
}

std::vector<Challenge> ParseWwwAuthenticateValues(const std::vector<std::string>& values) {
  std::vector<Challenge> all;
  for (const std::string& value : values) {
    absl::StatusOr<std::vector<Challenge>> parsed = ParseWwwAuthenticate(value);
    if (!parsed.ok()) continue;
    for (Challenge& c : *parsed) all.push_back(std::move(c));
  }
  return all;
}

}  // namespace crimirror::auth
