// The JSON document `cri-mirror status` shows (issue 11), built at request
// time from the running daemon's parts; served by status/status_server.h on
// the root-only socket of `[server] status`. Holds no secret: rules and
// endpoints come from the config (no [host] credentials), pulls from
// plugin/pull_record.h.
//
//   {"version", "pid", "started", "listen", "backend", "relay",
//    "config": {"file", "hash", "in_force_since", "last_load": {"time",
//               "result": "ok"|"error", "error"}, "loads", "failures"},
//    "rules": [{"registry", "origin", "namespaces" (empty: every pull),
//               "endpoints", "fallback_to_upstream", "blocked"}],
//    "endpoints": [{"host", "state": "usable"|"backed-off",
//                   "consecutive_failures", "backed_off",
//                   "backoff_seconds_left"}]  (every rule endpoint host,
//                   then other hosts that failed, e.g. upstreams),
//    "pulls": {"active": [{"ref", "rule", "started", "seconds", "bytes"}],
//              "recent": [PullRecordFields, newest first]},
//    "ensured_images": [{"image", "sandbox", "present", "error"}]}
#pragma once

#include <string>

#include "absl/time/time.h"
#include "config/config_store.h"
#include "node/image_ensurer.h"
#include "plugin/pull_journal.h"
#include "relay/endpoint_health.h"

namespace crimirror::cli {

// Borrowed parts (any but config_store may be null: that part is left out).
struct StatusParts {
  const config::ConfigStore* config_store = nullptr;
  const relay::EndpointHealth* health = nullptr;
  const plugin::PullJournal* journal = nullptr;
  const node::ImageEnsurer* ensurer = nullptr;
  std::string version;
  std::string listen;   // the CRI socket served
  std::string backend;  // the runtime's socket
  std::string relay;    // the relay's address
  absl::Time started;
};

// The document, as pretty JSON text.
std::string RenderStatus(const StatusParts& parts);

}  // namespace crimirror::cli
