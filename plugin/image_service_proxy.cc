#include "plugin/image_service_proxy.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "plugin/proxy_call.h"

namespace crimirror::plugin {
namespace {

// Answers a method cri-mirror does not relay.
class UnimplementedCall final : public grpc::ServerGenericBidiReactor {
 public:
  explicit UnimplementedCall(const std::string& method) {
    Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                        absl::StrCat("cri-mirror serves runtime.v1.ImageService only; ",
                                     method, " is not relayed (point the kubelet's "
                                     "--container-runtime-endpoint at containerd)")));
  }
  void OnDone() override { delete this; }
};

// The ImageService methods known to be unary. Anything else under the
// service (StreamImages, methods added later) takes the streaming pump.
bool IsKnownUnary(std::string_view method) {
  static constexpr std::string_view kUnary[] = {
      "/runtime.v1.ImageService/ListImages", "/runtime.v1.ImageService/ImageStatus",
      "/runtime.v1.ImageService/PullImage", "/runtime.v1.ImageService/RemoveImage",
      "/runtime.v1.ImageService/ImageFsInfo"};
  for (std::string_view m : kUnary) {
    if (m == method) return true;
  }
  return false;
}

}  // namespace

ImageServiceProxy::ImageServiceProxy(std::shared_ptr<grpc::Channel> backend,
                                     std::string backend_target,
                                     PullInterceptor* interceptor)
    : backend_(std::move(backend)),
      stub_(backend_),
      backend_target_(std::move(backend_target)),
      interceptor_(interceptor) {}

grpc::ServerGenericBidiReactor* ImageServiceProxy::CreateReactor(
    grpc::GenericCallbackServerContext* context) {
  const std::string& method = context->method();
  if (!method.starts_with(kImageServicePrefix)) {
    return new UnimplementedCall(method);
  }
  PullInterceptor* interceptor = method == kPullImageMethod ? interceptor_ : nullptr;
  return new ProxyCall(context, &stub_, backend_target_, interceptor, IsKnownUnary(method));
}

}  // namespace crimirror::plugin
