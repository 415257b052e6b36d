#include "relay/curl_upstream.h"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "auth/authorizer.h"
#include "auth/challenge.h"
#include "auth/credentials.h"
#include "auth/tls_material.h"
#include "auth/token.h"
#include "relay/curl_handles.h"

// Streaming primitive (why Open/Read look the way they do)
// ---------------------------------------------------------
// Each response owns one easy handle inside its own multi handle and is
// driven only by the thread that calls Open()/Read(): no I/O threads, no
// unbounded queues. Open() calls curl_multi_perform/curl_multi_poll until the
// header callback has seen the blank line that ends the final (non-1xx)
// response headers. From then on the write callback keeps at most ONE libcurl
// write chunk (<= CURLOPT_BUFFERSIZE) in `chunk_`: when a second chunk arrives
// while the first is not yet consumed, the callback returns
// CURL_WRITEFUNC_PAUSE, libcurl keeps that chunk and stops reading the
// socket. Read() hands out bytes from `chunk_`; once it is empty it unpauses
// the transfer and drives the multi handle until the next chunk (or the end,
// or an error) arrives. While Read() drives, the write callback copies the
// chunks straight into the caller's buffer until it is full (only what does
// not fit goes to `chunk_`), so a body byte is copied once in user space,
// not twice. Memory per response is therefore bounded by two chunks, and a
// slow reader (containerd) leaves data in the kernel socket buffers until
// the TCP window closes: the registry is slowed down instead of our memory
// growing. This is the curl counterpart of the io.Pipe in
// containerd's core/remotes/docker/fetcher.go. The stall timeout measures
// only time spent waiting for the network inside Read(), never time the
// caller spends not reading.
//
// Connection reuse: libcurl's shared connection cache (CURL_LOCK_DATA_CONNECT)
// is documented as unsafe between concurrent threads (curl KNOWN_BUGS 11.11,
// "A shared connection cache is not thread-safe"), so the share handle carries
// only DNS and TLS sessions; connections live in the multi handles, which go
// back to an idle pool (most recently used first) when a response ends, so
// the next request usually finds a warm connection.
//
// tls_server_name: the request URL's host is replaced by the server name and
// CURLOPT_CONNECT_TO maps "<name>:<port>" to the configured address, so curl
// verifies the certificate for, sends SNI and Host for, and keys its TLS
// sessions and connections by the server name while dialling the address.
// CURLOPT_RESOLVE was rejected: it would plant the name in the shared DNS
// cache for every other request.

namespace crimirror::relay {
namespace {

absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

constexpr std::size_t kMaxTokenBody = 1 << 20;
constexpr std::size_t kMaxHeaderBytes = 256 * 1024;

// ---------------------------------------------------------------------------
// The one place curl codes become Status codes:
//   timeouts                              -> DeadlineExceeded
//   DNS, refused, reset, short read, h2   -> Unavailable (retry elsewhere)
//   TLS handshake/verification/cert files -> FailedPrecondition, "TLS" in text
//   malformed URL, unsupported scheme     -> InvalidArgument
//   out of memory, body too large         -> ResourceExhausted
//   anything else                         -> Unavailable
absl::Status StatusFromCurl(CURLcode code, std::string_view what, std::string_view detail) {
  std::string reason = curl_easy_strerror(code);
  if (!detail.empty() && detail != reason) absl::StrAppend(&reason, " (", Sv(detail), ")");
  std::string prefix = absl::StrCat(Sv(what), ": ");
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return absl::DeadlineExceededError(absl::StrCat(
          prefix, "timed out: ", reason,
          "; raise connect_timeout/response_timeout in the [host] table if the registry is slow"));
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return absl::UnavailableError(absl::StrCat(prefix, "cannot resolve the host: ", reason));
    case CURLE_PEER_FAILED_VERIFICATION:
      return absl::FailedPreconditionError(absl::StrCat(
          prefix, "TLS certificate verification failed: ", reason,
          "; set ca_file to the registry's CA and, when dialling by IP, tls_server_name to the "
          "name on its certificate, in its [host] table"));
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CLIENTCERT:
      return absl::FailedPreconditionError(absl::StrCat(
          prefix, "TLS handshake failed: ", reason,
          "; check that the endpoint speaks https and the [host] client_cert/client_key"));
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return absl::InvalidArgumentError(absl::StrCat(prefix, "bad URL: ", reason));
    case CURLE_OUT_OF_MEMORY:
    case CURLE_FILESIZE_EXCEEDED:
      return absl::ResourceExhaustedError(absl::StrCat(prefix, reason));
    default:
      return absl::UnavailableError(absl::StrCat(prefix, reason));
  }
}

// ---------------------------------------------------------------------------
// One mutex per curl_lock_data kind, as CURLSHOPT_LOCKFUNC requires.
class ShareLocks {
 public:
  static void Lock(CURL*, curl_lock_data data, curl_lock_access, void* self)
      ABSL_NO_THREAD_SAFETY_ANALYSIS {
    static_cast<ShareLocks*>(self)->Get(data).Lock();
  }
  static void Unlock(CURL*, curl_lock_data data, void* self) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    static_cast<ShareLocks*>(self)->Get(data).Unlock();
  }

