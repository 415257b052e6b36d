#include "relay/curl_transfer.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "relay/curl_shared.h"
#include "relay/curl_status.h"

// Streaming primitive (why Open/Read look the way they do)
// ---------------------------------------------------------
// Each response owns one easy handle inside its own multi handle and is
// driven only by the thread that calls Open()/Read(): no I/O threads, no
// unbounded queues. Open() calls curl_multi_perform/curl_multi_poll until the
// header callback has seen the blank line that ends the final (non-1xx)
// response headers. Read() then drives the multi handle with the caller's
// buffer attached: the write callback copies body bytes straight into it (a
// body byte is copied once in user space), and once the buffer cannot take
// another whole libcurl read (CURLOPT_BUFFERSIZE, or the rest of the body
// if smaller) it pauses receiving (PauseBeforeOverflow), so libcurl stops
// after the read in progress, which still fits. With the relay's 256 KiB
// reads and buffer, a Read() is one recv() of up to 256 KiB. Bytes that do
// not fit (body bytes that came with the headers, or a caller reading less
// than a libcurl read) take the slow path: at most ONE libcurl write chunk
// (<= 16 KiB) is kept in `chunk_`, and a later chunk is refused with
// CURL_WRITEFUNC_PAUSE, which makes libcurl keep it (and stop reading the
// socket) until Read() unpauses. Memory per response is therefore bounded
// by libcurl's buffer plus, on the slow path, one held read, and a slow
// reader (containerd) leaves data in the kernel socket buffers until the
// TCP window closes: the registry is slowed down instead of our memory
// growing. This is the curl counterpart of the io.Pipe in containerd's
// core/remotes/docker/fetcher.go. The stall timeout measures only time spent
// waiting for the network inside Read(), never time the caller spends not
// reading.

