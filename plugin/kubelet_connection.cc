#include "plugin/kubelet_connection.h"

#include <sys/epoll.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "plugin/cri_call_metrics.h"
#include "plugin/h2_callbacks.h"

namespace crimirror::plugin {
namespace {

constexpr int kGrpcUnavailable = 14;
// Flush rounds per event; each round moves at least one frame or stops.
constexpr int kMaxFlushRounds = 16;

}  // namespace

absl::StatusOr<std::unique_ptr<KubeletConnection>> KubeletConnection::Create(
    int fd, UpstreamDialer* dialer, SocketWatcher* watcher) {
  std::unique_ptr<KubeletConnection> c(new KubeletConnection(dialer, watcher));
  absl::StatusOr<std::unique_ptr<H2Connection>> kubelet =
      H2Connection::Create(fd, H2Connection::Role::kServer, KubeletSessionCallbacks(), c.get());
  if (!kubelet.ok()) return kubelet.status();
  c->kubelet_ = *std::move(kubelet);
  c->kubelet_token_ = watcher->Watch(c->kubelet_.get(), c.get());
  c->FlushAll();  // the server's SETTINGS
  return c;
}

KubeletConnection::~KubeletConnection() {
  // Sessions are freed without callbacks (nghttp2_session_del), so the
  // order only matters for the watcher: nothing is unwatched twice.
  for (const std::unique_ptr<Upstream>& up : upstreams_) {
    watcher_->Unwatch(up->token, up->connection->fd());
  }
  upstreams_.clear();
  calls_.clear();
  if (kubelet_) watcher_->Unwatch(kubelet_token_, kubelet_->fd());
}

void KubeletConnection::OnEvent(H2Connection* connection, std::uint32_t events) {
  if (done_) return;
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0 && !connection->ReadAvailable()) {
    if (connection == kubelet_.get()) {
      (void)kubelet_->Flush();  // a GOAWAY nghttp2 queued for a protocol error
      done_ = true;
      return;
    }
    for (const std::unique_ptr<Upstream>& up : upstreams_) {
      if (up->connection.get() == connection) up->broken = true;
    }
  }
  FlushAll();
}

void KubeletConnection::BeginDrain() {
  if (draining_ || done_) return;
  draining_ = true;
  (void)nghttp2_submit_shutdown_notice(kubelet_->session());
  FlushAll();
}

void KubeletConnection::Close() {
  if (!done_ && !terminated_) {
    terminated_ = true;
    (void)nghttp2_session_terminate_session(kubelet_->session(), NGHTTP2_NO_ERROR);
    (void)kubelet_->Flush();
  }
  done_ = true;
}

void KubeletConnection::Dispatch(RoutedCall* call) {
  for (const auto& [name, value] : call->request_headers) {
    if (name == ":path") call->path = value;
  }
  call->route = RouteOf(call->path);
  call->header_bytes = 0;  // the response's lists count from zero
  absl::StatusOr<Upstream*> up = UpstreamFor(call->route);
  if (!up.ok()) {
    Fail(call, kGrpcUnavailable, std::string(up.status().message()));
    return;
  }
  std::vector<nghttp2_nv> headers = NameValues(call->request_headers);
  nghttp2_data_provider body{};
  body.source.ptr = call;
  body.read_callback = &ReadRequestBody;
  const std::int32_t id =
      nghttp2_submit_request((*up)->connection->session(), nullptr, headers.data(),
                             headers.size(), call->request_ended ? nullptr : &body, call);
  if (id < 0) {
    Fail(call, kGrpcUnavailable,
         absl::StrCat("cri-mirror: cannot start the call on the ", dialer_->Name(call->route),
                      ": ", nghttp2_strerror(id)));
    return;
  }
  call->upstream = *up;
  call->upstream_stream = id;
  call->upstream_closed = false;
  call->request_headers.clear();  // sent; nghttp2 copied them
}

absl::StatusOr<Upstream*> KubeletConnection::UpstreamFor(CallRoute route) {
  for (const std::unique_ptr<Upstream>& up : upstreams_) {
    if (up->route == route && !up->broken &&
        nghttp2_session_check_request_allowed(up->connection->session()) != 0) {
      return up.get();
    }
  }
  absl::StatusOr<int> fd = dialer_->Dial(route);
  if (!fd.ok()) return fd.status();
  auto up = std::make_unique<Upstream>();
  up->owner = this;
  up->route = route;
  absl::StatusOr<std::unique_ptr<H2Connection>> connection =
      H2Connection::Create(*fd, H2Connection::Role::kClient, UpstreamSessionCallbacks(), up.get());
  if (!connection.ok()) return connection.status();
  up->connection = *std::move(connection);
  up->token = watcher_->Watch(up->connection.get(), this);
  upstreams_.push_back(std::move(up));
  return upstreams_.back().get();
}

