// Copyright cri-mirror authors.
#include "tests/integration/testbed/test_ca.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdio>
#include <filesystem>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "tests/integration/testbed/process.h"
#include "tests/integration/testbed/temp_dir.h"
#include "tests/support/registry_token.h"

namespace crimirror::testbed {
namespace {

// A random serial: two CAs of one test run must never share an
// (issuer, serial) pair or TLS libraries may cache the wrong one.
std::string RandomSerial() {
  std::random_device rd;
  return absl::StrFormat("0x%08x%08x", rd(), rd());
}

absl::Status Openssl(const std::vector<std::string>& args,
                     const std::string& log_prefix) {
  std::vector<std::string> argv = {"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommandOk(argv, log_prefix, absl::Seconds(30)).status();
}

// Issues <name>.crt/<name>.key signed by the CA with the given extensions.
absl::Status Issue(const std::string& dir, const std::string& name,
                   const std::string& cn, const std::string& extensions) {
  std::string ext_file = absl::StrCat(dir, "/", name, ".ext");
  absl::Status s = WriteFile(ext_file, extensions);
  if (!s.ok()) return s;
  std::string log = absl::StrCat(dir, "/openssl-", name);
  s = Openssl(
      {"req", "-new", "-newkey", "ec", "-pkeyopt",
       "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
       absl::StrCat(dir, "/", name, ".key"), "-out",
       absl::StrCat(dir, "/", name, ".csr"), "-subj", absl::StrCat("/CN=", cn)},
      log + "-req");
  if (!s.ok()) return s;
  return Openssl(
      {"x509", "-req", "-in", absl::StrCat(dir, "/", name, ".csr"), "-CA",
       dir + "/ca.pem", "-CAkey", dir + "/ca.key", "-set_serial",
       RandomSerial(), "-days", "2", "-sha256", "-extfile", ext_file, "-out",
       absl::StrCat(dir, "/", name, ".crt")},
      log + "-sign");
}

// Self-signed CA certificate and key.
absl::Status MakeCa(const std::string& dir, const std::string& key,
                    const std::string& cert) {
  // clang-format off
  return Openssl({"req", "-x509", "-newkey", "ec",
                  "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                  "-keyout", key, "-out", cert, "-days", "2", "-sha256",
                  "-set_serial", RandomSerial(),
                  "-subj", "/CN=cri-mirror test CA",
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign"},
                 dir + "/openssl-ca");
  // clang-format on
}

absl::Status CopyFile(const std::string& from, const std::string& to) {
  std::error_code ec;
  std::filesystem::copy_file(
      from, to, std::filesystem::copy_options::overwrite_existing, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot copy ", from, " to ", to, ": ", ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace

TestCa::TestCa(const std::string& dir)
    : dir_(dir),
      ca_cert_(dir + "/ca.pem"),
      ca_key_(dir + "/ca.key"),
      server_cert_(dir + "/server.crt"),
      server_key_(dir + "/server.key"),
      cert_dir_(dir + "/certs.d") {}

absl::StatusOr<std::unique_ptr<TestCa>> TestCa::Create(
    const std::string& dir, const TestCaOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(dir + "/certs.d", ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create ", dir, ": ", ec.message()));
  }
  auto ca = std::unique_ptr<TestCa>(new TestCa(dir));
  absl::Status s = MakeCa(dir, ca->ca_key_, ca->ca_cert_);
  if (!s.ok()) return s;

  std::vector<std::string> sans = {
      absl::StrCat("DNS:", options.server_common_name)};
  sans.insert(sans.end(), options.extra_sans.begin(), options.extra_sans.end());
  s = Issue(dir, "server", options.server_common_name,
            absl::StrCat("basicConstraints=CA:FALSE\n"
                         "keyUsage=critical,digitalSignature,keyEncipherment\n"
                         "extendedKeyUsage=serverAuth\n"
                         "subjectAltName=",
                         absl::StrJoin(sans, ","), "\n"));
  if (!s.ok()) return s;
  s = CopyFile(ca->ca_cert_, ca->cert_dir_ + "/ca.crt");
  if (!s.ok()) return s;

  if (options.client_certificate) {
    s = Issue(dir, "client", "cri-mirror-test-client",
              "basicConstraints=CA:FALSE\n"
              "keyUsage=critical,digitalSignature\n"
              "extendedKeyUsage=clientAuth\n");
    if (!s.ok()) return s;
    ca->client_cert_ = dir + "/client.crt";
    ca->client_key_ = dir + "/client.key";
    s = CopyFile(ca->client_cert_, ca->cert_dir_ + "/client.cert");
    if (s.ok()) s = CopyFile(ca->client_key_, ca->cert_dir_ + "/client.key");
    if (!s.ok()) return s;
  }
  return ca;
}

absl::StatusOr<std::unique_ptr<TokenSigner>> TokenSigner::Create(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::string key_path = dir + "/token.key";
  const std::string cert_path = dir + "/token.crt";
  absl::Status s = Openssl({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key_path,
                            "-out", cert_path, "-days", "2", "-subj", "/CN=cri-mirror test token"},
                           dir + "/openssl-token");
  if (!s.ok()) return s;
  FILE* f = std::fopen(key_path.c_str(), "r");
  if (f == nullptr) return absl::InternalError(absl::StrCat("cannot open ", key_path));
  EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (key == nullptr) return absl::InternalError(absl::StrCat("cannot read ", key_path));
  return std::unique_ptr<TokenSigner>(new TokenSigner(cert_path, key));
}

TokenSigner::TokenSigner(std::string cert_path, evp_pkey_st* key)
    : cert_path_(std::move(cert_path)), key_(key) {}

TokenSigner::~TokenSigner() { EVP_PKEY_free(key_); }

std::string TokenSigner::Mint(const std::vector<std::string>& scopes) const {
  return test_support::MintRegistryToken(key_, scopes);
}

}  // namespace crimirror::testbed
