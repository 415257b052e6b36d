#include "src/daemon.h"

#include <signal.h>

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "config/config_store.h"
#include "import/load.h"
#include "log/log.h"
#include "node/cri_ensure_backend.h"
#include "node/image_ensurer.h"
#include "node/sd_notify.h"
#include "plugin/backend_channel.h"
#include "plugin/mirror_pull.h"
#include "plugin/pull_journal.h"
#include "plugin/server.h"
#include "relay/credential_check.h"
#include "relay/curl_upstream.h"
#include "relay/endpoint_health.h"
#include "relay/tag_history.h"
#include "relay/relay_server.h"
#include "relay/session_store.h"
#include "src/daemon_client.h"
#include "src/daemon_metrics.h"
#include "src/daemon_status.h"
#include "status/status_server.h"
#include "src/load_config.h"
#include "src/serve_loop.h"

namespace crimirror::cli {
namespace {

// Grace for in-flight calls at shutdown; pulls still running are cancelled.
constexpr absl::Duration kShutdownGrace = absl::Seconds(10);

// Everything the daemon runs, in construction order (destroyed in reverse).
struct Daemon {
  std::string backend_target;  // --backend or [server].backend
  std::unique_ptr<config::ConfigStore> config_store;
  std::unique_ptr<config::ConfigWatcher> watcher;
  std::unique_ptr<relay::SessionStore> sessions;
  // Before the interceptor, which writes to it until it is destroyed.
  std::unique_ptr<plugin::PullJournal> journal = std::make_unique<plugin::PullJournal>();
  std::unique_ptr<relay::EndpointHealth> health;
  std::unique_ptr<relay::CurlUpstream> upstream;
  std::unique_ptr<relay::KubeletCredentialCheck> credential_check;
  // <[server] state_dir>/tags.json as at start-up (a reload does not move it).
  std::unique_ptr<relay::FileTagHistory> tag_history;
  std::unique_ptr<relay::RelayServer> relay;
  std::unique_ptr<plugin::MirrorPullInterceptor> interceptor;
  std::unique_ptr<plugin::Server> server;
  std::unique_ptr<node::ImageEnsurer> ensurer;
  std::unique_ptr<DaemonCollectors> collectors;
  std::unique_ptr<metrics::MetricsServer> metrics_server;
  std::unique_ptr<status::StatusServer> status_server;
  absl::Time started = absl::Now();
  // The ensurer as the config watcher's thread sees it (set once started).
  std::atomic<node::ImageEnsurer*> reload_ensurer{nullptr};
  // systemd's notify socket, and whether READY=1 went out (serve loop).
  const node::Notifier notifier = node::Notifier::FromEnvironment();
  std::atomic<bool> ready{false};
};

absl::Status StartConfig(const CommandLine& cl, Daemon* d) {
  absl::StatusOr<std::unique_ptr<config::ConfigStore>> store =
      config::ConfigStore::Create(cl.config_path, /*missing_ok=*/!cl.config_path_given,
                                  LoadDaemonConfig);
  if (!store.ok()) return store.status();
  d->config_store = std::move(*store);
  RecordConfigLoad(absl::OkStatus(), d->config_store->path());
  for (const config::Warning& w : d->config_store->Warnings()) log::Warning(w.message);
  absl::StatusOr<std::unique_ptr<config::ConfigWatcher>> watcher =
      config::ConfigWatcher::Create(
          d->config_store.get(),
          [d](const absl::Status& status) {
            LogReload(status, d->config_store->path());
            if (node::ImageEnsurer* ensurer = d->reload_ensurer.load()) ensurer->Trigger();
            if (d->ready.load()) {
              absl::Status sent = d->notifier.Ready(absl::StrCat("serving unix://", d->server->socket_path()));
              if (!sent.ok()) log::Warning(sent.message());
            }
          },
          absl::Milliseconds(200),
          [d] {
            if (!d->ready.load()) return;
            absl::Status sent = d->notifier.Reloading();
            if (!sent.ok()) log::Warning(sent.message());
          });
  if (watcher.ok()) {
    d->watcher = std::move(*watcher);
  } else {
    log::Warning("config file watch disabled (SIGHUP still reloads): ",
                 watcher.status().ToString());
  }
  return absl::OkStatus();
}

absl::Status StartRelay(const config::ServerSettings& server, Daemon* d) {
  d->sessions = std::make_unique<relay::SessionStore>();
  d->health = std::make_unique<relay::EndpointHealth>(relay::EndpointHealth::OptionsFrom(server));
  absl::StatusOr<std::unique_ptr<relay::CurlUpstream>> upstream =
      relay::CurlUpstream::Create(relay::CurlUpstream::Options{});
  if (!upstream.ok()) return upstream.status();
  d->upstream = std::move(*upstream);
  d->credential_check = std::make_unique<relay::KubeletCredentialCheck>(d->upstream.get());
  relay::RelayServer::Options options;
  options.listen = server.relay;
  options.upstream = d->upstream.get();
  options.sessions = d->sessions.get();
  options.health = d->health.get();
  d->tag_history = relay::FileTagHistory::Open(absl::StrCat(server.state_dir, "/tags.json"));
  options.tag_history = d->tag_history.get();
  options.limits.walk.stall_timeout = server.stall_timeout;
  options.limits.walk.hedge_after = server.hedge_after;
  absl::StatusOr<std::unique_ptr<relay::RelayServer>> relay =
      relay::RelayServer::Create(std::move(options));
  if (!relay.ok()) {
    return absl::Status(relay.status().code(),
                        absl::StrCat("[server].relay: ", relay.status().message()));
  }
  d->relay = std::move(*relay);
  log::Info("relay listening on ", d->relay->address());
  return absl::OkStatus();
}

absl::Status StartServer(const CommandLine& cl, const config::ServerSettings& server,
                         Daemon* d) {
  plugin::ServerOptions options;
  options.listen = cl.listen.value_or(server.listen);
  options.backend = cl.backend.value_or(server.backend);
  d->backend_target = options.backend;
  absl::StatusOr<std::shared_ptr<grpc::Channel>> backend =
      plugin::CreateBackendChannel(options.backend);
  if (!backend.ok()) return backend.status();
  plugin::MirrorPullOptions pull;
  pull.config_store = d->config_store.get();
  pull.sessions = d->sessions.get();
  pull.relay_address = d->relay->address();
  pull.backend = *backend;
  pull.credential_check = d->credential_check.get();
  pull.journal = d->journal.get();
  absl::StatusOr<std::unique_ptr<plugin::MirrorPullInterceptor>> interceptor =
      plugin::MirrorPullInterceptor::Create(std::move(pull));
  if (!interceptor.ok()) return interceptor.status();
  d->interceptor = std::move(*interceptor);
  options.interceptor = d->interceptor.get();
  options.backend_channel = *backend;
  absl::StatusOr<std::unique_ptr<plugin::Server>> started = plugin::Server::Create(options);
  if (!started.ok()) return started.status();
  d->server = std::move(*started);
  log::Info("serving runtime.v1.ImageService on unix://", d->server->socket_path(),
            ", backend ", options.backend);
  return absl::OkStatus();
}

// The image ensurer (node/image_ensurer.h): its own channel to the backend
// for Status and ImageStatus, and one to our own socket for pulls.
absl::Status StartEnsurer(Daemon* d) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> backend =
      plugin::CreateBackendChannel(d->backend_target);
  if (!backend.ok()) return backend.status();
  absl::StatusOr<std::shared_ptr<grpc::Channel>> self =
      plugin::CreateBackendChannel(absl::StrCat("unix://", d->server->socket_path()));
  if (!self.ok()) return self.status();
  absl::StatusOr<std::unique_ptr<node::CriEnsureBackend>> calls =
      node::CriEnsureBackend::Create(*backend, *self);
  if (!calls.ok()) return calls.status();
  node::ImageEnsurer::Options options;
  options.config_store = d->config_store.get();
  options.backend = std::move(*calls);
  absl::StatusOr<std::unique_ptr<node::ImageEnsurer>> ensurer =
      node::ImageEnsurer::Create(std::move(options));
  if (!ensurer.ok()) return ensurer.status();
  d->ensurer = std::move(*ensurer);
  d->reload_ensurer = d->ensurer.get();
  return absl::OkStatus();
}

// [server] metrics: read at start-up only (a reload that changes it says so
// in the README; restart to move the listener).
absl::Status StartMetrics(const config::ServerSettings& server, Daemon* d) {
  d->collectors = std::make_unique<DaemonCollectors>(d->health.get(), d->ensurer.get(),
                                                     CRI_MIRROR_VERSION);
  absl::StatusOr<std::unique_ptr<metrics::MetricsServer>> started =
      StartMetricsServer(server.metrics);
  if (!started.ok()) return started.status();
  d->metrics_server = std::move(*started);
  if (d->metrics_server) log::Info("metrics at http://", d->metrics_server->address(), "/metrics");
  return absl::OkStatus();
}

// [server] status: the root-only socket of `cri-mirror status` (start-up
// only, like metrics).
absl::Status StartStatus(const config::ServerSettings& server, Daemon* d) {
  if (server.status.empty()) return absl::OkStatus();
  StatusParts parts;
  parts.config_store = d->config_store.get();
  parts.health = d->health.get();
  parts.journal = d->journal.get();
  parts.ensurer = d->ensurer.get();
  parts.version = CRI_MIRROR_VERSION;
  parts.listen = absl::StrCat("unix://", d->server->socket_path());
  parts.backend = d->backend_target;
  parts.relay = d->relay->address();
  parts.started = d->started;
  absl::StatusOr<std::unique_ptr<status::StatusServer>> started = status::StatusServer::Start(
      SocketPath(server.status), [parts] { return RenderStatus(parts); });
  if (!started.ok()) return started.status();
  d->status_server = std::move(*started);
  log::Info("status at unix://", d->status_server->socket_path(), " (cri-mirror status)");
  return absl::OkStatus();
}

// Blocks the signals we handle in every thread (gRPC's threads inherit the
// mask), so that sigwait() in the main thread is their only receiver.
sigset_t BlockHandledSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

}  // namespace