void KubeletConnection::Fail(RoutedCall* call, int code, const std::string& message) {
  call->drop_request = true;
  ConsumeRequest(call, call->request.Clear());
  if (call->upstream != nullptr && !call->upstream_closed) {
    (void)nghttp2_submit_rst_stream(call->upstream->connection->session(), NGHTTP2_FLAG_NONE,
                                    call->upstream_stream, NGHTTP2_CANCEL);
  }
  if (call->kubelet_closed || call->response_ended) return;
  call->response_ended = true;
  ConsumeResponse(call, call->response.Clear());
  call->trailers = GrpcStatusFields(code, message);
  if (call->response_started) {
    (void)nghttp2_session_resume_data(kubelet_->session(), call->kubelet_stream);
    return;
  }
  // Trailers-only: one HEADERS frame with the status, ending the stream.
  call->response_started = true;
  H2Headers answer = {{":status", "200"}, {"content-type", "application/grpc"}};
  answer.insert(answer.end(), call->trailers.begin(), call->trailers.end());
  call->trailers.clear();
  std::vector<nghttp2_nv> fields = NameValues(answer);
  (void)nghttp2_submit_response(kubelet_->session(), call->kubelet_stream, fields.data(),
                                fields.size(), nullptr);
}

void KubeletConnection::DetachUpstream(Upstream* upstream, const std::string& why) {
  std::vector<RoutedCall*> affected;
  for (auto& [id, call] : calls_) {
    if (call->upstream == upstream) affected.push_back(call.get());
  }
  for (RoutedCall* call : affected) {
    const bool open = !call->upstream_closed;
    call->upstream = nullptr;
    call->upstream_closed = true;
    if (open) {
      Fail(call, kGrpcUnavailable,
           absl::StrCat("cri-mirror: the connection to the ", dialer_->Name(upstream->route),
                        " ended: ", why));
    }
    MaybeFinish(call);
  }
}

void KubeletConnection::MaybeFinish(RoutedCall* call) {
  if (!call->kubelet_closed || !call->upstream_closed) return;
  if (call->route == CallRoute::kBackend && !call->path.empty()) {
    ObserveCriCall(call->path, absl::Now() - call->start);
  }
  // Bytes still buffered were received and never forwarded: release them.
  ConsumeRequest(call, call->request.Clear());
  ConsumeResponse(call, call->response.Clear());
  calls_.erase(call->kubelet_stream);
}

void KubeletConnection::ConsumeRequest(RoutedCall* call, std::size_t bytes) {
  if (bytes > 0) (void)nghttp2_session_consume(kubelet_->session(), call->kubelet_stream, bytes);
}

void KubeletConnection::ConsumeResponse(RoutedCall* call, std::size_t bytes) {
  if (bytes > 0 && call->upstream != nullptr) {
    (void)nghttp2_session_consume(call->upstream->connection->session(), call->upstream_stream,
                                  bytes);
  }
}

bool KubeletConnection::FlushRound() {
  for (const std::unique_ptr<Upstream>& up : upstreams_) {
    if (!up->broken && (!up->connection->Flush() || up->connection->finished())) up->broken = true;
  }
  if (!kubelet_->Flush()) {
    done_ = true;
    return false;
  }
  auto more = [](const H2Connection& c) {
    return !c.write_pending() && nghttp2_session_want_write(c.session()) != 0;
  };
  bool again = more(*kubelet_);
  for (const std::unique_ptr<Upstream>& up : upstreams_) again = again || (!up->broken && more(*up->connection));
  return again;
}

void KubeletConnection::DropBrokenUpstreams() {
  for (std::size_t i = 0; i < upstreams_.size();) {
    Upstream* up = upstreams_[i].get();
    if (!up->broken) {
      ++i;
      continue;
    }
    DetachUpstream(up, up->connection->error().empty() ? "closed" : up->connection->error());
    watcher_->Unwatch(up->token, up->connection->fd());
    upstreams_.erase(upstreams_.begin() + static_cast<std::ptrdiff_t>(i));
  }
}

void KubeletConnection::FlushAll() {
  // Sending on one session runs callbacks that queue frames on another: a
  // DATA frame taken from a buffer releases window (WINDOW_UPDATE) to the
  // side it came from. So flush until no session has more to send now.
  for (int round = 0; round < kMaxFlushRounds && FlushRound(); ++round) {
  }
  if (done_) return;
  DropBrokenUpstreams();  // may answer calls: flush the kubelet once more below
  if (draining_ && !terminated_ && calls_.empty()) {
    terminated_ = true;
    (void)nghttp2_session_terminate_session(kubelet_->session(), NGHTTP2_NO_ERROR);
  }
  // After our final GOAWAY the connection stays open until the kubelet
  // closes it: a client that had not read the GOAWAY yet may still write a
  // new call, which it retries elsewhere once it reads that the call was
  // never processed; a closed socket would fail that write (EPIPE).
  if (!kubelet_->Flush() || (kubelet_->finished() && !terminated_)) {
    done_ = true;
    return;
  }
  for (const std::unique_ptr<Upstream>& up : upstreams_) {
    const bool want = up->connection->write_pending();
    if (want != up->write_interest) {
      up->write_interest = want;
      watcher_->SetWriteInterest(up->token, up->connection->fd(), want);
    }
  }
  const bool want = kubelet_->write_pending();
  if (want != kubelet_write_interest_) {
    kubelet_write_interest_ = want;
    watcher_->SetWriteInterest(kubelet_token_, kubelet_->fd(), want);
  }
}

}  // namespace crimirror::plugin
