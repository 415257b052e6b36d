// Incremental content-digest check ("sha256:<hex>", sha384, sha512) over
// bytes as they pass through the relay, so a mirror that serves the wrong
// bytes is caught by the relay instead of poisoning the pull.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace crimirror::relay {

// Not thread-safe; one per response body.
class DigestVerifier {
 public:
  // InvalidArgument unless IsSupportedDigest(expected) (relay/route.h).
  static absl::StatusOr<std::unique_ptr<DigestVerifier>> Create(std::string_view expected);
  ~DigestVerifier();
  DigestVerifier(const DigestVerifier&) = delete;
  DigestVerifier& operator=(const DigestVerifier&) = delete;

  void Update(std::string_view bytes);
  // Ends the hash; true when the bytes seen hash to the expected digest.
  // Call once.
  bool Matches();
  // The digest of what was hashed ("sha256:<hex>"); valid after Matches().
  const std::string& actual() const { return actual_; }

  // "sha256:<hex>" of `bytes`.
  static std::string Sha256(std::string_view bytes);

 private:
  struct Impl;
  explicit DigestVerifier(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::string actual_;
};

}  // namespace crimirror::relay
