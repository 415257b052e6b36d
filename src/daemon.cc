#include "src/daemon.h"

#include <signal.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "config/config_store.h"
#include "import/load.h"
#include "log/log.h"
#include "plugin/backend_channel.h"
#include "plugin/mirror_pull.h"
#include "plugin/server.h"
#include "relay/curl_upstream.h"
#include "relay/endpoint_health.h"
#include "relay/relay_server.h"
#include "relay/session_store.h"

namespace crimirror::cli {
namespace {

// Grace for in-flight calls at shutdown; pulls still running are cancelled.
constexpr absl::Duration kShutdownGrace = absl::Seconds(10);

// Everything the daemon runs, in construction order (destroyed in reverse).
struct Daemon {
  std::unique_ptr<config::ConfigStore> config_store;
  std::unique_ptr<config::ConfigWatcher> watcher;
  std::unique_ptr<relay::SessionStore> sessions;
  std::unique_ptr<relay::EndpointHealth> health;
  std::unique_ptr<relay::CurlUpstream> upstream;
  std::unique_ptr<relay::RelayServer> relay;
  std::unique_ptr<plugin::MirrorPullInterceptor> interceptor;
  std::unique_ptr<plugin::Server> server;
};

void LogReload(const absl::Status& status) {
  if (status.ok()) {
    log::Info("config reloaded");
  } else {
    log::Error("config reload rejected; keeping the last good config:\n", status.ToString());
  }
}

absl::Status StartConfig(const CommandLine& cl, Daemon* d) {
  absl::StatusOr<std::unique_ptr<config::ConfigStore>> store =
      config::ConfigStore::Create(cl.config_path, /*missing_ok=*/!cl.config_path_given,
                                  importer::LoadConfigWithImports);
  if (!store.ok()) return store.status();
  d->config_store = std::move(*store);
  for (const config::Warning& w : d->config_store->Warnings()) log::Warning(w.message);
  absl::StatusOr<std::unique_ptr<config::ConfigWatcher>> watcher =
      config::ConfigWatcher::Create(d->config_store.get(), LogReload);
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
  relay::RelayServer::Options options;
  options.listen = server.relay;
  options.upstream = d->upstream.get();
  options.sessions = d->sessions.get();
  options.health = d->health.get();
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
  absl::StatusOr<std::shared_ptr<grpc::Channel>> backend =
      plugin::CreateBackendChannel(options.backend);
  if (!backend.ok()) return backend.status();
  plugin::MirrorPullOptions pull;
  pull.config_store = d->config_store.get();
  pull.sessions = d->sessions.get();
  pull.relay_address = d->relay->address();
  pull.backend = *backend;
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

void WaitForStop(const sigset_t& set, config::ConfigStore* store) {
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig == SIGHUP) {
      log::Info("SIGHUP: reloading ", store->path());
      LogReload(store->Reload());
      continue;
    }
    log::Info(sig == SIGTERM ? "SIGTERM" : "SIGINT", ": shutting down");
    return;
  }
}

}  // namespace

int RunDaemon(const CommandLine& cl) {
  sigset_t signals = BlockHandledSignals();
  Daemon d;
  absl::Status status = StartConfig(cl, &d);
  if (status.ok()) status = StartRelay(d.config_store->Current()->server, &d);
  if (status.ok()) status = StartServer(cl, d.config_store->Current()->server, &d);
  if (!status.ok()) {
    log::Error("cannot start: ", status.message());
    return 1;
  }
  WaitForStop(signals, d.config_store.get());
  d.server->Shutdown(kShutdownGrace);
  d.interceptor.reset();
  d.relay->Stop();
  log::Info("stopped");
  return 0;
}

}  // namespace crimirror::cli
