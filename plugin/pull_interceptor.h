// PullInterceptor: the hook through which PullImage calls may be taken over
// (mirror rules, relay sessions). The pass-through proxy asks it first for
// every PullImage; an interceptor that declines leaves the call to be
// forwarded byte for byte.
#pragma once

#include <functional>
#include <memory>

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/byte_buffer.h>

#include "absl/time/time.h"

namespace crimirror::plugin {

// Completion of an intercepted PullImage: an OK status with the serialized
// PullImageResponse, or an error status (the buffer is then ignored).
using PullDone = std::function<void(grpc::Status status, grpc::ByteBuffer response)>;

// Who waits for a pull: a gRPC call (ProxyCall makes one per PullImage) or
// any other caller.
struct PullCaller {
  // True once the caller went away (its call was cancelled or timed out);
  // null: never. Called from any thread, must not block.
  std::function<bool()> cancelled;
  // The caller's deadline; InfiniteFuture when it has none.
  absl::Time deadline = absl::InfiniteFuture();
};

class PullInterceptor {
 public:
  virtual ~PullInterceptor() = default;

  // Offered every PullImage request as received (serialized bytes). Returns
  // false to decline: the proxy then forwards `request` unchanged. Returns
  // true to take the call: `done` must then be called exactly once, from any
  // thread; the server's shutdown waits for it. Must not block: long work
  // runs on the interceptor's own threads. `caller` says when the kubelet
  // went away and its deadline; it may be used from any thread, also after
  // `done`.
  virtual bool Intercept(PullCaller caller, const grpc::ByteBuffer& request,
                         PullDone done) = 0;
};
using PullInterceptorPtr = std::unique_ptr<PullInterceptor>;

}  // namespace crimirror::plugin
