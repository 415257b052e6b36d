#include "credentials/docker_config.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace crimirror::credentials {
namespace {

using Json = nlohmann::json;

constexpr std::size_t kMaxShownKey = 128;

// Keys are not secret, but bounded and quoted so a log line stays one line.
std::string Quote(std::string_view key) {
  std::string shown(key.substr(0, kMaxShownKey));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '"') c = '?';
  }
  return absl::StrCat("\"", shown, key.size() > kMaxShownKey ? "...\"" : "\"");
}

std::string StringField(const Json& entry, const char* name, bool* wrong_type) {
  auto it = entry.find(name);
  if (it == entry.end() || it->is_null()) return "";
  if (!it->is_string()) {
    *wrong_type = true;
    return "";
  }
  return it->get<std::string>();
}

// The credentials of one auths entry; `why` set when it is unusable.
auth::Credentials EntryCredentials(const Json& entry, std::string* why) {
  auth::Credentials c;
  if (!entry.is_object()) {
    *why = "is not an object";
    return c;
  }
  bool wrong_type = false;
  const std::string encoded = StringField(entry, "auth", &wrong_type);
  c.username = StringField(entry, "username", &wrong_type);
  c.password = config::Secret(StringField(entry, "password", &wrong_type));
  c.identity_token = config::Secret(StringField(entry, "identitytoken", &wrong_type));
  c.registry_token = config::Secret(StringField(entry, "registrytoken", &wrong_type));
  if (wrong_type) {
    *why = "has a field (auth, username, password, identitytoken, registrytoken) that is not a "
           "string";
    return c;
  }
  if (!encoded.empty() && c.username.empty() && c.password.empty()) {
    std::string decoded;
    if (!absl::Base64Unescape(encoded, &decoded)) {
      *why = "auth is not base64; it must encode \"username:password\"";
      return c;
    }
    const std::size_t colon = decoded.find(':');
    if (colon == std::string::npos) {
      *why = "auth does not decode to \"username:password\"";
      return c;
    }
    c.username = decoded.substr(0, colon);
    c.password = config::Secret(decoded.substr(colon + 1));
  }
  // Docker: an identity token replaces the password (refresh-token flow).
  if (!c.identity_token.empty()) c.password = config::Secret();
  return c;
}

template <typename Entry>
const Entry* FirstMatch(const std::vector<Entry>& entries, const RegistryKey& image) {
  for (const Entry& entry : entries) {
    if (KeyMatches(entry.parsed, image)) return &entry;
  }
  return nullptr;
}

template <typename Entry>
void SortEntries(std::vector<Entry>& entries) {
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.parsed.Spelling() > b.parsed.Spelling();
  });
}

// The parsed key, or nullopt with a problem noted at `where`.
std::optional<RegistryKey> KeyOrProblem(const std::string& key, const std::string& where,
                                        DockerConfig& out) {
  absl::StatusOr<RegistryKey> parsed = ParseRegistryKey(key);
  if (parsed.ok()) return *std::move(parsed);
  out.problems.push_back(absl::StrCat(where, ": ", parsed.status().message()));
  return std::nullopt;
}

constexpr char kPlainName[] =
    " must be a plain name (letters, digits, '.', '_', '-'), run as docker-credential-NAME";

void ParseAuths(const Json& auths, const std::string& file, DockerConfig& out) {
  for (const auto& [key, entry] : auths.items()) {
    const std::string where = absl::StrCat(file, ": auths ", Quote(key));
    std::optional<RegistryKey> parsed = KeyOrProblem(key, where, out);
    if (!parsed) continue;
    std::string why;
    auth::Credentials credentials = EntryCredentials(entry, &why);
    if (!why.empty()) {
      out.problems.push_back(absl::StrCat(where, ": ", why));
      continue;
    }
    if (credentials.empty()) continue;  // a placeholder beside a credsStore
    out.auths.push_back(DockerAuthEntry{key, *std::move(parsed), std::move(credentials)});
  }
  SortEntries(out.auths);
}

void ParseHelpers(const Json& helpers, const std::string& file, DockerConfig& out) {
  for (const auto& [key, name] : helpers.items()) {
    const std::string where = absl::StrCat(file, ": credHelpers ", Quote(key));
    std::optional<RegistryKey> parsed = KeyOrProblem(key, where, out);
    if (!parsed) continue;
    if (!name.is_string() || !IsValidHelperName(name.get<std::string>())) {
      out.problems.push_back(absl::StrCat(where, ": the helper", kPlainName));
      continue;
    }
    out.cred_helpers.push_back(DockerHelperEntry{key, *std::move(parsed), name.get<std::string>()});
  }
  SortEntries(out.cred_helpers);
}

}  // namespace

bool IsValidHelperName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '-') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

absl::StatusOr<DockerConfig> ParseDockerConfig(std::string_view text,
                                               std::string_view file_name) {
  const std::string file(file_name);
  // No parser message: nlohmann's quotes the bytes it read, which may be a
  // secret.
  Json json = Json::parse(text.begin(), text.end(), /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(
        file, ": not valid JSON; fix the file (docker login writes it) or remove it from "
              "[credentials] docker_config"));
  }
  if (!json.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": not a JSON object"));
  }
  DockerConfig out;
  auto field = [&](const char* name, bool (Json::*is)() const noexcept,
                   const char* what) -> absl::StatusOr<const Json*> {
    auto it = json.find(name);
    if (it == json.end() || it->is_null()) return nullptr;
    if (!((*it).*is)()) {
      return absl::InvalidArgumentError(absl::StrCat(file, ": ", name, " must be ", what));
    }
    return &*it;
  };
  absl::StatusOr<const Json*> auths = field("auths", &Json::is_object, "an object");
  if (!auths.ok()) return auths.status();
  absl::StatusOr<const Json*> helpers = field("credHelpers", &Json::is_object, "an object");
  if (!helpers.ok()) return helpers.status();
  absl::StatusOr<const Json*> store = field("credsStore", &Json::is_string, "a string");
  if (!store.ok()) return store.status();
  if (*auths != nullptr) ParseAuths(**auths, file, out);
  if (*helpers != nullptr) ParseHelpers(**helpers, file, out);
  if (*store != nullptr) {
    const std::string name = (*store)->get<std::string>();
    if (IsValidHelperName(name)) {
      out.creds_store = name;
    } else if (!name.empty()) {
      out.problems.push_back(absl::StrCat(file, ": credsStore", kPlainName));
    }
  }
  return out;
}

const DockerAuthEntry* MatchAuth(const DockerConfig& config, const RegistryKey& image) {
  return FirstMatch(config.auths, image);
}

const DockerHelperEntry* MatchHelper(const DockerConfig& config, const RegistryKey& image) {
  return FirstMatch(config.cred_helpers, image);
}

}  // namespace crimirror::credentials
