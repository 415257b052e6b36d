// CriEnsureBackend: EnsureBackend over CRI (node/ensure_backend.h).
//
// The sandbox image comes from the runtime itself: containerd answers
// runtime.v1.RuntimeService/Status with verbose = true with its CRI plugin
// config as JSON in info["config"], which holds "sandboxImage". Presence is
// CRI ImageStatus on the backend socket; pulls go to cri-mirror's own
// kubelet-facing socket, so they take the same path as a kubelet's pull
// (mirror rules, naming under the original reference, pass-through when no
// rule matches).
#pragma once

#include <memory>
#include <set>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "node/ensure_backend.h"

namespace crimirror::node {

class CriEnsureBackend final : public EnsureBackend {
 public:
  // `backend`: the runtime's CRI socket (containerd). `self`: cri-mirror's
  // own listening socket. InvalidArgument when either is null.
  static absl::StatusOr<std::unique_ptr<CriEnsureBackend>> Create(
      std::shared_ptr<grpc::Channel> backend, std::shared_ptr<grpc::Channel> self);

  absl::StatusOr<std::string> SandboxImage(absl::Duration timeout) override;
  absl::StatusOr<bool> HasImage(const std::string& image, absl::Duration timeout) override;
  absl::Status Pull(const std::string& image, absl::Duration timeout) override;
  void Cancel() override ABSL_LOCKS_EXCLUDED(mu_);

 private:
  CriEnsureBackend(std::shared_ptr<grpc::Channel> backend, std::shared_ptr<grpc::Channel> self)
      : backend_(std::move(backend)), self_(std::move(self)) {}
  // Registers a call's context so Cancel() reaches it; false once cancelled.
  bool Begin(grpc::ClientContext* context, absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_);
  void End(grpc::ClientContext* context) ABSL_LOCKS_EXCLUDED(mu_);

  std::shared_ptr<grpc::Channel> backend_;
  std::shared_ptr<grpc::Channel> self_;
  absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::set<grpc::ClientContext*> calls_ ABSL_GUARDED_BY(mu_);
};

// The "sandboxImage" of containerd's verbose Status info["config"] JSON.
// InvalidArgument when it is not JSON; NotFound when the key is missing or
// empty. Pure; exposed for tests.
absl::StatusOr<std::string> SandboxImageFromConfigJson(const std::string& json);

}  // namespace crimirror::node
