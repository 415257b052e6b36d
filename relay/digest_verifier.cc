#include "relay/digest_verifier.h"

#include <openssl/evp.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "relay/http_headers.h"
#include "relay/route.h"

namespace crimirror::relay {

struct DigestVerifier::Impl {
  struct CtxDeleter {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
  };
  std::unique_ptr<EVP_MD_CTX, CtxDeleter> ctx;
  std::string algorithm;
  std::string expected_hex;
};

DigestVerifier::DigestVerifier(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DigestVerifier::~DigestVerifier() = default;

absl::StatusOr<std::unique_ptr<DigestVerifier>> DigestVerifier::Create(std::string_view expected) {
  if (!IsSupportedDigest(expected)) {
    return absl::InvalidArgumentError(absl::StrCat("relay: cannot verify digest \"",
                                                   AsAbsl(expected), "\"; need sha256/384/512"));
  }
  auto impl = std::make_unique<Impl>();
  const std::size_t colon = expected.find(':');
  impl->algorithm = std::string(expected.substr(0, colon));
  impl->expected_hex = std::string(expected.substr(colon + 1));
  const EVP_MD* md = impl->algorithm == "sha256"   ? EVP_sha256()
                     : impl->algorithm == "sha384" ? EVP_sha384()
                                                   : EVP_sha512();
  impl->ctx.reset(EVP_MD_CTX_new());
  if (impl->ctx == nullptr || EVP_DigestInit_ex(impl->ctx.get(), md, nullptr) != 1) {
    return absl::InternalError("relay: OpenSSL could not initialise a digest context");
  }
  return std::unique_ptr<DigestVerifier>(new DigestVerifier(std::move(impl)));
}

void DigestVerifier::Update(std::string_view bytes) {
  if (!bytes.empty()) EVP_DigestUpdate(impl_->ctx.get(), bytes.data(), bytes.size());
}

bool DigestVerifier::Matches() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(impl_->ctx.get(), out, &len) != 1) return false;
  actual_ = absl::StrCat(
      impl_->algorithm, ":",
      absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(out), len)));
  return actual_.substr(impl_->algorithm.size() + 1) == impl_->expected_hex;
}

std::string DigestVerifier::Sha256(std::string_view bytes) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), out, &len, EVP_sha256(), nullptr);
  return absl::StrCat("sha256:", absl::BytesToHexString(
                                     absl::string_view(reinterpret_cast<const char*>(out), len)));
}

}  // namespace crimirror::relay
