#include "plugin/mirror_pull_flow.h"
#include "plugin/mirror_pull_verify.h"

#include <algorithm>
#include <utility>

#include <grpcpp/completion_queue.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "log/echo.h"
#include "log/log.h"
#include "plugin/mirror_pull_ingest.h"
#include "plugin/mirror_pull_naming.h"
#include "relay/route.h"

namespace crimirror::plugin::mirror_pull_internal {
namespace {

// Sessions outlive the pull budget a little so that a pull ending right at its
// deadline is not refused by the relay first (a confusing 401).
constexpr absl::Duration kSessionMargin = absl::Minutes(1);
// Naming runs even when the pull used its whole budget: leaving relay-named
// records behind would be worse than overrunning by seconds.
constexpr absl::Duration kMinNamingTime = absl::Seconds(10);
constexpr absl::Duration kCancelPoll = absl::Milliseconds(100);
// How much of containerd's error a pull error quotes.
constexpr std::size_t kMaxBackendMessage = 1024;

struct OnceResult {
  grpc::Status status;
  std::string image_ref;
  std::string attempts;  // SessionState::DescribeAttempts()
  std::vector<relay::Attempt> attempt_list;
  // Endpoints not to use again: excluded by the relay (a manifest that
  // failed its digest) or the source of a blob containerd refused.
  std::vector<std::string> excluded;
  std::vector<std::string> rejected_digests;  // with a known source
  relay::SessionStatePtr state;
};

// Adds to `result` the blobs containerd refused (from its error) whose
// source endpoint `state` recorded, and those endpoints to `excluded`.
void AddRejectedBlobs(const relay::SessionState& state, OnceResult& result) {
  for (std::string& digest : RejectedBlobDigests(result.status.error_message())) {
    std::optional<std::string> source = state.BlobSource(digest);
    if (!source) continue;
    if (std::find(result.excluded.begin(), result.excluded.end(), *source) ==
        result.excluded.end()) {
      result.excluded.push_back(*source);
    }
    result.rejected_digests.push_back(std::move(digest));
  }
}

// The request containerd's CRI gets: the relay reference and the session
// credential. server_address stays empty: containerd drops a credential whose
// server_address does not match the host it talks to.
runtime::v1::PullImageRequest BackendRequest(const runtime::v1::PullImageRequest& original,
                                             const std::string& relay_ref,
                                             const relay::Session& session) {
  runtime::v1::PullImageRequest request = original;
  request.mutable_image()->set_image(relay_ref);
  runtime::v1::AuthConfig* auth = request.mutable_auth();
  auth->Clear();
  auth->set_username(session.username);
  auth->set_password(session.password.Reveal());
  return request;
}

// The backend PullImage, cancellable while it runs. The call is bound to a
// completion queue of this thread's own, which it polls (AsyncNext) while it
// checks `control` every kCancelPoll: the thread that waits is also the one
// that reads containerd's answer. With the callback API the answer of a pull
// that had been quiet for a second waited up to 30 ms for one of gRPC's
// callback threads to poll again (seen in the failover benchmark).
grpc::Status CallBackendPull(runtime::v1::ImageService::StubInterface* cri,
                             const runtime::v1::PullImageRequest& request, absl::Time deadline,
                             const PullControl& control,
                             runtime::v1::PullImageResponse* response) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(deadline));
  grpc::CompletionQueue queue;
  grpc::Status status;
  auto call = cri->AsyncPullImage(&context, request, &queue);
  call->Finish(response, &status, &queue);
  void* tag = nullptr;
  bool ok = false;
  bool expired = false;
  while (queue.AsyncNext(&tag, &ok, absl::ToChronoTime(absl::Now() + kCancelPoll)) ==
         grpc::CompletionQueue::TIMEOUT) {
    // The callers' latest deadline moves when one joins (issue 10 defect
    // 10), so it is checked here rather than set on the call.
    if (control.deadline && absl::Now() >= control.deadline()) {
      expired = true;
      context.TryCancel();
    } else if (control.cancelled && control.cancelled()) {
      context.TryCancel();
    }
  }
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  if (expired && status.error_code() == grpc::StatusCode::CANCELLED) {
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                        "the deadline of every caller waiting for this pull passed");
  }
  return status;
}

absl::Duration SessionTtl(const PullInput& input) {
  if (input.deadline == absl::InfiniteFuture()) return input.pull_timeout + kSessionMargin;
  return std::max(input.deadline - absl::Now(), absl::ZeroDuration()) + kSessionMargin;
}

