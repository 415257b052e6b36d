// ConfigStore holds the current configuration snapshot and swaps it
// atomically on reload; ConfigWatcher triggers reloads when the file changes.
//
// Consumers call Current() once per operation and keep the returned
// `ConfigPtr` for its duration, so one pull sees one consistent config even if
// a reload happens meanwhile. A reload that fails validation leaves the last
// good config in force and returns every reason.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "config/config.h"
#include "config/parse.h"

namespace crimirror::config {

class ConfigStore {
 public:
  // Called after a successful swap with the new snapshot, on the thread that
  // called Reload(), outside the store's locks (it may call Current()).
  using Subscriber = std::function<void(ConfigPtr)>;
  // Reads and validates the config at a path (LoadConfigFile by default; the
  // daemon passes importer::LoadConfigWithImports so [import]s are merged).
  using Loader = std::function<absl::StatusOr<ParsedConfig>(const std::string&)>;

  // Loads `path` with LoadConfigFile(). When the file does not exist and
  // `missing_ok`, starts from a default Config (no mirror rules) instead of
  // failing; otherwise returns the load error (NotFound, InvalidArgument, ...).
  static absl::StatusOr<std::unique_ptr<ConfigStore>> Create(
      std::string path, bool missing_ok = false, Loader loader = nullptr);
  // A store around an already built config (tests, `--config` overrides).
  static std::unique_ptr<ConfigStore> CreateWithConfig(std::string path,
                                                       ConfigPtr config);

  ConfigStore(const ConfigStore&) = delete;
  ConfigStore& operator=(const ConfigStore&) = delete;

  // The current snapshot; never null. Thread-safe, cheap (a shared_ptr copy).
  ConfigPtr Current() const ABSL_LOCKS_EXCLUDED(mu_);

  // Loads the file again. On success swaps the snapshot, records warnings and
  // notifies subscribers; on failure keeps the last good config and returns
  // the error (InvalidArgument listing every reason, NotFound, ...).
  // Thread-safe; concurrent reloads are serialized.
  absl::Status Reload() ABSL_LOCKS_EXCLUDED(mu_, reload_mu_);

  // Registers `subscriber` for every later successful swap. Thread-safe.
  void Subscribe(Subscriber subscriber) ABSL_LOCKS_EXCLUDED(mu_);

  // Warnings of the config currently in force.
  std::vector<Warning> Warnings() const ABSL_LOCKS_EXCLUDED(mu_);

  const std::string& path() const { return path_; }

 private:
  ConfigStore(std::string path, ConfigPtr config,
              std::vector<Warning> warnings, Loader loader);

  const std::string path_;
  const Loader loader_;
  absl::Mutex reload_mu_;  // serializes Reload(); taken before mu_
  mutable absl::Mutex mu_;
  ConfigPtr current_ ABSL_GUARDED_BY(mu_);
  std::vector<Warning> warnings_ ABSL_GUARDED_BY(mu_);
  std::vector<Subscriber> subscribers_ ABSL_GUARDED_BY(mu_);
};

// Watches the directory of a ConfigStore's file with inotify and calls
// Reload() after changes settle (debounced). The files and directories the
// config imports (Config::watched_paths: a certs.d tree, a registries.yaml)
// are watched too, re-read after every reload. Watching the directory rather
// than the file catches editors and config managers that write a new file and
// rename it over the old one, and Kubernetes ConfigMap "..data" symlink swaps.
class ConfigWatcher {
 public:
  // Called after each watcher-triggered Reload() with its result (for logs).
  using ReloadCallback = std::function<void(const absl::Status&)>;
  // Called just before each watcher-triggered Reload() (systemd's
  // RELOADING=1).
  using BeforeReload = std::function<void()>;

  // Starts watching. `store` must outlive the watcher. Errors: the inotify
  // error (e.g. FailedPrecondition naming the directory).
  static absl::StatusOr<std::unique_ptr<ConfigWatcher>> Create(
      ConfigStore* store, ReloadCallback on_reload = nullptr,
      absl::Duration debounce = absl::Milliseconds(200), BeforeReload before_reload = nullptr);

  // Stops the watch thread and waits for it (and any reload in flight).
  ~ConfigWatcher();

  ConfigWatcher(const ConfigWatcher&) = delete;
  ConfigWatcher& operator=(const ConfigWatcher&) = delete;

 private:
  ConfigWatcher(ConfigStore* store, ReloadCallback on_reload,
                absl::Duration debounce, int inotify_fd, int stop_fd,
                std::string file_name, BeforeReload before_reload);
  void Run();
  // Drains pending inotify events; true if one concerns the config file.
  bool DrainEvents();
  // Adds watches for the current config's watched_paths.
  void WatchImports();

  ConfigStore* const store_;
  const ReloadCallback on_reload_;
  const BeforeReload before_reload_;
  const absl::Duration debounce_;
  const int inotify_fd_;
  const int stop_fd_;  // eventfd; written by the destructor
  const std::string file_name_;
  // Watch descriptor -> names that matter in it; empty = every name. Only
  // touched by the constructor and the watch thread.
  std::map<int, std::set<std::string>> import_watches_;
  std::thread thread_;
};

}  // namespace crimirror::config