namespace crimirror::relay::upstream_internal {
namespace {

constexpr std::size_t kMaxHeaderBytes = 256 * 1024;
// Longest curl_multi_poll while a cancel flag is set: the flag is a plain
// atomic (no wakeup), so this bounds how late a cancellation is seen.
constexpr int kCancelPollMs = 25;


}  // namespace

TransferSpec BaseSpec(const HostContext& ctx, const Target& target, std::string method) {
  TransferSpec spec;
  spec.method = std::move(method);
  spec.target = target;
  spec.cancel = ctx.cancel;
  spec.deadline = ctx.deadline;
  spec.tls = target.settings.tls;
  spec.connect_timeout = target.settings.connect_timeout;
  spec.response_timeout = target.settings.response_timeout;
  if (!target.settings.authority.empty()) {
    spec.timeout_hint = absl::StrCat(" of [host.\"", target.settings.authority, "\"]");
  }
  spec.check_address = !target.endpoint_origin;
  return spec;
}

absl::StatusOr<std::unique_ptr<CurlTransfer>> CurlTransfer::Start(
    std::shared_ptr<CurlUpstream::Shared> shared, TransferSpec spec) {
  std::unique_ptr<CurlTransfer> t(new CurlTransfer(std::move(shared), std::move(spec)));
  absl::StatusOr<CurlMultiPtr> multi = t->shared_->pool.Take();
  if (!multi.ok()) return multi.status();
  t->multi_ = *std::move(multi);
  absl::StatusOr<CurlEasyPtr> easy = NewCurlEasy();
  if (!easy.ok()) return easy.status();
  t->easy_ = *std::move(easy);
  if (absl::Status s = t->Configure(); !s.ok()) return s;
  if (absl::Status s = MultiStatus(curl_multi_add_handle(t->multi_.get(), t->easy_.get()),
                                   "curl_multi_add_handle");
      !s.ok()) {
    return s;
  }
  t->attached_ = true;
  if (absl::Status s = t->WaitForHeaders(); !s.ok()) return s;
  return t;
}

CurlTransfer::~CurlTransfer() {
  if (attached_) (void)curl_multi_remove_handle(multi_.get(), easy_.get());
  easy_.reset();
  // An unfinished transfer's connection was closed by the removal; a
  // finished one stays in the multi's cache for the next request.
  if (multi_) shared_->pool.Return(std::move(multi_));
}

std::optional<std::size_t> CurlTransfer::content_length() const {
  std::optional<std::string> value = FindHeader(headers_, "content-length");
  std::uint64_t length = 0;
  if (!value || !absl::SimpleAtoi(*value, &length)) return std::nullopt;
  return static_cast<std::size_t>(length);
}

absl::StatusOr<std::size_t> CurlTransfer::Read(char* buf, std::size_t max) {
  if (max == 0) return 0;
  if (buf == nullptr) return absl::InvalidArgumentError("Read: null buffer");
  while (true) {
    if (Cancelled()) return CancelledStatus();
    if (chunk_offset_ < chunk_.size()) {
      std::size_t n = std::min(max, chunk_.size() - chunk_offset_);
      std::memcpy(buf, chunk_.data() + chunk_offset_, n);
      chunk_offset_ += n;
      if (chunk_offset_ == chunk_.size()) {
        chunk_.clear();
        chunk_offset_ = 0;
      }
      return n;
    }
    if (done_) return result_ == CURLE_OK ? absl::StatusOr<std::size_t>(0) : Failure();
    absl::Status s = ReceiveInto(buf, max);
    if (s.ok()) s = TopUp();
    const std::size_t received = reader_received_;
    reader_buf_ = nullptr;
    reader_received_ = 0;
    if (received > 0) return received;
    if (!s.ok()) return s;
  }
}

std::vector<std::string> CurlTransfer::HeaderValues(std::string_view name) const {
  std::vector<std::string> values;
  for (const auto& [key, value] : headers_) {
    if (absl::EqualsIgnoreCase(key, Sv(name))) values.push_back(value);
  }
  return values;
}

void CurlTransfer::AddHeader(std::string name, std::string value) {
  headers_.emplace_back(std::move(name), std::move(value));
}

absl::StatusOr<std::string> CurlTransfer::ReadAll(std::size_t limit) {
  std::string body;
  char buf[16 * 1024];
  while (true) {
    absl::StatusOr<std::size_t> n = Read(buf, sizeof(buf));
    if (!n.ok()) return n.status();
    if (*n == 0) return body;
    if (body.size() + *n > limit) {
      return absl::ResourceExhaustedError(
          absl::StrCat(what_, ": response body larger than ", limit, " bytes"));
    }
    body.append(buf, *n);
  }
}

absl::Status CurlTransfer::ReceiveInto(char* buf, std::size_t max) {
  reader_buf_ = buf;
  reader_max_ = max;
  reader_received_ = 0;
  if (paused_) {
    paused_ = false;  // may deliver the held chunk right away
    CURLcode rc = curl_easy_pause(easy_.get(), CURLPAUSE_CONT);
    if (rc != CURLE_OK) return StatusFromCurl(rc, what_, errbuf_.data());
    return absl::OkStatus();
  }
  absl::Time deadline = absl::Now() + spec_.stall_timeout;
  return Drive([this] { return reader_received_ > 0 || chunk_offset_ < chunk_.size(); },
               [deadline] { return deadline; },
               [this] {
                 return absl::StrCat(what_, ": no body bytes for ",
                                     absl::FormatDuration(spec_.stall_timeout),
                                     " (stall timeout); the registry stopped sending");
               });
}

absl::Status CurlTransfer::TopUp() {
  if (reader_received_ == 0 || reader_received_ == reader_max_ || paused_ || done_) {
    return absl::OkStatus();
  }
  int running = 0;
  absl::Status s = MultiStatus(curl_multi_perform(multi_.get(), &running), "curl_multi_perform");
  CollectDone();
  return s;
}
CurlTransfer::CurlTransfer(std::shared_ptr<CurlUpstream::Shared> shared, TransferSpec spec)
    : shared_(std::move(shared)),
      spec_(std::move(spec)),
      what_(absl::StrCat(spec_.method, " ", Display(spec_.target.url))) {}

absl::Status CurlTransfer::CancelledStatus() const {
  return absl::CancelledError(absl::StrCat(what_, ": cancelled by the caller"));
}

absl::Status CurlTransfer::Failure() const {
  if (!refused_.empty()) return absl::PermissionDeniedError(refused_);
  return StatusFromCurl(result_, what_, errbuf_.data());
}

std::string CurlTransfer::primary_ip() const {
  char* ip = nullptr;
  if (curl_easy_getinfo(easy_.get(), CURLINFO_PRIMARY_IP, &ip) != CURLE_OK || ip == nullptr) {
    return "";
  }
  return ip;
}





absl::Status CurlTransfer::WaitForHeaders() {
  absl::Time start = absl::Now();
  CURL* e = easy_.get();
  const TransferSpec& spec = spec_;
  // The response timeout counts from the moment the request could be sent
  // (connected, TLS done); before that the connect timeout applies.
  auto deadline = [start, e, &spec] {
    curl_off_t pretransfer_us = 0;
    if (curl_easy_getinfo(e, CURLINFO_PRETRANSFER_TIME_T, &pretransfer_us) == CURLE_OK &&
        pretransfer_us > 0) {
      return std::min(spec.deadline,
                      start + absl::Microseconds(pretransfer_us) + spec.response_timeout);
    }
    return std::min(spec.deadline, start + spec.connect_timeout + spec.response_timeout);
  };
  absl::Status s = Drive([this] { return headers_done_; }, deadline, [this] {
    if (absl::Now() >= spec_.deadline) {
      return absl::StrCat(what_, ": no answer within the request's deadline");
    }
    return absl::StrCat(what_, ": no response headers within ",
                        absl::FormatDuration(spec_.response_timeout),
                        " (response timeout", spec_.timeout_hint,
                        "); the registry accepted the connection but does not answer");
  });
  if (!s.ok()) return s;
  if (headers_done_) return absl::OkStatus();
  if (result_ != CURLE_OK) return Failure();
  return absl::UnavailableError(
      absl::StrCat(what_, ": the connection closed before any response headers"));
}

absl::Status CurlTransfer::Drive(absl::FunctionRef<bool()> ready,
                                 absl::FunctionRef<absl::Time()> deadline,
                                 absl::FunctionRef<std::string()> timeout_message) {
  while (true) {
    int running = 0;
    absl::Status s = MultiStatus(curl_multi_perform(multi_.get(), &running), "curl_multi_perform");
    if (!s.ok()) return s;
    CollectDone();
    if (ready() || done_) return absl::OkStatus();
    if (Cancelled()) return CancelledStatus();
    absl::Time now = absl::Now();
    absl::Time limit = deadline();
    if (now >= limit) return absl::DeadlineExceededError(timeout_message());
    int wait_ms = static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(limit - now), 1,
                                                       spec_.cancel ? kCancelPollMs : 1000));
    s = MultiStatus(curl_multi_poll(multi_.get(), nullptr, 0, wait_ms, nullptr),
                    "curl_multi_poll");
    if (!s.ok()) return s;
  }
}

