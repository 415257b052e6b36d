#include "relay/relay_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "log/log.h"
#include "relay/blob_pump.h"
#include "relay/http_headers.h"
#include "relay/relay_capacity.h"
#include "relay/route.h"
#include "relay/tag_resolution.h"

// Streaming primitive. A blob goes from the upstream to containerd through
// one MHD_create_response_from_callback() reader per response. With one
// thread per connection, libmicrohttpd calls the reader on the connection's
// own thread whenever its socket can take more bytes; the reader blocks in
// UpstreamResponse::Read() and writes straight into libmicrohttpd's write
// buffer (at most RelayLimits::stream_chunk bytes, inside the per-connection
// memory pool). Like the synchronous io.Pipe that containerd's fetcher
// (core/remotes/docker/fetcher.go) puts between its parallel range readers
// and the consumer, nothing is buffered between the two ends: a slow
// containerd stops the reader, which stops reading from the registry, and
// TCP flow control pushes back on the registry (back-pressure). Memory per
// stream is one chunk, whatever the blob size; there are no temp files. A
// failure mid-body (reset, short body, stall) is first resumed inside the
// reader from another endpoint with a Range request (BlobPump), so
// containerd sees one unbroken response. When no endpoint can resume it,
// the reader returns MHD_CONTENT_READER_END_WITH_ERROR: the connection is
// closed before Content-Length bytes (or the last chunk) were sent, so
// containerd sees a short read and retries. Blob digests are checked by
// containerd, which hashes every blob before committing it (see BlobPump).

// Capacity: see relay/relay_capacity.h (idle connections without a session
// credential are dropped after a few seconds; 1024 slots).

namespace crimirror::relay {
namespace {

char kRequestStarted;  // con_cls marker: the first access-handler call is done

constexpr char kApiVersionHeader[] = "Docker-Distribution-API-Version";
constexpr char kApiVersion[] = "registry/2.0";
constexpr char kRealmChallenge[] = "Basic realm=\"cri-mirror\"";
// Upstream response headers passed through to containerd.
constexpr const char* kPassThroughHeaders[] = {"Content-Type", "Content-Range", "ETag",
                                               "Accept-Ranges"};

struct ListenAddress {
  sockaddr_storage storage{};
  bool ipv6 = false;
  std::string host;  // as printed in address(): "127.0.0.1", "[::1]"
  std::uint16_t port = 0;
};

absl::StatusOr<ListenAddress> ParseListen(absl::string_view listen) {
  const std::string where = absl::StrCat("[server] relay \"", listen, "\"");
  const std::size_t colon = listen.rfind(':');
  std::uint32_t port = 0;
  if (colon == std::string_view::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": expected 127.0.0.1:PORT or [::1]:PORT (port 0 = any free port)"));
  }
  absl::string_view host = listen.substr(0, colon);
  ListenAddress out;
  out.port = static_cast<std::uint16_t>(port);
  if (host == "localhost") host = "127.0.0.1";
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
  const std::string bare(absl::StripSuffix(absl::StripPrefix(host, "["), "]"));
  if (inet_pton(AF_INET, bare.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(out.port);
    if ((ntohl(v4->sin_addr.s_addr) >> 24) != 127) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": the relay binds loopback only; use 127.0.0.1:PORT"));
    }
    out.host = bare;
    return out;
  }
  if (bare != host && inet_pton(AF_INET6, bare.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(out.port);
    if (!IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": the relay binds loopback only; use [::1]:PORT"));
    }
    out.ipv6 = true;
    out.host = absl::StrCat("[", bare, "]");
    return out;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": host must be a loopback IP (127.0.0.1, [::1]) or localhost"));
}

// Keeps the raw path: ParseRoute must see "%2F" to refuse it, not a '/'.
size_t KeepEscaped(void* /*cls*/, MHD_Connection* /*connection*/, char* s) {
  return std::strlen(s);
}

std::string OciError(absl::string_view code, absl::string_view message) {
  nlohmann::json body = {
      {"errors", {{{"code", std::string(code)}, {"message", std::string(message)}}}}};
  return body.dump();
}

MHD_Result Queue(MHD_Connection* connection, unsigned status, MHD_Response* response) {
  MHD_add_response_header(response, kApiVersionHeader, kApiVersion);
  const MHD_Result result = MHD_queue_response(connection, status, response);
  MHD_destroy_response(response);
  return result;
}

