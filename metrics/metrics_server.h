// Serves a metrics::Registry at GET /metrics in the Prometheus text format
// (`[server] metrics`). Read-only, no request data reaches a label; other
// paths answer 404, other methods 405. A handful of connections at a time,
// each bounded by a short timeout, so a slow scraper cannot hold it.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "metrics/metrics.h"

struct MHD_Daemon;

namespace crimirror::metrics {

class MetricsServer {
 public:
  // Listens on `listen`: "IP:PORT" with an IPv4 literal, "[IPv6]:PORT" or
  // "localhost:PORT"; port 0 picks a free one. `registry` must outlive the
  // server. Errors name `[server] metrics` and the fix.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& listen,
                                                              const Registry* registry);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // "127.0.0.1:9098" with the port actually bound.
  const std::string& address() const { return address_; }

 private:
  MetricsServer() = default;

  MHD_Daemon* daemon_ = nullptr;
  std::string address_;
};

}  // namespace crimirror::metrics
