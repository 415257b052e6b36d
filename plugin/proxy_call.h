// ProxyCall: one CRI call relayed byte for byte between the kubelet and the
// backend runtime.
//
// Every method is treated as a bidirectional stream of opaque messages
// (grpc::ByteBuffer), which covers unary and streaming RPCs alike and never
// re-encodes a message, so fields and methods this build does not know pass
// unchanged. Deadline and cancellation reach the backend through
// ClientContext::FromCallbackServerContext; status code, message, details and
// metadata come back. No gRPC thread ever blocks: each side's completion
// starts the next operation on the other side (a read on one side, then a
// write on the other), so at most one message per direction is in memory.
//
// Methods known to be unary take a shorter path: one read, one backend
// UnaryCall (request, half-close and response in a single batch), one
// write-and-finish. That halves the completion-queue round trips of the
// streaming pump, which dominate the cost of a proxied ImageStatus.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "plugin/pull_interceptor.h"

namespace crimirror::plugin {

class ProxyCall final : public grpc::ServerGenericBidiReactor {
 public:
  // Starts relaying at once. `stub` must outlive the call; `interceptor` is
  // offered the request when it is non-null (PullImage only); `unary` selects
  // the single-message path for methods known to be unary. Deletes itself
  // when both sides are done.
  ProxyCall(grpc::GenericCallbackServerContext* server_context, grpc::GenericStub* stub,
            std::string backend_target, PullInterceptor* interceptor, bool unary);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // The backend side of the call.
  class Upstream final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
   public:
    explicit Upstream(ProxyCall* call) : call_(call) {}
    void OnReadDone(bool ok) override { call_->OnUpstreamReadDone(ok); }
    void OnWriteDone(bool ok) override { call_->OnUpstreamWriteDone(ok); }
    void OnDone(const grpc::Status& status) override { call_->OnUpstreamDone(status); }

   private:
    ProxyCall* call_;
  };

  ~ProxyCall() override = default;

  // How the call is relayed; decided by the first read.
  enum class Mode { kUndecided, kIntercepted, kUnary, kStream };

  void MakeClientContext();
  void StartUpstream();
  void StartUnaryUpstream();
  void OnUnaryDone(const grpc::Status& status);
  bool TryIntercept();
  void OnUpstreamReadDone(bool ok);
  void OnUpstreamWriteDone(bool ok);
  void OnUpstreamDone(const grpc::Status& status);
  void FinishIntercepted(grpc::Status status, grpc::ByteBuffer response);
  void StopForwardingRequests();
  void CopyInitialMetadata();
  void CopyTrailingMetadata();
  grpc::Status AnnotateStatus(const grpc::Status& status) const;
  void Unref();

  grpc::GenericCallbackServerContext* const server_context_;
  grpc::GenericStub* const stub_;
  const std::string backend_target_;
  PullInterceptor* const interceptor_;
  const bool unary_;
  // For the CRI latency histogram (metrics): when the call arrived.
  const absl::Time start_;

  // Two owners: the server reactor (until OnDone) and the upstream reactor
  // (until its OnDone, or from the start when no upstream is ever made).
  std::atomic<int> refs_{2};
  Mode mode_ = Mode::kUndecided;  // set once by the first OnReadDone
  bool request_hold_released_ = false;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  grpc::ByteBuffer intercepted_response_;

  absl::Mutex mu_;
  std::unique_ptr<grpc::ClientContext> client_context_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool initial_metadata_copied_ ABSL_GUARDED_BY(mu_) = false;
  Upstream upstream_{this};
};

}  // namespace crimirror::plugin
