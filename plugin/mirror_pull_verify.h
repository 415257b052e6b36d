// The kubelet's credential check before a mirrored pull (KEP-2535, issue
// 12; see relay/credential_check.h for the HEAD at the upstream). Internal
// to the plugin library.
#pragma once

#include "absl/status/status.h"
#include "plugin/mirror_pull_flow.h"
#include "relay/credential_check.h"

namespace crimirror::plugin::mirror_pull_internal {

// Checks `kubelet` at the plan's upstream as `input.verify_mode` says:
//  - accepted, or no upstream in the plan, or mode off: OK;
//  - refused: UNAUTHENTICATED (401) / PERMISSION_DENIED (403) naming the
//    registry and the fix;
//  - no verdict (unreachable, timeout, 404, 5xx): "require" fails with
//    UNAVAILABLE; "when-reachable" logs a warning, counts it and returns OK.
// Never quotes a secret. `check` null: OK (no relay upstream to ask).
absl::Status VerifyKubeletCredentials(const relay::KubeletCredentialCheck* check,
                                      const PullInput& input, const relay::KubeletAuth& kubelet);

// Pulls served without a verdict under "when-reachable" since start-up.
std::uint64_t UnverifiedKubeletPulls();

}  // namespace crimirror::plugin::mirror_pull_internal
