// ProxyCall: one CRI call of the internal gRPC server (the ones the HTTP/2
// router hands it: PullImage, and what it answers UNIMPLEMENTED), relayed
// byte for byte to the backend runtime unless intercepted, on gRPC's async
// completion-queue API.
//
// Every method is treated as a bidirectional stream of opaque messages
// (grpc::ByteBuffer), which covers unary and streaming RPCs alike and never
// re-encodes a message, so fields and methods this build does not know pass
// unchanged. Deadline and cancellation reach the backend through
// ClientContext::FromServerContext; status code, message, details and
// metadata come back.
//
// Why the async API (house style rule 8, measured with bench `--only cri`
// and `--only instructions` when this class served every call; since then
// the router in front, h2_router.h, measured cheaper still): the callback API of Debian's gRPC 1.51 runs
// each completion on an executor thread, so a proxied unary call hopped
// threads several times. Here the call's server side and backend side share
// one completion queue, polled by one thread (ImageServiceProxy), so every
// event of a call runs on the thread that read it from the socket, in order,
// and the call's state needs no lock. The one event from another thread, an
// intercepted PullImage's answer, comes back through a grpc::Alarm on the
// call's queue.
//
// Methods known to be unary take a shorter path: one server read, one backend
// unary call (request, half-close and response in one batch each way), one
// write-and-finish. Other methods take the streaming pump: a read on one side
// starts a write on the other, and the next read starts when that write
// completed, so at most one message per direction is in memory.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>

#include <grpcpp/alarm.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "absl/time/clock.h"
#include "plugin/pull_interceptor.h"

namespace crimirror::plugin {

inline constexpr std::string_view kImageServicePrefix = "/runtime.v1.ImageService/";
inline constexpr std::string_view kPullImageMethod = "/runtime.v1.ImageService/PullImage";

// What ProxyCall shares with every call of its server: where calls come
// from, where they go, and the live-call count that shutdown waits on.
struct ProxyShared {
  grpc::AsyncGenericService* service = nullptr;
  grpc::GenericStub* stub = nullptr;
  std::string backend_target;
  // Offered PullImage requests; null: pure pass-through.
  PullInterceptor* interceptor = nullptr;
  // ProxyCall objects alive (waiting for a call, or serving one).
  std::atomic<int> live{0};
};

class ProxyCall final {
 public:
  // Makes an object that waits for the next kubelet call on `cq`. When a
  // call arrives it makes the next waiter, serves the call and deletes
  // itself once every operation it started has completed. `cq` is the only
  // queue its events arrive on; it must be polled by a single thread, which
  // passes each tag to Dispatch.
  static void AwaitCall(ProxyShared* shared, grpc::ServerCompletionQueue* cq);

  // Called by the queue's thread for each tag it reads.
  static void Dispatch(void* tag, bool ok);

 private:
  // One completion of an operation this call started; the tag given to gRPC.
  enum class Event {
    kAccepted,       // the server matched a kubelet call to this object
    kDone,           // the kubelet call is over (finished or cancelled)
    kServerRead,
    kServerWrite,
    kServerFinish,
    kClientStarted,  // streaming pump: the backend call is started
    kClientRead,
    kClientWrite,
    kClientWritesDone,
    kClientFinish,   // the backend call's status (and, unary, its response)
    kIntercepted,    // the interceptor's answer is in
    kCount,
  };
  struct Tag {
    ProxyCall* call;
    Event event;
  };

  enum class Mode { kUndecided, kUnimplemented, kIntercepted, kUnary, kStream };

  ProxyCall(ProxyShared* shared, grpc::ServerCompletionQueue* cq);
  ~ProxyCall();

  // Returns the tag for `event` and counts the operation as in flight.
  void* Expect(Event event);
  void OnEvent(Event event, bool ok);

  void OnAccepted();
  void OnFirstRead(bool ok);
  bool TryIntercept();
  void OnIntercepted();
  void StartUnary();
  void OnUnaryDone();
  void StartStream();
  void OnServerRead(bool ok);
  void OnClientStarted();
  void ForwardRequest(bool ok);
  void OnClientWrite(bool ok);
  void OnClientRead(bool ok);
  void OnServerWrite(bool ok);
  void OnStreamFinished();
  void OnDone();

  void MakeClientContext();
  void CopyInitialMetadata();
  void CopyTrailingMetadata();
  void FinishWith(const grpc::Status& status);
  grpc::Status AnnotateStatus(const grpc::Status& status) const;

  ProxyShared* const shared_;
  grpc::ServerCompletionQueue* const cq_;
  Tag tags_[static_cast<int>(Event::kCount)];
  int in_flight_ = 0;  // operations started and not yet completed
  Mode mode_ = Mode::kUndecided;
  bool unary_method_ = false;  // a method known to be unary
  absl::Time start_;           // for the CRI latency histogram

  grpc::GenericServerContext server_context_;
  grpc::GenericServerAsyncReaderWriter stream_{&server_context_};
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;

  std::unique_ptr<grpc::ClientContext> client_context_;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> unary_call_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> stream_call_;
  grpc::Status client_status_;
  bool initial_metadata_copied_ = false;
  // Streaming pump: StartCall's headers and the first write share one
  // operation slot, so what the kubelet sends before kClientStarted waits.
  bool client_started_ = false;
  enum class Pending { kNothing, kWrite, kWritesDone } pending_ = Pending::kNothing;

  // Intercepted PullImage: the answer, written by the interceptor's thread
  // before it sets the alarm, read on the queue's thread after.
  grpc::Alarm alarm_;
  grpc::Status intercepted_status_;
  grpc::ByteBuffer intercepted_response_;
  // Set when the kubelet's call ended before its answer; read by the
  // interceptor from any thread, possibly after this object is gone.
  std::shared_ptr<std::atomic<bool>> cancelled_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace crimirror::plugin
