#include "src/daemon_metrics.h"

#include <cstdint>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace crimirror::cli {
namespace {

metrics::Registry& R() { return metrics::Registry::Default(); }

absl::Mutex load_mu;
ConfigLoadState& LoadState() {
  static ConfigLoadState* state = new ConfigLoadState();
  return *state;
}

std::string FileHash(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return "none";  // no file: the built-in defaults
  std::uint64_t hash = 14695981039346656037ull;
  unsigned char buf[8192];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, file)) > 0) {
    for (std::size_t i = 0; i < n; ++i) {
      hash ^= buf[i];
      hash *= 1099511628211ull;
    }
  }
  std::fclose(file);
  return absl::StrCat(absl::Hex(hash, absl::kZeroPad16));
}

}  // namespace

void RecordConfigLoad(const absl::Status& status, const std::string& path) {
  // The file is read once, outside the lock, and only for a config now in
  // force.
  const std::string hash = status.ok() ? FileHash(path) : std::string();
  const absl::Time now = absl::Now();
  {
    absl::MutexLock lock(&load_mu);
    ConfigLoadState& state = LoadState();
    state.file = path;
    state.last_attempt = now;
    state.last_result = status;
    ++state.loads;
    if (!status.ok()) {
      ++state.failures;
    } else {
      state.hash = hash;
      state.in_force_since = now;
    }
  }
  R().Counter("cri_mirror_config_loads_total",
              "Config loads (start-up) and reloads, by result; a failed reload keeps the "
              "last good config.",
              {"result"})
      .Add({status.ok() ? "success" : "failure"});
  R().Gauge("cri_mirror_config_last_load_success",
            "1 when the last config load or reload succeeded, 0 when it was rejected.")
      .Set({}, status.ok() ? 1 : 0);
  R().Gauge("cri_mirror_config_last_load_timestamp_seconds",
            "Unix time of the last config load or reload attempt.")
      .Set({}, absl::ToDoubleSeconds(now - absl::UnixEpoch()));
  if (!status.ok()) return;
  metrics::Family& info = R().Gauge("cri_mirror_config_info",
                                    "The config in force: its file and hash (FNV-1a 64 of the "
                                    "file's bytes); always 1.",
                                    {"file", "hash"});
  info.Clear();
  info.Set({path, hash}, 1);
}

ConfigLoadState LastConfigLoad() {
  absl::MutexLock lock(&load_mu);
  return LoadState();
}

DaemonCollectors::DaemonCollectors(const relay::EndpointHealth* health,
                                   const node::ImageEnsurer* ensurer, std::string version) {
  R().Gauge("cri_mirror_build_info", "The running build; always 1.", {"version"})
      .Set({version}, 1);
  id_ = R().AddCollector([health, ensurer] {
    if (health != nullptr) {
      metrics::Family& backoff = R().Gauge(
          "cri_mirror_endpoint_backoff_seconds",
          "Seconds left in an endpoint's back-off after connection failures (0: healthy).",
          {"endpoint"});
      metrics::Family& failures = R().Gauge(
          "cri_mirror_endpoint_consecutive_failures",
          "Consecutive connection-level failures of an endpoint host.", {"endpoint"});
      backoff.Clear();
      failures.Clear();
      const absl::Time now = absl::Now();
      for (const relay::EndpointHealth::HostState& state : health->Snapshot()) {
        backoff.Set({state.host},
                    state.until > now ? absl::ToDoubleSeconds(state.until - now) : 0);
        failures.Set({state.host}, state.consecutive_failures);
      }
    }
    if (ensurer != nullptr) {
      metrics::Family& present = R().Gauge(
          "cri_mirror_ensured_image_present",
          "1 when an image every node must hold ([server] ensure_images, the sandbox image) "
          "is present in containerd, else 0.",
          {"image"});
      present.Clear();
      for (const node::EnsuredImage& image : ensurer->Snapshot()) {
        present.Set({image.image}, image.present ? 1 : 0);
      }
    }
  });
}

DaemonCollectors::~DaemonCollectors() { R().RemoveCollector(id_); }

absl::StatusOr<std::unique_ptr<metrics::MetricsServer>> StartMetricsServer(
    const std::string& listen) {
  if (listen.empty()) return std::unique_ptr<metrics::MetricsServer>();
  return metrics::MetricsServer::Start(listen, &R());
}

}  // namespace crimirror::cli
