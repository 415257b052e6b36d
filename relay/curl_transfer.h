// CurlTransfer: one HTTP exchange of the libcurl Upstream (one easy handle
// in its own multi handle), driven by the calling thread only, and the
// UpstreamResponse callers read bodies from. Internal to
// crimirror_relay_upstream; the streaming design is described in
// curl_transfer.cc (the drive loop) and curl_transfer_options.cc (easy-handle
// options, address checks).
#pragma once

#include <curl/curl.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "config/secret.h"
#include "relay/curl_handles.h"
#include "relay/curl_target.h"
#include "relay/curl_upstream.h"
#include "relay/tls_cache.h"
#include "relay/upstream.h"

namespace crimirror::relay::upstream_internal {

// Everything one HTTP exchange needs; owned by the transfer so nothing
// borrowed from Open() is used after it returns.
struct TransferSpec {
  std::string method;  // GET, HEAD or POST
  Target target;
  std::shared_ptr<const HostTls> tls;  // CA trust etc., null for defaults
  Headers forwarded;
  std::optional<config::Secret> authorization;
  std::optional<config::Secret> post_form;
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration response_timeout = absl::Seconds(15);
  absl::Duration stall_timeout = absl::Minutes(2);
  std::string timeout_hint;  // where the timeouts come from, for messages
  // UpstreamRequest::cancel: while set, the drive loop polls at most
  // 25 ms at a time and a true flag ends it with Cancelled.
  std::shared_ptr<std::atomic<bool>> cancel;
  // HostContext::deadline: WaitForHeaders ends with DeadlineExceeded then.
  absl::Time deadline = absl::InfiniteFuture();
  // Set for targets outside the endpoint's origin (redirects, token
  // realms): the address curl connects to, new or reused connection, must
  // pass RefuseAddress(ip, allow_loopback), else the request is not sent
  // and Start() returns PermissionDenied "<address_context> refused: ...".
  bool check_address = false;
  bool allow_loopback = false;
  std::string address_context;
};

// The spec for a `method` request to `target` during a request to `ctx`'s
// endpoint: the target origin's TLS settings (CA trust, verification,
// client identity) and timeouts, its cancel flag, and the address check for
// targets outside the endpoint's origin (allow_loopback left false).
TransferSpec BaseSpec(const HostContext& ctx, const Target& target, std::string method);

// Not thread-safe: one thread drives it at a time. May outlive the
// CurlUpstream (it holds the shared state).
class CurlTransfer final : public UpstreamResponse {
 public:
  // Configures the request and drives it until the final response headers
  // are in. Errors as Upstream::Open (curl failures via StatusFromCurl,
  // DeadlineExceeded for the response timeout), InvalidArgument for a
  // forwarded header with a bad name or a line break.
  static absl::StatusOr<std::unique_ptr<CurlTransfer>> Start(
      std::shared_ptr<CurlUpstream::Shared> shared, TransferSpec spec);

  ~CurlTransfer() override;

  int status() const override { return status_; }
  const Headers& headers() const override { return headers_; }
  std::optional<std::size_t> content_length() const override;
  absl::StatusOr<std::size_t> Read(char* buf, std::size_t max) override;

  // Every value of header `name` (case-insensitive).
  std::vector<std::string> HeaderValues(std::string_view name) const;

  // Adds a synthetic header (used to carry why a challenge went unanswered).
  void AddHeader(std::string name, std::string value);

  // Reads the whole (small) body; ResourceExhausted beyond `limit` bytes.
  absl::StatusOr<std::string> ReadAll(std::size_t limit);

  // "GET https://host:port/v2/..." (no query), for messages.
  const std::string& what() const { return what_; }

  // The address of the connection used ("127.0.0.1"), "" when unknown.
  std::string primary_ip() const;

 private:
  CurlTransfer(std::shared_ptr<CurlUpstream::Shared> shared, TransferSpec spec);

  absl::Status ReceiveInto(char* buf, std::size_t max);
  absl::Status TopUp();
  absl::Status Configure();
  absl::Status ConfigureMethod();
  absl::Status ConfigureTls();
  absl::Status ConfigureHeaders();
  absl::Status WaitForHeaders();
  absl::Status Drive(absl::FunctionRef<bool()> ready, absl::FunctionRef<absl::Time()> deadline,
                     absl::FunctionRef<std::string()> timeout_message);
  void CollectDone();
  bool Cancelled() const { return spec_.cancel && spec_.cancel->load(); }
  absl::Status CancelledStatus() const;
  absl::Status Failure() const;
  static size_t OnHeader(char* data, size_t size, size_t count, void* self);
  static size_t OnBody(char* data, size_t size, size_t count, void* self);
  // Pauses receiving once the reader's buffer cannot take another whole
  // libcurl read (nor the rest of the body, when its length is known).
  void PauseBeforeOverflow();
  static curl_socket_t OnOpenSocket(void* self, curlsocktype purpose, curl_sockaddr* address);
  static int OnPrereq(void* self, char* primary_ip, char* local_ip, int primary_port,
                      int local_port);
  // Records why the address check refused `ip`; true when it did.
  bool RefusedAddress(const char* ip);

  std::shared_ptr<CurlUpstream::Shared> shared_;
  const TransferSpec spec_;
  const std::string what_;
  CurlMultiPtr multi_;
  CurlEasyPtr easy_;
  bool attached_ = false;
  CurlSlistPtr header_list_;
  CurlSlistPtr connect_to_;
  std::array<char, CURL_ERROR_SIZE> errbuf_{};
  int status_ = 0;
  Headers headers_;
  std::size_t header_bytes_ = 0;
  bool headers_done_ = false;
  std::string chunk_;  // at most one curl write chunk
  std::size_t chunk_offset_ = 0;
  bool paused_ = false;
  // Body bytes taken from libcurl, and the Content-Length of the final
  // response (nullopt when absent or unparseable).
  std::uint64_t body_received_ = 0;
  std::optional<std::uint64_t> body_expected_;
  // The buffer of the Read() in progress (null outside Read()).
  char* reader_buf_ = nullptr;
  std::size_t reader_max_ = 0;
  std::size_t reader_received_ = 0;
  bool done_ = false;
  CURLcode result_ = CURLE_OK;
  std::string refused_;  // why the address check stopped the transfer
};

}  // namespace crimirror::relay::upstream_internal
