// KubeletConnection: one kubelet connection to cri-mirror's socket, as the
// HTTP/2 router (plugin/h2_router.h) serves it. The kubelet's calls arrive
// as HTTP/2 streams; each is routed (plugin/h2_route.h) to an upstream
// HTTP/2 connection, the backend runtime's or cri-mirror's own gRPC
// server's, opened on first use and kept for the next calls, and relayed
// frame by frame: request headers and DATA one way, response headers, DATA
// and trailers the other, RST_STREAM both ways. Messages are never decoded,
// so gRPC deadlines (grpc-timeout), metadata, status and unknown fields and
// methods pass unchanged. Flow control links the two sides: bytes received
// on one are released to their sender (WINDOW_UPDATE) only once the other
// side has taken them (h2_connection.h).
//
// Owned and driven by the router thread; not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "plugin/h2_call.h"
#include "plugin/h2_connection.h"
#include "plugin/h2_route.h"

namespace crimirror::plugin {

class KubeletConnection;

// Opens the sockets calls are routed to.
class UpstreamDialer {
 public:
  virtual ~UpstreamDialer() = default;
  // A connected stream socket to the server of `route`, owned by the
  // caller, or Unavailable saying why.
  virtual absl::StatusOr<int> Dial(CallRoute route) = 0;
  // The server of `route` as errors name it ("backend unix:///run/...").
  virtual std::string Name(CallRoute route) const = 0;
};

// The router's event loop, as a connection sees it.
class SocketWatcher {
 public:
  virtual ~SocketWatcher() = default;
  // Watches `connection`'s socket for reads (and hang-ups); events are
  // delivered to `owner`. Returns the token for the two calls below.
  virtual std::uint64_t Watch(H2Connection* connection, KubeletConnection* owner) = 0;
  // Watches for writability too (`on`) or no longer.
  virtual void SetWriteInterest(std::uint64_t token, int fd, bool on) = 0;
  // Stops watching before the socket is closed.
  virtual void Unwatch(std::uint64_t token, int fd) = 0;
};

// One upstream HTTP/2 connection of a kubelet connection.
struct Upstream {
  KubeletConnection* owner = nullptr;
  CallRoute route = CallRoute::kBackend;
  std::unique_ptr<H2Connection> connection;
  std::uint64_t token = 0;
  bool write_interest = false;
  bool broken = false;  // failed or finished: no new calls, removed at the next flush
};

class KubeletConnection {
 public:
  // Takes `fd` (an accepted kubelet connection). `dialer` and `watcher`
  // must outlive the connection.
  static absl::StatusOr<std::unique_ptr<KubeletConnection>> Create(int fd, UpstreamDialer* dialer,
                                                                   SocketWatcher* watcher);
  ~KubeletConnection();
  KubeletConnection(const KubeletConnection&) = delete;
  KubeletConnection& operator=(const KubeletConnection&) = delete;

  // `events` (EPOLLIN, EPOLLOUT, ...) on the socket of `connection`, one of
  // this object's. Runs every callback it causes, then flushes.
  void OnEvent(H2Connection* connection, std::uint32_t events);
  // Server shutdown: no new calls (GOAWAY now); once the calls in flight
  // are over, a final GOAWAY, and the connection is done when the kubelet
  // closes it (or the router stops).
  void BeginDrain();
  // Router stop: a final GOAWAY (calls in flight are abandoned) and one last
  // write; the connection is then done (deleting it closes the socket).
  void Close();
  // Over: the kubelet closed it, it failed, or it drained. The router then
  // deletes it (which closes every upstream and so cancels their calls).
  bool done() const { return done_; }

 private:
  friend struct KubeletCallbacks;
  friend struct UpstreamCallbacks;

  KubeletConnection(UpstreamDialer* dialer, SocketWatcher* watcher)
      : dialer_(dialer), watcher_(watcher) {}

  // A call's request headers are complete: send it on its way.
  void Dispatch(RoutedCall* call);
  // The open upstream connection of `route`, or a new one.
  absl::StatusOr<Upstream*> UpstreamFor(CallRoute route);
  // Answers `call` with gRPC status `code` and `message` (trailers-only, or
  // trailers after what was already sent) and cancels its upstream stream.
  void Fail(RoutedCall* call, int code, const std::string& message);
  // `upstream` is gone: its calls end with UNAVAILABLE.
  void DetachUpstream(Upstream* upstream, const std::string& why);
  // Deletes `call` once both of its streams are closed.
  void MaybeFinish(RoutedCall* call);
  // Releases `bytes` of `call`'s request to the kubelet (WINDOW_UPDATE).
  void ConsumeRequest(RoutedCall* call, std::size_t bytes);
  void ConsumeResponse(RoutedCall* call, std::size_t bytes);
  // Writes every connection, drops broken upstreams, ends a drained
  // connection, and sets write interests.
  void FlushAll();
  // One write of every connection; true when a session has more to send.
  bool FlushRound();
  // Removes the upstreams marked broken, failing their calls.
  void DropBrokenUpstreams();

  UpstreamDialer* dialer_;
  SocketWatcher* watcher_;
  std::unique_ptr<H2Connection> kubelet_;
  std::uint64_t kubelet_token_ = 0;
  bool kubelet_write_interest_ = false;
  std::vector<std::unique_ptr<Upstream>> upstreams_;
  absl::flat_hash_map<std::int32_t, std::unique_ptr<RoutedCall>> calls_;
  bool draining_ = false;
  bool terminated_ = false;
  bool done_ = false;
};

}  // namespace crimirror::plugin
