#include "auth/credentials.h"

#include <openssl/evp.h>

#include <array>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace crimirror::auth {
namespace {

absl::Status BadAuth(const config::HostSettings& host, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "[host.\"", host.host, "\"].auth: ", absl::string_view(why.data(), why.size()),
      "; set it to base64(\"user:password\") as in ~/.docker/config.json, or use "
      "username and password instead"));
}

}  // namespace

std::string Credentials::Fingerprint() const {
  // Length-prefixed fields so ("ab","c") and ("a","bc") differ.
  std::string material;
  for (const std::string* field : {&username, &password.Reveal(), &identity_token.Reveal(),
                                    &registry_token.Reveal()}) {
    absl::StrAppend(&material, field->size(), ":", *field, ";");
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(material.data(), material.size(), digest.data(), &length, EVP_sha256(),
                 nullptr) != 1) {
    // Cannot happen with the built-in SHA-256; fall back to a value that
    // matches nothing else rather than to the secret itself.
    return "unavailable";
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest.data()), length));
}

Credentials BasicCredentials(std::string username, config::Secret password) {
  Credentials credentials;
  credentials.username = std::move(username);
  credentials.password = std::move(password);
  return credentials;
}

absl::StatusOr<Credentials> CredentialsFromHost(const config::HostSettings& host) {
  Credentials credentials;
  if (!host.identity_token.empty()) {
    credentials.username = host.username;
    credentials.identity_token = host.identity_token;
    return credentials;
  }
  if (!host.username.empty() || !host.password.empty()) {
    credentials.username = host.username;
    credentials.password = host.password;
    return credentials;
  }
  if (host.auth.empty()) return credentials;
  std::string decoded;
  if (!absl::Base64Unescape(host.auth.Reveal(), &decoded)) {
    return BadAuth(host, "not valid base64");
  }
  std::size_t colon = decoded.find(':');
  if (colon == std::string::npos) return BadAuth(host, "decodes to no \"user:password\" pair");
  credentials.username = decoded.substr(0, colon);
  credentials.password = config::Secret(decoded.substr(colon + 1));
  return credentials;
}

config::Secret BasicAuthorization(const Credentials& credentials) {
  return config::Secret(absl::StrCat(
      "Basic ", absl::Base64Escape(absl::StrCat(credentials.username, ":",
                                                credentials.password.Reveal()))));
}

config::Secret BearerAuthorization(const config::Secret& token) {
  return config::Secret(absl::StrCat("Bearer ", token.Reveal()));
}

}  // namespace crimirror::auth
