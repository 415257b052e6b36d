// cri_mirror_cri_call_duration_seconds: one observation per CRI call that
// cri-mirror served, proxied or intercepted, labelled by MethodLabel().
// Shared by the HTTP/2 router (calls relayed to the backend) and
// ProxyCall (calls its gRPC server serves), so each call is counted once.
// Thread-safe.
#pragma once

#include <string_view>

#include "absl/time/time.h"

namespace crimirror::plugin {

// Records a call to `path` (the request's :path) that took `took`.
void ObserveCriCall(std::string_view path, absl::Duration took);

}  // namespace crimirror::plugin
