// Copyright cri-mirror authors.
//
// Registry runs one docker-registry 2.8 (Debian's distribution) for a test
// on 127.0.0.1:<free port> with filesystem storage under the test dir and a
// generated config.yml. Modes combine freely: plain HTTP or TLS (optionally
// requiring client certificates), htpasswd Basic auth, and pull-through
// cache ("proxy") in front of another registry. The debug HTTP server is
// never enabled. The registry's environment is cleared so REGISTRY_*
// variables of the caller cannot change its config.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/integration/testbed/process.h"

namespace crimirror::testbed {

// Serve HTTPS with this certificate (e.g. from TestCa).
struct RegistryTls {
  std::string cert_file;
  std::string key_file;
  // Non-empty: require client certificates signed by this CA (mTLS).
  std::string client_ca_file;
};

// A username/password pair (htpasswd for the registry itself, or the
// credentials a proxy registry uses upstream).
struct RegistryCredentials {
  std::string username;
  std::string password;
};

// Pull-through cache mode: docker-registry fetches what it lacks from
// remote_url (e.g. another Registry's Url()). A proxy registry refuses
// pushes; push to the upstream instead.
// Known limit of docker-registry 2.8: `credentials` are only used for a
// Bearer-token upstream; against a Basic (htpasswd) upstream the proxy
// sends none (2.8 looks them up by the full request URL; fixed in
// distribution v3), so keep the upstream of a proxy anonymous.
struct RegistryProxy {
  std::string remote_url;
  std::optional<RegistryCredentials> credentials;
};

// Docker token auth: the registry accepts only JWTs signed by the key of
// `root_cert_path` (issuer/service of tests/support/registry_token.h, e.g.
// from TokenSigner) and sends clients to `realm` for them.
struct RegistryTokenAuth {
  std::string realm;
  std::string root_cert_path;
};

// How to run the registry.
struct RegistryOptions {
  // Subdirectory of the parent dir holding config, storage and log; must be
  // unique per registry within one test.
  std::string name = "registry";
  std::optional<RegistryTls> tls;
  // htpasswd auth with one bcrypt user (made with `htpasswd -Bbn`).
  std::optional<RegistryCredentials> htpasswd;
  // Token auth instead (set at most one of htpasswd and token_auth).
  std::optional<RegistryTokenAuth> token_auth;
  std::optional<RegistryProxy> proxy;
  // 0 picks a free loopback port (retried if it was taken meanwhile).
  int port = 0;
  std::string binary = "/usr/bin/docker-registry";
  absl::Duration start_timeout = absl::Seconds(20);
};

// One docker-registry process. Not thread-safe; the destructor stops it.
class Registry {
 public:
  // Writes <parent_dir>/<name>/{config.yml,htpasswd,storage/} and starts
  // the registry; returns once GET /v2/ answers (200, or 401 with auth).
  // FailedPrecondition with the log tail if it exits during start-up,
  // NotFound if docker-registry/htpasswd are missing, DeadlineExceeded.
  static absl::StatusOr<std::unique_ptr<Registry>> Create(
      const std::string& parent_dir, RegistryOptions options = {});

  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Starts it again after Stop() on the same port and storage (fails
  // rather than moving if the port was taken meanwhile).
  absl::Status Start();
  // SIGTERM, bounded wait, SIGKILL. Storage is kept. Idempotent.
  void Stop();
  bool Running();

  // "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT".
  std::string Url() const;
  // "127.0.0.1:PORT" (the registry part of image references).
  std::string HostPort() const;
  int port() const { return port_; }
  bool tls() const { return options_.tls.has_value(); }
  const RegistryOptions& options() const { return options_; }
  const std::string& config_path() const { return config_path_; }
  const std::string& storage_dir() const { return storage_dir_; }
  std::string LogTail(size_t max_bytes = 4096) const;

 private:
  Registry(std::string dir, RegistryOptions options);
  absl::Status WriteConfig();
  absl::Status StartOnce(bool* port_in_use);

  std::string dir_;
  RegistryOptions options_;
  int port_ = 0;
  std::string config_path_;
  std::string storage_dir_;
  std::string log_path_;
  std::unique_ptr<Process> process_;
};

}  // namespace crimirror::testbed