int RunDaemon(const CommandLine& cl) {
  sigset_t signals = BlockHandledSignals();
  Daemon d;
  absl::Status status = StartConfig(cl, &d);
  if (status.ok()) status = StartRelay(d.config_store->Current()->server, &d);
  if (status.ok()) status = StartServer(cl, d.config_store->Current()->server, &d);
  if (status.ok()) status = StartEnsurer(&d);
  if (status.ok()) status = StartMetrics(d.config_store->Current()->server, &d);
  if (status.ok()) status = StartStatus(d.config_store->Current()->server, &d);
  if (!status.ok()) {
    log::Error("cannot start: ", status.message());
    return 1;
  }
  if (!d.notifier.settings().warning.empty()) log::Warning(d.notifier.settings().warning);
  ServeUntilStopped(signals, {d.config_store.get(), d.ensurer.get(), &d.notifier,
                              absl::StrCat("unix://", d.server->socket_path()), &d.ready});
  d.status_server.reset();
  d.metrics_server.reset();
  d.collectors.reset();
  d.watcher.reset();
  d.reload_ensurer = nullptr;
  d.ensurer.reset();
  d.server->Shutdown(kShutdownGrace);
  d.interceptor.reset();
  d.relay->Stop();
  log::Info("stopped");
  return 0;
}

}  // namespace crimirror::cli
