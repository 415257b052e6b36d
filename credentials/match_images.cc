// A port of the Go the kubelet runs (net/url's Parse, path/filepath's Match,
// the credentialprovider keyring), kept to its semantics rather than to what
// would look tidier: a plugin's matchImages and auth keys must select the
// same images here as they do in the kubelet.
#include "credentials/match_images.h"

#include <algorithm>
#include <cstdint>
#include <numeric>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace crimirror::credentials {
namespace {

absl::string_view A(std::string_view s) { return {s.data(), s.size()}; }

constexpr char32_t kRuneError = 0xFFFD;

// utf8.DecodeRuneInString: an invalid or short sequence is (RuneError, 1).
std::pair<char32_t, std::size_t> DecodeRune(absl::string_view s) {
  if (s.empty()) return {kRuneError, 0};
  const auto b0 = static_cast<unsigned char>(s[0]);
  if (b0 < 0x80) return {b0, 1};
  std::size_t len = 0;
  char32_t r = 0;
  char32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, r = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, r = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, r = b0 & 0x07, min = 0x10000;
  } else {
    return {kRuneError, 1};
  }
  if (s.size() < len) return {kRuneError, 1};
  for (std::size_t i = 1; i < len; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if ((b & 0xC0) != 0x80) return {kRuneError, 1};
    r = (r << 6) | (b & 0x3F);
  }
  if (r < min || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) return {kRuneError, 1};
  return {r, len};
}

// filepath.getEsc: one (possibly escaped) character of a class.
bool GetEsc(absl::string_view& chunk, char32_t& r) {
  if (chunk.empty() || chunk[0] == '-' || chunk[0] == ']') return false;
  if (chunk[0] == '\\') {
    chunk.remove_prefix(1);
    if (chunk.empty()) return false;
  }
  auto [rune, n] = DecodeRune(chunk);
  r = rune;
  chunk.remove_prefix(n);
  return !(rune == kRuneError && n == 1) && !chunk.empty();
}

enum class ChunkResult { kMatch, kNoMatch, kBadPattern };

// filepath.matchChunk: after a mismatch the chunk is still scanned, so a
// malformed pattern is reported whatever the name.
ChunkResult MatchChunk(absl::string_view chunk, absl::string_view s, absl::string_view& rest) {
  bool failed = false;
  while (!chunk.empty()) {
    if (!failed && s.empty()) failed = true;
    switch (chunk[0]) {
      case '[': {
        char32_t r = 0;
        if (!failed) {
          auto [rune, n] = DecodeRune(s);
          r = rune;
          s.remove_prefix(n);
        }
        chunk.remove_prefix(1);
        bool negated = false;
        if (!chunk.empty() && chunk[0] == '^') {
          negated = true;
          chunk.remove_prefix(1);
        }
        bool match = false;
        int nrange = 0;
        while (true) {
          if (!chunk.empty() && chunk[0] == ']' && nrange > 0) {
            chunk.remove_prefix(1);
            break;
          }
          char32_t lo = 0;
          if (!GetEsc(chunk, lo)) return ChunkResult::kBadPattern;
          char32_t hi = lo;
          if (chunk[0] == '-') {
            chunk.remove_prefix(1);
            if (!GetEsc(chunk, hi)) return ChunkResult::kBadPattern;
          }
          if (lo <= r && r <= hi) match = true;
          ++nrange;
        }
        if (match == negated) failed = true;
        break;
      }
      case '?':
        if (!failed) {
          if (s[0] == '/') failed = true;
          s.remove_prefix(DecodeRune(s).second);
        }
        chunk.remove_prefix(1);
        break;
      case '\\':
        chunk.remove_prefix(1);
        if (chunk.empty()) return ChunkResult::kBadPattern;
        [[fallthrough]];
      default:
        if (!failed) {
          if (chunk[0] != s[0]) failed = true;
          s.remove_prefix(1);
        }
        chunk.remove_prefix(1);
        break;
    }
  }
  if (failed) return ChunkResult::kNoMatch;
  rest = s;
  return ChunkResult::kMatch;
}