OnceResult PullOnce(const PullEnv& env, const PullInput& input,
                    const resolver::EndpointPlan& plan,
                    const std::optional<relay::KubeletAuth>& auth, const PullControl& control) {
  OnceResult result;
  absl::StatusOr<relay::Session> session = env.sessions->Create(plan, auth, SessionTtl(input));
  if (!session.ok()) {
    result.status = grpc::Status(grpc::StatusCode::INTERNAL,
                                 absl::StrCat("cannot open a relay session: ",
                                              session.status().message()));
    return result;
  }
  relay::SessionStatePtr state = env.sessions->Find(session->id);
  if (state != nullptr && control.on_session) control.on_session(state);
  const std::string relay_ref = relay::RelayPullReference(env.relay_address, plan.reference);
  log::Info("pull ", plan.reference.Canonical(), ": backend pulls ", relay_ref, " (session ",
            session->id, ", rule ", plan.matched_rule, ")");
  runtime::v1::PullImageResponse response;
  const absl::Time start = absl::Now();
  result.status = CallBackendPull(env.cri, BackendRequest(input.request, relay_ref, *session),
                                  input.deadline, control, &response);
  log::Debug("pull ", plan.reference.Canonical(), ": containerd's pull ended after ",
             absl::FormatDuration(absl::Now() - start), ": ",
             result.status.ok() ? "OK" : result.status.error_message());
  env.sessions->Close(session->id);
  result.image_ref = response.image_ref();
  result.state = state;
  if (state != nullptr) {
    result.attempts = state->DescribeAttempts();
    result.attempt_list = state->Attempts();
    result.excluded = state->ExcludedEndpoints();
    if (!result.status.ok()) AddRejectedBlobs(*state, result);
  }
  return result;
}

std::string EndpointList(const resolver::EndpointPlan& plan) {
  std::vector<std::string> urls;
  for (const resolver::Endpoint& endpoint : plan.endpoints) urls.push_back(endpoint.base_url);
  return absl::StrJoin(urls, ", ");
}

absl::Status PullError(const PullInput& input, const resolver::EndpointPlan& plan,
                       const grpc::Status& backend, const std::vector<std::string>& history) {
  // containerd's message may quote what a registry sent (issue 10 defect 11).
  std::string why = log::Shorten(backend.error_message(), kMaxBackendMessage);
  if (backend.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    absl::StrAppend(&why, " (the pull did not finish within [server].pull_timeout = ",
                    absl::FormatDuration(input.pull_timeout), " or the caller's deadline)");
  }
  std::string tried = history.empty()
                          ? absl::StrCat(EndpointList(plan), " (no endpoint failure recorded)")
                          : absl::StrJoin(history, "; then, retrying: ");
  std::string message = absl::StrCat("cri-mirror: pull of ", plan.reference.Canonical(),
                                     " failed: ", why, "; endpoints tried: ", tried);
  if (!plan.skipped.empty()) {
    absl::StrAppend(&message, "; skipped: ", absl::StrJoin(plan.skipped, "; "));
  }
  return absl::Status(static_cast<absl::StatusCode>(backend.error_code()), message);
}

absl::Status Name(const PullEnv& env, const PullInput& input,
                  const resolver::Reference& reference) {
  NamingEnv naming;
  naming.cri = env.cri;
  naming.images = env.images;
  naming.namespace_ = input.namespace_;
  naming.relay_address = env.relay_address;
  naming.deadline = std::max(input.deadline, absl::Now() + kMinNamingTime);
  return NameUnderOriginalReference(naming, reference);
}

}  // namespace

namespace {

absl::StatusOr<std::optional<auth::Credentials>> KubeletCredentialsFrom(
    const runtime::v1::AuthConfig& auth) {
  if (!auth.registry_token().empty() || !auth.identity_token().empty()) {
    // Docker's order: a registry token is used as is; an identity token
    // (with the username, if any) drives the OAuth2 refresh flow.
    auth::Credentials tokens;
    tokens.username = auth.username();
    tokens.identity_token = config::Secret(auth.identity_token());
    tokens.registry_token = config::Secret(auth.registry_token());
    return tokens;
  }
  if (!auth.username().empty() || !auth.password().empty()) {
    return auth::BasicCredentials(auth.username(), config::Secret(auth.password()));
  }
  if (auth.auth().empty()) return std::nullopt;
  std::string decoded;
  if (!absl::Base64Unescape(auth.auth(), &decoded)) {
    return absl::InvalidArgumentError(
        "cri-mirror: PullImage AuthConfig.auth is not base64; it must encode "
        "\"username:password\"");
  }
  const std::size_t colon = decoded.find(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        "cri-mirror: PullImage AuthConfig.auth does not decode to \"username:password\"");
  }
  return auth::BasicCredentials(decoded.substr(0, colon),
                                config::Secret(decoded.substr(colon + 1)));
}

}  // namespace

