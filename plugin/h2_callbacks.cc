#include "plugin/h2_callbacks.h"

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "plugin/kubelet_connection.h"

namespace crimirror::plugin {
namespace {

RoutedCall* CallOf(nghttp2_session* session, std::int32_t stream_id) {
  return static_cast<RoutedCall*>(nghttp2_session_get_stream_user_data(session, stream_id));
}

// Appends a received field to `list`; false past the per-call limits.
bool AddField(RoutedCall* call, H2Headers* list, const std::uint8_t* name, std::size_t name_length,
              const std::uint8_t* value, std::size_t value_length) {
  call->header_bytes += name_length + value_length;
  if (call->header_bytes > kMaxHeaderListBytes || list->size() >= kMaxHeaderFields) return false;
  list->emplace_back(std::string(reinterpret_cast<const char*>(name), name_length),
                     std::string(reinterpret_cast<const char*>(value), value_length));
  return true;
}

bool EndsStream(const nghttp2_frame* frame) {
  return (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
}

}  // namespace

// The kubelet side: a server session whose user data is the connection.
struct KubeletCallbacks {
  static KubeletConnection* Owner(void* user_data) {
    return static_cast<KubeletConnection*>(user_data);
  }

  static void ResumeUpstream(RoutedCall* call) {
    if (call->upstream != nullptr && !call->upstream_closed) {
      (void)nghttp2_session_resume_data(call->upstream->connection->session(),
                                        call->upstream_stream);
    }
  }

  static int OnBeginHeaders(nghttp2_session* session, const nghttp2_frame* frame,
                            void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    auto call = std::make_unique<RoutedCall>();
    call->kubelet_stream = frame->hd.stream_id;
    call->start = absl::Now();
    (void)nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, call.get());
    Owner(user_data)->calls_[frame->hd.stream_id] = std::move(call);
    return 0;
  }

  static int OnHeader(nghttp2_session* session, const nghttp2_frame* frame,
                      const std::uint8_t* name, std::size_t name_length, const std::uint8_t* value,
                      std::size_t value_length, std::uint8_t /*flags*/, void* /*user_data*/) {
    RoutedCall* call = CallOf(session, frame->hd.stream_id);
    // Request trailers (gRPC clients send none) are not forwarded.
    if (call == nullptr || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    return AddField(call, &call->request_headers, name, name_length, value, value_length)
               ? 0
               : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets the stream
  }

  static int OnFrameRecv(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
    RoutedCall* call = CallOf(session, frame->hd.stream_id);
    if (call == nullptr) return 0;
    if (EndsStream(frame)) call->request_ended = true;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      Owner(user_data)->Dispatch(call);
    } else if (EndsStream(frame)) {
      ResumeUpstream(call);
    }
    return 0;
  }

  static int OnDataChunk(nghttp2_session* session, std::uint8_t /*flags*/, std::int32_t stream_id,
                         const std::uint8_t* data, std::size_t length, void* /*user_data*/) {
    RoutedCall* call = CallOf(session, stream_id);
    if (call == nullptr || call->drop_request) {
      (void)nghttp2_session_consume(session, stream_id, length);
      return 0;
    }
    call->request.Append(data, length);
    ResumeUpstream(call);
    return 0;
  }

  static int OnStreamClose(nghttp2_session* /*session*/, std::int32_t stream_id,
                           std::uint32_t error_code, void* user_data) {
    KubeletConnection* c = Owner(user_data);
    auto it = c->calls_.find(stream_id);
    if (it == c->calls_.end()) return 0;
    RoutedCall* call = it->second.get();
    call->kubelet_closed = true;
    // The kubelet cancelled (or its deadline passed): so does the backend.
    if (call->upstream != nullptr && !call->upstream_closed) {
      (void)nghttp2_submit_rst_stream(call->upstream->connection->session(), NGHTTP2_FLAG_NONE,
                                      call->upstream_stream,
                                      error_code == NGHTTP2_NO_ERROR ? std::uint32_t{NGHTTP2_CANCEL} : error_code);
    }
    c->MaybeFinish(call);
    return 0;
  }

