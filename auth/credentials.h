// Registry credentials resolved from a `[host]` table (or from the kubelet's
// AuthConfig), and the Basic Authorization value built from them. Pure: no
// I/O; the secrets stay in config::Secret end to end.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "config/secret.h"

namespace crimirror::auth {

// What the relay can present to a registry or its token realm.
struct Credentials {
  std::string username;
  config::Secret password;
  // An OAuth2 refresh token (`identity_token`, Docker's "identitytoken"):
  // when set, bearer tokens are fetched with the OAuth2 POST flow
  // (grant_type=refresh_token) instead of GET with Basic auth.
  config::Secret identity_token;
  // A bearer token for the registry itself (Docker's "registrytoken", CRI
  // AuthConfig.registry_token): sent as `Authorization: Bearer` as is, with
  // no token fetch. Only the kubelet supplies one; [host] tables cannot.
  config::Secret registry_token;

  // True when there is nothing to present (anonymous).
  bool empty() const {
    return username.empty() && password.empty() && identity_token.empty() &&
           registry_token.empty();
  }
  // True when a Basic user:password pair is available.
  bool has_basic() const { return !username.empty() || !password.empty(); }
  // A stable, non-reversible fingerprint (hex SHA-256 of the fields) used to
  // key token caches so tokens fetched with one identity are never served to
  // another. Empty credentials give a fixed fingerprint.
  std::string Fingerprint() const;

  friend bool operator==(const Credentials&, const Credentials&) = default;
};

// Credentials with just a Basic user:password pair.
Credentials BasicCredentials(std::string username, config::Secret password);

// Resolves the credentials of a `[host]` table:
//  - identity_token set: refresh-token flow (username kept if given);
//  - username/password set: Basic pair;
//  - auth set: base64 "user:pass" decoded (Docker config.json style);
//  - none: empty (anonymous).
// Returns InvalidArgument naming `[host."<host>"].auth` when `auth` is not
// base64 or has no ':'; the message never contains the secret.
absl::StatusOr<Credentials> CredentialsFromHost(const config::HostSettings& host);

// "Basic base64(user:password)" for an Authorization header.
config::Secret BasicAuthorization(const Credentials& credentials);

// "Bearer <token>" for an Authorization header.
config::Secret BearerAuthorization(const config::Secret& token);

}  // namespace crimirror::auth