absl::StatusOr<std::optional<relay::KubeletAuth>> KubeletAuthFrom(
    const runtime::v1::AuthConfig& auth) {
  absl::StatusOr<std::optional<auth::Credentials>> credentials = KubeletCredentialsFrom(auth);
  if (!credentials.ok()) return credentials.status();
  if (!*credentials) return std::nullopt;
  // The registry the kubelet says the credential is for: the relay sends
  // it only to endpoints of that registry (relay/endpoint_credentials.h).
  return relay::KubeletAuth{**std::move(credentials), auth.server_address()};
}

resolver::EndpointPlan PlanWithout(const resolver::EndpointPlan& plan,
                                   const std::vector<std::string>& excluded) {
  resolver::EndpointPlan result = plan;
  result.endpoints.clear();
  for (const resolver::Endpoint& endpoint : plan.endpoints) {
    if (std::find(excluded.begin(), excluded.end(), endpoint.base_url) == excluded.end()) {
      result.endpoints.push_back(endpoint);
    } else {
      result.skipped.push_back(
          absl::StrCat(endpoint.base_url, ": excluded after serving content that failed "
                                          "digest verification"));
    }
  }
  return result;
}

absl::StatusOr<std::string> RunMirrorPull(const PullEnv& env, const PullInput& input,
                                          const PullControl& control, PullRecord* record) {
  absl::StatusOr<std::optional<relay::KubeletAuth>> auth = KubeletAuthFrom(input.request.auth());
  if (!auth.ok()) return auth.status();
  if (*auth) {
    absl::Status verified = VerifyKubeletCredentials(env.credential_check, input, **auth);
    if (!verified.ok()) return verified;
  }
  resolver::EndpointPlan plan = input.plan;
  std::vector<std::string> history;
  for (int attempt = 1;; ++attempt) {
    OnceResult result = PullOnce(env, input, plan, *auth, control);
    if (result.state != nullptr) record->AddSession(*result.state);
    if (!result.attempts.empty()) history.push_back(result.attempts);
    if (result.status.ok()) {
      const absl::Time start = absl::Now();
      absl::Status named = Name(env, input, plan.reference);
      log::Debug("pull ", plan.reference.Canonical(), ": naming took ",
                 absl::FormatDuration(absl::Now() - start));
      if (!named.ok()) return named;
      env.sessions->ForgetTagPin(plan);
      log::Info("pull ", plan.reference.Canonical(), ": done, image ", result.image_ref);
      return result.image_ref;
    }
    // The tag could not be resolved as the rule demands: that is the error,
    // not containerd's "failed to resolve reference".
    if (result.state != nullptr && result.state->tag_pin() != nullptr) {
      if (absl::Status tag = result.state->tag_pin()->last_error(); !tag.ok()) {
        return absl::Status(tag.code(), absl::StrCat("cri-mirror: pull of ",
                                                     plan.reference.Canonical(), " failed: ",
                                                     tag.message()));
      }
    }
    if (attempt == 1 && !result.excluded.empty() &&
        !(control.cancelled && control.cancelled())) {
      resolver::EndpointPlan retry = PlanWithout(plan, result.excluded);
      if (!retry.endpoints.empty()) {
        log::Warning("pull ", plan.reference.Canonical(), ": retrying without ",
                     absl::StrJoin(result.excluded, ", "), " after: ",
                     result.status.error_message());
        AbortIngests(env.channel, input.namespace_,
                     PoisonedIngestRefs(result.attempt_list, result.excluded,
                                        result.rejected_digests),
                     input.deadline);
        plan = std::move(retry);
        record->retried = true;
        continue;
      }
    }
    return PullError(input, plan, result.status, history);
  }
}

}  // namespace crimirror::plugin::mirror_pull_internal