void CurlTransfer::CollectDone() {
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_.get(), &left)) {
    if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy_.get()) {
      done_ = true;
      result_ = msg->data.result;
    }
  }
}

size_t CurlTransfer::OnHeader(char* data, size_t size, size_t count, void* self) {
  auto* t = static_cast<CurlTransfer*>(self);
  std::size_t length = size * count;
  t->header_bytes_ += length;
  if (t->header_bytes_ > kMaxHeaderBytes) return 0;  // aborts with CURLE_WRITE_ERROR
  std::string_view line(data, length);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (absl::StartsWith(Sv(line), "HTTP/")) {
    // A new response (after 1xx): forget the previous one's headers.
    t->headers_.clear();
    t->headers_done_ = false;
    std::size_t space = line.find(' ');
    int code = 0;
    if (space != std::string_view::npos &&
        absl::SimpleAtoi(Sv(line.substr(space + 1, 3)), &code)) {
      t->status_ = code;
    }
  } else if (line.empty()) {
    if (t->status_ >= 200) {
      t->headers_done_ = true;
      t->body_expected_ = t->content_length();
    }
  } else if (std::size_t colon = line.find(':'); colon != std::string_view::npos) {
    t->headers_.emplace_back(
        std::string(absl::StripAsciiWhitespace(Sv(line.substr(0, colon)))),
        std::string(absl::StripAsciiWhitespace(Sv(line.substr(colon + 1)))));
  }
  return length;
}

size_t CurlTransfer::OnBody(char* data, size_t size, size_t count, void* self) {
  auto* t = static_cast<CurlTransfer*>(self);
  const std::size_t length = size * count;
  if (t->chunk_offset_ < t->chunk_.size()) {
    t->paused_ = true;  // libcurl keeps this chunk until we unpause
    return CURL_WRITEFUNC_PAUSE;
  }
  // libcurl hands a read over in pieces of at most CURL_MAX_WRITE_SIZE
  // (16 KiB) whatever CURLOPT_BUFFERSIZE is; filling the reader's buffer
  // with every piece (not just the first) lets the relay send 256 KiB per
  // send() instead of 16 KiB plus a poll each.
  std::size_t direct = 0;
  if (t->reader_buf_ != nullptr && t->reader_received_ < t->reader_max_) {
    direct = std::min(length, t->reader_max_ - t->reader_received_);
    std::memcpy(t->reader_buf_ + t->reader_received_, data, direct);
    t->reader_received_ += direct;
  }
  if (direct < length) {
    t->chunk_.assign(data + direct, length - direct);
    t->chunk_offset_ = 0;
  }
  t->body_received_ += length;
  t->PauseBeforeOverflow();
  return length;
}

// Without this, libcurl reads the socket again as soon as it is readable
// (one more recv() of up to CURLOPT_BUFFERSIZE in the same
// curl_multi_perform) although the reader's buffer cannot take it: the
// piece that does not fit lands in `chunk_` and the rest is returned with
// CURL_WRITEFUNC_PAUSE, which makes libcurl copy it into a fresh heap
// buffer (mmap'ed at 256 KiB: a page fault per 4 KiB) and copy it out again
// when unpaused. That was about a third of the relay's CPU
// (cri-mirror-bench --only parallel, perf record). libcurl never reads more
// than the body has left (HTTP/1.1 with a Content-Length), so receiving
// pauses only when the next read might not fit: it stops libcurl after the
// current read, which fits because it started with room for a whole read.
// When the rest of the body fits, receiving goes on: a transfer left paused
// never completes, and one destroyed unfinished loses its connection.
void CurlTransfer::PauseBeforeOverflow() {
  if (paused_ || reader_buf_ == nullptr) return;
  std::uint64_t next_read = shared_->options.buffer_size;
  if (body_expected_) {
    next_read = std::min(next_read, *body_expected_ - std::min(body_received_, *body_expected_));
  }
  if (next_read <= reader_max_ - reader_received_) return;
  // Allowed from within a write callback (libcurl's easy.c).
  if (curl_easy_pause(easy_.get(), CURLPAUSE_RECV) == CURLE_OK) paused_ = true;
}

}  // namespace crimirror::relay::upstream_internal
