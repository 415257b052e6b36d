// Copyright cri-mirror authors.
#include "tests/integration/testbed/cri_client.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace crimirror::testbed {

absl::StatusOr<std::shared_ptr<grpc::Channel>> CriChannel(
    const std::string& endpoint) {
  std::string target;
  if (absl::StartsWith(endpoint, "unix:///")) {
    target = endpoint;
  } else if (absl::StartsWith(endpoint, "/")) {
    target = absl::StrCat("unix://", endpoint);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("CRI endpoint '", endpoint,
                     "' is not unix:///abs/path or an absolute socket path"));
  }
  return grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
}

absl::StatusOr<std::unique_ptr<CriImageClient>> CriImageClient::Create(
    const std::string& endpoint) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = CriChannel(endpoint);
  if (!channel.ok()) return channel.status();
  std::string target = absl::StartsWith(endpoint, "/")
                           ? absl::StrCat("unix://", endpoint)
                           : endpoint;
  return std::unique_ptr<CriImageClient>(
      new CriImageClient(std::move(target), *std::move(channel)));
}

CriResult<runtime::v1::PullImageResponse> CriImageClient::Pull(
    const std::string& image, absl::Duration deadline) {
  return Pull(MakePullRequest(image), deadline);
}

CriResult<runtime::v1::PullImageResponse> CriImageClient::Pull(
    const runtime::v1::PullImageRequest& request, absl::Duration deadline) {
  return CriCall<runtime::v1::PullImageResponse>(
      *stub_, &runtime::v1::ImageService::Stub::PullImage, request, deadline);
}

CriResult<runtime::v1::ImageStatusResponse> CriImageClient::Status(
    const std::string& image, bool verbose, absl::Duration deadline) {
  runtime::v1::ImageStatusRequest request;
  request.mutable_image()->set_image(image);
  request.set_verbose(verbose);
  return CriCall<runtime::v1::ImageStatusResponse>(
      *stub_, &runtime::v1::ImageService::Stub::ImageStatus, request, deadline);
}

CriResult<runtime::v1::ListImagesResponse> CriImageClient::List(
    absl::Duration deadline) {
  return CriCall<runtime::v1::ListImagesResponse>(
      *stub_, &runtime::v1::ImageService::Stub::ListImages,
      runtime::v1::ListImagesRequest(), deadline);
}

CriResult<runtime::v1::RemoveImageResponse> CriImageClient::Remove(
    const std::string& image, absl::Duration deadline) {
  runtime::v1::RemoveImageRequest request;
  request.mutable_image()->set_image(image);
  return CriCall<runtime::v1::RemoveImageResponse>(
      *stub_, &runtime::v1::ImageService::Stub::RemoveImage, request, deadline);
}

CriResult<runtime::v1::ImageFsInfoResponse> CriImageClient::FsInfo(
    absl::Duration deadline) {
  return CriCall<runtime::v1::ImageFsInfoResponse>(
      *stub_, &runtime::v1::ImageService::Stub::ImageFsInfo,
      runtime::v1::ImageFsInfoRequest(), deadline);
}

bool CriImageClient::HasImage(const std::string& name) {
  CriResult<runtime::v1::ListImagesResponse> list = List();
  if (!list.ok()) return false;
  for (const auto& image : list.response.images()) {
    for (const auto& tag : image.repo_tags()) {
      if (tag == name) return true;
    }
    for (const auto& digest : image.repo_digests()) {
      if (digest == name) return true;
    }
  }
  return false;
}

runtime::v1::PullImageRequest MakePullRequest(const std::string& image,
                                              const std::string& username,
                                              const std::string& password) {
  runtime::v1::PullImageRequest request;
  request.mutable_image()->set_image(image);
  if (!username.empty()) {
    request.mutable_auth()->set_username(username);
    request.mutable_auth()->set_password(password);
  }
  return request;
}

}  // namespace crimirror::testbed
