// PullInterceptor: the hook through which PullImage calls may be taken over
// (mirror rules, relay sessions). The pass-through proxy asks it first for
// every PullImage; an interceptor that declines leaves the call to be
// forwarded byte for byte.
#pragma once

#include <functional>
#include <memory>

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/byte_buffer.h>

namespace crimirror::plugin {

// Completion of an intercepted PullImage: an OK status with the serialized
// PullImageResponse, or an error status (the buffer is then ignored).
using PullDone = std::function<void(grpc::Status status, grpc::ByteBuffer response)>;

class PullInterceptor {
 public:
  virtual ~PullInterceptor() = default;

  // Offered every PullImage request as received (serialized bytes). Returns
  // false to decline: the proxy then forwards `request` unchanged. Returns
  // true to take the call: `done` must then be called exactly once, from any
  // thread, and not after the server shut down. Must not block: long work
  // runs on the interceptor's own threads. `context` stays valid until `done`
  // runs; use it for the deadline and cancellation (IsCancelled()).
  virtual bool Intercept(grpc::CallbackServerContext* context,
                         const grpc::ByteBuffer& request, PullDone done) = 0;
};
using PullInterceptorPtr = std::unique_ptr<PullInterceptor>;

}  // namespace crimirror::plugin
