// One PullImage through the relay (issue 4 points 2, 6, 7): session, backend
// CRI pull of the relay reference, naming under the original reference, one
// retry without endpoints that served bad bytes, and the error message that
// lists every endpoint tried. Runs on an interceptor worker thread; blocking.
// Internal to the plugin library.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "containerd/images.grpc.pb.h"
#include "cri/api.grpc.pb.h"
#include "config/config.h"
#include "plugin/pull_record.h"
#include "relay/credential_check.h"
#include "relay/session_store.h"
#include "resolver/endpoint_plan.h"

namespace crimirror::plugin::mirror_pull_internal {

// Polled while the backend pull runs.
struct PullControl {
  // True cancels the pull (every caller went away, or the interceptor is
  // shutting down).
  std::function<bool()> cancelled;
  // The latest deadline among the pull's callers (coalesced callers may
  // join later with a later one); the pull ends DEADLINE_EXCEEDED once it
  // passed. Null: PullInput::deadline alone.
  std::function<absl::Time()> deadline;
  // Told of each relay session the pull opens (progress); may be null.
  std::function<void(const relay::SessionStatePtr&)> on_session;
};

// Borrowed collaborators (thread-safe).
struct PullEnv {
  relay::SessionStore* sessions = nullptr;
  std::string relay_address;
  runtime::v1::ImageService::StubInterface* cri = nullptr;
  containerd::services::images::v1::Images::StubInterface* images = nullptr;
  // The backend channel, for the containerd content API (ingest cleanup).
  std::shared_ptr<grpc::Channel> channel;
  // The kubelet's credential check (KEP-2535); null: none.
  const relay::KubeletCredentialCheck* credential_check = nullptr;
};

// One pull to run.
struct PullInput {
  // The kubelet's request as received.
  runtime::v1::PullImageRequest request;
  // Resolve() of the request's reference; Matched().
  resolver::EndpointPlan plan;
  // [server].namespace and pull_timeout of the config in force.
  std::string namespace_;
  absl::Duration pull_timeout;
  // End of the whole pull's budget: start + pull_timeout. The callers'
  // deadlines come from PullControl::deadline.
  absl::Time deadline;
  // [credentials] verify_kubelet_credentials and verify_timeout.
  config::VerifyKubeletCredentials verify_mode = config::VerifyKubeletCredentials::kOff;
  absl::Duration verify_timeout = absl::Seconds(5);
};

// The kubelet's AuthConfig as the relay offers it upstream: a registry_token
// and/or identity_token (with the username) when present, else username and
// password, else the decoded `auth` ("user:password" in base64). nullopt
// when it carries none of these. `server_address` is kept: the relay sends
// the credential only to endpoints of the registry it names. InvalidArgument when `auth` is not base64 of
// "user:password" (the message does not quote it).
absl::StatusOr<std::optional<relay::KubeletAuth>> KubeletAuthFrom(
    const runtime::v1::AuthConfig& auth);

// `plan` without the endpoints whose base_url is in `excluded`, each noted in
// `skipped`. Pure.
resolver::EndpointPlan PlanWithout(const resolver::EndpointPlan& plan,
                                   const std::vector<std::string>& excluded);

// Runs the pull; returns containerd's image_ref. Errors keep the backend's
// status code and read "cri-mirror: pull of <ref> failed: <why>; endpoints
// tried: <attempts>". Never contains a session password. `record` (not
// null) gets what each try's session saw (served, fallbacks, retried).
absl::StatusOr<std::string> RunMirrorPull(const PullEnv& env, const PullInput& input,
                                          const PullControl& control, PullRecord* record);

}  // namespace crimirror::plugin::mirror_pull_internal