MHD_Result QueueError(MHD_Connection* connection, unsigned status, absl::string_view code,
                      absl::string_view message) {
  const std::string body = OciError(code, message);
  MHD_Response* response = MHD_create_response_from_buffer(
      body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(response, "Content-Type", "application/json");
  if (status == MHD_HTTP_UNAUTHORIZED) {
    MHD_add_response_header(response, "WWW-Authenticate", kRealmChallenge);
  }
  if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
    MHD_add_response_header(response, "Allow", "GET, HEAD");
  return Queue(connection, status, response);
}

MHD_Result CollectHeader(void* cls, MHD_ValueKind /*kind*/, const char* key, const char* value) {
  if (key != nullptr && value != nullptr) {
    static_cast<Headers*>(cls)->emplace_back(key, value);
  }
  return MHD_YES;
}

Headers RequestHeaders(MHD_Connection* connection) {
  Headers headers;
  MHD_get_connection_values(connection, MHD_HEADER_KIND, &CollectHeader, &headers);
  return headers;
}

// Accept (every value, containerd sends several media types) and Range.
Headers ForwardedHeaders(const Headers& request_headers) {
  Headers out;
  for (const auto& [key, value] : request_headers) {
    if (absl::EqualsIgnoreCase(key, "Accept") || absl::EqualsIgnoreCase(key, "Range")) {
      out.emplace_back(key, value);
    }
  }
  return out;
}

void CopyResponseHeaders(const Fetched& fetched, MHD_Response* response) {
  const Headers& upstream = fetched.response->headers();
  for (const char* name : kPassThroughHeaders) {
    if (std::optional<std::string> value = FirstHeaderValue(upstream, name)) {
      MHD_add_response_header(response, name, value->c_str());
    }
  }
  // A manifest GET's digest is the one the walk checked against the body
  // (issue 10 defect 9); otherwise (HEAD, blobs) the upstream's, if any.
  std::optional<std::string> digest = fetched.computed_digest;
  if (!digest) digest = FirstHeaderValue(upstream, "Docker-Content-Digest");
  if (digest) MHD_add_response_header(response, "Docker-Content-Digest", digest->c_str());
}

// Per-response state of a streamed blob; freed by libmicrohttpd.
struct Stream {
  BlobPump pump;
  const std::atomic<bool>* stopping;
  std::size_t chunk;
};

ssize_t ReadStream(void* cls, std::uint64_t /*pos*/, char* buf, size_t max) {
  auto* stream = static_cast<Stream*>(cls);
  if (stream->stopping->load()) return MHD_CONTENT_READER_END_WITH_ERROR;
  absl::StatusOr<std::size_t> n = stream->pump.Fill(buf, std::min(max, stream->chunk));
  if (!n.ok()) return MHD_CONTENT_READER_END_WITH_ERROR;
  if (*n == 0) return MHD_CONTENT_READER_END_OF_STREAM;
  return static_cast<ssize_t>(*n);
}

void FreeStream(void* cls) { delete static_cast<Stream*>(cls); }

// HEAD responses: libmicrohttpd sends the headers, including Content-Length
// from the size, and never calls the reader.
ssize_t NoBody(void* /*cls*/, std::uint64_t /*pos*/, char* /*buf*/, size_t /*max*/) {
  return MHD_CONTENT_READER_END_WITH_ERROR;
}

// Names and values of `headers`, in bytes.
std::size_t HeaderBytes(const Headers& headers) {
  std::size_t total = 0;
  for (const auto& [key, value] : headers) total += key.size() + value.size();
  return total;
}

unsigned TimeoutSeconds(absl::Duration timeout) {
  return static_cast<unsigned>(std::max<std::int64_t>(1, absl::ToInt64Seconds(timeout)));
}

bool HasRequestBody(MHD_Connection* connection) {
  const char* length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Content-Length");
  const char* encoding =
      MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Transfer-Encoding");
  return encoding != nullptr || (length != nullptr && std::strcmp(length, "0") != 0);
}

}  // namespace

// The libmicrohttpd callbacks, with access to the server's members.
struct RelayServerAccess {
  static MHD_Result Handle(void* cls, MHD_Connection* connection, const char* url,
                           const char* method, const char* /*version*/, const char* /*upload_data*/,
                           size_t* upload_data_size, void** con_cls) {
    auto* server = static_cast<RelayServer*>(cls);
    const bool head = std::strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (*con_cls == nullptr) {
      *con_cls = &kRequestStarted;
      server->reaper_->Busy(connection);
      if (!head && std::strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
        return QueueError(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "UNSUPPORTED",
                          "relay: read-only registry; only GET and HEAD are allowed");
      }
      if (HasRequestBody(connection)) {
        return QueueError(connection, MHD_HTTP_BAD_REQUEST, "UNSUPPORTED",
                          "relay: GET and HEAD requests must not have a body");
      }
      return MHD_YES;  // called again once the request is complete
    }
    *upload_data_size = 0;
    return Serve(*server, connection, url, head);
  }

