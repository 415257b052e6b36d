// Copyright cri-mirror authors.
//
// CriRuntimeClient: a thin synchronous client for runtime.v1.RuntimeService
// over a unix socket, the calls a kubelet makes to run one pod: sandboxes,
// containers, their status and lists, and the runtime's Status. Tests drive
// containerd's RuntimeService directly with it (cri-mirror serves only the
// ImageService) while images come through cri-mirror. Like CriImageClient,
// every call returns the gRPC status and response untranslated.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cri/runtime_service.grpc.pb.h"
#include "tests/integration/testbed/cri_client.h"

namespace crimirror::testbed {

// Synchronous RuntimeService client. Thread-safe (gRPC stubs are).
class CriRuntimeClient {
 public:
  // `endpoint` is "unix:///abs/path" or a bare absolute socket path;
  // InvalidArgument otherwise. The channel connects lazily.
  static absl::StatusOr<std::unique_ptr<CriRuntimeClient>> Create(
      const std::string& endpoint);

  // Status(verbose).
  CriResult<runtime::v1::StatusResponse> Status(
      bool verbose = false, absl::Duration deadline = kDefaultCriDeadline);

  // RunPodSandbox(config) with the default runtime handler.
  CriResult<runtime::v1::RunPodSandboxResponse> RunPodSandbox(
      const runtime::v1::PodSandboxConfig& config,
      absl::Duration deadline = kDefaultCriDeadline);
  CriResult<runtime::v1::StopPodSandboxResponse> StopPodSandbox(
      const std::string& id, absl::Duration deadline = kDefaultCriDeadline);
  CriResult<runtime::v1::RemovePodSandboxResponse> RemovePodSandbox(
      const std::string& id, absl::Duration deadline = kDefaultCriDeadline);
  CriResult<runtime::v1::PodSandboxStatusResponse> PodSandboxStatus(
      const std::string& id, bool verbose = false,
      absl::Duration deadline = kDefaultCriDeadline);
  // ListPodSandbox without a filter.
  CriResult<runtime::v1::ListPodSandboxResponse> ListPodSandbox(
      absl::Duration deadline = kDefaultCriDeadline);

  // CreateContainer(sandbox_id, config, sandbox_config): `sandbox_config` is
  // the one RunPodSandbox got, as the kubelet passes it again.
  CriResult<runtime::v1::CreateContainerResponse> CreateContainer(
      const std::string& sandbox_id,
      const runtime::v1::ContainerConfig& config,
      const runtime::v1::PodSandboxConfig& sandbox_config,
      absl::Duration deadline = kDefaultCriDeadline);
  CriResult<runtime::v1::StartContainerResponse> StartContainer(
      const std::string& id, absl::Duration deadline = kDefaultCriDeadline);
  // StopContainer with a grace period of `timeout_seconds` (0: SIGKILL).
  CriResult<runtime::v1::StopContainerResponse> StopContainer(
      const std::string& id, int64_t timeout_seconds,
      absl::Duration deadline = kDefaultCriDeadline);
  CriResult<runtime::v1::RemoveContainerResponse> RemoveContainer(
      const std::string& id, absl::Duration deadline = kDefaultCriDeadline);
  CriResult<runtime::v1::ContainerStatusResponse> ContainerStatus(
      const std::string& id, bool verbose = false,
      absl::Duration deadline = kDefaultCriDeadline);
  // ListContainers without a filter.
  CriResult<runtime::v1::ListContainersResponse> ListContainers(
      absl::Duration deadline = kDefaultCriDeadline);

  runtime::v1::RuntimeService::Stub& stub() { return *stub_; }

 private:
  explicit CriRuntimeClient(std::shared_ptr<grpc::Channel> channel)
      : channel_(std::move(channel)),
        stub_(runtime::v1::RuntimeService::NewStub(channel_)) {}

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<runtime::v1::RuntimeService::Stub> stub_;
};

// The process id in a verbose status's info["info"] JSON (containerd puts
// the sandbox's or container's init pid there as "pid"); nullopt when it is
// missing, not JSON or not a positive number.
std::optional<pid_t> InfoPid(
    const google::protobuf::Map<std::string, std::string>& info);

}  // namespace crimirror::testbed