  // The response body's data source: what the upstream sent, then its
  // trailers (or the router's own status) once it ended.
  static ssize_t ReadResponse(nghttp2_session* session, std::int32_t stream_id, std::uint8_t* buf,
                              std::size_t length, std::uint32_t* data_flags, RoutedCall* call,
                              void* user_data) {
    const std::size_t n = call->response.Take(buf, length);
    Owner(user_data)->ConsumeResponse(call, n);
    if (!call->response.empty() || !call->response_ended) {
      return n == 0 ? ssize_t{NGHTTP2_ERR_DEFERRED} : static_cast<ssize_t>(n);
    }
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!call->trailers.empty()) {
      *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      std::vector<nghttp2_nv> fields = NameValues(call->trailers);
      (void)nghttp2_submit_trailer(session, stream_id, fields.data(), fields.size());
      call->trailers.clear();
    }
    return static_cast<ssize_t>(n);
  }
};

// The upstream side: a client session whose user data is the Upstream.

struct UpstreamCallbacks {
  static KubeletConnection* Owner(void* user_data) {
    return static_cast<Upstream*>(user_data)->owner;
  }

  static void ResumeKubelet(KubeletConnection* c, RoutedCall* call) {
    (void)nghttp2_session_resume_data(c->kubelet_->session(), call->kubelet_stream);
  }

  static int OnHeader(nghttp2_session* session, const nghttp2_frame* frame,
                      const std::uint8_t* name, std::size_t name_length, const std::uint8_t* value,
                      std::size_t value_length, std::uint8_t /*flags*/, void* /*user_data*/) {
    RoutedCall* call = CallOf(session, frame->hd.stream_id);
    if (call == nullptr || call->kubelet_closed || call->response_ended) return 0;
    H2Headers* list =
        frame->headers.cat == NGHTTP2_HCAT_RESPONSE ? &call->response_headers : &call->trailers;
    return AddField(call, list, name, name_length, value, value_length)
               ? 0
               : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }

  static void StartResponse(KubeletConnection* c, RoutedCall* call, bool trailers_only) {
    std::vector<nghttp2_nv> fields = NameValues(call->response_headers);
    nghttp2_data_provider body{};
    body.source.ptr = call;
    body.read_callback = &ReadResponseBody;
    (void)nghttp2_submit_response(c->kubelet_->session(), call->kubelet_stream, fields.data(),
                                  fields.size(), trailers_only ? nullptr : &body);
    call->response_headers.clear();
    call->response_started = true;
    if (trailers_only) call->response_ended = true;
  }

  static int OnFrameRecv(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
    RoutedCall* call = CallOf(session, frame->hd.stream_id);
    // Nothing more reaches a kubelet stream that is closed or answered.
    if (call == nullptr || call->kubelet_closed || call->response_ended) return 0;
    KubeletConnection* c = Owner(user_data);
    call->header_bytes = 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_RESPONSE) {
      StartResponse(c, call, EndsStream(frame));
    } else if (EndsStream(frame)) {
      call->response_ended = true;
      ResumeKubelet(c, call);
    }
    return 0;
  }

  static int OnDataChunk(nghttp2_session* session, std::uint8_t /*flags*/, std::int32_t stream_id,
                         const std::uint8_t* data, std::size_t length, void* user_data) {
    RoutedCall* call = CallOf(session, stream_id);
    if (call == nullptr || call->kubelet_closed || call->response_ended) {
      (void)nghttp2_session_consume(session, stream_id, length);
      return 0;
    }
    call->response.Append(data, length);
    ResumeKubelet(Owner(user_data), call);
    return 0;
  }

  static int OnStreamClose(nghttp2_session* session, std::int32_t stream_id,
                           std::uint32_t error_code, void* user_data) {
    RoutedCall* call = CallOf(session, stream_id);
    if (call == nullptr) return 0;
    KubeletConnection* c = Owner(user_data);
    call->upstream_closed = true;
    if (!call->kubelet_closed && !call->response_ended) {
      // Reset before the response ended: the kubelet's stream is reset with
      // the same code (CANCEL reads as CANCELLED, REFUSED_STREAM as
      // UNAVAILABLE to a gRPC client).
      call->response_ended = true;
      (void)nghttp2_submit_rst_stream(c->kubelet_->session(), NGHTTP2_FLAG_NONE,
                                      call->kubelet_stream,
                                      error_code == NGHTTP2_NO_ERROR
                                          ? std::uint32_t{NGHTTP2_INTERNAL_ERROR}
                                          : error_code);
    }
    c->MaybeFinish(call);
    return 0;
  }

  static ssize_t ReadRequest(nghttp2_session* /*session*/, std::uint8_t* buf, std::size_t length,
                             std::uint32_t* data_flags, RoutedCall* call, void* user_data) {
    const std::size_t n = call->request.Take(buf, length);
    Owner(user_data)->ConsumeRequest(call, n);
    if (call->request.empty() && call->request_ended) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
      return static_cast<ssize_t>(n);
    }
    return n == 0 ? ssize_t{NGHTTP2_ERR_DEFERRED} : static_cast<ssize_t>(n);
  }
};

