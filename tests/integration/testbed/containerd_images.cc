// Copyright cri-mirror authors.
#include "tests/integration/testbed/containerd_images.h"

#include <chrono>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace crimirror::testbed {

absl::StatusOr<std::unique_ptr<ContainerdImagesClient>>
ContainerdImagesClient::Create(const std::string& endpoint,
                               const std::string& ns) {
  std::string target;
  if (absl::StartsWith(endpoint, "unix:///")) {
    target = endpoint;
  } else if (absl::StartsWith(endpoint, "/")) {
    target = absl::StrCat("unix://", endpoint);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("containerd endpoint '", endpoint,
                     "' is not unix:///abs/path or an absolute socket path"));
  }
  return std::unique_ptr<ContainerdImagesClient>(new ContainerdImagesClient(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()), ns));
}

absl::StatusOr<std::vector<containerd::services::images::v1::Image>>
ContainerdImagesClient::List(const std::vector<std::string>& filters,
                             absl::Duration deadline) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoMilliseconds(deadline));
  // containerd selects the namespace from this metadata key.
  context.AddMetadata("containerd-namespace", namespace_);
  containerd::services::images::v1::ListImagesRequest request;
  for (const auto& f : filters) request.add_filters(f);
  containerd::services::images::v1::ListImagesResponse response;
  grpc::Status status = stub_->List(&context, request, &response);
  if (!status.ok()) {
    return absl::Status(
        static_cast<absl::StatusCode>(status.error_code()),
        absl::StrCat("containerd images.List (namespace ", namespace_,
                     "): ", status.error_message()));
  }
  return std::vector<containerd::services::images::v1::Image>(
      response.images().begin(), response.images().end());
}

absl::StatusOr<std::vector<std::string>> ContainerdImagesClient::Names(
    absl::Duration deadline) {
  auto images = List({}, deadline);
  if (!images.ok()) return images.status();
  std::vector<std::string> names;
  for (const auto& image : *images) names.push_back(image.name());
  return names;
}

}  // namespace crimirror::testbed
