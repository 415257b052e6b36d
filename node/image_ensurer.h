// ImageEnsurer: keeps the images every node must hold present (issue 11).
//
// containerd pulls its sandbox (pause) image by itself at RunPodSandbox and
// never asks the image service, so on a node whose registries are reachable
// only through cri-mirror's mirror rules every pod would fail. The ensurer
// reads the sandbox image from the runtime ([server].ensure_sandbox_image)
// and, with [server].ensure_images, pulls each one that is missing through
// cri-mirror (the pull is named under the original reference, where
// containerd looks for it). It runs one pass at once, then one every
// [server].ensure_interval, sooner after a failed pass (back-off from
// `retry_initial` doubling up to the interval), and at once on Trigger()
// (config reload). Each pass reads the config in force and starts by asking
// the runtime for its sandbox image, which also proves the runtime answers.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "config/config_store.h"
#include "node/ensure_backend.h"

namespace crimirror::node {

// One image the node must hold, as of the last pass.
struct EnsuredImage {
  std::string image;        // the reference pulled and checked
  bool sandbox = false;     // the runtime's sandbox image
  bool present = false;
  std::string last_error;   // why it is not present (no secrets); empty when present
};

class ImageEnsurer {
 public:
  struct Options {
    config::ConfigStore* config_store = nullptr;  // must outlive the ensurer
    EnsureBackendPtr backend;
    // First retry delay after a pass that left an image missing.
    absl::Duration retry_initial = absl::Seconds(2);
    // Budget of one SandboxImage or HasImage call.
    absl::Duration query_timeout = absl::Seconds(10);
  };

  // Starts the background loop (first pass at once). InvalidArgument when
  // config_store or backend is missing.
  static absl::StatusOr<std::unique_ptr<ImageEnsurer>> Create(Options options);
  // Cancels the backend calls in flight and joins the loop.
  ~ImageEnsurer();
  ImageEnsurer(const ImageEnsurer&) = delete;
  ImageEnsurer& operator=(const ImageEnsurer&) = delete;

  // Asks for a pass now (after a config reload). Non-blocking, thread-safe.
  void Trigger() ABSL_LOCKS_EXCLUDED(mu_);

  // Blocks until a pass found the runtime answering and every image present
  // (true), or `timeout` passed (false). Thread-safe.
  bool WaitUntilSettled(absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_);

  // The images of the last finished pass (empty before the first), and the
  // number of passes finished so far. Thread-safe.
  std::vector<EnsuredImage> Snapshot() const ABSL_LOCKS_EXCLUDED(mu_);
  int passes() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  explicit ImageEnsurer(Options options);
  void Run();
  // One pass over the config in force; true when everything is present.
  bool Pass(std::vector<EnsuredImage>* images);
  void EnsureOne(const config::ServerSettings& server, EnsuredImage* image);

  Options options_;
  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool triggered_ ABSL_GUARDED_BY(mu_) = false;
  bool settled_ ABSL_GUARDED_BY(mu_) = false;
  int passes_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<EnsuredImage> images_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace crimirror::node