 private:
  absl::Mutex& Get(curl_lock_data data) {
    auto index = static_cast<std::size_t>(data);
    return mutexes_[index < mutexes_.size() ? index : 0];
  }
  std::array<absl::Mutex, CURL_LOCK_DATA_LAST + 1> mutexes_;
};

// Idle multi handles, most recently used last (popped first).
class MultiPool {
 public:
  explicit MultiPool(std::size_t max_idle) : max_idle_(max_idle) {}
  absl::StatusOr<CurlMultiPtr> Take() {
    {
      absl::MutexLock lock(&mu_);
      if (!idle_.empty()) {
        CurlMultiPtr multi = std::move(idle_.back());
        idle_.pop_back();
        return multi;
      }
    }
    absl::StatusOr<CurlMultiPtr> multi = NewCurlMulti();
    if (!multi.ok()) return multi.status();
    if (absl::Status s = MultiSetLong(multi->get(), CURLMOPT_MAXCONNECTS, 4); !s.ok()) return s;
    return multi;
  }
  void Return(CurlMultiPtr multi) {
    absl::MutexLock lock(&mu_);
    if (idle_.size() < max_idle_) idle_.push_back(std::move(multi));
  }

 private:
  const std::size_t max_idle_;
  absl::Mutex mu_;
  std::vector<CurlMultiPtr> idle_ ABSL_GUARDED_BY(mu_);
};

// Loaded TLS material of a host plus the combined CA bundle, cached by the
// files' paths and modification times (a renewed CA file is picked up).
struct HostTls {
  auth::TlsMaterial material;
  std::string ca_bundle;  // system bundle + ca_file, "" when no ca_file
};

std::string FileStamp(const std::string& path) {
  if (path.empty()) return "";
  std::error_code ec;
  auto time = std::filesystem::last_write_time(path, ec);
  return absl::StrCat(path, "@", ec ? 0 : time.time_since_epoch().count());
}

class TlsCache {
 public:
  absl::StatusOr<std::shared_ptr<const HostTls>> Get(const config::HostSettings& host,
                                                     const std::string& system_ca_file) {
    std::string key = absl::StrCat(FileStamp(host.ca_file), "\n", FileStamp(host.client_cert),
                                   "\n", FileStamp(host.client_key));
    {
      absl::MutexLock lock(&mu_);
      auto it = cache_.find(key);
      if (it != cache_.end()) return it->second;
    }
    absl::StatusOr<auth::TlsMaterial> material = auth::LoadTlsMaterial(host);
    if (!material.ok()) return material.status();
    auto tls = std::make_shared<HostTls>();
    tls->material = *std::move(material);
    if (!tls->material.ca_pem.empty()) {
      tls->ca_bundle = auth::CombinedCaBundle(system_ca_file, tls->material.ca_pem);
    }
    absl::MutexLock lock(&mu_);
    if (cache_.size() >= 64) cache_.clear();
    cache_[key] = tls;
    return std::shared_ptr<const HostTls>(tls);
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<const HostTls>> cache_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

struct CurlUpstream::Shared {
  explicit Shared(Options o) : options(std::move(o)), pool(options.max_idle_connections) {}

  const Options options;
  std::string system_ca_file;
  ShareLocks locks;
  CurlSharePtr share;
  MultiPool pool;
  TlsCache tls;
  std::unique_ptr<auth::Authorizer> authorizer;
  absl::Mutex mu;
  // host:port + credential fingerprints that answered a Basic challenge:
  // later requests send Basic up front.
  std::set<std::string> basic_hosts ABSL_GUARDED_BY(mu);
};

namespace {

using Shared = CurlUpstream::Shared;

// ---------------------------------------------------------------------------
// URLs and per-endpoint context.

struct UrlParts {
  std::string scheme, host, port, path;
};

absl::StatusOr<UrlParts> ParseUrl(const std::string& url) {
  absl::StatusOr<CurlUrlPtr> handle = NewCurlUrl();
  if (!handle.ok()) return handle.status();
  auto bad = [&url](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "upstream URL \"", url.substr(0, url.find_first_of("?#")), "\" ", Sv(why),
        "; endpoints must be http:// or https:// URLs"));
  };
  if (curl_url_set(handle->get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
    return bad("is not a valid URL");
  }
  UrlParts parts;
  struct Part {
    CURLUPart part;
    std::string* out;
    unsigned flags;
  };
  for (const Part& p : {Part{CURLUPART_SCHEME, &parts.scheme, 0},
                        Part{CURLUPART_HOST, &parts.host, 0},
                        Part{CURLUPART_PORT, &parts.port, CURLU_DEFAULT_PORT},
                        Part{CURLUPART_PATH, &parts.path, 0}}) {
    char* value = nullptr;
    if (curl_url_get(handle->get(), p.part, &value, p.flags) != CURLUE_OK) {
      return bad("has no scheme, host or port");
    }
    *p.out = value;
    curl_free(value);
  }
  parts.scheme = absl::AsciiStrToLower(parts.scheme);
  parts.host = absl::AsciiStrToLower(parts.host);
  if (parts.scheme != "http" && parts.scheme != "https") return bad("is not http or https");
  return parts;
}

// `url` with its host replaced (tls_server_name) or relative `location`
// resolved against it.
absl::StatusOr<std::string> RewriteUrl(const std::string& url, CURLUPart part,
                                       const std::string& value) {
  absl::StatusOr<CurlUrlPtr> handle = NewCurlUrl();
  if (!handle.ok()) return handle.status();
  char* out = nullptr;
  if (curl_url_set(handle->get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK ||
      curl_url_set(handle->get(), part, value.c_str(), 0) != CURLUE_OK ||
      curl_url_get(handle->get(), CURLUPART_URL, &out, 0) != CURLUE_OK) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot build a URL from \"", url.substr(0, url.find_first_of("?#")),
        "\" (redirect Location or tls_server_name is malformed)"));
  }
  std::string result = out;
  curl_free(out);
  return result;
}

