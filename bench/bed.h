// Copyright cri-mirror authors.
//
// Bed: the daemons one benchmark run shares, built on the integration test
// bed (tests/integration/testbed): a scratch dir, a private containerd, a
// plain HTTP docker-registry, an OCI image builder and a CRI client straight
// to containerd (the "direct" reference of every figure). Figures start
// their own cri-mirror instances through StartMirror(), each with a fresh
// relay port, so no state (back-off, caches) leaks between measurements.
// Also the timing helpers every pull figure uses.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bench/bench.h"
#include "tests/integration/testbed/testbed.h"

namespace crimirror::bench {

// The shared daemons of one run. Not thread-safe (the CRI client is).
class Bed {
 public:
  // Starts containerd and the registry under a new /tmp/crimirror-bench-*
  // dir. Errors of the bed's factories (FailedPrecondition with log tails,
  // NotFound for a missing program, DeadlineExceeded).
  static absl::StatusOr<std::unique_ptr<Bed>> Create(const BenchOptions& options);

  const BenchOptions& options() const { return options_; }
  testbed::TempDir& dir() { return *dir_; }
  testbed::Containerd& containerd() { return *containerd_; }
  testbed::Registry& registry() { return *registry_; }
  // CRI client straight to containerd (no cri-mirror).
  testbed::CriImageClient& direct() { return *direct_; }
  // containerd's root dir (content store under it).
  std::string ContainerdRoot() const;

  // Builds an image of `image`'s shape and pushes it to the registry as
  // `repo_tag` ("repo:tag"). Errors of ImageBuilder (Internal with skopeo's
  // stderr, DataLoss on a digest mismatch).
  absl::StatusOr<testbed::BuiltImage> PushImage(const std::string& repo_tag,
                                                const testbed::ImageOptions& image);

  // The big image of the pull and memory rows (--image-mib MiB in up to 8
  // layers; 4 MiB with --smoke), pushed as BigRepoTag() on first use and
  // kept for the run. Errors of PushImage().
  absl::StatusOr<testbed::BuiltImage> BigImage();
  // "big/image:v1".
  static std::string BigRepoTag() { return "big/image:v1"; }
  // Payload MiB of BigImage().
  uint64_t BigImageMiB() const { return options_.smoke ? 4 : options_.image_mib; }

  // How StartMirror() launches the daemon, beyond the defaults.
  struct Launch {
    // Executable to run instead of --cri-mirror (e.g. a valgrind wrapper
    // script that execs it); empty: the binary under test.
    std::string binary;
    // Extra `key = value` lines of the [server] table.
    std::string server_keys;
    absl::Duration start_timeout = absl::Seconds(20);
  };

  // Starts a new cri-mirror in front of containerd (or of `backend`, a
  // unix:// URL, when not empty) with a [server] table (fresh loopback
  // relay port) followed by `rules` (TOML, may be empty).
  // FailedPrecondition if the binary is not set; errors of CriMirror.
  absl::StatusOr<std::unique_ptr<testbed::CriMirror>> StartMirror(
      const std::string& rules, const std::string& backend = "");
  absl::StatusOr<std::unique_ptr<testbed::CriMirror>> StartMirror(
      const std::string& rules, const std::string& backend, const Launch& launch);

  // "bench.example:5000": the name under which pull figures reach the bed's
  // registry through cri-mirror.
  static constexpr char kMirroredRegistry[] = "bench.example:5000";
  // StartMirror() with one rule: kMirroredRegistry -> the bed's registry,
  // no upstream fallback, so containerd pulls from cri-mirror's relay.
  absl::StatusOr<std::unique_ptr<testbed::CriMirror>> StartMirrorToRegistry();
  // The same rule, as TOML.
  std::string MirrorToRegistryRules() const;

  // PushImage() of `repo_tags.size()` images of `mib` MiB in 2 layers each,
  // seeded `seed`, `seed + 1`, ... The first error of PushImage().
  absl::StatusOr<std::vector<testbed::BuiltImage>> PushImages(
      const std::vector<std::string>& repo_tags, uint64_t mib, uint64_t seed);

 private:
  explicit Bed(const BenchOptions& options) : options_(options) {}

  BenchOptions options_;
  std::unique_ptr<testbed::TempDir> dir_;
  std::unique_ptr<testbed::Containerd> containerd_;
  std::unique_ptr<testbed::Registry> registry_;
  std::unique_ptr<testbed::ImageBuilder> builder_;
  std::unique_ptr<testbed::CriImageClient> direct_;
  int mirrors_started_ = 0;
  std::optional<testbed::BuiltImage> big_image_;
};

// Wall time of one CRI PullImage of `image` through `client`. Unavailable
// (or the call's own code) naming the image and gRPC message on failure;
// DeadlineExceeded when it did not finish within `deadline`.
absl::StatusOr<absl::Duration> TimePull(testbed::CriImageClient& client,
                                        const std::string& image,
                                        absl::Duration deadline);

// Removes `image` with CRI RemoveImage and waits until containerd's garbage
// collector dropped the image's layer blobs from the content store under
// `containerd_root`, so the next pull really downloads, then sync(2)s so the
// next timed pull does not pay for this one's writeback. NotFound-free: an
// image that is not there is fine. DeadlineExceeded if blobs stay > 30 s.
absl::Status RemoveAndCollect(testbed::CriImageClient& client,
                              const std::string& image,
                              const testbed::BuiltImage& built,
                              const std::string& containerd_root);

// A fresh cri-mirror (Bed::StartMirror(rules)) pulls `image` once through
// CRI; the image is then removed and collected (RemoveAndCollect with
// `built`). The pull's wall time, or the first error.
absl::StatusOr<absl::Duration> TimeFreshMirrorPull(Bed& bed, const std::string& rules,
                                                   const std::string& image,
                                                   const testbed::BuiltImage& built,
                                                   absl::Duration deadline);

// ImageOptions of `mib` MiB of random payload split in up to `layers`
// layers (at least 1 MiB each; 0 MiB gives one tiny layer), seeded `seed`.
testbed::ImageOptions ImageOfSize(uint64_t mib, int layers, uint64_t seed);

}  // namespace crimirror::bench
