// The daemon's own metrics (issue 11): build info, config loads, endpoint
// back-off and ensured images, gathered at scrape time, and the /metrics
// listener at `[server] metrics`. The pull, relay and CRI metrics are
// recorded where they happen (plugin/, relay/); README "Metrics" lists all.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "metrics/metrics_server.h"
#include "node/image_ensurer.h"
#include "relay/endpoint_health.h"

namespace crimirror::cli {

// Records a config load or reload of `path` (the main config file): the
// counter by result, the last result and its time, and on success the
// config's hash (FNV-1a 64 of the file's bytes, hex) as
// cri_mirror_config_info{hash, file}.
// The same is kept for `cri-mirror status` (LastConfigLoad).
void RecordConfigLoad(const absl::Status& status, const std::string& path);

// The last config load or reload as RecordConfigLoad saw it.
struct ConfigLoadState {
  std::string file;
  std::string hash;           // of the config in force ("none": built-in defaults)
  absl::Time in_force_since;  // when that config was loaded
  absl::Time last_attempt;    // the last load or reload, good or not
  absl::Status last_result;   // a failed reload kept the config in force
  int loads = 0;              // attempts so far, start-up included
  int failures = 0;
};
ConfigLoadState LastConfigLoad();

// Scrape-time collectors over `health` and `ensurer` (either may be null)
// plus build info; removed when the returned object is destroyed, which
// must happen before `health` and `ensurer` go.
class DaemonCollectors {
 public:
  DaemonCollectors(const relay::EndpointHealth* health, const node::ImageEnsurer* ensurer,
                   std::string version);
  ~DaemonCollectors();
  DaemonCollectors(const DaemonCollectors&) = delete;
  DaemonCollectors& operator=(const DaemonCollectors&) = delete;

 private:
  int id_ = -1;
};

// Starts the listener when `listen` is set; nullptr when off.
absl::StatusOr<std::unique_ptr<metrics::MetricsServer>> StartMetricsServer(
    const std::string& listen);

}  // namespace crimirror::cli
