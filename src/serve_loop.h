// The daemon's main-thread loop once everything is started: readiness
// towards systemd, signals, reloads and the watchdog (issue 11).
//
// The loop waits on the handled signals (sigtimedwait). It sends READY=1
// once the image ensurer settled (the runtime answered and every ensured
// image is present) or [server].ensure_timeout passed, with a warning naming
// what is missing; the socket already serves when the loop starts. SIGHUP
// sends RELOADING=1, reloads the config, asks the ensurer for a pass and
// sends READY=1. SIGTERM/SIGINT send STOPPING=1 and return. WATCHDOG=1 goes
// out from this loop every half WATCHDOG_USEC, so a wedged main thread stops
// the pings.
#pragma once

#include <atomic>

#include <signal.h>

#include <string>

#include "config/config_store.h"
#include "node/image_ensurer.h"
#include "node/sd_notify.h"

namespace crimirror::cli {

struct ServeLoopParts {
  config::ConfigStore* config_store = nullptr;
  node::ImageEnsurer* ensurer = nullptr;  // null: ready at once
  const node::Notifier* notifier = nullptr;
  std::string serving;  // "unix:///run/cri-mirror/cri-mirror.sock", for STATUS=
  // Set once READY=1 went out (file-watch reloads bracket themselves with
  // RELOADING=1/READY=1 only from then on); may be null.
  std::atomic<bool>* ready = nullptr;
};

// Runs until SIGTERM or SIGINT (blocked in every thread, see `signals`).
void ServeUntilStopped(const sigset_t& signals, const ServeLoopParts& parts);

// Logs a reload result (the last good config stays on failure).
void LogReload(const absl::Status& status, const std::string& path);

}  // namespace crimirror::cli
