// Copyright cri-mirror authors.
//
// FaultProxy: a loopback HTTP server in front of a real plain-HTTP
// docker-registry that forwards each request to it and injects ONE
// configured fault into the answers to one kind of request (manifests,
// blobs, or both): the faults a real registry cannot be made to produce
// (issue 10's fault table). Like toxiproxy's toxics (limit_data, timeout),
// a fault works on the live response with per-connection state: the bytes
// of the body sent so far. Every request is recorded in an access log the
// test can assert on. One request per connection (answers carry
// `Connection: close`); whole registry answers are buffered (test images
// are small).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace crimirror::testbed {

enum class Fault {
  kNone,         // plain proxy
  kRefuse,       // nothing listens on the port (connection refused)
  kNeverAnswer,  // accepts, reads the request, never answers
  kStatus500,    // answers 500 with an OCI error body
  kStatus502,
  kStatus503,
  kTooManyRequests,    // 429 with Retry-After: 1
  kResetMidBody,       // sends part of the body, then a TCP reset
  kStallMidBody,       // sends part of the body, then nothing (socket open)
  kFlipBytes,          // one body byte inverted (wrong bytes for the digest)
  kShortBody,          // part of the body under the full Content-Length, then FIN
  kOversizedHeader,    // a 256 KiB response header line
  kMalformedHeader,    // a status line and header lines that are not HTTP
  kRedirectLoop,       // 307 to the same URL, forever
  kOversizedManifest,  // a 5 MiB manifest body (over the relay's 4 MiB limit)
  kDelayFirstByte,     // answers normally after `delay`
  // Manifests by tag: HEAD without Docker-Content-Digest (so containerd
  // GETs the tag), GET with a Docker-Content-Digest of other bytes.
  kWrongDigestHeader,
};

// "reset-mid-body", ... (for test names and messages).
std::string FaultName(Fault fault);

// Which requests get the fault; the others are proxied unchanged. Requests
// other than /v2/<name>/manifests/ and /blobs/ never get one.
enum class FaultTarget { kManifests, kBlobs, kAny };

struct FaultProxyOptions {
  // host:port of the plain-HTTP registry to forward to ("127.0.0.1:5000").
  std::string upstream_host_port;
  Fault fault = Fault::kNone;
  FaultTarget target = FaultTarget::kAny;
  // Mid-body faults (reset, stall, short body) cut the body after this
  // many bytes, or after half of it when that is less. Bodies of GET
  // answers 200/206 only; other answers are proxied unchanged.
  std::uint64_t cut_after_bytes = 256 * 1024;
  // Mid-body faults and kFlipBytes spare bodies smaller than
  // this (e.g. to break a layer rather than the small config blob).
  std::uint64_t min_body_bytes = 0;
  // kDelayFirstByte's delay.
  absl::Duration delay = absl::Seconds(30);
};

// One request the proxy received.
struct FaultProxyAccess {
  std::string method;
  std::string path;
  std::string range;  // the Range header, empty when none
  int status = 0;     // status sent; 0 when no status line was sent
  bool faulted = false;
};

// Thread-safe. The destructor closes every connection (held ones too) and
// joins its threads.
class FaultProxy {
 public:
  // Listens on 127.0.0.1:<free port> (for kRefuse: picks a free port and
  // leaves it closed). InvalidArgument without upstream_host_port;
  // Internal on socket errors.
  static absl::StatusOr<std::unique_ptr<FaultProxy>> Start(FaultProxyOptions options);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  // "http://127.0.0.1:PORT" and "127.0.0.1:PORT".
  std::string Url() const;
  std::string HostPort() const;
  const FaultProxyOptions& options() const { return options_; }

  // Every request so far, in arrival order.
  std::vector<FaultProxyAccess> AccessLog() const;
  // Requests that got the fault.
  int faults_injected() const;

 private:
  FaultProxy(FaultProxyOptions options, int listen_fd, int port);
  void AcceptLoop();
  void Serve(int fd);
  void Record(const FaultProxyAccess& access);
  // Waits until Stop (true) or `timeout` passed (false).
  bool WaitStopped(absl::Duration timeout);

  const FaultProxyOptions options_;
  const int listen_fd_;
  const int port_;
  std::atomic<bool> stopping_{false};
  mutable absl::Mutex mu_;
  std::vector<FaultProxyAccess> log_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
  std::vector<int> open_fds_ ABSL_GUARDED_BY(mu_);
  std::thread acceptor_;
};

}  // namespace crimirror::testbed
