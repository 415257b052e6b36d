#include "auth/tls_material.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace crimirror::auth {
namespace {

// Abseil here is built with its own string_view type.
absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

// Refuses to prompt on the terminal for an encrypted key's passphrase.
int NoPassphrase(char*, int, int, void*) { return 0; }

// The last OpenSSL error as text, clearing the queue.
std::string OpenSslError() {
  unsigned long code = ERR_peek_last_error();
  std::string text = "unknown error";
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    text = buf;
  }
  ERR_clear_error();
  return text;
}

std::string What(const config::HostSettings& host, std::string_view key, std::string_view path) {
  return absl::StrCat("[host.\"", host.host, "\"].", Sv(key), ": ", Sv(path));
}

absl::StatusOr<std::string> ReadFile(std::string_view what, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(absl::StrCat(
        Sv(what), ": cannot read: ", std::strerror(errno), "; fix the path or the file permissions"));
  }
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

BioPtr MemBio(std::string_view pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

absl::StatusOr<X509Ptr> FirstCertificate(std::string_view pem, std::string_view what) {
  BioPtr bio = MemBio(pem);
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr) : nullptr);
  if (!cert) {
    return absl::FailedPreconditionError(absl::StrCat(
        Sv(what), ": no PEM certificate (", OpenSslError(),
        "); the file must hold a \"-----BEGIN CERTIFICATE-----\" block"));
  }
  return cert;
}

absl::Status CheckClientPair(const config::HostSettings& host, TlsMaterial& material) {
  if (host.client_cert.empty() != host.client_key.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "[host.\"", host.host, "\"]: client_cert and client_key must be set together"));
  }
  if (host.client_cert.empty()) return absl::OkStatus();
  std::string cert_what = What(host, "client_cert", host.client_cert);
  std::string key_what = What(host, "client_key", host.client_key);
  absl::StatusOr<std::string> cert_pem = ReadFile(cert_what, host.client_cert);
  if (!cert_pem.ok()) return cert_pem.status();
  absl::StatusOr<X509Ptr> cert = FirstCertificate(*cert_pem, cert_what);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key_pem = ReadFile(key_what, host.client_key);
  if (!key_pem.ok()) return key_pem.status();
  BioPtr bio = MemBio(*key_pem);
  PkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr) : nullptr);
  if (!key) {
    return absl::FailedPreconditionError(absl::StrCat(
        key_what, ": no usable PEM private key (", OpenSslError(),
        "); it must be an unencrypted PEM key (decrypt it with `openssl pkey`)"));
  }
  if (X509_check_private_key(cert->get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::FailedPreconditionError(absl::StrCat(
        key_what, ": the key does not match the certificate ", host.client_cert,
        "; point client_key at the key the certificate was issued for"));
  }
  material.client_cert = host.client_cert;
  material.client_key = host.client_key;
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateCaPem(std::string_view pem, std::string_view what) {
  BioPtr bio = MemBio(pem);
  if (!bio) return absl::FailedPreconditionError(absl::StrCat(Sv(what), ": out of memory"));
  int count = 0;
  while (X509Ptr cert{PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr)}) ++count;
  // Reading stops with "no start line" at the clean end of the input; any
  // other error means a damaged block.
  unsigned long err = ERR_peek_last_error();
  bool clean_end = err == 0 || ERR_GET_REASON(err) == PEM_R_NO_START_LINE;
  if (count == 0 || !clean_end) {
    std::string detail = count == 0 ? "no PEM certificate" : "a damaged PEM block";
    return absl::FailedPreconditionError(absl::StrCat(
        Sv(what), ": ", detail, " (", OpenSslError(),
        "); ca_file must hold the CA certificate(s) in PEM "
        "(\"-----BEGIN CERTIFICATE-----\"); convert DER with `openssl x509 -inform der`"));
  }
  ERR_clear_error();
  return absl::OkStatus();
}

absl::StatusOr<TlsMaterial> LoadTlsMaterial(const config::HostSettings& host) {
  TlsMaterial material;
  material.insecure_skip_verify = host.insecure_skip_verify;
  material.tls_server_name = host.tls_server_name;
  // Several files are one bundle for CURLOPT_CAINFO_BLOB: every certificate
  // of every file is trusted, as containerd appends each `ca` to its pool.
  for (const std::string& path : host.ca_files) {
    std::string what = What(host, "ca_file", path);
    absl::StatusOr<std::string> pem = ReadFile(what, path);
    if (!pem.ok()) return pem.status();
    if (absl::Status s = ValidateCaPem(*pem, what); !s.ok()) return s;
    material.ca_files.push_back(path);
    material.ca_pem.append(*pem);
    if (material.ca_pem.back() != '\n') material.ca_pem.push_back('\n');
  }
  if (absl::Status s = CheckClientPair(host, material); !s.ok()) return s;
  return material;
}

std::string CombinedCaBundle(std::string_view system_bundle_path, std::string_view extra_pem) {
  std::string bundle;
  if (!system_bundle_path.empty()) {
    std::ifstream in{std::string(system_bundle_path), std::ios::binary};
    if (in) bundle.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (!bundle.empty() && bundle.back() != '\n') bundle.push_back('\n');
  bundle.append(extra_pem);
  return bundle;
}

}  // namespace crimirror::auth
