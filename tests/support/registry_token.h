// Copyright cri-mirror authors.
//
// Docker registry token auth for tests (docker/distribution auth/token):
// JSON Web Tokens signed RS256 with a key whose certificate the registry
// trusts (its `auth.token.rootcertbundle`), the key named by libtrust's key
// ID. Issuer "test-issuer", audience (service) "test-registry", subject
// "alice", valid from 10 s ago for 5 minutes; and the reading of a token
// request's form. Used by relay_upstream_test and by the integration test
// bed; no I/O.
#pragma once

#include <openssl/evp.h>

#include <string>
#include <string_view>
#include <vector>

namespace crimirror::test_support {

// The issuer and service a registry must be configured with to accept
// tokens from MintRegistryToken().
inline constexpr char kTokenIssuer[] = "test-issuer";
inline constexpr char kTokenService[] = "test-registry";

// libtrust's key ID of `key`'s public key: the first 240 bits of the SHA-256
// of its DER SubjectPublicKeyInfo, base32, in groups of four joined by ':'.
std::string LibtrustKeyId(EVP_PKEY* key);

// A token granting `scopes` ("repository:library/demo:pull,push"; malformed
// scopes are skipped), signed with the RSA `key`.
std::string MintRegistryToken(EVP_PKEY* key, const std::vector<std::string>& scopes);

// Every value of `name`, decoded, in `form`: the body of a token request
// (application/x-www-form-urlencoded) or the query of its URL, without the
// '?' ("service=r&scope=repository%3Aa%3Apull"). '+' decodes to a space.
std::vector<std::string> FormValues(std::string_view form, std::string_view name);

}  // namespace crimirror::test_support
