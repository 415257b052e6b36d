// MirrorPullInterceptor: PullImage through mirrors (issue 4).
//
// For a PullImage whose reference matches a mirror rule, it opens a relay
// session bound to the endpoint plan (and the kubelet's AuthConfig), asks the
// backend's CRI to pull "<relay>/<registry>/<repository>:<tag|@digest>" with
// the session credential, then names the image in containerd under the
// original reference through containerd's images API (tag and digest names,
// label io.cri-containerd.image=managed), waits until CRI ImageStatus answers
// for the original reference, deletes the relay-named records and returns
// containerd's image_ref. References that match no rule are declined (the
// proxy forwards them unchanged); references that do not parse fail with
// INVALID_ARGUMENT without any backend call.
//
// Pulls run on the interceptor's own worker threads, never on gRPC threads,
// from a bounded queue (a full one answers RESOURCE_EXHAUSTED; a queued pull
// whose callers all went away never starts). Identical concurrent pulls
// (same reference, credential, runtime_handler and pod namespace) are
// coalesced into one backend pull, which lasts until the latest deadline of
// its callers, within a budget ([server].pull_timeout). A failed pull through
// the relay is retried once with the endpoints that served bad bytes
// excluded. Errors list every endpoint tried and why, without secrets, and
// quote input only in excerpts (log/echo.h).
//
// Relay-named records never outlive a pull: at start-up every record named
// "<relay address>/..." is deleted (containerd may keep them from a pull cut
// short by a crash), and after a failed or cancelled pull those of its
// repository (see mirror_pull_naming.h).
#pragma once

#include <memory>
#include <string>

#include <grpcpp/channel.h>

#include "absl/status/statusor.h"
#include "config/config_store.h"
#include "plugin/pull_interceptor.h"
#include "plugin/pull_journal.h"
#include "relay/credential_check.h"
#include "relay/session_store.h"

namespace crimirror::plugin {

struct MirrorPullOptions {
  // Current config snapshots (rules, [server].namespace, pull_timeout).
  config::ConfigStore* config_store = nullptr;
  // Sessions the relay server authenticates against.
  relay::SessionStore* sessions = nullptr;
  // "127.0.0.1:PORT" of the running relay server.
  std::string relay_address;
  // The shared backend channel (containerd's socket serves both CRI and the
  // containerd API).
  std::shared_ptr<grpc::Channel> backend;
  // Worker threads for pulls in flight.
  int max_concurrent_pulls = 8;
  // Pulls that may wait for a worker (identical pulls joining one count
  // once); one more is refused with RESOURCE_EXHAUSTED.
  int max_queued_pulls = 256;
  // Checks the kubelet's credentials at the upstream before serving from
  // mirrors ([credentials] verify_kubelet_credentials); null: never.
  const relay::KubeletCredentialCheck* credential_check = nullptr;
  // Pulls in flight and recent ones (`cri-mirror status`); null: not kept.
  // Each finished pull also writes its "pull finished" line (pull_record.h).
  PullJournal* journal = nullptr;
};

class MirrorPullInterceptor final : public PullInterceptor {
 public:
  // InvalidArgument when a required option is missing.
  static absl::StatusOr<std::unique_ptr<MirrorPullInterceptor>> Create(
      MirrorPullOptions options);
  // Cancels pulls in flight and joins the workers; each pending `done` runs
  // with CANCELLED.
  ~MirrorPullInterceptor() override;

  bool Intercept(PullCaller caller, const grpc::ByteBuffer& request,
                 PullDone done) override;

 private:
  class Impl;
  explicit MirrorPullInterceptor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace crimirror::plugin
