#include "plugin/proxy_call.h"

#include <chrono>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "plugin/cri_call_metrics.h"
#include "plugin/h2_route.h"

namespace crimirror::plugin {
namespace {

// Transport-level and reserved headers are set by gRPC itself on each hop.
bool IsHopHeader(std::string_view key) {
  return key.starts_with(":") || key.starts_with("grpc-") ||
         key == "content-type" || key == "user-agent" || key == "te" || key == "host";
}

std::string_view View(const grpc::string_ref& s) { return {s.data(), s.size()}; }

// The ImageService methods known to be unary (the ones MethodLabel names).
// Anything else under the service (StreamImages, methods added later) takes
// the streaming pump.
bool IsKnownUnary(std::string_view method) { return MethodLabel(method) != "other"; }

// The kubelet's deadline; none when it set none (gRPC reports a far-future
// time then).
absl::Time DeadlineOf(const grpc::ServerContextBase& context) {
  const auto deadline = context.deadline();
  if (deadline >= std::chrono::system_clock::time_point::max() - std::chrono::hours(24 * 365)) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

}  // namespace

void ProxyCall::AwaitCall(ProxyShared* shared, grpc::ServerCompletionQueue* cq) {
  auto* call = new ProxyCall(shared, cq);
  // The done tag is delivered only for a call that was matched; it is
  // counted in OnAccepted.
  call->server_context_.AsyncNotifyWhenDone(&call->tags_[static_cast<int>(Event::kDone)]);
  shared->service->RequestCall(&call->server_context_, &call->stream_, cq, cq,
                               call->Expect(Event::kAccepted));
}

void ProxyCall::Dispatch(void* tag, bool ok) {
  Tag* t = static_cast<Tag*>(tag);
  t->call->OnEvent(t->event, ok);
}

ProxyCall::ProxyCall(ProxyShared* shared, grpc::ServerCompletionQueue* cq)
    : shared_(shared), cq_(cq) {
  for (int i = 0; i < static_cast<int>(Event::kCount); ++i) {
    tags_[i] = Tag{this, static_cast<Event>(i)};
  }
  shared_->live.fetch_add(1, std::memory_order_relaxed);
}

ProxyCall::~ProxyCall() { shared_->live.fetch_sub(1, std::memory_order_release); }

void* ProxyCall::Expect(Event event) {
  ++in_flight_;
  return &tags_[static_cast<int>(event)];
}

void ProxyCall::OnEvent(Event event, bool ok) {
  --in_flight_;
  switch (event) {
    case Event::kAccepted:
      if (ok) OnAccepted();  // not ok: the server is shutting down
      break;
    case Event::kDone:
      OnDone();
      break;
    case Event::kServerRead:
      if (mode_ == Mode::kUndecided) {
        OnFirstRead(ok);
      } else {
        OnServerRead(ok);
      }
      break;
    case Event::kServerWrite:
      OnServerWrite(ok);
      break;
    case Event::kClientWrite:
      OnClientWrite(ok);
      break;
    case Event::kClientRead:
      OnClientRead(ok);
      break;
    case Event::kClientFinish:
      if (mode_ == Mode::kUnary) {
        OnUnaryDone();
      } else {
        OnStreamFinished();
      }
      break;
    case Event::kIntercepted:
      OnIntercepted();
      break;
    case Event::kClientStarted:
      OnClientStarted();
      break;
    case Event::kServerFinish:      // the kubelet has the status
    case Event::kClientWritesDone:  // the backend has the half-close
    case Event::kCount:
      break;
  }
  if (in_flight_ == 0) delete this;
}

void ProxyCall::OnAccepted() {
  ++in_flight_;  // the done tag
  AwaitCall(shared_, cq_);
  start_ = absl::Now();
  const std::string& method = server_context_.method();
  if (!method.starts_with(kImageServicePrefix)) {
    mode_ = Mode::kUnimplemented;
    FinishWith(grpc::Status(
        grpc::StatusCode::UNIMPLEMENTED,
        absl::StrCat("cri-mirror serves runtime.v1.ImageService only; ", method,
                     " is not relayed (point the kubelet's --container-runtime-endpoint "
                     "at containerd)")));
    return;
  }
  unary_method_ = IsKnownUnary(method);
  stream_.Read(&request_, Expect(Event::kServerRead));
}

// The first message decides how the call is relayed.
void ProxyCall::OnFirstRead(bool ok) {
  if (ok && TryIntercept()) {
    mode_ = Mode::kIntercepted;
    return;
  }
  if (ok && unary_method_) {
    StartUnary();
    return;
  }
  StartStream();
  OnServerRead(ok);
}

bool ProxyCall::TryIntercept() {
  if (shared_->interceptor == nullptr || server_context_.method() != kPullImageMethod) {
    return false;
  }
  PullCaller caller;
  caller.cancelled = [flag = cancelled_] { return flag->load(std::memory_order_acquire); };
  caller.deadline = DeadlineOf(server_context_);
  // Counted before the interceptor can answer, from whatever thread.
  void* tag = Expect(Event::kIntercepted);
  const bool taken = shared_->interceptor->Intercept(
      std::move(caller), request_, [this, tag](grpc::Status status, grpc::ByteBuffer response) {
        intercepted_status_ = std::move(status);
        intercepted_response_ = std::move(response);
        alarm_.Set(cq_, gpr_now(GPR_CLOCK_MONOTONIC), tag);
      });
  if (!taken) --in_flight_;
  return taken;
}

void ProxyCall::OnIntercepted() {
  if (!intercepted_status_.ok()) {
    FinishWith(intercepted_status_);
    return;
  }
  stream_.WriteAndFinish(intercepted_response_, grpc::WriteOptions(), grpc::Status::OK,
                         Expect(Event::kServerFinish));
}

void ProxyCall::MakeClientContext() {
  // Carries the deadline and cancellation of the kubelet's call.
  client_context_ = grpc::ClientContext::FromServerContext(server_context_);
  for (const auto& [key, value] : server_context_.client_metadata()) {
    if (IsHopHeader(View(key))) continue;
    client_context_->AddMetadata(std::string(View(key)), std::string(View(value)));
  }
}

void ProxyCall::StartUnary() {
  mode_ = Mode::kUnary;
  MakeClientContext();
  unary_call_ = shared_->stub->PrepareUnaryCall(client_context_.get(), server_context_.method(),
                                                request_, cq_);
  unary_call_->StartCall();
  unary_call_->Finish(&response_, &client_status_, Expect(Event::kClientFinish));
}

void ProxyCall::OnUnaryDone() {
  CopyInitialMetadata();
  CopyTrailingMetadata();
  if (!client_status_.ok()) {
    FinishWith(AnnotateStatus(client_status_));
    return;
  }
  stream_.WriteAndFinish(response_, grpc::WriteOptions(), grpc::Status::OK,
                         Expect(Event::kServerFinish));
}

// The streaming pump. A read may start at once; writes wait for the start.
void ProxyCall::StartStream() {
  mode_ = Mode::kStream;
  MakeClientContext();
  stream_call_ = shared_->stub->PrepareCall(client_context_.get(), server_context_.method(), cq_);
  stream_call_->StartCall(Expect(Event::kClientStarted));
  stream_call_->Read(&response_, Expect(Event::kClientRead));
}

// The request chain: a message read from the kubelet is written to the
// backend, and the next read starts when that write completed.
void ProxyCall::OnServerRead(bool ok) {
  if (!client_started_) {
    pending_ = ok ? Pending::kWrite : Pending::kWritesDone;
    return;
  }
  ForwardRequest(ok);
}

void ProxyCall::OnClientStarted() {
  // Not ok: the backend call failed to start; the read or Finish reports it.
  client_started_ = true;
  if (pending_ == Pending::kNothing) return;
  ForwardRequest(pending_ == Pending::kWrite);
  pending_ = Pending::kNothing;
}

void ProxyCall::ForwardRequest(bool ok) {
  if (ok) {
    stream_call_->Write(request_, Expect(Event::kClientWrite));
  } else {
    stream_call_->WritesDone(Expect(Event::kClientWritesDone));
  }
}

void ProxyCall::OnClientWrite(bool ok) {
  // Not ok: the backend call ended; its status arrives with kClientFinish.
  if (ok) stream_.Read(&request_, Expect(Event::kServerRead));
}

// The response chain: a backend message is written to the kubelet, and the
// next backend read starts when that write completed.
void ProxyCall::OnClientRead(bool ok) {
  if (!ok) {
    stream_call_->Finish(&client_status_, Expect(Event::kClientFinish));
    return;
  }
  CopyInitialMetadata();
  stream_.Write(response_, Expect(Event::kServerWrite));
}

void ProxyCall::OnServerWrite(bool ok) {
  if (!ok) {
    // The kubelet went away: stop the backend call and collect its status.
    client_context_->TryCancel();
    stream_call_->Finish(&client_status_, Expect(Event::kClientFinish));
    return;
  }
  stream_call_->Read(&response_, Expect(Event::kClientRead));
}

void ProxyCall::OnStreamFinished() {
  // No write to the kubelet is in flight: the response chain ended.
  CopyInitialMetadata();
  CopyTrailingMetadata();
  FinishWith(AnnotateStatus(client_status_));
}

// Response headers must be added before the first write to the kubelet
// sends them; trailers just before Finish. Both are known once a backend
// read or the backend Finish completed.
void ProxyCall::CopyInitialMetadata() {
  if (initial_metadata_copied_) return;
  initial_metadata_copied_ = true;
  for (const auto& [key, value] : client_context_->GetServerInitialMetadata()) {
    if (IsHopHeader(View(key))) continue;
    server_context_.AddInitialMetadata(std::string(View(key)), std::string(View(value)));
  }
}

void ProxyCall::CopyTrailingMetadata() {
  for (const auto& [key, value] : client_context_->GetServerTrailingMetadata()) {
    if (IsHopHeader(View(key))) continue;
    server_context_.AddTrailingMetadata(std::string(View(key)), std::string(View(value)));
  }
}

void ProxyCall::FinishWith(const grpc::Status& status) {
  stream_.Finish(status, Expect(Event::kServerFinish));
}

grpc::Status ProxyCall::AnnotateStatus(const grpc::Status& status) const {
  if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return status;
  return grpc::Status(status.error_code(),
                      absl::StrCat("cri-mirror: backend ", shared_->backend_target,
                                   " is unavailable: ", status.error_message()),
                      status.error_details());
}

void ProxyCall::OnDone() {
  if (server_context_.IsCancelled()) {
    cancelled_->store(true, std::memory_order_release);
    if (client_context_) client_context_->TryCancel();
  }
  if (mode_ == Mode::kUnimplemented) return;
  ObserveCriCall(server_context_.method(), absl::Now() - start_);
}

}  // namespace crimirror::plugin
