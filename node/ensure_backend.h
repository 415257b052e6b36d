// EnsureBackend: the runtime calls the image ensurer (node/image_ensurer.h)
// makes, behind one small interface so the ensurer's logic is tested without
// a runtime and the real calls live in one place (node/cri_ensure_backend.h).
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace crimirror::node {

class EnsureBackend {
 public:
  virtual ~EnsureBackend() = default;

  // Asks the runtime for its sandbox (pause) image reference, e.g.
  // "registry.k8s.io/pause:3.6". A successful answer also proves the runtime
  // answers CRI calls. Unavailable/DeadlineExceeded while it is down;
  // NotFound when it answers but names no sandbox image.
  virtual absl::StatusOr<std::string> SandboxImage(absl::Duration timeout) = 0;

  // Whether the runtime holds `image` (CRI ImageStatus). The runtime's error
  // otherwise.
  virtual absl::StatusOr<bool> HasImage(const std::string& image, absl::Duration timeout) = 0;

  // Pulls `image` through cri-mirror, so mirror rules apply and the image is
  // named under `image` itself. The pull's error otherwise.
  virtual absl::Status Pull(const std::string& image, absl::Duration timeout) = 0;

  // Cancels calls in flight (they return CANCELLED) and makes every later
  // call fail at once. Thread-safe; called at shutdown.
  virtual void Cancel() = 0;
};
using EnsureBackendPtr = std::unique_ptr<EnsureBackend>;

}  // namespace crimirror::node
