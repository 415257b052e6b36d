#include "auth/token.h"

#include <cstdint>
#include <optional>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "log/echo.h"

namespace crimirror::auth {
namespace {

// Abseil here is built with its own string_view type.
absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::Status BadToken(std::string_view realm, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "token realm ", log::Excerpt(realm), " answered with ", Sv(why),
      "; check that the realm is a Docker token server (the registry's auth config)"));
}

// The first non-empty string among `token` and `access_token`.
std::optional<std::string> TokenField(const nlohmann::json& json) {
  for (const char* key : {"token", "access_token"}) {
    auto it = json.find(key);
    if (it != json.end() && it->is_string() && !it->get_ref<const std::string&>().empty()) {
      return it->get<std::string>();
    }
  }
  return std::nullopt;
}

absl::Duration Lifetime(const nlohmann::json& json) {
  auto it = json.find("expires_in");
  if (it == json.end() || !it->is_number()) return kDefaultTokenLifetime;
  double seconds = it->get<double>();
  // Clamp absurd values (a year is far beyond any registry's tokens).
  if (!(seconds > 0)) return kDefaultTokenLifetime;
  if (seconds > 365.0 * 24 * 3600) seconds = 365.0 * 24 * 3600;
  return absl::Seconds(seconds);
}

absl::Time LifetimeStart(const nlohmann::json& json, absl::Time now) {
  auto it = json.find("issued_at");
  if (it == json.end() || !it->is_string()) return now;
  absl::Time issued;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, it->get_ref<const std::string&>(), &issued, &error)) {
    return now;
  }
  return issued < now ? issued : now;
}

}  // namespace

bool HasControlBytes(std::string_view token) {
  for (char c : token) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

absl::StatusOr<Token> ParseTokenResponse(std::string_view body, absl::Time now,
                                         std::string_view realm) {
  nlohmann::json json = nlohmann::json::parse(body, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return BadToken(realm, "a body that is not JSON");
  if (!json.is_object()) return BadToken(realm, "JSON that is not an object");
  std::optional<std::string> token = TokenField(json);
  if (!token) return BadToken(realm, "no \"token\" or \"access_token\" field");
  if (HasControlBytes(*token)) {
    // Issue 10 defect 5: a CR/LF in a token would split the Authorization
    // header and let the realm inject headers into registry requests.
    return BadToken(realm, "a token containing control bytes (CR, LF, ...), refused");
  }
  Token result;
  result.token = config::Secret(std::move(*token));
  result.expires = LifetimeStart(json, now) + Lifetime(json);
  return result;
}

std::string UrlEncode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if (absl::ascii_isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xF]);
    }
  }
  return out;
}

std::string TokenGetUrl(std::string_view realm, std::string_view service,
                        const std::vector<std::string>& scopes) {
  std::string url(realm);
  char separator = realm.find('?') == std::string_view::npos ? '?' : '&';
  if (!service.empty()) {
    absl::StrAppend(&url, absl::string_view(&separator, 1), "service=", UrlEncode(service));
    separator = '&';
  }
  for (const std::string& scope : scopes) {
    absl::StrAppend(&url, absl::string_view(&separator, 1), "scope=", UrlEncode(scope));
    separator = '&';
  }
  return url;
}

config::Secret TokenPostForm(std::string_view service, const std::vector<std::string>& scopes,
                             const config::Secret& refresh_token, std::string_view client_id) {
  std::string form = absl::StrCat("grant_type=refresh_token&refresh_token=",
                                  UrlEncode(refresh_token.Reveal()));
  if (!service.empty()) absl::StrAppend(&form, "&service=", UrlEncode(service));
  if (!scopes.empty()) absl::StrAppend(&form, "&scope=", UrlEncode(absl::StrJoin(scopes, " ")));
  absl::StrAppend(&form, "&client_id=", UrlEncode(client_id));
  return config::Secret(std::move(form));
}

std::vector<std::string> SplitScopes(std::string_view scope) {
  return absl::StrSplit(Sv(scope), ' ', absl::SkipWhitespace());
}

std::string PullScope(std::string_view repository) {
  return absl::StrCat("repository:", Sv(repository), ":pull");
}

}  // namespace crimirror::auth