// filepath.scanChunk: leading stars, then up to the next star outside [].
void ScanChunk(absl::string_view& pattern, bool& star, absl::string_view& chunk) {
  star = false;
  while (!pattern.empty() && pattern[0] == '*') {
    pattern.remove_prefix(1);
    star = true;
  }
  bool in_range = false;
  std::size_t i = 0;
  for (; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\') {
      if (i + 1 < pattern.size()) ++i;
    } else if (c == '[') {
      in_range = true;
    } else if (c == ']') {
      in_range = false;
    } else if (c == '*' && !in_range) {
      break;
    }
  }
  chunk = pattern.substr(0, i);
  pattern.remove_prefix(i);
}

bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
int Unhex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}
bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// net/url.unescape in host (or path) mode.
absl::StatusOr<std::string> Unescape(absl::string_view s, bool host) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size() || !IsHex(s[i + 1]) || !IsHex(s[i + 2])) {
        return absl::InvalidArgumentError(absl::StrCat("invalid URL escape \"", s.substr(i, 3), "\""));
      }
      if (host && Unhex(s[i + 1]) < 8 && s.substr(i, 3) != "%25") {
        return absl::InvalidArgumentError(absl::StrCat("invalid URL escape \"", s.substr(i, 3), "\""));
      }
      out.push_back(static_cast<char>(Unhex(s[i + 1]) * 16 + Unhex(s[i + 2])));
      i += 2;
      continue;
    }
    if (host && static_cast<unsigned char>(c) < 0x80 && !IsAlnum(c) &&
        absl::string_view("!$&'()*+,;=:[]<>\"-_.~").find(c) == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("invalid character \"", std::string(1, c),
                                                     "\" in host name"));
    }
    out.push_back(c);
  }
  return out;
}

bool ValidOptionalPort(absl::string_view port) {
  if (port.empty()) return true;
  if (port[0] != ':') return false;
  return std::all_of(port.begin() + 1, port.end(), [](char c) { return c >= '0' && c <= '9'; });
}

absl::StatusOr<std::string> ParseHost(absl::string_view host) {
  absl::string_view port;
  if (absl::StartsWith(host, "[")) {
    const std::size_t close = host.rfind(']');
    if (close == absl::string_view::npos) return absl::InvalidArgumentError("missing ']' in host");
    port = host.substr(close + 1);
  } else if (const std::size_t colon = host.rfind(':'); colon != absl::string_view::npos) {
    port = host.substr(colon);
  }
  if (!ValidOptionalPort(port)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid port \"", port, "\" after host"));
  }
  return Unescape(host, /*host=*/true);
}

// net.SplitHostPort, falling back to (whole, "") on any error as the
// kubelet's SplitURL does.
void SplitHostPort(absl::string_view authority, absl::string_view& host, absl::string_view& port) {
  host = authority;
  port = {};
  const std::size_t colon = authority.rfind(':');
  if (colon == absl::string_view::npos) return;
  absl::string_view h;
  std::size_t j = 0;
  std::size_t k = 0;
  if (authority[0] == '[') {
    const std::size_t close = authority.find(']');
    if (close == absl::string_view::npos || close + 1 != colon) return;
    h = authority.substr(1, close - 1);
    j = 1;
    k = close + 1;
  } else {
    h = authority.substr(0, colon);
    if (h.find(':') != absl::string_view::npos) return;  // too many colons
  }
  if (authority.substr(j).find('[') != absl::string_view::npos) return;
  if (authority.substr(k).find(']') != absl::string_view::npos) return;
  host = h;
  port = authority.substr(colon + 1);
}

bool IsDefaultRegistryMatch(absl::string_view image) {
  std::vector<absl::string_view> parts = absl::StrSplit(image, absl::MaxSplits('/', 1));
  if (parts[0].empty()) return false;
  if (parts.size() == 1) return true;
  if (parts[0] == "docker.io" || parts[0] == "index.docker.io") return true;
  return parts[0].find_first_of(".:") == absl::string_view::npos;
}

}  // namespace

