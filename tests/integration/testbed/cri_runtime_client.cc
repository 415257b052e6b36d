// Copyright cri-mirror authors.
#include "tests/integration/testbed/cri_runtime_client.h"

#include <nlohmann/json.hpp>

namespace crimirror::testbed {

namespace v1 = runtime::v1;
using Stub = v1::RuntimeService::Stub;

absl::StatusOr<std::unique_ptr<CriRuntimeClient>> CriRuntimeClient::Create(
    const std::string& endpoint) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = CriChannel(endpoint);
  if (!channel.ok()) return channel.status();
  return std::unique_ptr<CriRuntimeClient>(
      new CriRuntimeClient(*std::move(channel)));
}

CriResult<v1::StatusResponse> CriRuntimeClient::Status(
    bool verbose, absl::Duration deadline) {
  v1::StatusRequest request;
  request.set_verbose(verbose);
  return CriCall<v1::StatusResponse>(*stub_, &Stub::Status, request, deadline);
}

CriResult<v1::RunPodSandboxResponse> CriRuntimeClient::RunPodSandbox(
    const v1::PodSandboxConfig& config, absl::Duration deadline) {
  v1::RunPodSandboxRequest request;
  *request.mutable_config() = config;
  return CriCall<v1::RunPodSandboxResponse>(*stub_, &Stub::RunPodSandbox,
                                            request, deadline);
}

CriResult<v1::StopPodSandboxResponse> CriRuntimeClient::StopPodSandbox(
    const std::string& id, absl::Duration deadline) {
  v1::StopPodSandboxRequest request;
  request.set_pod_sandbox_id(id);
  return CriCall<v1::StopPodSandboxResponse>(*stub_, &Stub::StopPodSandbox,
                                             request, deadline);
}

CriResult<v1::RemovePodSandboxResponse> CriRuntimeClient::RemovePodSandbox(
    const std::string& id, absl::Duration deadline) {
  v1::RemovePodSandboxRequest request;
  request.set_pod_sandbox_id(id);
  return CriCall<v1::RemovePodSandboxResponse>(*stub_, &Stub::RemovePodSandbox,
                                               request, deadline);
}

CriResult<v1::PodSandboxStatusResponse> CriRuntimeClient::PodSandboxStatus(
    const std::string& id, bool verbose, absl::Duration deadline) {
  v1::PodSandboxStatusRequest request;
  request.set_pod_sandbox_id(id);
  request.set_verbose(verbose);
  return CriCall<v1::PodSandboxStatusResponse>(*stub_, &Stub::PodSandboxStatus,
                                               request, deadline);
}

CriResult<v1::ListPodSandboxResponse> CriRuntimeClient::ListPodSandbox(
    absl::Duration deadline) {
  return CriCall<v1::ListPodSandboxResponse>(
      *stub_, &Stub::ListPodSandbox, v1::ListPodSandboxRequest(), deadline);
}

CriResult<v1::CreateContainerResponse> CriRuntimeClient::CreateContainer(
    const std::string& sandbox_id, const v1::ContainerConfig& config,
    const v1::PodSandboxConfig& sandbox_config, absl::Duration deadline) {
  v1::CreateContainerRequest request;
  request.set_pod_sandbox_id(sandbox_id);
  *request.mutable_config() = config;
  *request.mutable_sandbox_config() = sandbox_config;
  return CriCall<v1::CreateContainerResponse>(*stub_, &Stub::CreateContainer,
                                              request, deadline);
}

CriResult<v1::StartContainerResponse> CriRuntimeClient::StartContainer(
    const std::string& id, absl::Duration deadline) {
  v1::StartContainerRequest request;
  request.set_container_id(id);
  return CriCall<v1::StartContainerResponse>(*stub_, &Stub::StartContainer,
                                             request, deadline);
}

CriResult<v1::StopContainerResponse> CriRuntimeClient::StopContainer(
    const std::string& id, int64_t timeout_seconds, absl::Duration deadline) {
  v1::StopContainerRequest request;
  request.set_container_id(id);
  request.set_timeout(timeout_seconds);
  return CriCall<v1::StopContainerResponse>(*stub_, &Stub::StopContainer,
                                            request, deadline);
}

CriResult<v1::RemoveContainerResponse> CriRuntimeClient::RemoveContainer(
    const std::string& id, absl::Duration deadline) {
  v1::RemoveContainerRequest request;
  request.set_container_id(id);
  return CriCall<v1::RemoveContainerResponse>(*stub_, &Stub::RemoveContainer,
                                              request, deadline);
}

CriResult<v1::ContainerStatusResponse> CriRuntimeClient::ContainerStatus(
    const std::string& id, bool verbose, absl::Duration deadline) {
  v1::ContainerStatusRequest request;
  request.set_container_id(id);
  request.set_verbose(verbose);
  return CriCall<v1::ContainerStatusResponse>(*stub_, &Stub::ContainerStatus,
                                              request, deadline);
}

CriResult<v1::ListContainersResponse> CriRuntimeClient::ListContainers(
    absl::Duration deadline) {
  return CriCall<v1::ListContainersResponse>(
      *stub_, &Stub::ListContainers, v1::ListContainersRequest(), deadline);
}

std::optional<pid_t> InfoPid(
    const google::protobuf::Map<std::string, std::string>& info) {
  auto it = info.find("info");
  if (it == info.end()) return std::nullopt;
  nlohmann::json parsed = nlohmann::json::parse(it->second, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) return std::nullopt;
  auto pid = parsed.find("pid");
  if (pid == parsed.end() || !pid->is_number_integer()) return std::nullopt;
  int64_t value = pid->get<int64_t>();
  if (value <= 0) return std::nullopt;
  return static_cast<pid_t>(value);
}

}  // namespace crimirror::testbed
