// Copyright cri-mirror authors.
#include "tests/support/registry_token.h"

#include <curl/curl.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <cstdint>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace crimirror::test_support {
namespace {

// RFC 4648 base32 without padding.
std::string Base32(const unsigned char* data, std::size_t len) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (std::size_t i = 0; i < len; ++i) {
    buffer = (buffer << 8) | data[i];
    bits += 8;
    while (bits >= 5) {
      out.push_back(kAlphabet[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  return out;
}

// The token's "access" claim for `scopes`.
std::string AccessClaim(const std::vector<std::string>& scopes) {
  std::string access;
  for (const std::string& scope : scopes) {
    std::size_t first = scope.find(':');
    std::size_t last = scope.rfind(':');
    if (first == std::string::npos || first == last) continue;
    std::string actions = absl::StrReplaceAll(scope.substr(last + 1), {{",", "\",\""}});
    absl::StrAppend(&access, access.empty() ? "" : ",", R"({"type":")", scope.substr(0, first),
                    R"(","name":")", scope.substr(first + 1, last - first - 1),
                    R"(","actions":[")", actions, R"("]})");
  }
  return access;
}

std::string SignRs256(EVP_PKEY* key, const std::string& input) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t length = 0;
  const auto* bytes = reinterpret_cast<const unsigned char*>(input.data());
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
  EVP_DigestSign(ctx, nullptr, &length, bytes, input.size());
  std::string signature(length, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(signature.data()), &length, bytes,
                 input.size());
  EVP_MD_CTX_free(ctx);
  signature.resize(length);
  return signature;
}

}  // namespace

std::string LibtrustKeyId(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key, &der);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(der, static_cast<std::size_t>(len), digest);
  OPENSSL_free(der);
  std::string b32 = Base32(digest, 30);
  std::string id;
  for (std::size_t i = 0; i < b32.size(); i += 4) {
    if (i > 0) id += ':';
    id += b32.substr(i, 4);
  }
  return id;
}

std::string MintRegistryToken(EVP_PKEY* key, const std::vector<std::string>& scopes) {
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  std::string header =
      absl::StrCat(R"({"typ":"JWT","alg":"RS256","kid":")", LibtrustKeyId(key), R"("})");
  std::string claims = absl::StrCat(
      R"({"iss":")", kTokenIssuer, R"(","sub":"alice","aud":")", kTokenService, R"(","exp":)",
      now + 300, R"(,"nbf":)", now - 10, R"(,"iat":)", now - 10, R"(,"jti":")", now,
      R"(","access":[)", AccessClaim(scopes), "]}");
  std::string signing_input =
      absl::StrCat(absl::WebSafeBase64Escape(header), ".", absl::WebSafeBase64Escape(claims));
  return absl::StrCat(signing_input, ".",
                      absl::WebSafeBase64Escape(SignRs256(key, signing_input)));
}

std::vector<std::string> FormValues(std::string_view form, std::string_view name) {
  std::vector<std::string> values;
  while (!form.empty()) {
    const std::size_t amp = form.find('&');
    std::string_view pair = form.substr(0, amp);
    form = amp == std::string_view::npos ? std::string_view() : form.substr(amp + 1);
    const std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos || pair.substr(0, eq) != name) continue;
    std::string value(pair.substr(eq + 1));
    for (char& c : value) {
      if (c == '+') c = ' ';
    }
    int length = 0;
    char* raw = curl_easy_unescape(nullptr, value.c_str(), static_cast<int>(value.size()), &length);
    values.emplace_back(raw, static_cast<std::size_t>(length));
    curl_free(raw);
  }
  return values;
}

}  // namespace crimirror::test_support
