#include "config/config_store.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <dirent.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "config/load.h"

namespace crimirror::config {

ConfigStore::ConfigStore(std::string path, ConfigPtr config,
                         std::vector<Warning> warnings, Loader loader)
    : path_(std::move(path)),
      loader_(loader ? std::move(loader) : Loader(LoadConfigFile)),
      current_(std::move(config)),
      warnings_(std::move(warnings)) {}

absl::StatusOr<std::unique_ptr<ConfigStore>> ConfigStore::Create(
    std::string path, bool missing_ok, Loader loader) {
  absl::StatusOr<ParsedConfig> parsed =
      loader ? loader(path) : LoadConfigFile(path);
  if (!parsed.ok()) {
    if (missing_ok && absl::IsNotFound(parsed.status())) {
      return std::unique_ptr<ConfigStore>(new ConfigStore(
          std::move(path), std::make_shared<Config>(), {}, std::move(loader)));
    }
    return parsed.status();
  }
  auto config = std::make_shared<const Config>(std::move(parsed->config));
  return std::unique_ptr<ConfigStore>(
      new ConfigStore(std::move(path), std::move(config),
                      std::move(parsed->warnings), std::move(loader)));
}

std::unique_ptr<ConfigStore> ConfigStore::CreateWithConfig(std::string path,
                                                           ConfigPtr config) {
  return std::unique_ptr<ConfigStore>(
      new ConfigStore(std::move(path), std::move(config), {}, nullptr));
}

ConfigPtr ConfigStore::Current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

std::vector<Warning> ConfigStore::Warnings() const {
  absl::MutexLock lock(&mu_);
  return warnings_;
}

absl::Status ConfigStore::Reload() {
  absl::MutexLock reload_lock(&reload_mu_);
  absl::StatusOr<ParsedConfig> parsed = loader_(path_);
  if (!parsed.ok()) return parsed.status();
  auto config = std::make_shared<const Config>(std::move(parsed->config));
  std::vector<Subscriber> subscribers;
  {
    absl::MutexLock lock(&mu_);
    current_ = config;
    warnings_ = std::move(parsed->warnings);
    subscribers = subscribers_;
  }
  // Outside mu_ so subscribers may call Current(); still under reload_mu_ so
  // they see swaps in order.
  for (const Subscriber& subscriber : subscribers) subscriber(config);
  return absl::OkStatus();
}

void ConfigStore::Subscribe(Subscriber subscriber) {
  absl::MutexLock lock(&mu_);
  subscribers_.push_back(std::move(subscriber));
}

// ---- ConfigWatcher ----------------------------------------------------------

absl::StatusOr<std::unique_ptr<ConfigWatcher>> ConfigWatcher::Create(
    ConfigStore* store, ReloadCallback on_reload, absl::Duration debounce,
    BeforeReload before_reload) {
  const std::string& path = store->path();
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "."
                    : slash == 0               ? "/"
                                               : path.substr(0, slash);
  std::string file = slash == std::string::npos ? path : path.substr(slash + 1);
  int inotify_fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("inotify_init1: ", std::strerror(errno)));
  }
  constexpr uint32_t kMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE |
                             IN_DELETE | IN_MOVED_FROM | IN_MODIFY;
  if (::inotify_add_watch(inotify_fd, dir.c_str(), kMask) < 0) {
    int err = errno;
    ::close(inotify_fd);
    return absl::FailedPreconditionError(
        absl::StrCat("cannot watch config directory ", dir, ": ",
                     std::strerror(err), "; make sure it exists"));
  }
  int stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd < 0) {
    int err = errno;
    ::close(inotify_fd);
    return absl::FailedPreconditionError(
        absl::StrCat("eventfd: ", std::strerror(err)));
  }
  return std::unique_ptr<ConfigWatcher>(new ConfigWatcher(
      store, std::move(on_reload), debounce, inotify_fd, stop_fd, file,
      std::move(before_reload)));
}

