// Copyright cri-mirror authors.
#include "tests/integration/testbed/fault_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace crimirror::testbed {
namespace {

constexpr std::size_t kMaxRequestHead = 64 * 1024;

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;
  std::string path;
  Headers headers;
  std::string Header(const char* name) const {
    for (const auto& [key, value] : headers) {
      if (absl::EqualsIgnoreCase(key, name)) return value;
    }
    return "";
  }
};

struct Response {
  std::string status_line;  // "HTTP/1.1 200 OK"
  int status = 0;
  Headers headers;
  std::string body;
};

// "Name: value" lines after the first (request or status) line.
Headers HeaderLines(const std::vector<std::string>& lines) {
  Headers headers;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::size_t colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    headers.emplace_back(
        lines[i].substr(0, colon),
        std::string(absl::StripAsciiWhitespace(absl::string_view(lines[i]).substr(colon + 1))));
  }
  return headers;
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

void SetReceiveTimeout(int fd, absl::Duration timeout) {
  timeval tv = absl::ToTimeval(timeout);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

// Reads until the blank line ending the request head.
bool ReadRequest(int fd, Request* request) {
  std::string head;
  char buf[4096];
  while (head.find("\r\n\r\n") == std::string::npos) {
    if (head.size() > kMaxRequestHead) return false;
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return false;
    head.append(buf, static_cast<std::size_t>(n));
  }
  head.resize(head.find("\r\n\r\n"));
  std::vector<std::string> lines = absl::StrSplit(head, "\r\n");
  std::vector<std::string> first = absl::StrSplit(lines[0], ' ');
  if (first.size() != 3) return false;
  request->method = first[0];
  request->path = first[1];
  request->headers = HeaderLines(lines);
  return true;
}

bool ParseResponse(const std::string& raw, Response* response) {
  const std::size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  std::vector<std::string> lines = absl::StrSplit(raw.substr(0, end), "\r\n");
  response->status_line = lines[0];
  std::vector<std::string> first = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
  if (first.size() < 2 || !absl::SimpleAtoi(first[1], &response->status)) return false;
  response->headers = HeaderLines(lines);
  response->body = raw.substr(end + 4);
  return true;
}

// The registry's whole answer to `request` (HTTP/1.0: no chunking, closed
// at the end).
absl::StatusOr<Response> Forward(const std::string& host_port, const Request& request) {
  const std::size_t colon = host_port.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(host_port.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError("fault proxy: bad upstream " + host_port);
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  inet_pton(AF_INET, host_port.substr(0, colon).c_str(), &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return absl::UnavailableError("fault proxy: cannot reach " + host_port);
  }
  SetReceiveTimeout(fd, absl::Seconds(30));
  std::string out =
      absl::StrCat(request.method, " ", request.path, " HTTP/1.0\r\nHost: ", host_port, "\r\n");
  for (const auto& [key, value] : request.headers) {
    if (absl::EqualsIgnoreCase(key, "Host") || absl::EqualsIgnoreCase(key, "Connection") ||
        absl::EqualsIgnoreCase(key, "Keep-Alive")) {
      continue;
    }
    absl::StrAppend(&out, key, ": ", value, "\r\n");
  }
  out += "\r\n";
  std::string raw;
  if (SendAll(fd, out)) {
    char buf[64 * 1024];
    ssize_t n = 0;
    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) raw.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  Response response;
  if (!ParseResponse(raw, &response)) {
    return absl::UnavailableError("fault proxy: no valid answer from " + host_port);
  }
  return response;
}

std::string Head(const Response& response, bool recompute_length, std::uint64_t length) {
  std::string head = response.status_line + "\r\n";
  for (const auto& [key, value] : response.headers) {
    if (absl::EqualsIgnoreCase(key, "Connection") ||
        (recompute_length && absl::EqualsIgnoreCase(key, "Content-Length"))) {
      continue;
    }
    absl::StrAppend(&head, key, ": ", value, "\r\n");
  }
  if (recompute_length) absl::StrAppend(&head, "Content-Length: ", length, "\r\n");
  return head + "Connection: close\r\n\r\n";
}

std::string ErrorAnswer(int status, const std::string& reason, const std::string& extra_headers) {
  const std::string body = absl::StrCat(
      R"({"errors":[{"code":"UNAVAILABLE","message":"fault proxy: injected )", status, "\"}]}");
  return absl::StrCat("HTTP/1.1 ", status, " ", reason,
                      "\r\nContent-Type: application/json\r\nContent-Length: ", body.size(), "\r\n",
                      extra_headers, "Connection: close\r\n\r\n", body);
}

// kWrongDigestHeader on a manifest by tag.
void LieAboutDigest(bool get, Response* response) {
  Headers kept;
  for (auto& header : response->headers) {
    if (!absl::EqualsIgnoreCase(header.first, "Docker-Content-Digest")) {
      kept.push_back(std::move(header));
    }
  }
  if (get) kept.emplace_back("Docker-Content-Digest", "sha256:" + std::string(64, 'e'));
  response->headers = std::move(kept);
}

bool IsBodyFault(Fault fault) {
  return fault == Fault::kResetMidBody || fault == Fault::kStallMidBody ||
         fault == Fault::kFlipBytes || fault == Fault::kShortBody ||
         fault == Fault::kOversizedManifest;
}

}  // namespace