  static MHD_Result Serve(RelayServer& server, MHD_Connection* connection, const char* url,
                          bool head) {
    const Headers request_headers = RequestHeaders(connection);
    const std::size_t max_header_bytes = server.options_.limits.max_header_bytes;
    if (HeaderBytes(request_headers) > max_header_bytes) {
      return QueueError(connection, MHD_HTTP_BAD_REQUEST, "UNSUPPORTED",
                        absl::StrCat("relay: request headers exceed ", max_header_bytes,
                                     " bytes; send only Authorization, Accept and Range"));
    }
    absl::StatusOr<Route> route = ParseRoute(url);
    if (!route.ok()) {
      const bool bad = absl::IsInvalidArgument(route.status());
      return QueueError(connection, bad ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_NOT_FOUND,
                        bad ? "NAME_INVALID" : "NOT_FOUND", route.status().message());
    }
    absl::StatusOr<SessionStatePtr> session = Authenticate(server, request_headers);
    // A pull's request may be silent for connection_timeout while served
    // (libmicrohttpd's timeout); an idle connection is the reaper's.
    if (session.ok()) SetTimeout(connection, TimeoutSeconds(server.options_.limits.connection_timeout));
    if (!session.ok()) {
      return QueueError(connection, MHD_HTTP_UNAUTHORIZED, "UNAUTHORIZED",
                        session.status().message());
    }
    if (route->kind == RouteKind::kBase) {
      MHD_Response* response =
          MHD_create_response_from_buffer(2, const_cast<char*>("{}"), MHD_RESPMEM_PERSISTENT);
      MHD_add_response_header(response, "Content-Type", "application/json");
      return Queue(connection, MHD_HTTP_OK, response);
    }
    if (absl::Status s = CheckScope(**session, *route); !s.ok()) {
      return QueueError(connection, MHD_HTTP_NOT_FOUND,
                        absl::IsNotFound(s) ? "NAME_UNKNOWN" : "MANIFEST_UNKNOWN", s.message());
    }
    FetchRequest request{*route, head, ForwardedHeaders(request_headers)};
    const TagResolutionEnv tags{&server.walk_, server.options_.health,
                                server.options_.tag_history};
    if (absl::Status s = PinRequestToDigest(tags, **session, request); !s.ok()) {
      const bool not_found = absl::IsNotFound(s);
      return QueueError(connection, not_found ? MHD_HTTP_NOT_FOUND : MHD_HTTP_BAD_GATEWAY,
                        not_found ? "MANIFEST_UNKNOWN" : "UNAVAILABLE", s.message());
    }
    const absl::Time start = absl::Now();
    const std::size_t attempts_before = (*session)->Attempts().size();
    absl::StatusOr<Fetched> fetched = server.walk_.Fetch(**session, request);
    LogFetch(**session, request, fetched, absl::Now() - start, attempts_before);
    if (!fetched.ok()) {
      const bool not_found = absl::IsNotFound(fetched.status());
      const char* code = !not_found                        ? "UNAVAILABLE"
                         : route->kind == RouteKind::kBlob ? "BLOB_UNKNOWN"
                                                           : "MANIFEST_UNKNOWN";
      return QueueError(connection, not_found ? MHD_HTTP_NOT_FOUND : MHD_HTTP_BAD_GATEWAY, code,
                        fetched.status().message());
    }
    return Respond(server, connection, *session, request, *std::move(fetched));
  }

  // One debug line per relay request: which endpoint answered (or why none
  // did) and how long the walk took. Endpoint URLs never hold credentials
  // (config rejects user:password@), statuses and reasons never do either.
  // A request served after other endpoints failed is logged at info level,
  // with why each failed (the fault behind a slow pull).
  static void LogFetch(const SessionState& session, const FetchRequest& request,
                       const absl::StatusOr<Fetched>& fetched, absl::Duration took,
                       std::size_t attempts_before) {
    const char* method = request.head ? "HEAD " : "GET ";
    if (fetched.ok()) {
      const std::string failed = FailuresSince(session, request, attempts_before);
      if (!failed.empty()) {
        log::Info("relay: session ", session.id(), ": ", method, request.route.Describe(), " <- ",
                  fetched->endpoint.base_url, " ", fetched->response->status(), " after ",
                  absl::FormatDuration(took), ", past: ", failed);
        return;
      }
    }
    if (!log::Enabled(log::Severity::kDebug)) return;
    if (fetched.ok()) {
      log::Debug("relay: session ", session.id(), ": ", method, request.route.Describe(), " <- ",
                 fetched->endpoint.base_url, " ", fetched->response->status(), " after ",
                 absl::FormatDuration(took));
    } else {
      log::Debug("relay: session ", session.id(), ": ", method, request.route.Describe(),
                 " failed after ", absl::FormatDuration(took), ": ", fetched.status().message());
    }
  }

