#include "plugin/server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <utility>

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "plugin/backend_channel.h"
#include "plugin/unix_socket.h"

namespace crimirror::plugin {
namespace {

constexpr int kMaxMessageBytes = 64 << 20;

// gRPC creates the socket file with the process umask; narrow it for the
// duration of the bind so the socket is never briefly world-accessible.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : previous_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(previous_); }

 private:
  mode_t previous_;
};

}  // namespace

Server::Server(std::string socket_path, std::shared_ptr<grpc::Channel> backend,
               std::unique_ptr<ImageServiceProxy> proxy)
    : socket_path_(std::move(socket_path)),
      backend_(std::move(backend)),
      proxy_(std::move(proxy)) {}

absl::StatusOr<std::unique_ptr<Server>> Server::Create(const ServerOptions& options) {
  if (absl::Status s = ValidateUnixTarget("listen", options.listen); !s.ok()) return s;
  absl::StatusOr<std::shared_ptr<grpc::Channel>> backend =
      options.backend_channel ? options.backend_channel : CreateBackendChannel(options.backend);
  if (!backend.ok()) return backend.status();
  std::string socket_path = UnixSocketPath(options.listen);
  if (absl::Status s = PrepareSocketPath(socket_path); !s.ok()) return s;

  auto proxy = std::make_unique<ImageServiceProxy>(*backend, options.backend,
                                                   options.interceptor, options.threads);
  std::unique_ptr<Server> server(new Server(socket_path, *backend, std::move(proxy)));
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat("unix:", socket_path),
                           grpc::InsecureServerCredentials());
  server->proxy_->AddTo(&builder);
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  {
    ScopedUmask umask(0177);
    server->server_ = builder.BuildAndStart();
  }
  if (server->server_ == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "listen: cannot serve on ", socket_path,
        "; check that the directory is writable and the path is not in use"));
  }
  server->proxy_->Start();
  if (absl::Status s = SetSocketMode(socket_path, options.socket_mode); !s.ok()) return s;
  return server;
}

void Server::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  server_->Wait();
  proxy_->Stop();
  ::unlink(socket_path_.c_str());
}

Server::~Server() {
  if (server_) Shutdown(absl::ZeroDuration());
}

}  // namespace crimirror::plugin
