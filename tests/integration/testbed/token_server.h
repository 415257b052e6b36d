// Copyright cri-mirror authors.
//
// TokenServer: the token service ("realm") of a token-auth test registry,
// on 127.0.0.1. docker-registry has no token service of its own, so this is
// a stand-in, limited to the OAuth2 refresh-token grant a kubelet's
// identity_token drives: POST with grant_type=refresh_token and the
// expected refresh_token answers {"access_token": <JWT>} for the requested
// scopes, signed by a TokenSigner; anything else answers 401. Thread-safe;
// stopped by its destructor.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "tests/integration/testbed/test_ca.h"

struct MHD_Daemon;

namespace crimirror::testbed {

class TokenServer {
 public:
  // Serves on a free loopback port. `signer` must outlive the server. With
  // `tls`, serves https with that CA's server certificate (an https
  // registry's realm must be https: cri-mirror refuses a plain-http one).
  // Internal if libmicrohttpd cannot start or the TLS files cannot be read.
  static absl::StatusOr<std::unique_ptr<TokenServer>> Start(const TokenSigner* signer,
                                                            std::string refresh_token,
                                                            const TestCa* tls = nullptr);
  ~TokenServer();
  TokenServer(const TokenServer&) = delete;
  TokenServer& operator=(const TokenServer&) = delete;

  // "http(s)://127.0.0.1:<port>/token", the registry's realm.
  std::string Url() const;
  // "127.0.0.1:<port>", the realm's [host] key.
  std::string HostPort() const;
  // Tokens issued so far (refresh-token grants that matched).
  int issued() const { return issued_.load(); }

  // The answer to one request: HTTP status and JSON body. Internal to the
  // server's callbacks.
  struct Answer {
    unsigned status;
    std::string body;
  };
  Answer Handle(const std::string& method, const std::string& form);

 private:
  TokenServer(const TokenSigner* signer, std::string refresh_token);

  const TokenSigner* signer_;
  const std::string refresh_token_;
  MHD_Daemon* daemon_ = nullptr;
  int port_ = 0;
  std::string scheme_ = "http";
  std::string tls_cert_, tls_key_;  // PEM text; MHD keeps pointers into them
  std::atomic<int> issued_{0};
};

}  // namespace crimirror::testbed
