#include "status/status_server.h"

#include <curl/curl.h>
#include <microhttpd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "plugin/unix_socket.h"

namespace crimirror::status {
namespace {

constexpr long kFetchTimeoutMs = 5000;
constexpr std::size_t kMaxStatusBytes = 16 << 20;

MHD_Result Reply(MHD_Connection* connection, unsigned code, const std::string& body,
                 const char* type) {
  MHD_Response* response = MHD_create_response_from_buffer(
      body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
  if (response == nullptr) return MHD_NO;
  MHD_add_response_header(response, "Content-Type", type);
  const MHD_Result queued = MHD_queue_response(connection, code, response);
  MHD_destroy_response(response);
  return queued;
}

MHD_Result Handle(void* cls, MHD_Connection* connection, const char* url, const char* method,
                  const char* /*version*/, const char* /*upload*/, size_t* upload_size,
                  void** /*state*/) {
  const auto* render = static_cast<const StatusServer::Render*>(cls);
  if (*upload_size != 0) {
    *upload_size = 0;
    return MHD_YES;
  }
  if (std::strcmp(method, "GET") != 0) {
    return Reply(connection, 405, "cri-mirror's status socket answers GET only\n", "text/plain");
  }
  if (std::strcmp(url, "/status") != 0) {
    return Reply(connection, 404, "cri-mirror's status socket serves /status only\n",
                 "text/plain");
  }
  return Reply(connection, 200, (*render)(), "application/json");
}

std::string Where(const std::string& path) {
  return absl::StrCat("[server] status \"unix://", path, "\"");
}

size_t Append(char* data, size_t size, size_t count, void* out) {
  auto* body = static_cast<std::string*>(out);
  if (body->size() + size * count > kMaxStatusBytes) return 0;
  body->append(data, size * count);
  return size * count;
}

}  // namespace

absl::StatusOr<std::unique_ptr<StatusServer>> StatusServer::Start(const std::string& socket_path,
                                                                  Render render) {
  sockaddr_un address{};
  if (socket_path.empty() || socket_path[0] != '/' ||
      socket_path.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat(
        Where(socket_path), ": needs an absolute path shorter than ", sizeof(address.sun_path),
        " bytes"));
  }
  if (absl::Status prepared = plugin::PrepareSocketPath(socket_path); !prepared.ok()) {
    return absl::Status(prepared.code(), absl::StrCat(Where(socket_path), ": ",
                                                      prepared.message()));
  }
  std::unique_ptr<StatusServer> server(new StatusServer());
  server->socket_path_ = socket_path;
  server->render_ = std::move(render);
  server->fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (server->fd_ < 0) {
    return absl::InternalError(absl::StrCat(Where(socket_path), ": socket: ",
                                            std::strerror(errno)));
  }
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, socket_path.data(), socket_path.size());
  // Created 0600 from the start: no moment where another user may connect.
  const mode_t old_mask = ::umask(0177);
  const int bound = ::bind(server->fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  const int bind_errno = errno;
  ::umask(old_mask);
  if (bound != 0 || ::listen(server->fd_, 16) != 0) {
    return absl::UnavailableError(absl::StrCat(Where(socket_path), ": cannot listen: ",
                                               std::strerror(bound != 0 ? bind_errno : errno),
                                               "; pick another path or \"\" to turn it off"));
  }
  if (::chmod(socket_path.c_str(), 0600) != 0) {
    return absl::InternalError(absl::StrCat(Where(socket_path), ": chmod 0600: ",
                                            std::strerror(errno)));
  }
  server->daemon_ = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, nullptr, nullptr, &Handle,
      &server->render_, MHD_OPTION_LISTEN_SOCKET, server->fd_, MHD_OPTION_CONNECTION_LIMIT, 8u,
      MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
  if (server->daemon_ == nullptr) {
    return absl::InternalError(absl::StrCat(Where(socket_path), ": cannot start serving"));
  }
  return server;
}

StatusServer::~StatusServer() {
  if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(socket_path_.c_str());
  }
}

absl::StatusOr<std::string> FetchStatus(const std::string& socket_path, const std::string& path) {
  if (::access(socket_path.c_str(), F_OK) != 0) {
    return absl::UnavailableError(absl::StrCat(
        "no status socket at ", socket_path,
        ": is cri-mirror running with this config ([server] status)?"));
  }
  if (::access(socket_path.c_str(), R_OK | W_OK) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        "cannot open ", socket_path, " (mode 0600): run as root (e.g. through sudo)"));
  }
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  std::string body;
  curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, socket_path.c_str());
  const std::string url = absl::StrCat("http://localhost", path);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, kFetchTimeoutMs);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  const CURLcode code = curl_easy_perform(curl);
  long http = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &http);
  curl_easy_cleanup(curl);
  if (code != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat("status socket ", socket_path, ": ",
                                               curl_easy_strerror(code),
                                               " (is cri-mirror running?)"));
  }
  if (http != 200) {
    return absl::UnavailableError(
        absl::StrCat("status socket ", socket_path, ": HTTP ", http, " for ", path));
  }
  return body;
}

}  // namespace crimirror::status
