// ImageServiceProxy: the gRPC generic service that receives every call made to
// cri-mirror's socket. Methods under /runtime.v1.ImageService/ (including ones
// added upstream after this build) are relayed to the backend by ProxyCall;
// PullImage is first offered to the PullInterceptor. Any other method answers
// UNIMPLEMENTED: cri-mirror is an image service endpoint only.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>

#include "plugin/pull_interceptor.h"

namespace crimirror::plugin {

inline constexpr std::string_view kImageServicePrefix = "/runtime.v1.ImageService/";
inline constexpr std::string_view kPullImageMethod = "/runtime.v1.ImageService/PullImage";

class ImageServiceProxy final : public grpc::CallbackGenericService {
 public:
  // `backend` is shared by all calls. `backend_target` names it in errors.
  // `interceptor` may be null (pure pass-through) and must outlive the proxy.
  ImageServiceProxy(std::shared_ptr<grpc::Channel> backend, std::string backend_target,
                    PullInterceptor* interceptor);

  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override;

 private:
  std::shared_ptr<grpc::Channel> backend_;
  grpc::GenericStub stub_;
  std::string backend_target_;
  PullInterceptor* interceptor_;
};

}  // namespace crimirror::plugin