ConfigWatcher::ConfigWatcher(ConfigStore* store, ReloadCallback on_reload,
                             absl::Duration debounce, int inotify_fd,
                             int stop_fd, std::string file_name,
                             BeforeReload before_reload)
    : store_(store),
      on_reload_(std::move(on_reload)),
      before_reload_(std::move(before_reload)),
      debounce_(debounce),
      inotify_fd_(inotify_fd),
      stop_fd_(stop_fd),
      file_name_(std::move(file_name)) {
  WatchImports();
  thread_ = std::thread([this] { Run(); });
}

void ConfigWatcher::WatchImports() {
  constexpr uint32_t kMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE |
                             IN_DELETE | IN_MOVED_FROM | IN_MODIFY;
  auto watch = [this](const std::string& dir, const std::string& name) {
    int wd = ::inotify_add_watch(inotify_fd_, dir.c_str(), kMask);
    if (wd < 0) return;  // missing: the next reload reports the import error
    std::set<std::string>& names = import_watches_[wd];
    if (!name.empty()) names.insert(name);
  };
  ConfigPtr config = store_->Current();
  for (const std::string& path : config->watched_paths) {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      // A certs.d tree: the directory and each registry directory in it.
      watch(path, "");
      if (DIR* d = ::opendir(path.c_str())) {
        while (struct dirent* e = ::readdir(d)) {
          std::string name = e->d_name;
          if (name != "." && name != "..") watch(path + "/" + name, "");
        }
        ::closedir(d);
      }
      continue;
    }
    size_t slash = path.rfind('/');
    if (slash == std::string::npos) continue;
    watch(slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1));
  }
}

ConfigWatcher::~ConfigWatcher() {
  uint64_t one = 1;
  ssize_t written = ::write(stop_fd_, &one, sizeof(one));
  (void)written;  // eventfd write of 1 cannot fail short of overflow
  if (thread_.joinable()) thread_.join();
  ::close(inotify_fd_);
  ::close(stop_fd_);
}

bool ConfigWatcher::DrainEvents() {
  alignas(inotify_event) char buffer[4096];
  bool relevant = false;
  for (;;) {
    ssize_t n = ::read(inotify_fd_, buffer, sizeof(buffer));
    if (n <= 0) break;
    for (ssize_t offset = 0; offset < n;) {
      const auto* event =
          reinterpret_cast<const inotify_event*>(buffer + offset);
      std::string_view name =
          event->len > 0 ? std::string_view(event->name) : std::string_view();
      // "..data" is the symlink Kubernetes swaps when a ConfigMap changes.
      if (name == file_name_ || name == "..data" ||
          (event->mask & IN_Q_OVERFLOW) != 0) {
        relevant = true;
      }
      if (auto it = import_watches_.find(event->wd);
          it != import_watches_.end() &&
          (it->second.empty() || it->second.count(std::string(name)) != 0)) {
        relevant = true;
      }
      offset += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
    }
  }
  return relevant;
}

void ConfigWatcher::Run() {
  std::optional<absl::Time> deadline;
  for (;;) {
    int timeout_ms = -1;
    if (deadline) {
      timeout_ms = static_cast<int>(std::max<int64_t>(
          0, absl::ToInt64Milliseconds(*deadline - absl::Now()) + 1));
    }
    pollfd fds[2] = {{stop_fd_, POLLIN, 0}, {inotify_fd_, POLLIN, 0}};
    int ready = ::poll(fds, 2, timeout_ms);
    if (ready < 0 && errno != EINTR) return;
    if ((fds[0].revents & POLLIN) != 0) return;
    if ((fds[1].revents & POLLIN) != 0 && DrainEvents()) {
      // Every new event pushes the deadline: reload once writes settle.
      deadline = absl::Now() + debounce_;
    }
    if (deadline && absl::Now() >= *deadline) {
      deadline.reset();
      if (before_reload_) before_reload_();
      absl::Status status = store_->Reload();
      WatchImports();  // [import] paths may have changed, or new directories
      if (on_reload_) on_reload_(status);
    }
  }
}

}  // namespace crimirror::config
