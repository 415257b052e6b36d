// Cleaning up after a mirror served bad bytes (issue 4 point 7). containerd
// keeps a partially or wrongly written blob as an "ingest" (ref
// "layer-sha256:..." or "config-sha256:...") and resumes it on the next pull
// of the same blob, so a retried pull would fail again on the same bytes.
// Before the retry, the ingests of the blobs containerd refused and of the
// blobs an excluded endpoint served are aborted through containerd's content
// API (Content/Abort). Internal to the plugin library.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <grpcpp/channel.h>

#include "absl/time/time.h"
#include "relay/session_store.h"

namespace crimirror::plugin::mirror_pull_internal {

// The blob digests containerd refused in its pull error `message`: the
// "expected <digest>" of its content store's "unexpected commit digest
// <actual>, expected <digest>" (containerd content/local/writer.go, the same
// text since 1.0), for digests of the forms the relay serves
// (relay::IsSupportedDigest), each once, in order. Pure.
std::vector<std::string> RejectedBlobDigests(std::string_view message);

// The ingest refs containerd uses for the blobs in `rejected_digests` and
// for blobs that `attempts` show were fetched from an endpoint in `excluded`
// ("GET blobs/<digest>"): "layer-<digest>" and "config-<digest>" for each.
// Pure.
std::vector<std::string> PoisonedIngestRefs(const std::vector<relay::Attempt>& attempts,
                                            const std::vector<std::string>& excluded,
                                            const std::vector<std::string>& rejected_digests);

// Aborts each ingest in `refs` in containerd namespace `ns`; unknown refs are
// fine. Failures are logged, not returned: the retry then reports its error.
void AbortIngests(const std::shared_ptr<grpc::Channel>& channel, const std::string& ns,
                  const std::vector<std::string>& refs, absl::Time deadline);

}  // namespace crimirror::plugin::mirror_pull_internal
