// Naming a pulled image under the reference the kubelet asked for (issue 4
// point 6). containerd pulled "<relay>/<registry>/<repository>:<tag>"; this
// copies that record's target into records named "<registry>/<repository>:
// <tag>" and "<registry>/<repository>@<digest>" through containerd's images
// API (label io.cri-containerd.image=managed), waits until CRI ImageStatus
// answers for the original name, then deletes the relay-named records.
// Internal to the plugin library.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "containerd/images.grpc.pb.h"
#include "cri/api.grpc.pb.h"
#include "resolver/reference.h"

namespace crimirror::plugin::mirror_pull_internal {

// What naming talks to. Stubs are borrowed and thread-safe.
struct NamingEnv {
  runtime::v1::ImageService::StubInterface* cri = nullptr;
  containerd::services::images::v1::Images::StubInterface* images = nullptr;
  // containerd namespace of the CRI plugin ([server].namespace, "k8s.io").
  std::string namespace_;
  // "127.0.0.1:PORT" of the relay.
  std::string relay_address;
  // Upper bound for every call made while naming.
  absl::Time deadline = absl::InfiniteFuture();
  // How long to wait for CRI ImageStatus to see the original name.
  absl::Duration visible_timeout = absl::Seconds(5);
};

// The names the image gets for `original` whose manifest (or index) is
// `target_digest`: "<name>:<tag>" unless the reference has a digest, then
// "<name>@<digest>". Pure.
std::vector<std::string> OriginalImageNames(const resolver::Reference& original,
                                            const std::string& target_digest);

// The relay-named records containerd's CRI made for `original` pulled
// through `relay_address`: the pulled reference and its "@<digest>" form.
std::vector<std::string> RelayImageNames(const std::string& relay_address,
                                         const resolver::Reference& original,
                                         const std::string& target_digest);

// Whether image record `name` is relay-named: "<relay_address>/" followed
// by `repository` (a relay::RelayRepository()) and ':' or '@'; with an empty
// `repository`, any name under "<relay_address>/". No image of anyone else
// can have such a name: cri-mirror's relay owns that address. Pure.
bool IsRelayRecordName(std::string_view name, std::string_view relay_address,
                       std::string_view repository);

// Deletes the records of env.namespace_ that IsRelayRecordName(name,
// env.relay_address, repository) picks; returns how many. The caller makes
// sure no pull that still needs them runs meanwhile. Errors: containerd's
// List error; a failed delete is logged and skipped.
absl::StatusOr<int> SweepRelayRecords(const NamingEnv& env, std::string_view repository);

// Names the image pulled as RelayPullReference(relay_address, original)
// under the original names and removes the relay-named records. On failure
// removes the records it created, points the ones it moved back at their
// previous target (a tag that named another image keeps naming it), removes
// the relay-named ones, and returns an error naming the reference (the
// backend's code, or Internal).
absl::Status NameUnderOriginalReference(const NamingEnv& env,
                                        const resolver::Reference& original);

}  // namespace crimirror::plugin::mirror_pull_internal