namespace {

using CallbacksPtr =
    std::unique_ptr<nghttp2_session_callbacks, decltype(&nghttp2_session_callbacks_del)>;

CallbacksPtr NewCallbacks() {
  nghttp2_session_callbacks* raw = nullptr;
  // Out of memory at start-up: nothing sensible to do but stop.
  if (nghttp2_session_callbacks_new(&raw) != 0) std::abort();
  return {raw, &nghttp2_session_callbacks_del};
}

}  // namespace

const nghttp2_session_callbacks* KubeletSessionCallbacks() {
  static const CallbacksPtr callbacks = [] {
    CallbacksPtr c = NewCallbacks();
    nghttp2_session_callbacks_set_on_begin_headers_callback(c.get(),
                                                            &KubeletCallbacks::OnBeginHeaders);
    nghttp2_session_callbacks_set_on_header_callback(c.get(), &KubeletCallbacks::OnHeader);
    nghttp2_session_callbacks_set_on_frame_recv_callback(c.get(), &KubeletCallbacks::OnFrameRecv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c.get(),
                                                              &KubeletCallbacks::OnDataChunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(c.get(),
                                                           &KubeletCallbacks::OnStreamClose);
    return c;
  }();
  return callbacks.get();
}

const nghttp2_session_callbacks* UpstreamSessionCallbacks() {
  static const CallbacksPtr callbacks = [] {
    CallbacksPtr c = NewCallbacks();
    nghttp2_session_callbacks_set_on_header_callback(c.get(), &UpstreamCallbacks::OnHeader);
    nghttp2_session_callbacks_set_on_frame_recv_callback(c.get(),
                                                         &UpstreamCallbacks::OnFrameRecv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c.get(),
                                                              &UpstreamCallbacks::OnDataChunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(c.get(),
                                                           &UpstreamCallbacks::OnStreamClose);
    return c;
  }();
  return callbacks.get();
}

ssize_t ReadRequestBody(nghttp2_session* session, std::int32_t /*stream_id*/, std::uint8_t* buf,
                        std::size_t length, std::uint32_t* data_flags,
                        nghttp2_data_source* source, void* user_data) {
  return UpstreamCallbacks::ReadRequest(session, buf, length, data_flags,
                                        static_cast<RoutedCall*>(source->ptr), user_data);
}

ssize_t ReadResponseBody(nghttp2_session* session, std::int32_t stream_id, std::uint8_t* buf,
                         std::size_t length, std::uint32_t* data_flags,
                         nghttp2_data_source* source, void* user_data) {
  return KubeletCallbacks::ReadResponse(session, stream_id, buf, length, data_flags,
                                        static_cast<RoutedCall*>(source->ptr), user_data);
}

}  // namespace crimirror::plugin
