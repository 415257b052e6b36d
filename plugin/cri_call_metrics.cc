#include "plugin/cri_call_metrics.h"

#include <string>

#include "metrics/metrics.h"
#include "plugin/h2_route.h"

namespace crimirror::plugin {

void ObserveCriCall(std::string_view path, absl::Duration took) {
  static metrics::Family& latency = metrics::Registry::Default().Histogram(
      "cri_mirror_cri_call_duration_seconds",
      "CRI ImageService calls served (proxied or intercepted), by method.", {"method"},
      metrics::DurationBuckets());
  latency.Observe({std::string(MethodLabel(path))}, absl::ToDoubleSeconds(took));
}

}  // namespace crimirror::plugin