  // "<base_url>: <reason>; ..." of the attempts recorded for `request`
  // since index `since` (other connections' attempts and back-off skips
  // filtered out).
  static std::string FailuresSince(const SessionState& session, const FetchRequest& request,
                                   std::size_t since) {
    const std::string what =
        absl::StrCat(request.head ? "HEAD " : "GET ", request.route.Describe());
    const std::vector<Attempt> attempts = session.Attempts();
    std::string out;
    for (std::size_t i = since; i < attempts.size(); ++i) {
      // Back-off skips repeat a failure already logged; not worth a line.
      if (attempts[i].request != what || absl::StartsWith(attempts[i].reason, "skipped:")) {
        continue;
      }
      absl::StrAppend(&out, out.empty() ? "" : "; ", attempts[i].base_url, ": ",
                      attempts[i].reason);
    }
    return out;
  }

  static absl::StatusOr<SessionStatePtr> Authenticate(const RelayServer& server,
                                                      const Headers& request_headers) {
    std::optional<std::string> authorization = FirstHeaderValue(request_headers, "Authorization");
    if (!authorization) {
      return absl::UnauthenticatedError(
          "relay: a pull session credential is required (Basic auth)");
    }
    absl::StatusOr<std::pair<std::string, std::string>> credential =
        ParseBasicAuthorization(*authorization);
    if (!credential.ok()) return credential.status();
    return server.options_.sessions->Authenticate(credential->first, credential->second);
  }

  // MHD_OPTION_NOTIFY_COMPLETED: the request is over (response sent, or
  // the connection failed); until the next one the connection is idle, and
  // the reaper's, with no libmicrohttpd timeout (see idle_reaper.h).
  static void Completed(void* cls, MHD_Connection* connection, void** /*con_cls*/,
                        MHD_RequestTerminationCode /*toe*/) {
    SetTimeout(connection, 0);
    static_cast<RelayServer*>(cls)->reaper_->Idle(connection);
  }

  // MHD_OPTION_NOTIFY_CONNECTION: accepted (idle until its first request)
  // and closed (called before libmicrohttpd closes the socket).
  static void ConnectionEvent(void* cls, MHD_Connection* connection, void** /*socket_context*/,
                              MHD_ConnectionNotificationCode code) {
    IdleReaper& reaper = *static_cast<RelayServer*>(cls)->reaper_;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
      reaper.Closed(connection);
      return;
    }
    const MHD_ConnectionInfo* info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (info != nullptr) reaper.Opened(connection, info->connect_fd);
  }

  // libmicrohttpd's timeout of `connection`, in seconds (0: none).
  static void SetTimeout(MHD_Connection* connection, unsigned seconds) {
    (void)MHD_set_connection_option(connection, MHD_CONNECTION_OPTION_TIMEOUT, seconds);
  }

  // A session may fetch only its own image: the name must be the plan's
  // reference (else NotFound -> NAME_UNKNOWN) and a tag must be the
  // reference's tag (else FailedPrecondition -> MANIFEST_UNKNOWN).
  static absl::Status CheckScope(const SessionState& session, const Route& route) {
    const resolver::Reference& reference = session.plan().reference;
    const std::string name = RelayRepository(reference);
    if (route.name != name) {
      return absl::NotFoundError(absl::StrCat("relay: repository ", route.name,
                                              " is not the one of this pull session (", name, ")"));
    }
    if (route.kind == RouteKind::kManifest && !route.ref_is_digest && route.ref != reference.tag) {
      return absl::FailedPreconditionError(
          absl::StrCat("relay: tag ", route.ref, " is not the one of this pull session"));
    }
    return absl::OkStatus();
  }

  static MHD_Result Respond(RelayServer& server, MHD_Connection* connection,
                            const SessionStatePtr& session, const FetchRequest& request,
                            Fetched fetched) {
    const unsigned status = static_cast<unsigned>(fetched.response->status());
    if (request.route.kind == RouteKind::kManifest) {
      session->RecordManifestServed(fetched.endpoint.base_url);
      if (fetched.manifest_body) {
        session->AddServedBytes(fetched.endpoint.base_url, fetched.manifest_body->size());
      }
    }
    if (!fetched.manifest_body && !request.head) {
      return RespondStream(server, connection, session, request, std::move(fetched));
    }
    MHD_Response* response = nullptr;
    if (fetched.manifest_body) {
      response = MHD_create_response_from_buffer(
          fetched.manifest_body->size(), fetched.manifest_body->data(), MHD_RESPMEM_MUST_COPY);
    } else {
      response =
          MHD_create_response_from_callback(ResponseSize(fetched), 1024, &NoBody, nullptr, nullptr);
    }
    if (response == nullptr) return MHD_NO;
    CopyResponseHeaders(fetched, response);
    return Queue(connection, status, response);
  }

  // GET blobs: the body is pumped from the upstream as containerd reads it.
  static MHD_Result RespondStream(RelayServer& server, MHD_Connection* connection,
                                  const SessionStatePtr& session, const FetchRequest& request,
                                  Fetched fetched) {
    const unsigned status = static_cast<unsigned>(fetched.response->status());
    const std::uint64_t size = ResponseSize(fetched);
    // Only a full body is the blob's source; a 206 is a slice.
    std::optional<std::string> digest;
    if (status == MHD_HTTP_OK) digest = request.route.ref;
    auto* stream =
        new Stream{BlobPump(std::move(fetched), session, server.options_.health,
                            absl::StrCat("GET ", request.route.Describe()), std::move(digest),
                            BlobResume{&server.walk_, request}),
                   &server.stopping_, server.options_.limits.stream_chunk};
    MHD_Response* response = MHD_create_response_from_callback(
        size, server.options_.limits.stream_chunk, &ReadStream, stream, &FreeStream);
    if (response == nullptr) {
      FreeStream(stream);
      return MHD_NO;
    }
    CopyResponseHeaders(stream->pump.fetched(), response);
    return Queue(connection, status, response);
  }

  static std::uint64_t ResponseSize(const Fetched& fetched) {
    const std::optional<std::size_t> length = fetched.response->content_length();
    return length ? *length : MHD_SIZE_UNKNOWN;
  }
};

