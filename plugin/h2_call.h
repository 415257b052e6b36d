// RoutedCall: the router's state for one kubelet call (one HTTP/2 stream on
// the kubelet connection, and its twin on an upstream connection), and the
// header lists and byte buffers it is made of. Data only; the nghttp2
// callbacks that drive it live in kubelet_connection.cc.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "plugin/h2_route.h"

namespace crimirror::plugin {

// Header fields in the order received, pseudo-headers included.
using H2Headers = std::vector<std::pair<std::string, std::string>>;

// Limits of the header lists the router keeps per call: beyond them the
// call is reset (gRPC's own default limit on metadata is 8 KiB).
inline constexpr std::size_t kMaxHeaderListBytes = 64 * 1024;
inline constexpr std::size_t kMaxHeaderFields = 256;

// nghttp2's view of `headers` (points into it; valid while it lives).
std::vector<nghttp2_nv> NameValues(const H2Headers& headers);

// grpc-status and grpc-message fields for a call the router answers itself.
H2Headers GrpcStatusFields(int code, std::string_view message);

// Bytes received from one side that the other side has not sent on yet.
// Appends copy once; Take() copies into the frame nghttp2 is building.
class ForwardBuffer {
 public:
  void Append(const std::uint8_t* data, std::size_t size);
  // Moves up to `max` bytes into `out`; the count.
  std::size_t Take(std::uint8_t* out, std::size_t max);
  // Drops everything; the count dropped.
  std::size_t Clear();
  std::size_t size() const { return data_.size() - offset_; }
  bool empty() const { return size() == 0; }

 private:
  std::string data_;
  std::size_t offset_ = 0;
};

class Upstream;

struct RoutedCall {
  std::int32_t kubelet_stream = 0;
  CallRoute route = CallRoute::kBackend;
  std::string path;  // the request's :path, once the headers are in
  absl::Time start;

  // The upstream side: null until dispatched, and again once that
  // connection is gone.
  Upstream* upstream = nullptr;
  std::int32_t upstream_stream = -1;

  H2Headers request_headers;
  std::size_t header_bytes = 0;  // of the list being received
  ForwardBuffer request;         // kubelet -> upstream
  bool request_ended = false;    // the kubelet half-closed
  bool drop_request = false;     // answered already: request bytes are dropped

  H2Headers response_headers;
  H2Headers trailers;
  ForwardBuffer response;         // upstream -> kubelet
  bool response_started = false;  // response HEADERS submitted to the kubelet
  bool response_ended = false;    // nothing more will come from upstream

  bool kubelet_closed = false;   // the kubelet stream is closed
  bool upstream_closed = true;  // no upstream stream is open (none yet, or it closed)
};

}  // namespace crimirror::plugin
