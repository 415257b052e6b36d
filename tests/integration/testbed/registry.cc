// Copyright cri-mirror authors.
#include "tests/integration/testbed/registry.h"

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/integration/testbed/temp_dir.h"
#include "tests/integration/testbed/wait.h"
#include "tests/support/registry_token.h"

namespace crimirror::testbed {
namespace {

constexpr int kPortAttempts = 5;

// YAML double-quoted scalar; test paths and passwords have no newlines.
std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string TlsYaml(const RegistryTls& tls) {
  std::string out =
      absl::StrCat("  tls:\n    certificate: ", Quote(tls.cert_file),
                   "\n    key: ", Quote(tls.key_file), "\n");
  if (!tls.client_ca_file.empty()) {
    absl::StrAppend(&out, "    clientcas:\n      - ", Quote(tls.client_ca_file),
                    "\n");
  }
  return out;
}

std::string ProxyYaml(const RegistryProxy& proxy) {
  std::string out =
      absl::StrCat("proxy:\n  remoteurl: ", Quote(proxy.remote_url), "\n");
  if (proxy.credentials.has_value()) {
    absl::StrAppend(&out, "  username: ", Quote(proxy.credentials->username),
                    "\n  password: ", Quote(proxy.credentials->password), "\n");
  }
  return out;
}

}  // namespace

Registry::Registry(std::string dir, RegistryOptions options)
    : dir_(std::move(dir)),
      options_(std::move(options)),
      port_(options_.port),
      config_path_(dir_ + "/config.yml"),
      storage_dir_(dir_ + "/storage"),
      log_path_(dir_ + "/registry.log") {}

absl::StatusOr<std::unique_ptr<Registry>> Registry::Create(
    const std::string& parent_dir, RegistryOptions options) {
  std::string dir = absl::StrCat(parent_dir, "/", options.name);
  std::error_code ec;
  std::filesystem::create_directories(dir + "/storage", ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create ", dir, ": ", ec.message()));
  }
  auto registry =
      std::unique_ptr<Registry>(new Registry(dir, std::move(options)));
  if (registry->options_.htpasswd.has_value()) {
    const RegistryCredentials& c = *registry->options_.htpasswd;
    absl::StatusOr<std::string> line = RunCommandOk(
        {"htpasswd", "-Bbn", c.username, c.password}, dir + "/htpasswd-cmd");
    if (!line.ok()) return line.status();
    absl::Status s = WriteFile(dir + "/htpasswd", *line, 0600);
    if (!s.ok()) return s;
  }
  absl::Status s = registry->Start();
  if (!s.ok()) return s;
  return registry;
}

Registry::~Registry() { Stop(); }

absl::Status Registry::WriteConfig() {
  std::string yaml = absl::StrCat(
      "version: 0.1\n"
      "log:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: "
      "false\n"
      "storage:\n  filesystem:\n    rootdirectory: ",
      Quote(storage_dir_), "\n",
      "  delete:\n    enabled: true\n"
      "  maintenance:\n    uploadpurging:\n      enabled: false\n"
      "http:\n  addr: 127.0.0.1:",
      port_, "\n  secret: cri-mirror-test-secret\n");
  if (options_.tls.has_value()) absl::StrAppend(&yaml, TlsYaml(*options_.tls));
  if (options_.htpasswd.has_value()) {
    absl::StrAppend(
        &yaml, "auth:\n  htpasswd:\n    realm: cri-mirror-test\n    path: ",
        Quote(dir_ + "/htpasswd"), "\n");
  } else if (options_.token_auth.has_value()) {
    absl::StrAppend(&yaml, "auth:\n  token:\n    realm: ", Quote(options_.token_auth->realm),
                    "\n    service: ", test_support::kTokenService,
                    "\n    issuer: ", test_support::kTokenIssuer,
                    "\n    rootcertbundle: ", Quote(options_.token_auth->root_cert_path),
                    "\n");
  }
  if (options_.proxy.has_value())
    absl::StrAppend(&yaml, ProxyYaml(*options_.proxy));
  return WriteFile(config_path_, yaml, 0600);
}

absl::Status Registry::Start() {
  if (process_ != nullptr && process_->Running()) return absl::OkStatus();
  bool port_in_use = false;
  if (port_ != 0) return StartOnce(&port_in_use);  // Fixed or restart.
  // First start on a free port: another process may grab it between
  // FreeLoopbackPort() and the registry's bind, so retry with a new one.
  for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
    absl::StatusOr<int> port = FreeLoopbackPort();
    if (!port.ok()) return port.status();
    port_ = *port;
    absl::Status s = StartOnce(&port_in_use);
    if (s.ok() || !port_in_use) return s;
    port_ = 0;
  }
  return absl::UnavailableError(absl::StrCat("docker-registry ", options_.name,
                                             ": no free loopback port after ",
                                             kPortAttempts, " attempts"));
}

absl::Status Registry::StartOnce(bool* port_in_use) {
  absl::Status s = WriteConfig();
  if (!s.ok()) return s;
  ProcessOptions p;
  p.argv = {options_.binary, "serve", config_path_};
  p.log_path = log_path_;
  absl::StatusOr<std::unique_ptr<Process>> started = Process::Start(p);
  if (!started.ok()) return started.status();
  process_ = *std::move(started);
  std::string probe = Url() + "/v2/";
  // With mTLS a probe without a client certificate fails the handshake;
  // an accepted TCP connection is then the best readiness signal.
  const bool mtls =
      options_.tls.has_value() && !options_.tls->client_ca_file.empty();
  bool died = false;
  absl::Status waited = WaitFor(
      [&] {
        if (!process_->Running()) return died = true;
        if (mtls) return TcpConnectable(port_);
        return WaitForHttp(probe, absl::ZeroDuration()).ok();
      },
      options_.start_timeout, absl::StrCat("docker-registry at ", probe));
  if (died) {
    std::string tail = LogTail();
    *port_in_use = absl::StrContains(tail, "address already in use");
    return absl::FailedPreconditionError(absl::StrCat(
        "docker-registry ", options_.name, " exited during start-up (config ",
        config_path_, "); log tail:\n", tail));
  }
  if (!waited.ok()) {
    return absl::DeadlineExceededError(
        absl::StrCat(waited.message(), "; log tail:\n", LogTail()));
  }
  return absl::OkStatus();
}

void Registry::Stop() {
  if (process_ != nullptr) process_->Stop(absl::Seconds(5));
}

bool Registry::Running() { return process_ != nullptr && process_->Running(); }

std::string Registry::Url() const {
  return absl::StrCat(tls() ? "https://" : "http://", HostPort());
}

std::string Registry::HostPort() const {
  return absl::StrCat("127.0.0.1:", port_);
}

std::string Registry::LogTail(size_t max_bytes) const {
  return process_ != nullptr ? process_->LogTail(max_bytes) : "(never started)";
}

}  // namespace crimirror::testbed