RelayServer::RelayServer(Options options)
    : options_(std::move(options)),
      walk_(options_.upstream, options_.health, options_.limits.walk) {}

absl::StatusOr<std::unique_ptr<RelayServer>> RelayServer::Create(Options options) {
  if (options.upstream == nullptr || options.sessions == nullptr || options.health == nullptr) {
    return absl::InvalidArgumentError(
        "relay: RelayServer::Options needs an upstream, a session store and endpoint health");
  }
  absl::StatusOr<ListenAddress> address = ParseListen(options.listen);
  if (!address.ok()) return address.status();
  std::unique_ptr<RelayServer> server(new RelayServer(std::move(options)));
  const RelayLimits& limits = server->options_.limits;
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD;
  if (address->ipv6) flags |= MHD_USE_IPv6;
  const unsigned max_connections = FitConnectionsToFileLimit(limits.max_connections);
  server->reaper_ = std::make_unique<IdleReaper>(limits.idle_timeout);
  server->daemon_ = MHD_start_daemon(
      flags, address->port, nullptr, nullptr, &RelayServerAccess::Handle, server.get(),
      MHD_OPTION_SOCK_ADDR, reinterpret_cast<sockaddr*>(&address->storage),
      MHD_OPTION_CONNECTION_LIMIT, max_connections, MHD_OPTION_CONNECTION_TIMEOUT, 0u,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, limits.connection_memory,
      MHD_OPTION_NOTIFY_COMPLETED, &RelayServerAccess::Completed, server.get(),
      MHD_OPTION_NOTIFY_CONNECTION, &RelayServerAccess::ConnectionEvent, server.get(),
      MHD_OPTION_UNESCAPE_CALLBACK, &KeepEscaped, nullptr, MHD_OPTION_STRICT_FOR_CLIENT, 1,
      MHD_OPTION_END);
  if (server->daemon_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("relay: cannot listen on ", server->options_.listen,
                     " (address in use or not available); change [server] relay or use port 0"));
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(server->daemon_, MHD_DAEMON_INFO_BIND_PORT);
  server->port_ = info != nullptr && info->port != 0 ? info->port : address->port;
  server->address_ = absl::StrCat(address->host, ":", server->port_);
  return server;
}

RelayServer::~RelayServer() { Stop(); }

void RelayServer::Stop() {
  stopping_.store(true);
  if (daemon_ != nullptr) {
    MHD_stop_daemon(daemon_);
    daemon_ = nullptr;
  }
}

}  // namespace crimirror::relay
