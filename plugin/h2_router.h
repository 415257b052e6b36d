// H2Router: what listens on cri-mirror's CRI socket (issue 15, CRI
// overhead). It speaks HTTP/2 to the kubelet and relays each call, frame by
// frame, to the backend runtime, except PullImage and calls outside the
// ImageService, which go to cri-mirror's own gRPC server
// (kubelet_connection.h, h2_route.h).
//
// Why not a gRPC server in front of everything (house style rule 8, decided
// by measurement, cri-mirror-bench --only cri, 2-vCPU VM): a gRPC proxy hop,
// server plus client, cost about 67 us of CPU per call on this machine, so
// the async completion-queue pass-through reached 0.59-0.75 of direct
// ImageStatus throughput at 64 clients and added 2.1-2.3x what a byte pump
// adds at one client. Relaying HTTP/2 frames with nghttp2 parses only frame
// and header blocks: a prototype of this design measured 0.98 of direct at
// 64 clients and +90 us at one client, beside the byte pump's 0.89 and
// +76 us in the same session. Messages are never decoded (unknown fields
// and methods pass), grpc-timeout, metadata, status and trailers pass as
// header fields, and RST_STREAM carries cancellation both ways.
//
// One thread runs an epoll loop over the listening socket and every
// connection; nothing in it blocks (connect(2) to a unix socket does not).
// Start() and the drain/stop methods may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "plugin/kubelet_connection.h"

namespace crimirror::plugin {

// Kubelet connections served at once; more are closed on accept (the
// kubelet keeps one).
inline constexpr std::size_t kMaxKubeletConnections = 1024;

class H2Router final : public SocketWatcher {
 public:
  // Binds `socket_path` (already prepared: PrepareSocketPath) with mode
  // 0600, listens and starts the loop thread. `dialer` must outlive the
  // router. FailedPrecondition naming the path when it cannot bind.
  static absl::StatusOr<std::unique_ptr<H2Router>> Start(const std::string& socket_path,
                                                         UpstreamDialer* dialer);
  // Stop().
  ~H2Router() override;
  H2Router(const H2Router&) = delete;
  H2Router& operator=(const H2Router&) = delete;

  // Stops accepting connections and sends every kubelet connection a
  // GOAWAY: each ends once its calls in flight are over and the kubelet has
  // closed it (having read the GOAWAY).
  void BeginDrain();
  // Waits until every kubelet connection has ended or `deadline` passes;
  // true when none is left. (gRPC's own server waits the same way: an idle
  // gRPC C++ client reads its GOAWAY only at its next poll, up to 5 s later.)
  bool WaitDrained(absl::Time deadline);
  // Closes every connection (calls still in flight are cut, which cancels
  // them upstream) and joins the thread. Idempotent.
  void Stop();

  // SocketWatcher, for the connections (router thread only).
  std::uint64_t Watch(H2Connection* connection, KubeletConnection* owner) override;
  void SetWriteInterest(std::uint64_t token, int fd, bool on) override;
  void Unwatch(std::uint64_t token, int fd) override;

 private:
  struct Watched {
    KubeletConnection* owner;
    H2Connection* connection;
  };

  H2Router(int listen_fd, int epoll_fd, int wake_fd, UpstreamDialer* dialer)
      : listen_fd_(listen_fd), epoll_fd_(epoll_fd), wake_fd_(wake_fd), dialer_(dialer) {}

  void Run();
  void Accept();
  // Handles drain/stop requests; false when the loop must end.
  bool HandleWake();
  void PublishConnections();
  void Wake();

  int listen_fd_;
  const int epoll_fd_;
  const int wake_fd_;
  UpstreamDialer* const dialer_;
  std::thread thread_;

  // Router thread only.
  absl::flat_hash_map<KubeletConnection*, std::unique_ptr<KubeletConnection>> connections_;
  absl::flat_hash_map<std::uint64_t, Watched> watched_;
  std::uint64_t next_token_ = 2;  // 0: the listening socket, 1: the wake-up eventfd

  absl::Mutex mu_;
  bool drain_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_requested_ ABSL_GUARDED_BY(mu_) = false;
  std::size_t connections_open_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopped_ = false;  // Stop() ran (caller's thread)
};

}  // namespace crimirror::plugin
