// nlohmann::json is used without exceptions: parse(..., allow_exceptions =
// false) and a type check before every get<>, so garbage on a plugin's
// stdout is an error value, never a throw.
#include "credentials/provider_response.h"

#include "absl/strings/str_cat.h"
#include "credentials/go_duration.h"
#include "credentials/match_images.h"
#include "nlohmann/json.hpp"

namespace crimirror::credentials {
namespace {

absl::string_view A(std::string_view s) { return {s.data(), s.size()}; }

using Json = nlohmann::json;

absl::Status Bad(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("credential provider response: ", why));
}

// A short, printable rendition of a protocol field for an error message.
std::string Quoted(const Json& value) {
  if (!value.is_string()) return value.is_null() ? "missing" : "not a string";
  std::string s = value.get<std::string>().substr(0, 64);
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  return absl::StrCat("\"", s, "\"");
}

const Json& Field(const Json& object, const char* key) {
  static const Json kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

absl::StatusOr<std::optional<absl::Duration>> CacheDuration(const Json& value) {
  if (value.is_null()) return std::nullopt;
  if (value.is_number()) {
    if (value == 0) return absl::ZeroDuration();
    return Bad("cacheDuration must be a duration string such as \"1h\" or \"0s\"");
  }
  if (!value.is_string()) return Bad("cacheDuration must be a duration string");
  absl::StatusOr<absl::Duration> d = ParseGoDuration(value.get<std::string>());
  if (!d.ok()) return Bad("cacheDuration is not a Go duration such as \"1h\" or \"0s\"");
  return *d;
}

absl::Status AuthEntries(const Json& value, ProviderResponse& out) {
  if (value.is_null()) return absl::OkStatus();
  if (!value.is_object()) return Bad("auth must be a map of image pattern to {username, password}");
  for (auto it = value.begin(); it != value.end(); ++it) {
    const Json& entry = it.value();
    if (!entry.is_object()) return Bad("an auth entry is not a {username, password} map");
    const Json& username = Field(entry, "username");
    const Json& password = Field(entry, "password");
    if (!(username.is_null() || username.is_string()) ||
        !(password.is_null() || password.is_string())) {
      return Bad("an auth entry's username or password is not a string");
    }
    absl::StatusOr<std::string> pattern = NormalizeAuthKey(it.key());
    if (!pattern.ok()) continue;  // the kubelet ignores keys it cannot parse
    ProviderAuthEntry e;
    e.pattern = *std::move(pattern);
    e.credentials = auth::BasicCredentials(username.is_string() ? username.get<std::string>() : "",
                                           config::Secret(password.is_string()
                                                              ? password.get<std::string>()
                                                              : ""));
    out.auth.push_back(std::move(e));
  }
  return absl::OkStatus();
}

}  // namespace

std::string EncodeProviderRequest(std::string_view api_version, std::string_view image) {
  Json request = {{"apiVersion", std::string(api_version)},
                  {"kind", "CredentialProviderRequest"},
                  {"image", std::string(image)}};
  return request.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

absl::StatusOr<ProviderResponse> ParseProviderResponse(std::string_view body,
                                                       std::string_view api_version_in) {
  const absl::string_view api_version = A(api_version_in);
  const Json json = Json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return Bad("not JSON");
  if (!json.is_object()) return Bad("not a JSON object");
  const Json& version = Field(json, "apiVersion");
  if (!version.is_string() || version.get<std::string>() != api_version) {
    return Bad(absl::StrCat("apiVersion ", Quoted(version), " does not match the request's \"",
                            api_version, "\""));
  }
  const Json& kind = Field(json, "kind");
  if (!kind.is_string() || kind.get<std::string>() != "CredentialProviderResponse") {
    return Bad(absl::StrCat("kind ", Quoted(kind), " is not \"CredentialProviderResponse\""));
  }
  ProviderResponse out;
  const Json& key_type = Field(json, "cacheKeyType");
  const std::string type = key_type.is_string() ? key_type.get<std::string>() : "";
  if (type == "Image") {
    out.cache_key_type = CacheKeyType::kImage;
  } else if (type == "Registry") {
    out.cache_key_type = CacheKeyType::kRegistry;
  } else if (type == "Global") {
    out.cache_key_type = CacheKeyType::kGlobal;
  } else {
    return Bad(absl::StrCat("cacheKeyType ", Quoted(key_type),
                            " is not one of \"Image\", \"Registry\", \"Global\""));
  }
  absl::StatusOr<std::optional<absl::Duration>> duration =
      CacheDuration(Field(json, "cacheDuration"));
  if (!duration.ok()) return duration.status();
  out.cache_duration = *duration;
  if (absl::Status s = AuthEntries(Field(json, "auth"), out); !s.ok()) return s;
  return out;
}

const ProviderAuthEntry* SelectAuth(const ProviderResponse& response, std::string_view image) {
  std::vector<std::string> keys;
  keys.reserve(response.auth.size());
  for (const ProviderAuthEntry& e : response.auth) keys.push_back(e.pattern);
  const int best = BestAuthKey(keys, image);
  return best < 0 ? nullptr : &response.auth[static_cast<std::size_t>(best)];
}

}  // namespace crimirror::credentials
