// The nghttp2 callbacks of the router's sessions (kubelet_connection.h): the
// kubelet side (server session, user data: the KubeletConnection) and the
// upstream side (client session, user data: the Upstream), and the two data
// sources that move buffered bytes across. Each callback finds its
// RoutedCall through the stream's user data. Router thread only.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>

namespace crimirror::plugin {

// Built once; valid for the life of the process.
const nghttp2_session_callbacks* KubeletSessionCallbacks();
const nghttp2_session_callbacks* UpstreamSessionCallbacks();

// nghttp2_data_source_read_callback of a request body sent upstream
// (source: the RoutedCall) and of a response body sent to the kubelet.
ssize_t ReadRequestBody(nghttp2_session* session, std::int32_t stream_id, std::uint8_t* buf,
                        std::size_t length, std::uint32_t* data_flags,
                        nghttp2_data_source* source, void* user_data);
ssize_t ReadResponseBody(nghttp2_session* session, std::int32_t stream_id, std::uint8_t* buf,
                         std::size_t length, std::uint32_t* data_flags,
                         nghttp2_data_source* source, void* user_data);

}  // namespace crimirror::plugin
