// Routing of the kubelet's calls (issue 15, CRI overhead): which calls the
// HTTP/2 router (plugin/h2_router.h) hands straight to the backend runtime
// and which go to cri-mirror's own gRPC server, and the gRPC spellings the
// router needs when it answers a call itself. Pure: no I/O.
#pragma once

#include <string>
#include <string_view>

namespace crimirror::plugin {

enum class CallRoute {
  // Relayed frame by frame to the backend runtime (containerd): every
  // /runtime.v1.ImageService/ method but PullImage, including methods added
  // upstream after this build.
  kBackend,
  // Served by cri-mirror's gRPC server (ImageServiceProxy): PullImage, which
  // the pull interceptor may take over, and anything outside the
  // ImageService, which it answers UNIMPLEMENTED.
  kInternal,
};

// The route of a call to `path` (the request's :path).
CallRoute RouteOf(std::string_view path);

// The `method` label of cri_mirror_cri_call_duration_seconds for `path`:
// the method name of a known unary ImageService method ("ImageStatus"),
// "other" for anything else, so a label never holds arbitrary request text.
std::string_view MethodLabel(std::string_view path);

// `message` as the value of a grpc-message header: percent-encoded outside
// printable ASCII and for '%' itself (gRPC's PROTOCOL-HTTP2.md).
std::string GrpcMessageValue(std::string_view message);

}  // namespace crimirror::plugin
