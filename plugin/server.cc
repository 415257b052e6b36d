#include "plugin/server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <utility>

#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "plugin/backend_channel.h"
#include "plugin/unix_socket.h"

namespace crimirror::plugin {
namespace {

constexpr int kMaxMessageBytes = 64 << 20;

}  // namespace

Server::Server(std::string socket_path, std::shared_ptr<grpc::Channel> backend,
               std::unique_ptr<ImageServiceProxy> proxy)
    : socket_path_(std::move(socket_path)),
      backend_(std::move(backend)),
      proxy_(std::move(proxy)) {}

absl::StatusOr<std::unique_ptr<Server>> Server::Create(const ServerOptions& options) {
  if (absl::Status s = ValidateUnixTarget("listen", options.listen); !s.ok()) return s;
  if (absl::Status s = ValidateUnixTarget("backend", options.backend); !s.ok()) return s;
  absl::StatusOr<std::shared_ptr<grpc::Channel>> backend =
      options.backend_channel ? options.backend_channel : CreateBackendChannel(options.backend);
  if (!backend.ok()) return backend.status();
  std::string socket_path = UnixSocketPath(options.listen);
  if (absl::Status s = PrepareSocketPath(socket_path); !s.ok()) return s;

  auto proxy = std::make_unique<ImageServiceProxy>(*backend, options.backend,
                                                   options.interceptor, options.threads);
  std::unique_ptr<Server> server(new Server(socket_path, *backend, std::move(proxy)));
  // The internal server has no listening port: the router hands it one end
  // of a socketpair per kubelet connection that needs it.
  grpc::ServerBuilder builder;
  server->proxy_->AddTo(&builder);
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr) {
    return absl::InternalError("listen: cannot start cri-mirror's internal gRPC server");
  }
  server->proxy_->Start();
  server->dialer_ = std::make_unique<RouteDialer>(options.backend, server->server_.get());
  absl::StatusOr<std::unique_ptr<H2Router>> router =
      H2Router::Start(socket_path, server->dialer_.get());
  if (!router.ok()) return router.status();
  server->router_ = *std::move(router);
  if (absl::Status s = SetSocketMode(socket_path, options.socket_mode); !s.ok()) return s;
  return server;
}

void Server::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  const absl::Time deadline = absl::Now() + grace;
  if (router_) router_->BeginDrain();
  if (dialer_) dialer_->Close();
  if (server_) {
    // Waits for the internal calls (pulls) until the deadline, then cancels
    // them; their answers still travel back through the router.
    server_->Shutdown(absl::ToChronoTime(deadline));
    server_->Wait();
  }
  if (router_) {
    (void)router_->WaitDrained(deadline);
    router_->Stop();
  }
  proxy_->Stop();
  ::unlink(socket_path_.c_str());
}

Server::~Server() { Shutdown(absl::ZeroDuration()); }

}  // namespace crimirror::plugin