std::string FaultName(Fault fault) {
  switch (fault) {
    case Fault::kNone:
      return "none";
    case Fault::kRefuse:
      return "refuse";
    case Fault::kNeverAnswer:
      return "never-answer";
    case Fault::kStatus500:
      return "status-500";
    case Fault::kStatus502:
      return "status-502";
    case Fault::kStatus503:
      return "status-503";
    case Fault::kTooManyRequests:
      return "status-429";
    case Fault::kResetMidBody:
      return "reset-mid-body";
    case Fault::kStallMidBody:
      return "stall-mid-body";
    case Fault::kFlipBytes:
      return "flip-bytes";
    case Fault::kShortBody:
      return "short-body";
    case Fault::kOversizedHeader:
      return "oversized-header";
    case Fault::kMalformedHeader:
      return "malformed-header";
    case Fault::kRedirectLoop:
      return "redirect-loop";
    case Fault::kOversizedManifest:
      return "oversized-manifest";
    case Fault::kDelayFirstByte:
      return "delay-first-byte";
    case Fault::kWrongDigestHeader:
      return "wrong-digest-header";
  }
  return "unknown";
}

absl::StatusOr<std::unique_ptr<FaultProxy>> FaultProxy::Start(FaultProxyOptions options) {
  if (options.upstream_host_port.empty()) {
    return absl::InvalidArgumentError("fault proxy: upstream_host_port is required");
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      (options.fault != Fault::kRefuse && listen(fd, 128) != 0)) {
    const std::string error = std::strerror(errno);
    if (fd >= 0) close(fd);
    return absl::InternalError("fault proxy: cannot listen on 127.0.0.1: " + error);
  }
  const int port = ntohs(addr.sin_port);
  int listen_fd = fd;
  if (options.fault == Fault::kRefuse) {
    close(fd);  // a port nothing listens on
    listen_fd = -1;
  }
  std::unique_ptr<FaultProxy> proxy(new FaultProxy(std::move(options), listen_fd, port));
  if (listen_fd >= 0) proxy->acceptor_ = std::thread([p = proxy.get()] { p->AcceptLoop(); });
  return proxy;
}

FaultProxy::FaultProxy(FaultProxyOptions options, int listen_fd, int port)
    : options_(std::move(options)), listen_fd_(listen_fd), port_(port) {}

FaultProxy::~FaultProxy() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    stopping_.store(true);
    for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);
  }
  if (acceptor_.joinable()) acceptor_.join();
  {
    absl::MutexLock lock(&mu_);
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
  if (listen_fd_ >= 0) close(listen_fd_);
}

std::string FaultProxy::Url() const { return "http://" + HostPort(); }
std::string FaultProxy::HostPort() const { return absl::StrCat("127.0.0.1:", port_); }

std::vector<FaultProxyAccess> FaultProxy::AccessLog() const {
  absl::MutexLock lock(&mu_);
  return log_;
}

int FaultProxy::faults_injected() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(
      std::count_if(log_.begin(), log_.end(), [](const FaultProxyAccess& a) { return a.faulted; }));
}

void FaultProxy::Record(const FaultProxyAccess& access) {
  absl::MutexLock lock(&mu_);
  log_.push_back(access);
}

bool FaultProxy::WaitStopped(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!stopping_.load()) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(std::min(absl::Milliseconds(50), deadline - absl::Now()));
  }
  return true;
}

void FaultProxy::AcceptLoop() {
  while (!stopping_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    absl::MutexLock lock(&mu_);
    if (stopping_.load()) {
      close(fd);
      break;
    }
    open_fds_.push_back(fd);
    threads_.emplace_back([this, fd] {
      Serve(fd);
      absl::MutexLock inner(&mu_);
      open_fds_.erase(std::find(open_fds_.begin(), open_fds_.end(), fd));
      close(fd);
    });
  }
}

