// StatusServer: the daemon's local status interface (issue 11, `cri-mirror
// status`): HTTP/1.1 on a unix socket of mode 0600, so only root (the
// socket's owner) may connect; never on the network. GET /status answers
// the JSON that `render` returns at request time; other paths 404, other
// methods 405. A handful of connections at a time with a short timeout.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

struct MHD_Daemon;

namespace crimirror::status {

class StatusServer {
 public:
  using Render = std::function<std::string()>;

  // Listens on `socket_path` (an absolute path; parent directories are
  // created, a stale socket replaced; a live one refused). Errors name
  // `[server] status` and the fix.
  static absl::StatusOr<std::unique_ptr<StatusServer>> Start(const std::string& socket_path,
                                                             Render render);
  // Stops serving and removes the socket file.
  ~StatusServer();
  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;

  const std::string& socket_path() const { return socket_path_; }

 private:
  StatusServer() = default;

  MHD_Daemon* daemon_ = nullptr;
  int fd_ = -1;
  std::string socket_path_;
  Render render_;
};

// GET `path` on the status socket: the body of a 200. Unavailable when the
// daemon does not listen there (or refuses), PermissionDenied when the
// caller may not connect (not root), both saying so; a bounded timeout.
absl::StatusOr<std::string> FetchStatus(const std::string& socket_path,
                                        const std::string& path = "/status");

}  // namespace crimirror::status