// For messages: a URL without query or fragment (presigned redirect URLs
// carry signatures there).
std::string Display(const std::string& url) { return url.substr(0, url.find_first_of("?#")); }

struct HostContext {
  UrlParts endpoint;      // the configured endpoint origin
  std::string authority;  // "host:port" key for token and Basic caches
  std::string server_name;
  auth::Credentials credentials;
  std::shared_ptr<const HostTls> tls;  // null when the host has no TLS settings
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration response_timeout = absl::Seconds(15);
};

// Where one HTTP request goes and which settings apply.
struct Target {
  std::string url;         // what curl requests (host may be tls_server_name)
  std::string connect_to;  // CURLOPT_CONNECT_TO entry, "" for none
  bool endpoint_host = false;  // the endpoint's own host: credentials + TLS apply
  bool same_hostname = false;  // same host name, other port: CA trust applies
};

absl::StatusOr<Target> MakeTarget(const std::string& url, const HostContext& ctx) {
  absl::StatusOr<UrlParts> parts = ParseUrl(url);
  if (!parts.ok()) return parts.status();
  const UrlParts& e = ctx.endpoint;
  Target target;
  target.url = url;
  bool named = !ctx.server_name.empty() && e.scheme == "https";
  bool is_endpoint = parts->scheme == e.scheme && parts->port == e.port &&
                     (parts->host == e.host || (named && parts->host == ctx.server_name));
  target.same_hostname = parts->host == e.host || (named && parts->host == ctx.server_name);
  if (!is_endpoint) return target;
  target.endpoint_host = true;
  if (named) {
    if (parts->host != ctx.server_name) {
      absl::StatusOr<std::string> renamed = RewriteUrl(url, CURLUPART_HOST, ctx.server_name);
      if (!renamed.ok()) return renamed.status();
      target.url = *std::move(renamed);
    }
    target.connect_to = absl::StrCat(ctx.server_name, ":", e.port, ":", e.host, ":", e.port);
  }
  return target;
}

absl::StatusOr<HostContext> MakeHostContext(Shared& shared, const UpstreamRequest& request) {
  HostContext ctx;
  absl::StatusOr<UrlParts> parts = ParseUrl(request.url);
  if (!parts.ok()) return parts.status();
  ctx.endpoint = *parts;
  ctx.authority = absl::StrCat(parts->host, ":", parts->port);
  if (request.host_settings) {
    const config::HostSettings& host = *request.host_settings;
    ctx.server_name = absl::AsciiStrToLower(host.tls_server_name);
    ctx.connect_timeout = host.connect_timeout;
    ctx.response_timeout = host.response_timeout;
    absl::StatusOr<auth::Credentials> credentials = auth::CredentialsFromHost(host);
    if (!credentials.ok()) return absl::FailedPreconditionError(credentials.status().message());
    ctx.credentials = *std::move(credentials);
    if (!host.ca_file.empty() || !host.client_cert.empty() || !host.client_key.empty() ||
        host.insecure_skip_verify) {
      absl::StatusOr<std::shared_ptr<const HostTls>> tls =
          shared.tls.Get(host, shared.system_ca_file);
      if (!tls.ok()) return tls.status();
      ctx.tls = *std::move(tls);
    }
  }
  if (ctx.credentials.empty() && request.fallback_credentials) {
    ctx.credentials = *request.fallback_credentials;
  }
  return ctx;
}

}  // namespace