namespace {

// The answer of a fault that replaces the registry's, with its status
// (0 for none sent); nullopt when the registry's answer is needed.
std::optional<std::pair<int, std::string>> CannedAnswer(Fault fault, const std::string& location) {
  switch (fault) {
    case Fault::kStatus500:
      return std::pair{500, ErrorAnswer(500, "Internal Server Error", "")};
    case Fault::kStatus502:
      return std::pair{502, ErrorAnswer(502, "Bad Gateway", "")};
    case Fault::kStatus503:
      return std::pair{503, ErrorAnswer(503, "Service Unavailable", "")};
    case Fault::kTooManyRequests:
      return std::pair{429, ErrorAnswer(429, "Too Many Requests", "Retry-After: 1\r\n")};
    case Fault::kRedirectLoop:
      return std::pair{307, absl::StrCat("HTTP/1.1 307 Temporary Redirect\r\nLocation: ", location,
                                         "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")};
    case Fault::kOversizedHeader:
      return std::pair{
          200, absl::StrCat("HTTP/1.1 200 OK\r\nX-Fault-Padding: ", std::string(256 * 1024, 'a'),
                            "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")};
    case Fault::kMalformedHeader:
      return std::pair{
          0, "HTTP/1.1 2x0 Not A Status\r\nthis line is not a header\r\n\x01\x02\r\n\r\n"};
    default:
      return std::nullopt;
  }
}

// Sends `response` with options.fault applied to its body. True when the
// socket must then be held open (kStallMidBody).
bool SendWithBodyFault(int fd, Response response, const FaultProxyOptions& options) {
  const Fault fault = options.fault;
  std::string& body = response.body;
  const std::uint64_t cut = std::min<std::uint64_t>(options.cut_after_bytes, body.size() / 2);
  if (fault == Fault::kFlipBytes) body[body.size() / 2] = static_cast<char>(~body[body.size() / 2]);
  if (fault == Fault::kOversizedManifest) body.append(5u << 20, ' ');  // still JSON, but 5 MiB
  if (!SendAll(fd, Head(response, true, body.size()))) return false;
  if (fault == Fault::kFlipBytes || fault == Fault::kOversizedManifest) {
    SendAll(fd, body);
    return false;
  }
  if (!SendAll(fd, std::string_view(body).substr(0, cut))) return false;
  if (fault == Fault::kResetMidBody) {
    linger reset{1, 0};  // close() sends RST instead of FIN
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
  }
  // kShortBody: close() sends FIN before Content-Length bytes.
  return fault == Fault::kStallMidBody;
}

}  // namespace

// One request: the fault if it applies, else the registry's answer as is.
void FaultProxy::Serve(int fd) {
  SetReceiveTimeout(fd, absl::Seconds(30));
  Request request;
  if (!ReadRequest(fd, &request)) return;
  FaultProxyAccess access{request.method, request.path, request.Header("Range"), 0, false};
  const bool manifest = absl::StrContains(request.path, "/manifests/");
  const bool blob = absl::StrContains(request.path, "/blobs/");
  const Fault fault = options_.fault;
  const bool applies =
      fault != Fault::kNone && ((manifest && options_.target != FaultTarget::kBlobs) ||
                                (blob && options_.target != FaultTarget::kManifests));
  if (applies) {
    access.faulted = true;
    if (auto canned = CannedAnswer(fault, Url() + request.path)) {
      access.status = canned->first;
      Record(access);
      SendAll(fd, canned->second);
      return;
    }
    if (fault == Fault::kNeverAnswer) {
      Record(access);
      WaitStopped(absl::InfiniteDuration());
      return;
    }
    if (fault == Fault::kDelayFirstByte && WaitStopped(options_.delay)) return;
  }
  absl::StatusOr<Response> response = Forward(options_.upstream_host_port, request);
  if (!response.ok()) {
    access.status = 502;
    Record(access);
    SendAll(fd, ErrorAnswer(502, "Bad Gateway", ""));
    return;
  }
  access.status = response->status;
  const bool get = request.method == "GET";
  if (applies && fault == Fault::kWrongDigestHeader) {
    if (!manifest || absl::StrContains(request.path, "/manifests/sha256:")) {
      access.faulted = false;
    } else {
      LieAboutDigest(get, &*response);
    }
  }
  const bool body_fault =
      applies && IsBodyFault(fault) && get &&
      (response->status == 200 || response->status == 206) && !response->body.empty() &&
      (fault == Fault::kOversizedManifest ? manifest
                                          : response->body.size() >= options_.min_body_bytes);
  access.faulted = (applies && !IsBodyFault(fault)) || body_fault;
  Record(access);
  if (!body_fault) {
    if (SendAll(fd, Head(*response, get, response->body.size()))) SendAll(fd, response->body);
    return;
  }
  if (SendWithBodyFault(fd, *std::move(response), options_)) WaitStopped(absl::InfiniteDuration());
}

}  // namespace crimirror::testbed