absl::StatusOr<SchemelessUrl> ParseSchemelessUrl(std::string_view text_in) {
  const absl::string_view text = A(text_in);
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError("invalid control character in URL");
    }
  }
  absl::string_view rest = text.substr(0, text.find('#'));
  rest = rest.substr(0, rest.find('?'));
  const std::size_t slash = rest.find('/');
  absl::string_view authority = rest.substr(0, slash);
  absl::string_view path = slash == absl::string_view::npos ? "" : rest.substr(slash);
  if (const std::size_t at = authority.rfind('@'); at != absl::string_view::npos) {
    for (char c : authority.substr(0, at)) {
      if (!IsAlnum(c) && absl::string_view("-._:~!$&'()*+,;=%@").find(c) == absl::string_view::npos) {
        return absl::InvalidArgumentError("invalid userinfo");
      }
    }
    authority.remove_prefix(at + 1);
  }
  absl::StatusOr<std::string> host = ParseHost(authority);
  if (!host.ok()) return host.status();
  absl::StatusOr<std::string> decoded_path = Unescape(path, /*host=*/false);
  if (!decoded_path.ok()) return decoded_path.status();
  return SchemelessUrl{*std::move(host), *std::move(decoded_path)};
}

bool GoFilepathMatch(std::string_view pattern_in, std::string_view name_in) {
  absl::string_view pattern = A(pattern_in);
  absl::string_view name = A(name_in);
  while (!pattern.empty()) {
    bool star = false;
    absl::string_view chunk;
    ScanChunk(pattern, star, chunk);
    if (star && chunk.empty()) return name.find('/') == absl::string_view::npos;
    absl::string_view rest;
    ChunkResult r = MatchChunk(chunk, name, rest);
    if (r == ChunkResult::kMatch && (rest.empty() || !pattern.empty())) {
      name = rest;
      continue;
    }
    if (r == ChunkResult::kBadPattern) return false;
    bool advanced = false;
    if (star) {
      for (std::size_t i = 0; i < name.size() && name[i] != '/'; ++i) {
        r = MatchChunk(chunk, name.substr(i + 1), rest);
        if (r == ChunkResult::kMatch) {
          if (pattern.empty() && !rest.empty()) continue;
          name = rest;
          advanced = true;
          break;
        }
        if (r == ChunkResult::kBadPattern) return false;
      }
    }
    if (!advanced) return false;
  }
  return name.empty();
}

bool UrlsMatch(std::string_view glob, std::string_view target) {
  absl::StatusOr<SchemelessUrl> g = ParseSchemelessUrl(glob);
  absl::StatusOr<SchemelessUrl> t = ParseSchemelessUrl(target);
  if (!g.ok() || !t.ok()) return false;
  absl::string_view g_host, g_port, t_host, t_port;
  SplitHostPort(g->host, g_host, g_port);
  SplitHostPort(t->host, t_host, t_port);
  if (g_port != t_port) return false;
  std::vector<absl::string_view> g_parts = absl::StrSplit(g_host, '.');
  std::vector<absl::string_view> t_parts = absl::StrSplit(t_host, '.');
  if (g_parts.size() != t_parts.size()) return false;
  if (!absl::StartsWith(t->path, g->path)) return false;
  for (std::size_t i = 0; i < g_parts.size(); ++i) {
    if (!GoFilepathMatch(std::string_view(g_parts[i].data(), g_parts[i].size()),
                         std::string_view(t_parts[i].data(), t_parts[i].size()))) {
      return false;
    }
  }
  return true;
}

absl::StatusOr<std::string> NormalizeAuthKey(std::string_view key) {
  absl::string_view value = A(key);
  if (absl::StartsWith(value, "https://")) {
    value.remove_prefix(8);
  } else if (absl::StartsWith(value, "http://")) {
    value.remove_prefix(7);
  }
  absl::StatusOr<SchemelessUrl> parsed = ParseSchemelessUrl(std::string_view(value.data(), value.size()));
  if (!parsed.ok()) return parsed.status();
  absl::string_view path = parsed->path;
  if (absl::StartsWith(path, "/v2/") || absl::StartsWith(path, "/v1/")) path.remove_prefix(3);
  if (path.empty() || path == "/") return parsed->host;
  return absl::StrCat(parsed->host, path);
}

int BestAuthKey(const std::vector<std::string>& keys, std::string_view image_in) {
  const absl::string_view image = A(image_in);
  std::vector<int> order(keys.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return keys[a] > keys[b]; });
  for (int i : order) {
    if (UrlsMatch(keys[i], image_in)) return i;
  }
  if (IsDefaultRegistryMatch(image)) {
    for (int i : order) {
      if (keys[i] == "index.docker.io") return i;
    }
  }
  return -1;
}

}  // namespace crimirror::credentials