namespace {

// Everything one HTTP exchange needs; owned by the transfer so nothing
// borrowed from Open() is used after it returns.
struct TransferSpec {
  std::string method;  // GET, HEAD or POST
  Target target;
  std::shared_ptr<const HostTls> tls;  // CA trust etc., null for defaults
  bool client_identity = false;        // present the host's client cert
  Headers forwarded;
  std::optional<config::Secret> authorization;
  std::optional<config::Secret> post_form;
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration response_timeout = absl::Seconds(15);
  absl::Duration stall_timeout = absl::Minutes(2);
  std::string timeout_hint;  // where the timeouts come from, for messages
};

// First error among setopt results (all are attempted; they are cheap).
absl::Status FirstError(std::initializer_list<absl::Status> statuses) {
  for (const absl::Status& s : statuses) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

bool IsHopByHopOrAuth(std::string_view name) {
  for (const char* banned : {"authorization", "proxy-authorization", "host", "cookie",
                             "connection", "content-length", "transfer-encoding", "expect"}) {
    if (absl::EqualsIgnoreCase(Sv(name), banned)) return true;
  }
  return false;
}

long Millis(absl::Duration d) {
  return static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(d)));
}

class CurlTransfer final : public UpstreamResponse {
 public:
  // Configures the request and drives it until the final response headers
  // are in (see the design comment at the top of this file).
  static absl::StatusOr<std::unique_ptr<CurlTransfer>> Start(std::shared_ptr<Shared> shared,
                                                             TransferSpec spec) {
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

  ~CurlTransfer() override {
    if (attached_) (void)curl_multi_remove_handle(multi_.get(), easy_.get());
    easy_.reset();
    // An unfinished transfer's connection was closed by the removal; a
    // finished one stays in the multi's cache for the next request.
    if (multi_) shared_->pool.Return(std::move(multi_));
  }

  int status() const override { return status_; }
  const Headers& headers() const override { return headers_; }

  std::optional<std::size_t> content_length() const override {
    std::optional<std::string> value = FindHeader(headers_, "content-length");
    std::uint64_t length = 0;
    if (!value || !absl::SimpleAtoi(*value, &length)) return std::nullopt;
    return static_cast<std::size_t>(length);
  }

  absl::StatusOr<std::size_t> Read(char* buf, std::size_t max) override {
    if (max == 0) return 0;
    if (buf == nullptr) return absl::InvalidArgumentError("Read: null buffer");
    while (true) {
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

  // Every value of header `name` (case-insensitive).
  std::vector<std::string> HeaderValues(std::string_view name) const {
    std::vector<std::string> values;
    for (const auto& [key, value] : headers_) {
      if (absl::EqualsIgnoreCase(key, Sv(name))) values.push_back(value);
    }
    return values;
  }

  // Adds a synthetic header (used to carry why a challenge went unanswered).
  void AddHeader(std::string name, std::string value) {
    headers_.emplace_back(std::move(name), std::move(value));
  }

  // Reads the whole (small) body; ResourceExhausted beyond `limit` bytes.
  absl::StatusOr<std::string> ReadAll(std::size_t limit) {
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

  const std::string& what() const { return what_; }

 private:
  CurlTransfer(std::shared_ptr<Shared> shared, TransferSpec spec)
      : shared_(std::move(shared)),
        spec_(std::move(spec)),
        what_(absl::StrCat(spec_.method, " ", Display(spec_.target.url))) {}

  // Unpauses or drives the transfer until body bytes arrive; write chunks
  // land in `buf` (reader_received_ bytes) until it is full, the rest in
  // chunk_.
  absl::Status ReceiveInto(char* buf, std::size_t max) {
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

  // After ReceiveInto() got some bytes: one more non-blocking pass over the
  // socket while the caller's buffer has room, so a loopback registry's
  // bytes go out in fewer, larger writes.
  absl::Status TopUp() {
    if (reader_received_ == 0 || reader_received_ == reader_max_ || paused_ || done_) {
      return absl::OkStatus();
    }
    int running = 0;
    absl::Status s = MultiStatus(curl_multi_perform(multi_.get(), &running), "curl_multi_perform");
    CollectDone();
    return s;
  }
  absl::Status Configure();
  absl::Status ConfigureMethod();
  absl::Status ConfigureTls();
  absl::Status ConfigureHeaders();
  absl::Status WaitForHeaders();
  absl::Status Drive(absl::FunctionRef<bool()> ready, absl::FunctionRef<absl::Time()> deadline,
                     absl::FunctionRef<std::string()> timeout_message);
  void CollectDone();
  absl::Status Failure() const { return StatusFromCurl(result_, what_, errbuf_.data()); }
  static size_t OnHeader(char* data, size_t size, size_t count, void* self);
  static size_t OnBody(char* data, size_t size, size_t count, void* self);

  std::shared_ptr<Shared> shared_;
  const TransferSpec spec_;
  const std::string what_;  // "GET https://host:port/v2/..." (no query) for messages
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
  // The buffer of the Read() in progress (null outside Read()).
  char* reader_buf_ = nullptr;
  std::size_t reader_max_ = 0;
  std::size_t reader_received_ = 0;
  bool done_ = false;
  CURLcode result_ = CURLE_OK;
};

absl::Status CurlTransfer::Configure() {
  CURL* e = easy_.get();
  const CurlUpstream::Options& options = shared_->options;
  absl::Status s = FirstError({
      SetShareOpt(e, shared_->share.get()),
      SetStringOpt(e, CURLOPT_URL, spec_.target.url),
      SetStringOpt(e, CURLOPT_PROTOCOLS_STR, "http,https"),
      SetLongOpt(e, CURLOPT_NOSIGNAL, 1L),
      SetLongOpt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS)),
      SetLongOpt(e, CURLOPT_CONNECTTIMEOUT_MS, Millis(spec_.connect_timeout)),
      SetLongOpt(e, CURLOPT_BUFFERSIZE, static_cast<long>(options.buffer_size)),
      SetPointerOpt(e, CURLOPT_ERRORBUFFER, errbuf_.data()),
      SetStringOpt(e, CURLOPT_USERAGENT, options.user_agent),
      SetLongOpt(e, CURLOPT_FOLLOWLOCATION, 0L),  // redirects are followed by hand
      SetLongOpt(e, CURLOPT_TCP_KEEPALIVE, 1L),
      SetCallbackOpt(e, CURLOPT_HEADERFUNCTION, &CurlTransfer::OnHeader),
      SetPointerOpt(e, CURLOPT_HEADERDATA, this),
      SetCallbackOpt(e, CURLOPT_WRITEFUNCTION, &CurlTransfer::OnBody),
      SetPointerOpt(e, CURLOPT_WRITEDATA, this),
  });
  if (!s.ok()) return s;
  if (!spec_.target.connect_to.empty()) {
    if (s = AppendSlist(connect_to_, spec_.target.connect_to); !s.ok()) return s;
    if (s = SetSlistOpt(e, CURLOPT_CONNECT_TO, connect_to_.get()); !s.ok()) return s;
  }
  if (s = ConfigureMethod(); !s.ok()) return s;
  if (s = ConfigureTls(); !s.ok()) return s;
  return ConfigureHeaders();
}

absl::Status CurlTransfer::ConfigureMethod() {
  CURL* e = easy_.get();
  if (spec_.method == "GET") return SetLongOpt(e, CURLOPT_HTTPGET, 1L);
  if (spec_.method == "HEAD") return SetLongOpt(e, CURLOPT_NOBODY, 1L);
  if (spec_.method == "POST" && spec_.post_form) {
    const std::string& form = spec_.post_form->Reveal();
    return FirstError({
        SetOffOpt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(form.size())),
        SetPointerOpt(e, CURLOPT_POSTFIELDS, const_cast<char*>(form.data())),
    });
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "upstream method \"", spec_.method, "\" is not supported; the relay only sends GET and HEAD"));
}

absl::Status CurlTransfer::ConfigureTls() {
  if (!spec_.tls) return absl::OkStatus();
  CURL* e = easy_.get();
  const auth::TlsMaterial& m = spec_.tls->material;
  if (m.insecure_skip_verify) {
    absl::Status s = FirstError({SetLongOpt(e, CURLOPT_SSL_VERIFYPEER, 0L),
                                 SetLongOpt(e, CURLOPT_SSL_VERIFYHOST, 0L)});
    if (!s.ok()) return s;
  }
  if (!spec_.tls->ca_bundle.empty()) {
    if (absl::Status s = SetBlobOpt(e, CURLOPT_CAINFO_BLOB, spec_.tls->ca_bundle); !s.ok()) {
      return s;
    }
  }
  if (spec_.client_identity && !m.client_cert.empty()) {
    return FirstError({SetStringOpt(e, CURLOPT_SSLCERT, m.client_cert),
                       SetStringOpt(e, CURLOPT_SSLCERTTYPE, "PEM"),
                       SetStringOpt(e, CURLOPT_SSLKEY, m.client_key),
                       SetStringOpt(e, CURLOPT_SSLKEYTYPE, "PEM")});
  }
  return absl::OkStatus();
}

absl::Status CurlTransfer::ConfigureHeaders() {
  for (const auto& [name, value] : spec_.forwarded) {
    if (IsHopByHopOrAuth(name)) continue;
    if (name.empty() || name.find_first_of(":\r\n") != std::string::npos ||
        value.find_first_of("\r\n") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          what_, ": forwarded header \"", absl::CHexEscape(name.substr(0, 64)),
          "\" has a bad name or a line break in its value"));
    }
    if (absl::Status s = AppendSlist(header_list_, absl::StrCat(name, ": ", value)); !s.ok()) {
      return s;
    }
  }
  if (spec_.authorization) {
    absl::Status s = AppendSlist(header_list_,
                                 absl::StrCat("Authorization: ", spec_.authorization->Reveal()));
    if (!s.ok()) return s;
  }
  if (!header_list_) return absl::OkStatus();
  return SetSlistOpt(easy_.get(), CURLOPT_HTTPHEADER, header_list_.get());
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
      return start + absl::Microseconds(pretransfer_us) + spec.response_timeout;
    }
    return start + spec.connect_timeout + spec.response_timeout;
  };
  absl::Status s = Drive([this] { return headers_done_; }, deadline, [this] {
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
    absl::Time now = absl::Now();
    absl::Time limit = deadline();
    if (now >= limit) return absl::DeadlineExceededError(timeout_message());
    int wait_ms = static_cast<int>(
        std::clamp<int64_t>(absl::ToInt64Milliseconds(limit - now), 1, 1000));
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
    if (t->status_ >= 200) t->headers_done_ = true;
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
  // libcurl hands the body over in pieces of at most CURL_MAX_WRITE_SIZE
  // (16 KiB) whatever CURLOPT_BUFFERSIZE is; filling the reader's buffer
  // with every piece of one curl_multi_perform (not just the first) lets the
  // relay send 256 KiB per send() instead of 16 KiB plus a poll each.
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
  return length;
}

TransferSpec BaseSpec(const HostContext& ctx, const Target& target, std::string method) {
  TransferSpec spec;
  spec.method = std::move(method);
  spec.target = target;
  if (target.endpoint_host || target.same_hostname) spec.tls = ctx.tls;
  spec.client_identity = target.endpoint_host;
  if (target.endpoint_host || target.same_hostname) {
    spec.connect_timeout = ctx.connect_timeout;
    spec.response_timeout = ctx.response_timeout;
    spec.timeout_hint = absl::StrCat(" of [host.\"", ctx.authority, "\"]");
  }
  return spec;
}

// ---------------------------------------------------------------------------
// Token realm client: GET with Basic (Docker token protocol) or the OAuth2
// refresh-token POST when an identity token is configured (containerd's
// fetch.go). The endpoint's TLS trust applies to a realm on the same host
// name (another port is common for loopback setups); its client identity
// and tls_server_name mapping only to the endpoint's own host:port.
class CurlTokenFetcher final : public auth::TokenFetcher {
 public:
  CurlTokenFetcher(std::shared_ptr<Shared> shared, const HostContext& ctx)
      : shared_(std::move(shared)), ctx_(ctx) {}

  absl::StatusOr<auth::Token> FetchToken(std::string_view realm, std::string_view service,
                                         const std::vector<std::string>& scopes,
                                         const auth::Credentials& credentials) override {
    if (!credentials.identity_token.empty()) {
      config::Secret form = auth::TokenPostForm(service, scopes, credentials.identity_token,
                                                "cri-mirror");
      absl::StatusOr<auth::Token> token = Exchange(std::string(realm), "POST", std::nullopt,
                                                   std::move(form), realm);
      if (token.ok() || token.status().code() != absl::StatusCode::kNotFound ||
          !credentials.has_basic()) {
        return token;
      }
      // Realms without the OAuth2 endpoint answer 404/405: fall back to GET.
    }
    std::optional<config::Secret> authorization;
    if (credentials.has_basic()) authorization = auth::BasicAuthorization(credentials);
    return Exchange(auth::TokenGetUrl(realm, service, scopes), "GET", std::move(authorization),
                    std::nullopt, realm);
  }

 private:
  absl::StatusOr<auth::Token> Exchange(const std::string& url, std::string method,
                                       std::optional<config::Secret> authorization,
                                       std::optional<config::Secret> form,
                                       std::string_view realm) {
    absl::StatusOr<Target> target = MakeTarget(url, ctx_);
    if (!target.ok()) return target.status();
    TransferSpec spec = BaseSpec(ctx_, *target, std::move(method));
    spec.authorization = std::move(authorization);
    spec.post_form = std::move(form);
    spec.stall_timeout = ctx_.response_timeout;
    absl::StatusOr<std::unique_ptr<CurlTransfer>> transfer =
        CurlTransfer::Start(shared_, std::move(spec));
    if (!transfer.ok()) return transfer.status();
    std::string display_realm = Display(std::string(realm));
    int status = (*transfer)->status();
    if (status != 200) return RealmError(status, display_realm);
    absl::StatusOr<std::string> body = (*transfer)->ReadAll(kMaxTokenBody);
    if (!body.ok()) return body.status();
    return auth::ParseTokenResponse(*body, shared_->options.clock(), display_realm);
  }

  absl::Status RealmError(int status, const std::string& realm) const {
    std::string prefix = absl::StrCat("token realm ", realm, " (for registry ", ctx_.authority,
                                      ") answered HTTP ", status);
    switch (status) {
      case 401:
        return absl::UnauthenticatedError(absl::StrCat(
            prefix, "; the credentials of [host.\"", ctx_.authority, "\"]",
            ctx_.credentials.username.empty() ? "" : " (user ",
            ctx_.credentials.username, ctx_.credentials.username.empty() ? "" : ")",
            " are missing or wrong"));
      case 403:
        return absl::PermissionDeniedError(
            absl::StrCat(prefix, "; the account may not pull this repository"));
      case 404:
      case 405:
        return absl::NotFoundError(absl::StrCat(prefix, "; no token endpoint there"));
      default:
        return absl::UnavailableError(prefix);
    }
  }

  std::shared_ptr<Shared> shared_;
  const HostContext& ctx_;
};

// ---------------------------------------------------------------------------
// One Open(): the redirect loop and the single challenge answer.
class Opener {
 public:
  Opener(std::shared_ptr<Shared> shared, const UpstreamRequest& request, HostContext ctx)
      : shared_(std::move(shared)),
        request_(request),
        ctx_(std::move(ctx)),
        scope_(request.repository.empty() ? std::string()
                                          : auth::PullScope(request.repository)),
        basic_key_(absl::StrCat(ctx_.authority, "|", ctx_.credentials.Fingerprint())) {}

  absl::StatusOr<UpstreamResponsePtr> Run() {
    std::string url = request_.url;
    std::optional<config::Secret> authorization = InitialAuthorization();
    bool proactive = authorization.has_value();
    bool answered = false;
    int redirects = 0;
    while (true) {
      absl::StatusOr<Target> target = MakeTarget(url, ctx_);
      if (!target.ok()) return target.status();
      TransferSpec spec = BaseSpec(ctx_, *target, request_.method);
      spec.forwarded = request_.headers;
      spec.stall_timeout = request_.stall_timeout;
      if (target->endpoint_host) spec.authorization = authorization;
      absl::StatusOr<std::unique_ptr<CurlTransfer>> transfer =
          CurlTransfer::Start(shared_, std::move(spec));
      if (!transfer.ok()) return transfer.status();
      int status = (*transfer)->status();
      if (status == 401 && target->endpoint_host && !ctx_.credentials.registry_token.empty()) {
        // A registry token is final: there is nothing to fetch or retry.
        (*transfer)->AddHeader(std::string(kAuthErrorHeader),
                               "the registry refused the kubelet's registry_token");
        return UpstreamResponsePtr(*std::move(transfer));
      }
      if (status == 401 && target->endpoint_host && !answered) {
        answered = true;
        if (proactive) Forget();
        authorization = Answer(**transfer);
        if (authorization) continue;
        return UpstreamResponsePtr(*std::move(transfer));
      }
      std::vector<std::string> location = (*transfer)->HeaderValues("location");
      if (!IsRedirect(status) || location.empty()) return UpstreamResponsePtr(*std::move(transfer));
      if (++redirects > shared_->options.max_redirects) {
        return absl::UnavailableError(absl::StrCat(
            (*transfer)->what(), ": more than ", shared_->options.max_redirects,
            " redirects; the registry or its storage redirects in a loop"));
      }
      absl::StatusOr<std::string> next = RewriteUrl(target->url, CURLUPART_URL, location[0]);
      if (!next.ok()) return next.status();
      url = *std::move(next);
    }
  }

 private:
  static bool IsRedirect(int status) {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
  }

  std::optional<config::Secret> InitialAuthorization() {
    if (!ctx_.credentials.registry_token.empty()) {
      return auth::BearerAuthorization(ctx_.credentials.registry_token);
    }
    if (std::optional<config::Secret> token =
            shared_->authorizer->CachedToken(ctx_.authority, scope_, ctx_.credentials)) {
      return auth::BearerAuthorization(*token);
    }
    if (ctx_.credentials.has_basic()) {
      absl::MutexLock lock(&shared_->mu);
      if (shared_->basic_hosts.count(basic_key_) > 0) {
        return auth::BasicAuthorization(ctx_.credentials);
      }
    }
    return std::nullopt;
  }

  void Forget() {
    shared_->authorizer->Invalidate(ctx_.authority, scope_, ctx_.credentials);
    absl::MutexLock lock(&shared_->mu);
    shared_->basic_hosts.erase(basic_key_);
  }

  // The Authorization answering the 401's challenges, preferring Bearer;
  // nullopt (and an explanatory synthetic header) when none can be answered.
  std::optional<config::Secret> Answer(CurlTransfer& response) {
    std::vector<auth::Challenge> challenges =
        auth::ParseWwwAuthenticateValues(response.HeaderValues("www-authenticate"));
    for (const auth::Challenge& challenge : challenges) {
      if (challenge.scheme != auth::AuthScheme::kBearer) continue;
      CurlTokenFetcher fetcher(shared_, ctx_);
      absl::StatusOr<config::Secret> token = shared_->authorizer->Authorize(
          ctx_.authority, scope_, challenge, ctx_.credentials, fetcher);
      if (token.ok()) return auth::BearerAuthorization(*token);
      response.AddHeader(std::string(kAuthErrorHeader), token.status().ToString());
      return std::nullopt;
    }
    for (const auth::Challenge& challenge : challenges) {
      if (challenge.scheme != auth::AuthScheme::kBasic || !ctx_.credentials.has_basic()) continue;
      absl::MutexLock lock(&shared_->mu);
      if (shared_->basic_hosts.size() > 4096) shared_->basic_hosts.clear();
      shared_->basic_hosts.insert(basic_key_);
      return auth::BasicAuthorization(ctx_.credentials);
    }
    response.AddHeader(std::string(kAuthErrorHeader),
                       challenges.empty() ? "no usable WWW-Authenticate challenge"
                                          : "no credentials configured for this challenge");
    return std::nullopt;
  }

  std::shared_ptr<Shared> shared_;
  const UpstreamRequest& request_;
  const HostContext ctx_;
  const std::string scope_;
  const std::string basic_key_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<CurlUpstream>> CurlUpstream::Create(Options options) {
  if (options.buffer_size < 1024 || options.buffer_size > 512 * 1024) {
    return absl::InvalidArgumentError("CurlUpstream: buffer_size must be 1 KiB .. 512 KiB");
  }
  if (options.max_redirects < 0 || options.max_redirects > 20) {
    return absl::InvalidArgumentError("CurlUpstream: max_redirects must be 0 .. 20");
  }
  if (!options.clock) return absl::InvalidArgumentError("CurlUpstream: clock is empty");
  if (absl::Status s = EnsureCurlGlobalInit(); !s.ok()) return s;
  auto shared = std::make_shared<Shared>(options);
  shared->system_ca_file = options.system_ca_file;
  if (shared->system_ca_file.empty()) {
    const curl_version_info_data* info = curl_version_info(CURLVERSION_NOW);
    shared->system_ca_file = info != nullptr && info->cainfo != nullptr
                                 ? info->cainfo
                                 : "/etc/ssl/certs/ca-certificates.crt";
  }
  absl::StatusOr<CurlSharePtr> share = NewCurlShare();
  if (!share.ok()) return share.status();
  shared->share = *std::move(share);
  CURLSH* sh = shared->share.get();
  absl::Status s = FirstError({
      ShareSetCallback(sh, CURLSHOPT_LOCKFUNC, &ShareLocks::Lock),
      ShareSetCallback(sh, CURLSHOPT_UNLOCKFUNC, &ShareLocks::Unlock),
      ShareSetPointer(sh, CURLSHOPT_USERDATA, &shared->locks),
      ShareSetOpt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS),
      ShareSetOpt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION),
  });
  if (!s.ok()) return s;
  auth::Authorizer::Options auth_options;
  auth_options.clock = options.clock;
  absl::StatusOr<std::unique_ptr<auth::Authorizer>> authorizer =
      auth::Authorizer::Create(auth_options);
  if (!authorizer.ok()) return authorizer.status();
  shared->authorizer = *std::move(authorizer);
  return std::unique_ptr<CurlUpstream>(new CurlUpstream(std::move(shared)));
}

CurlUpstream::~CurlUpstream() = default;

absl::StatusOr<UpstreamResponsePtr> CurlUpstream::Open(const UpstreamRequest& request) {
  if (request.method != "GET" && request.method != "HEAD") {
    return absl::InvalidArgumentError(absl::StrCat(
        "upstream method \"", request.method, "\" is not supported; only GET and HEAD"));
  }
  absl::StatusOr<HostContext> ctx = MakeHostContext(*shared_, request);
  if (!ctx.ok()) return ctx.status();
  return Opener(shared_, request, *std::move(ctx)).Run();
}

}  // namespace crimirror::relay
