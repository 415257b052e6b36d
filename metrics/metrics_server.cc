#include "metrics/metrics_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace crimirror::metrics {
namespace {

constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

struct Bound {
  sockaddr_storage storage{};
  bool ipv6 = false;
  std::string host;
  std::uint16_t port = 0;
};

absl::StatusOr<Bound> ParseAddress(const std::string& listen) {
  const std::string where = absl::StrCat("[server] metrics \"", listen, "\"");
  const std::size_t colon = listen.rfind(':');
  std::uint32_t port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(absl::string_view(listen).substr(colon + 1), &port) || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": expected IP:PORT, e.g. \"127.0.0.1:9098\" (port 0 = any free port)"));
  }
  std::string host = listen.substr(0, colon);
  if (host == "localhost") host = "127.0.0.1";
  Bound out;
  out.port = static_cast<std::uint16_t>(port);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(out.port);
    out.host = host;
    return out;
  }
  const std::string bare(absl::StripSuffix(absl::StripPrefix(host, "["), "]"));
  if (bare != host && inet_pton(AF_INET6, bare.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(out.port);
    out.ipv6 = true;
    out.host = host;
    return out;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": the host must be an IP address (\"127.0.0.1\", \"[::1]\") or "
                          "localhost, not a name"));
}

MHD_Result Reply(MHD_Connection* connection, unsigned status, const std::string& body,
                 const char* type) {
  MHD_Response* response =
      MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()),
                                      MHD_RESPMEM_MUST_COPY);
  if (response == nullptr) return MHD_NO;
  MHD_add_response_header(response, "Content-Type", type);
  const MHD_Result queued = MHD_queue_response(connection, status, response);
  MHD_destroy_response(response);
  return queued;
}

MHD_Result Handle(void* cls, MHD_Connection* connection, const char* url, const char* method,
                  const char* /*version*/, const char* /*upload_data*/,
                  size_t* upload_data_size, void** con_cls) {
  const auto* registry = static_cast<const Registry*>(cls);
  if (*con_cls == nullptr) {  // headers only so far
    *con_cls = cls;
    return MHD_YES;
  }
  if (*upload_data_size != 0) {  // a body is not read, only discarded
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (std::strcmp(method, "GET") != 0 && std::strcmp(method, "HEAD") != 0) {
    return Reply(connection, 405, "only GET /metrics\n", "text/plain");
  }
  if (std::strcmp(url, "/metrics") != 0) {
    return Reply(connection, 404, "cri-mirror serves /metrics only\n", "text/plain");
  }
  return Reply(connection, 200, registry->Render(), kContentType);
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& listen,
                                                                    const Registry* registry) {
  absl::StatusOr<Bound> bound = ParseAddress(listen);
  if (!bound.ok()) return bound.status();
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
  if (bound->ipv6) flags |= MHD_USE_IPv6;
  server->daemon_ = MHD_start_daemon(
      flags, bound->port, nullptr, nullptr,
      &Handle, const_cast<Registry*>(registry),
      MHD_OPTION_SOCK_ADDR, reinterpret_cast<sockaddr*>(&bound->storage),
      MHD_OPTION_CONNECTION_LIMIT, 16u, MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
  if (server->daemon_ == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "[server] metrics \"", listen,
        "\": cannot listen (address in use or not on this machine); pick another address"));
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(server->daemon_, MHD_DAEMON_INFO_BIND_PORT);
  const unsigned port = info != nullptr && info->port != 0 ? info->port : bound->port;
  server->address_ = absl::StrCat(bound->host, ":", port);
  return server;
}

MetricsServer::~MetricsServer() {
  if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
}

}  // namespace crimirror::metrics
