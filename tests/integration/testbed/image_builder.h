// Copyright cri-mirror authors.
//
// ImageBuilder makes tiny OCI images inside the test, with no network and no
// external tool: deterministic tar layers (ustar, fixed mtime/owner; see
// tar_layer.h) compressed as gzip "stored" blocks (valid gzip, trivially
// fast; the payload is random and incompressible anyway), an OCI image
// config (Entrypoint/Cmd when the image is to run) with
// correct rootfs.diff_ids (sha256 of the uncompressed tar), an OCI manifest,
// and optionally an OCI image index over several platforms. Everything goes
// into an OCI image layout directory (oci-layout, index.json, blobs/sha256)
// under one tag per image. The same options always give the same digests.
//
// Push() copies a tag to a registry with `skopeo copy --preserve-digests`
// (plus `--all` for an index), so the registry holds exactly the bytes that
// were built; it then reads the manifest back (`skopeo inspect --raw`) and
// checks its sha256 against the built digest.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tests/integration/testbed/registry.h"
#include "tests/integration/testbed/tar_layer.h"  // IWYU pragma: export

namespace crimirror::testbed {

inline constexpr char kOciManifestMediaType[] =
    "application/vnd.oci.image.manifest.v1+json";
inline constexpr char kOciIndexMediaType[] =
    "application/vnd.oci.image.index.v1+json";
inline constexpr char kOciConfigMediaType[] =
    "application/vnd.oci.image.config.v1+json";
inline constexpr char kOciLayerGzipMediaType[] =
    "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr uint64_t kMiB = 1024 * 1024;

// An OCI platform.
struct Platform {
  std::string os = "linux";
  std::string architecture = "amd64";
  std::string variant;  // e.g. "v8" for arm64; empty = none.
};

// Shape of one image.
struct ImageOptions {
  // One entry per layer: bytes of seeded random payload in that layer (the
  // layer also holds a small text file, so 0 gives a tiny layer). The tar.gz
  // is a little larger than the payload.
  std::vector<uint64_t> layer_sizes = {0};
  // Seed of the payload and of the text files; change it to get different
  // digests with the same shape.
  uint64_t seed = 1;
  Platform platform;
  // Non-empty: one more layer, on top of those, holding exactly these
  // entries (e.g. a static busybox as bin/busybox with mode 0755 and the
  // files it serves), so the image can run as a container.
  std::vector<TarEntry> files;
  // The image config's Entrypoint and Cmd. Both empty: Cmd names layer 0's
  // text file (the image is only pulled, never run).
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
};

// Digests and sizes of what was built. Digests are "sha256:<hex>".
struct BuiltImage {
  std::string manifest_digest;
  uint64_t manifest_size = 0;
  std::string config_digest;
  std::vector<std::string> layer_digests;  // Compressed blobs, in order.
  std::vector<uint64_t> layer_sizes;       // Compressed sizes.
  std::vector<std::string> diff_ids;       // sha256 of uncompressed tars.
  Platform platform;
};

// An OCI index and its per-platform manifests.
struct BuiltIndex {
  std::string index_digest;
  uint64_t index_size = 0;
  std::vector<BuiltImage> manifests;
};

// How skopeo reaches the destination registry.
struct PushOptions {
  std::optional<RegistryCredentials> credentials;
  // A bearer token for a token-auth registry (skopeo --dest-registry-token);
  // used instead of `credentials` when set.
  std::string registry_token;
  // false: do not verify TLS and allow plain HTTP (any test registry).
  // true: verify with the system store plus cert_dir.
  bool tls_verify = false;
  // A containers cert dir (ca.crt, client.cert/client.key), e.g.
  // TestCa::cert_dir(); also used for mTLS client certificates.
  std::string cert_dir;
  absl::Duration timeout = absl::Seconds(120);
};

// Builds images into one OCI layout directory. Not thread-safe.
class ImageBuilder {
 public:
  // Creates `dir` (and parents) with oci-layout and an empty index.json.
  // Internal naming the path on file errors.
  static absl::StatusOr<std::unique_ptr<ImageBuilder>> Create(
      const std::string& dir);

  // Builds a single-platform image and tags it `tag` in the layout
  // (replacing an earlier image with that tag).
  absl::StatusOr<BuiltImage> BuildImage(absl::string_view tag,
                                        const ImageOptions& options);

  // Builds one image per entry (each with its own platform) and an OCI
  // index over them tagged `tag`. Typical: amd64 + arm64/v8, see
  // DefaultMultiPlatform().
  absl::StatusOr<BuiltIndex> BuildIndex(
      absl::string_view tag, const std::vector<ImageOptions>& images);

  // Copies `tag` to `destination` ("127.0.0.1:PORT/repo:tag", no scheme)
  // with skopeo (`--all` for an index) and returns the digest the registry
  // now serves for it, checked equal to the built one. NotFound for an
  // unknown tag; Internal with skopeo's stderr on failure; DataLoss if the
  // registry serves a different digest.
  absl::StatusOr<std::string> Push(absl::string_view tag,
                                   const std::string& destination,
                                   const PushOptions& options = {});

  // Directory of the layout (skopeo reference "oci:<dir>:<tag>").
  const std::string& dir() const { return dir_; }
  // Path of a blob file, "<dir>/blobs/sha256/<hex>".
  std::string BlobPath(absl::string_view digest) const;

 private:
  explicit ImageBuilder(std::string dir) : dir_(std::move(dir)) {}
  absl::StatusOr<std::string> WriteBlob(absl::string_view bytes);
  absl::StatusOr<BuiltImage> BuildManifest(const ImageOptions& options);
  // Writes `tar` gzipped as a blob and appends it to `built`'s layers.
  absl::Status AddLayer(const std::string& tar, BuiltImage& built);
  absl::Status Tag(absl::string_view tag, absl::string_view media_type,
                   const std::string& digest, uint64_t size);

  std::string dir_;
  // tag -> (media type, digest, size): the layout's index.json entries.
  struct Entry {
    std::string media_type;
    std::string digest;
    uint64_t size;
  };
  std::map<std::string, Entry, std::less<>> tags_;
  int push_count_ = 0;
};

// Reads the raw manifest (or index) that `reference`
// ("127.0.0.1:PORT/repo:tag" or "...@sha256:...") resolves to with
// `skopeo inspect --raw` and returns its "sha256:<hex>". `log_prefix` names
// the files where skopeo's output is kept.
absl::StatusOr<std::string> RegistryDigest(const std::string& reference,
                                           const std::string& log_prefix,
                                           const PushOptions& options = {});

// "sha256:<hex>" of `bytes`.
std::string Sha256Digest(absl::string_view bytes);

// Two entries: linux/amd64 and linux/arm64/v8, one small layer each, with
// different seeds (so the two manifests differ).
std::vector<ImageOptions> DefaultMultiPlatform(uint64_t seed = 1);

}  // namespace crimirror::testbed
