// Cleaning up after a mirror served bad bytes (issue 4 point 7). containerd
// keeps a partially or wrongly written blob as an "ingest" (ref
// "layer-sha256:..." or "config-sha256:...") and resumes it on the next pull
// of the same blob, so a retried pull would fail again on the same bytes.
// Before the retry, the ingests of the blobs an excluded endpoint served are
// aborted through containerd's content API (Content/Abort). Internal to the
// plugin library.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/channel.h>

#include "absl/time/time.h"
#include "relay/session_store.h"

namespace crimirror::plugin::mirror_pull_internal {

// The ingest refs containerd uses for blobs that `attempts` show were fetched
// from an endpoint in `excluded` ("GET blobs/<digest>"): "layer-<digest>" and
// "config-<digest>" for each. Pure.
std::vector<std::string> PoisonedIngestRefs(const std::vector<relay::Attempt>& attempts,
                                            const std::vector<std::string>& excluded);

// Aborts each ingest in `refs` in containerd namespace `ns`; unknown refs are
// fine. Failures are logged, not returned: the retry then reports its error.
void AbortIngests(const std::shared_ptr<grpc::Channel>& channel, const std::string& ns,
                  const std::vector<std::string>& refs, absl::Time deadline);

}  // namespace crimirror::plugin::mirror_pull_internal
