// Copyright cri-mirror authors.
#include "tests/integration/testbed/token_server.h"

#include <microhttpd.h>
#include <netinet/in.h>

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/integration/testbed/temp_dir.h"
#include "tests/support/registry_token.h"

namespace crimirror::testbed {
namespace {

MHD_Result Access(void* cls, MHD_Connection* connection, const char* /*url*/, const char* method,
                  const char* /*version*/, const char* upload_data, size_t* upload_data_size,
                  void** con_cls) {
  if (*con_cls == nullptr) {
    *con_cls = new std::string();
    return MHD_YES;
  }
  auto* body = static_cast<std::string*>(*con_cls);
  if (*upload_data_size > 0) {
    body->append(upload_data, *upload_data_size);
    *upload_data_size = 0;
    return MHD_YES;
  }
  TokenServer::Answer answer = static_cast<TokenServer*>(cls)->Handle(method, *body);
  MHD_Response* response = MHD_create_response_from_buffer(
      answer.body.size(), answer.body.data(), MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(response, "Content-Type", "application/json");
  MHD_Result queued = MHD_queue_response(connection, answer.status, response);
  MHD_destroy_response(response);
  return queued;
}

void Completed(void* /*cls*/, MHD_Connection* /*connection*/, void** con_cls,
               MHD_RequestTerminationCode /*code*/) {
  delete static_cast<std::string*>(*con_cls);
  *con_cls = nullptr;
}

}  // namespace

TokenServer::TokenServer(const TokenSigner* signer, std::string refresh_token)
    : signer_(signer), refresh_token_(std::move(refresh_token)) {}

absl::StatusOr<std::unique_ptr<TokenServer>> TokenServer::Start(const TokenSigner* signer,
                                                                std::string refresh_token,
                                                                const TestCa* tls) {
  std::unique_ptr<TokenServer> server(new TokenServer(signer, std::move(refresh_token)));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (tls != nullptr) {
    for (auto [path, out] : {std::pair{&tls->server_cert_path(), &server->tls_cert_},
                             std::pair{&tls->server_key_path(), &server->tls_key_}}) {
      absl::StatusOr<std::string> text = ReadFile(*path);
      if (!text.ok() || text->empty()) {
        return absl::InternalError("token server: cannot read " + *path);
      }
      *out = *std::move(text);
    }
    server->daemon_ = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS, 0, nullptr, nullptr, &Access, server.get(),
        MHD_OPTION_SOCK_ADDR, reinterpret_cast<sockaddr*>(&address), MHD_OPTION_NOTIFY_COMPLETED,
        &Completed, nullptr, MHD_OPTION_HTTPS_MEM_CERT, server->tls_cert_.c_str(),
        MHD_OPTION_HTTPS_MEM_KEY, server->tls_key_.c_str(), MHD_OPTION_END);
  } else {
    server->daemon_ = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD, 0, nullptr, nullptr, &Access, server.get(),
        MHD_OPTION_SOCK_ADDR, reinterpret_cast<sockaddr*>(&address), MHD_OPTION_NOTIFY_COMPLETED,
        &Completed, nullptr, MHD_OPTION_END);
  }
  server->scheme_ = tls != nullptr ? "https" : "http";
  if (server->daemon_ == nullptr) {
    return absl::InternalError("token server: libmicrohttpd did not start on 127.0.0.1");
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(server->daemon_, MHD_DAEMON_INFO_BIND_PORT);
  server->port_ = info != nullptr ? info->port : 0;
  return server;
}

TokenServer::~TokenServer() {
  if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
}

std::string TokenServer::Url() const {
  return absl::StrCat(scheme_, "://127.0.0.1:", port_, "/token");
}

std::string TokenServer::HostPort() const { return absl::StrCat("127.0.0.1:", port_); }

TokenServer::Answer TokenServer::Handle(const std::string& method, const std::string& form) {
  const std::vector<std::string> grant = test_support::FormValues(form, "grant_type");
  const std::vector<std::string> refresh = test_support::FormValues(form, "refresh_token");
  if (method != "POST" || grant != std::vector<std::string>{"refresh_token"} ||
      refresh != std::vector<std::string>{refresh_token_}) {
    return {401, R"({"errors":[{"code":"UNAUTHORIZED"}]})"};
  }
  ++issued_;
  return {200, absl::StrCat(R"({"access_token":")", signer_->Mint(test_support::FormValues(form, "scope")),
                            R"(","expires_in":300})")};
}

}  // namespace crimirror::testbed
