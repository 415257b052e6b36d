#include "src/serve_loop.h"

#include <errno.h>
#include <time.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "log/log.h"
#include "src/daemon_metrics.h"

namespace crimirror::cli {
namespace {

// While not ready yet, how often the loop looks at signals (it waits on the
// ensurer in between).
constexpr absl::Duration kReadinessPoll = absl::Milliseconds(20);

// "2 ensured image(s) present" or "missing: a (why); b (why)".
std::string EnsureSummary(const node::ImageEnsurer* ensurer) {
  if (ensurer == nullptr) return "";
  std::vector<std::string> missing;
  size_t present = 0;
  for (const node::EnsuredImage& image : ensurer->Snapshot()) {
    if (image.present) {
      ++present;
    } else {
      missing.push_back(image.last_error.empty() ? image.image : image.last_error);
    }
  }
  if (missing.empty()) return absl::StrCat(present, " ensured image(s) present");
  return absl::StrCat("not yet present: ", absl::StrJoin(missing, "; "));
}

void SendReady(const ServeLoopParts& parts, bool settled) {
  std::string summary = EnsureSummary(parts.ensurer);
  if (!settled) {
    log::Warning("ensure: still not settled after [server].ensure_timeout; reporting ready "
                 "anyway and retrying in the background (",
                 summary, ")");
  }
  std::string status = absl::StrCat("serving ", parts.serving);
  if (!summary.empty()) absl::StrAppend(&status, "; ", summary);
  absl::Status sent = parts.notifier->Ready(status);
  if (!sent.ok()) log::Warning(sent.message());
  log::Info("ready: ", status);
}

// RELOADING=1/READY=1 only once ready: before that, READY=1 is still to come.
void Reload(const ServeLoopParts& parts, bool ready) {
  log::Info("SIGHUP: reloading ", parts.config_store->path());
  absl::Status sent = ready ? parts.notifier->Reloading() : absl::OkStatus();
  if (!sent.ok()) log::Warning(sent.message());
  LogReload(parts.config_store->Reload(), parts.config_store->path());
  if (parts.ensurer != nullptr) parts.ensurer->Trigger();
  if (ready) sent = parts.notifier->Ready(absl::StrCat("serving ", parts.serving));
  if (!sent.ok()) log::Warning(sent.message());
}

// Waits for one signal up to `timeout` (infinite: no limit). 0 on timeout.
int WaitForSignal(const sigset_t& signals, std::optional<absl::Duration> timeout) {
  if (!timeout) {
    int sig = 0;
    return sigwait(&signals, &sig) == 0 ? sig : 0;
  }
  timespec ts = absl::ToTimespec(std::max(*timeout, absl::ZeroDuration()));
  int sig = sigtimedwait(&signals, nullptr, &ts);
  return sig > 0 ? sig : 0;
}

}  // namespace

void LogReload(const absl::Status& status, const std::string& path) {
  RecordConfigLoad(status, path);
  if (status.ok()) {
    log::Info("config reloaded");
  } else {
    log::Error("config reload rejected; keeping the last good config:\n", status.ToString());
  }
}

void ServeUntilStopped(const sigset_t& signals, const ServeLoopParts& parts) {
  const std::optional<absl::Duration> watchdog = parts.notifier->settings().watchdog_every;
  const absl::Time ready_deadline =
      absl::Now() + parts.config_store->Current()->server.ensure_timeout;
  bool ready = false;
  absl::Time next_ping = absl::Now();
  for (;;) {
    absl::Time now = absl::Now();
    if (!ready) {
      // Blocks up to one poll interval and returns the moment the ensurer
      // settles, so READY=1 does not wait for the next tick; signals are
      // then looked at without waiting.
      bool settled = parts.ensurer == nullptr ||
                     parts.ensurer->WaitUntilSettled(
                         std::clamp(ready_deadline - now, absl::ZeroDuration(), kReadinessPoll));
      now = absl::Now();
      if (settled || now >= ready_deadline) {
        SendReady(parts, settled);
        ready = true;
        if (parts.ready != nullptr) parts.ready->store(true);
      }
    }
    if (watchdog && now >= next_ping) {
      absl::Status sent = parts.notifier->WatchdogPing();
      if (!sent.ok()) log::Warning(sent.message());
      next_ping = now + *watchdog;
    }
    std::optional<absl::Duration> timeout;
    if (!ready) timeout = absl::ZeroDuration();
    if (watchdog) timeout = std::min(timeout.value_or(*watchdog), next_ping - now);
    int sig = WaitForSignal(signals, timeout);
    if (sig == 0) continue;
    if (sig == SIGHUP) {
      Reload(parts, ready);
      continue;
    }
    log::Info(sig == SIGTERM ? "SIGTERM" : "SIGINT", ": shutting down");
    absl::Status sent = parts.notifier->Stopping();
    if (!sent.ok()) log::Warning(sent.message());
    return;
  }
}

}  // namespace crimirror::cli
