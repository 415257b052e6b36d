// The exec protocol of the kubelet's credential provider plugins
// (credentialprovider.kubelet.k8s.io/v1, v1beta1, v1alpha1): the
// CredentialProviderRequest written to a plugin's stdin and the
// CredentialProviderResponse read from its stdout, and the choice of the
// `auth` entry for an image. Pure; a response is untrusted input (fuzzed by
// fuzz_provider_response).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "auth/credentials.h"

namespace crimirror::credentials {

// What the response's credentials are valid for, and so what they are
// cached under: the image, its registry host[:port], or everything.
enum class CacheKeyType { kImage, kRegistry, kGlobal };

struct ProviderAuthEntry {
  // The `auth` key as the kubelet normalises it (match_images.h
  // NormalizeAuthKey): "registry.io", "*.registry.io:5000/team".
  std::string pattern;
  auth::Credentials credentials;  // username and password
};

struct ProviderResponse {
  CacheKeyType cache_key_type = CacheKeyType::kImage;
  // nullopt: the provider's defaultCacheDuration; zero (or less): not cached.
  std::optional<absl::Duration> cache_duration;
  // Keys that do not parse are dropped, as the kubelet ignores them.
  std::vector<ProviderAuthEntry> auth;
};

// {"apiVersion": api_version, "kind": "CredentialProviderRequest",
//  "image": image} as one JSON line.
std::string EncodeProviderRequest(std::string_view api_version, std::string_view image);

// Parses a plugin's stdout. `api_version` is the request's: the response
// must repeat it and be of kind CredentialProviderResponse; cacheKeyType
// must be Image, Registry or Global; cacheDuration a Go duration string
// ("1h", "0s") or 0. Unknown fields are ignored. Errors (InvalidArgument)
// say what is wrong and never quote the body (it may hold credentials).
absl::StatusOr<ProviderResponse> ParseProviderResponse(std::string_view body,
                                                       std::string_view api_version);

// The entry the kubelet would try first for `image` ("registry/repository",
// match_images.h BestAuthKey), or nullptr.
const ProviderAuthEntry* SelectAuth(const ProviderResponse& response, std::string_view image);

}  // namespace crimirror::credentials
