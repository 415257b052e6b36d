// Copyright cri-mirror authors.
//
// Read access to containerd's own images API
// (containerd.services.images.v1.Images) in one namespace, default
// "k8s.io" (the CRI plugin's). Tests use it to see the raw image records
// CRI hides: e.g. that no relay-named record is left after a mirrored pull,
// or which labels cri-mirror set.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "containerd/images.grpc.pb.h"

namespace crimirror::testbed {

// Synchronous client for containerd's images service. Thread-safe.
class ContainerdImagesClient {
 public:
  // `endpoint` as for CriImageClient ("unix:///path" or "/path").
  static absl::StatusOr<std::unique_ptr<ContainerdImagesClient>> Create(
      const std::string& endpoint, const std::string& ns = "k8s.io");

  // All image records of the namespace (optionally filtered with
  // containerd filter syntax, e.g. "name~=127.0.0.1"). gRPC errors map to
  // absl codes with the message kept.
  absl::StatusOr<std::vector<containerd::services::images::v1::Image>> List(
      const std::vector<std::string>& filters = {},
      absl::Duration deadline = absl::Seconds(10));

  // Names of List() in order.
  absl::StatusOr<std::vector<std::string>> Names(
      absl::Duration deadline = absl::Seconds(10));

  containerd::services::images::v1::Images::Stub& stub() { return *stub_; }

 private:
  ContainerdImagesClient(std::shared_ptr<grpc::Channel> channel, std::string ns)
      : channel_(std::move(channel)),
        stub_(containerd::services::images::v1::Images::NewStub(channel_)),
        namespace_(std::move(ns)) {}

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<containerd::services::images::v1::Images::Stub> stub_;
  std::string namespace_;
};

}  // namespace crimirror::testbed
