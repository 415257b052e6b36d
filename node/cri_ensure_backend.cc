#include "node/cri_ensure_backend.h"

#include <chrono>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "cri/api.grpc.pb.h"
#include "cri/runtime_service.grpc.pb.h"

namespace crimirror::node {
namespace {

absl::Status FromGrpc(const grpc::Status& status, absl::string_view what) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(what, ": ", status.error_message()));
}

absl::Status Cancelled() { return absl::CancelledError("cri-mirror is shutting down"); }

}  // namespace

absl::StatusOr<std::string> SandboxImageFromConfigJson(const std::string& json) {
  nlohmann::json config = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object()) {
    return absl::InvalidArgumentError("the runtime's Status info[\"config\"] is not a JSON object");
  }
  auto it = config.find("sandboxImage");
  if (it == config.end() || !it->is_string() || it->get<std::string>().empty()) {
    return absl::NotFoundError(
        "the runtime's Status info[\"config\"] names no sandboxImage; set "
        "[server].ensure_sandbox_image = false if the runtime has none");
  }
  return it->get<std::string>();
}

absl::StatusOr<std::unique_ptr<CriEnsureBackend>> CriEnsureBackend::Create(
    std::shared_ptr<grpc::Channel> backend, std::shared_ptr<grpc::Channel> self) {
  if (backend == nullptr || self == nullptr) {
    return absl::InvalidArgumentError("CriEnsureBackend needs the backend and its own channel");
  }
  return std::unique_ptr<CriEnsureBackend>(
      new CriEnsureBackend(std::move(backend), std::move(self)));
}

bool CriEnsureBackend::Begin(grpc::ClientContext* context, absl::Duration timeout) {
  context->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  absl::MutexLock lock(&mu_);
  if (cancelled_) return false;
  calls_.insert(context);
  return true;
}

void CriEnsureBackend::End(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  calls_.erase(context);
}

void CriEnsureBackend::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  for (grpc::ClientContext* context : calls_) context->TryCancel();
}

absl::StatusOr<std::string> CriEnsureBackend::SandboxImage(absl::Duration timeout) {
  grpc::ClientContext context;
  if (!Begin(&context, timeout)) return Cancelled();
  absl::Cleanup end = [&] { End(&context); };
  runtime::v1::StatusRequest request;
  request.set_verbose(true);
  runtime::v1::StatusResponse response;
  grpc::Status status =
      runtime::v1::RuntimeService::NewStub(backend_)->Status(&context, request, &response);
  if (!status.ok()) return FromGrpc(status, "RuntimeService/Status");
  auto config = response.info().find("config");
  if (config == response.info().end()) {
    return absl::NotFoundError(
        "the runtime's verbose Status has no info[\"config\"] (not containerd?); set "
        "[server].ensure_sandbox_image = false and list the image in ensure_images");
  }
  return SandboxImageFromConfigJson(config->second);
}

absl::StatusOr<bool> CriEnsureBackend::HasImage(const std::string& image,
                                                absl::Duration timeout) {
  grpc::ClientContext context;
  if (!Begin(&context, timeout)) return Cancelled();
  absl::Cleanup end = [&] { End(&context); };
  runtime::v1::ImageStatusRequest request;
  request.mutable_image()->set_image(image);
  runtime::v1::ImageStatusResponse response;
  grpc::Status status = runtime::v1::ImageService::NewStub(backend_)->ImageStatus(
      &context, request, &response);
  if (!status.ok()) return FromGrpc(status, "ImageStatus");
  return response.has_image();
}

absl::Status CriEnsureBackend::Pull(const std::string& image, absl::Duration timeout) {
  grpc::ClientContext context;
  if (!Begin(&context, timeout)) return Cancelled();
  absl::Cleanup end = [&] { End(&context); };
  runtime::v1::PullImageRequest request;
  request.mutable_image()->set_image(image);
  runtime::v1::PullImageResponse response;
  grpc::Status status =
      runtime::v1::ImageService::NewStub(self_)->PullImage(&context, request, &response);
  return FromGrpc(status, "PullImage");
}

}  // namespace crimirror::node
