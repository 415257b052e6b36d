// Request parsing for the relay: the raw request path (before any
// percent-decoding) to an OCI distribution route, and the Basic credential
// from the Authorization header. Pure functions, no I/O; the relay server
// maps their errors to 400/404.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "resolver/reference.h"

namespace crimirror::relay {

// Longest raw path accepted; longer requests get 400.
inline constexpr std::size_t kMaxPathLength = 2048;

enum class RouteKind {
  kBase,      // /v2/
  kManifest,  // /v2/<name>/manifests/<ref>
  kBlob,      // /v2/<name>/blobs/<digest>
};

struct Route {
  RouteKind kind = RouteKind::kBase;
  // "<registry>/<repository>" as containerd sends it: "docker.io/library/nginx".
  std::string name;
  // Tag or "algorithm:hex" digest; empty for kBase.
  std::string ref;
  bool ref_is_digest = false;

  // "manifests/1.25", "blobs/sha256:ab..", "/v2/": for attempt records.
  std::string Describe() const;
};

// Parses the raw (still percent-encoded) path of a request, without query.
//   InvalidArgument (-> 400): any '%' (so no encoded slash or dot can hide),
//     characters outside the OCI name/tag/digest alphabets, empty, "." or
//     ".." segments, over kMaxPathLength, a malformed repository component,
//     tag or digest, a digest algorithm other than sha256/sha384/sha512.
//   NotFound (-> 404): well-formed but not one of the three routes
//     (outside /v2/, /v2/_catalog, tags/list, uploads, ...).
absl::StatusOr<Route> ParseRoute(std::string_view raw_path);

// Whether `digest` is "sha256:<64 hex>", "sha384:<96 hex>" or
// "sha512:<128 hex>" (lowercase hex), the forms the relay can verify.
bool IsSupportedDigest(std::string_view digest);

// The repository the relay serves `reference` under:
// "<registry>/<repository>", e.g. "docker.io/library/nginx". The registry
// becomes one valid path component (containerd's reference grammar allows
// no ':' or uppercase there): lowercased, ':' -> "__", other characters
// outside [a-z0-9.-] -> '-', leading/trailing non-alphanumerics dropped:
// "docker-registry:5000" -> "docker-registry__5000". Not meant to be
// reversed: the relay compares it with the session's reference.
std::string RelayRepository(const resolver::Reference& reference);

// What cri-mirror asks containerd to pull for `reference` through the relay
// at `relay_address` ("127.0.0.1:5098"): "<address>/<RelayRepository>:<tag>",
// or "...@<digest>" when the reference has a digest (the digest wins).
std::string RelayPullReference(std::string_view relay_address,
                               const resolver::Reference& reference);

// Decodes an `Authorization: Basic <base64(user:pass)>` header value.
// Unauthenticated when it is not Basic, not base64 or has no ':'.
absl::StatusOr<std::pair<std::string, std::string>> ParseBasicAuthorization(
    std::string_view header_value);

}  // namespace crimirror::relay
