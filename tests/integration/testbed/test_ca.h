// Copyright cri-mirror authors.
//
// TestCa makes throw-away PKI for TLS tests with the openssl CLI: a
// self-signed CA, a server certificate signed by it (CN and SAN
// DNS:docker-registry by default, like the private-registry guide), and
// optionally a client certificate for mTLS. EC P-256 keys, valid for two
// days, so generation takes milliseconds.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

struct evp_pkey_st;

namespace crimirror::testbed {

// What to issue.
struct TestCaOptions {
  // Subject CN of the server certificate; also its first SAN (DNS:<cn>).
  std::string server_common_name = "docker-registry";
  // Extra SAN entries in openssl syntax, e.g. {"IP:127.0.0.1",
  // "DNS:localhost"}. Default none: a client that dials 127.0.0.1 must then
  // verify against the name (tls_server_name) — the scenario of issue 4.
  std::vector<std::string> extra_sans;
  // Also issue client.crt/client.key (CN "cri-mirror-test-client",
  // extendedKeyUsage clientAuth) for mTLS.
  bool client_certificate = false;
};

// Files of one CA. Immutable after Create; the files live in the given
// directory and go away with the TempDir.
class TestCa {
 public:
  // Writes into <dir> (created if missing): ca.pem, ca.key, server.crt,
  // server.key, and with client_certificate client.crt, client.key; also
  // <dir>/certs.d/ for skopeo --dest-cert-dir (ca.crt [+ client.cert/key]).
  // Internal with openssl's stderr when a command fails.
  static absl::StatusOr<std::unique_ptr<TestCa>> Create(
      const std::string& dir, const TestCaOptions& options = {});

  const std::string& ca_cert_path() const { return ca_cert_; }
  const std::string& ca_key_path() const { return ca_key_; }
  const std::string& server_cert_path() const { return server_cert_; }
  const std::string& server_key_path() const { return server_key_; }
  // Empty unless options.client_certificate.
  const std::string& client_cert_path() const { return client_cert_; }
  const std::string& client_key_path() const { return client_key_; }
  // A directory in the layout skopeo/containers expect (ca.crt, and
  // client.cert/client.key when issued).
  const std::string& cert_dir() const { return cert_dir_; }

 private:
  explicit TestCa(const std::string& dir);

  std::string dir_;
  std::string ca_cert_, ca_key_, server_cert_, server_key_;
  std::string client_cert_, client_key_, cert_dir_;
};

// An RSA key and its self-signed certificate for Docker registry token auth
// (token.key, token.crt in the given directory, made with the openssl CLI),
// and tokens signed with it (tests/support/registry_token.h). Give
// cert_path() to the registry as RegistryTokenAuth::root_cert_path.
class TokenSigner {
 public:
  // Internal with openssl's stderr when a command fails.
  static absl::StatusOr<std::unique_ptr<TokenSigner>> Create(const std::string& dir);
  ~TokenSigner();
  TokenSigner(const TokenSigner&) = delete;
  TokenSigner& operator=(const TokenSigner&) = delete;

  const std::string& cert_path() const { return cert_path_; }
  // A token granting `scopes`, e.g. {"repository:team/app:pull,push"}.
  std::string Mint(const std::vector<std::string>& scopes) const;

 private:
  TokenSigner(std::string cert_path, evp_pkey_st* key);
  std::string cert_path_;
  evp_pkey_st* key_;
};

}  // namespace crimirror::testbed
