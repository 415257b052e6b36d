#include "plugin/proxy_call.h"

#include <string_view>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "metrics/metrics.h"

namespace crimirror::plugin {
namespace {

// Transport-level and reserved headers are set by gRPC itself on each hop.
bool IsHopHeader(std::string_view key) {
  return key.starts_with(":") || key.starts_with("grpc-") ||
         key == "content-type" || key == "user-agent" || key == "te" || key == "host";
}

std::string_view View(const grpc::string_ref& s) { return {s.data(), s.size()}; }

}  // namespace

ProxyCall::ProxyCall(grpc::GenericCallbackServerContext* server_context,
                     grpc::GenericStub* stub, std::string backend_target,
                     PullInterceptor* interceptor, bool unary)
    : server_context_(server_context),
      stub_(stub),
      backend_target_(std::move(backend_target)),
      interceptor_(interceptor),
      unary_(unary),
      start_(absl::Now()) {
  StartRead(&request_);
}

// The server read chain: the first message decides whether the call is
// intercepted; then each message read is written upstream, and the next read
// starts only when that write completed (one message in flight).
void ProxyCall::OnReadDone(bool ok) {
  if (mode_ == Mode::kUndecided) {
    if (ok && TryIntercept()) {
      mode_ = Mode::kIntercepted;
      return;
    }
    if (ok && unary_) {
      StartUnaryUpstream();
      return;
    }
    StartUpstream();
  }
  if (ok) {
    upstream_.StartWrite(&request_);
  } else {
    upstream_.StartWritesDone();
    StopForwardingRequests();
  }
}

bool ProxyCall::TryIntercept() {
  if (interceptor_ == nullptr) return false;
  return interceptor_->Intercept(
      server_context_, request_, [this](grpc::Status status, grpc::ByteBuffer response) {
        FinishIntercepted(std::move(status), std::move(response));
      });
}

void ProxyCall::FinishIntercepted(grpc::Status status, grpc::ByteBuffer response) {
  // No upstream reactor was made: drop its reference now.
  Unref();
  if (!status.ok()) {
    Finish(status);
    return;
  }
  intercepted_response_ = std::move(response);
  StartWriteAndFinish(&intercepted_response_, grpc::WriteOptions(), grpc::Status::OK);
}

void ProxyCall::MakeClientContext() {
  client_context_ = grpc::ClientContext::FromCallbackServerContext(*server_context_);
  for (const auto& [key, value] : server_context_->client_metadata()) {
    if (IsHopHeader(View(key))) continue;
    client_context_->AddMetadata(std::string(View(key)), std::string(View(value)));
  }
  if (cancelled_) client_context_->TryCancel();
}

void ProxyCall::StartUnaryUpstream() {
  mode_ = Mode::kUnary;
  absl::MutexLock lock(&mu_);
  MakeClientContext();
  stub_->UnaryCall(client_context_.get(), server_context_->method(), grpc::StubOptions(),
                   &request_, &response_,
                   [this](grpc::Status status) { OnUnaryDone(status); });
}

void ProxyCall::OnUnaryDone(const grpc::Status& status) {
  CopyInitialMetadata();
  CopyTrailingMetadata();
  if (status.ok()) {
    StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
  } else {
    Finish(AnnotateStatus(status));
  }
  Unref();
}

void ProxyCall::StartUpstream() {
  mode_ = Mode::kStream;
  absl::MutexLock lock(&mu_);
  MakeClientContext();
  stub_->PrepareBidiStreamingCall(client_context_.get(), server_context_->method(),
                                  grpc::StubOptions(), &upstream_);
  // Two holds keep the upstream reactor alive while this object may still
  // start operations on it from the server side: one for the request chain,
  // one for the response chain.
  upstream_.AddMultipleHolds(2);
  upstream_.StartRead(&response_);
  upstream_.StartCall();
}

void ProxyCall::StopForwardingRequests() {
  if (request_hold_released_) return;
  request_hold_released_ = true;
  upstream_.RemoveHold();
}

void ProxyCall::OnUpstreamWriteDone(bool ok) {
  if (ok) {
    StartRead(&request_);
  } else {
    // The backend call ended; its status arrives in OnUpstreamDone.
    StopForwardingRequests();
  }
}

// The response chain: an upstream message is written to the kubelet, and the
// next upstream read starts only when that write completed.
void ProxyCall::OnUpstreamReadDone(bool ok) {
  if (!ok) {
    upstream_.RemoveHold();
    return;
  }
  CopyInitialMetadata();
  StartWrite(&response_);
}

void ProxyCall::OnWriteDone(bool ok) {
  if (mode_ != Mode::kStream) return;  // write-and-finish of the other paths
  if (ok) {
    upstream_.StartRead(&response_);
    return;
  }
  // The kubelet went away; stop the backend call too.
  {
    absl::MutexLock lock(&mu_);
    if (client_context_) client_context_->TryCancel();
  }
  upstream_.RemoveHold();
}

// Response headers must be added before the first write to the kubelet
// sends them; trailers just before Finish.
void ProxyCall::CopyInitialMetadata() {
  absl::MutexLock lock(&mu_);
  if (initial_metadata_copied_) return;
  initial_metadata_copied_ = true;
  for (const auto& [key, value] : client_context_->GetServerInitialMetadata()) {
    if (IsHopHeader(View(key))) continue;
    server_context_->AddInitialMetadata(std::string(View(key)), std::string(View(value)));
  }
}

void ProxyCall::CopyTrailingMetadata() {
  absl::MutexLock lock(&mu_);
  for (const auto& [key, value] : client_context_->GetServerTrailingMetadata()) {
    if (IsHopHeader(View(key))) continue;
    server_context_->AddTrailingMetadata(std::string(View(key)), std::string(View(value)));
  }
}

grpc::Status ProxyCall::AnnotateStatus(const grpc::Status& status) const {
  if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return status;
  return grpc::Status(status.error_code(),
                      absl::StrCat("cri-mirror: backend ", backend_target_,
                                   " is unavailable: ", status.error_message()),
                      status.error_details());
}

void ProxyCall::OnUpstreamDone(const grpc::Status& status) {
  // Both holds are released: no write to the kubelet is in flight.
  CopyInitialMetadata();
  CopyTrailingMetadata();
  Finish(AnnotateStatus(status));
  Unref();
}

void ProxyCall::OnCancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  if (client_context_) client_context_->TryCancel();
}

void ProxyCall::OnDone() {
  // Known methods by name; anything else (streams, methods added later)
  // as "other": the label never takes arbitrary request text.
  static metrics::Family& latency = metrics::Registry::Default().Histogram(
      "cri_mirror_cri_call_duration_seconds",
      "CRI ImageService calls served (proxied or intercepted), by method.", {"method"},
      metrics::DurationBuckets());
  std::string method = "other";
  if (unary_) {
    const std::string& full = server_context_->method();
    method = full.substr(full.rfind('/') + 1);
  }
  latency.Observe({method}, absl::ToDoubleSeconds(absl::Now() - start_));
  Unref();
}

void ProxyCall::Unref() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

}  // namespace crimirror::plugin
