// Unit tests for relay/: route parsing, sessions, endpoint health, the
// endpoint walk and the HTTP server on 127.0.0.1 driven with libcurl. The
// Upstream is an in-process fake (the unit seam); CurlUpstream is tested
// against the real docker-registry elsewhere.
#include <curl/curl.h>

#include <atomic>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relay/blob_pump.h"
#include "relay/digest_verifier.h"
#include "relay/endpoint_health.h"
#include "relay/endpoint_walk.h"
#include "log/log.h"
#include "relay/relay_server.h"
#include "relay/route.h"
#include "relay/session_store.h"
#include "relay/upstream.h"
#ifdef CRIMIRROR_HAVE_CURL_UPSTREAM
#include "relay/curl_upstream.h"
#endif

namespace crimirror::relay {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// ---------------------------------------------------------------------------
// Test doubles
// ---------------------------------------------------------------------------

class FakeClock {
 public:
  absl::Time Now() const {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }
  std::function<absl::Time()> AsFunction() {
    return [this] { return Now(); };
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ = absl::FromUnixSeconds(1700000000);
};

// Byte `i` of a generated blob.
char GeneratedByte(std::uint64_t i) { return static_cast<char>((i * 131 + i / 4099) & 0xff); }

std::string GeneratedDigest(std::uint64_t size) {
  auto verifier = DigestVerifier::Create(
      "sha256:0000000000000000000000000000000000000000000000000000000000000000");
  std::string chunk;
  for (std::uint64_t pos = 0; pos < size;) {
    const std::uint64_t n = std::min<std::uint64_t>(1 << 20, size - pos);
    chunk.resize(n);
    for (std::uint64_t i = 0; i < n; ++i) chunk[i] = GeneratedByte(pos + i);
    (*verifier)->Update(chunk);
    pos += n;
  }
  (*verifier)->Matches();
  return (*verifier)->actual();
}

// What the fake answers for one URL.
struct FakeReply {
  absl::Status open_error;  // not OK: Open fails with it
  int status = 200;
  Headers headers;
  std::string body;
  bool omit_length = false;
  std::uint64_t generated_size = 0;         // > 0: body is GeneratedByte(0..size)
  std::optional<std::uint64_t> fail_after;  // Read fails once this many bytes were read
  // Generated bodies: a request with Range "bytes=N-[M]" gets a 206 slice.
  bool honor_range = false;
  // A Content-Length to claim instead of the body's (a short body).
  std::optional<std::uint64_t> declared_length;
};

class FakeUpstream;

class FakeResponse : public UpstreamResponse {
 public:
  FakeResponse(FakeReply reply, FakeUpstream* owner, std::uint64_t begin = 0,
               std::optional<std::uint64_t> end = std::nullopt)
      : reply_(std::move(reply)), owner_(owner), begin_(begin) {
    size_ = (end ? *end + 1 : (reply_.generated_size > 0 ? reply_.generated_size
                                                         : reply_.body.size())) -
            begin_;
  }
  int status() const override { return reply_.status; }
  const Headers& headers() const override { return reply_.headers; }
  std::optional<std::size_t> content_length() const override {
    if (reply_.omit_length) return std::nullopt;
    if (reply_.declared_length) return *reply_.declared_length;
    return size_;
  }
  absl::StatusOr<std::size_t> Read(char* buf, std::size_t max) override;

 private:
  FakeReply reply_;
  FakeUpstream* owner_;
  std::uint64_t begin_ = 0;  // offset of the first byte served
  std::uint64_t size_ = 0;   // bytes served
  std::uint64_t pos_ = 0;
};

// FakeReply::honor_range: "bytes=N-" or "bytes=N-M" of `size` bytes.
std::optional<std::pair<std::uint64_t, std::uint64_t>> FakeRange(const UpstreamRequest& request,
                                                                 std::uint64_t size) {
  for (const auto& [key, value] : request.headers) {
    if (!absl::EqualsIgnoreCase(key, "Range")) continue;
    std::vector<std::string> parts = absl::StrSplit(value.substr(6), '-');
    std::uint64_t first = 0;
    std::uint64_t last = size - 1;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &first)) return std::nullopt;
    if (!parts[1].empty() && !absl::SimpleAtoi(parts[1], &last)) return std::nullopt;
    return std::make_pair(first, std::min(last, size - 1));
  }
  return std::nullopt;
}

class FakeUpstream : public Upstream {
 public:
  void Set(const std::string& url, FakeReply reply) {
    absl::MutexLock lock(&mu_);
    replies_[url] = std::move(reply);
  }
  absl::StatusOr<UpstreamResponsePtr> Open(const UpstreamRequest& request) override {
    absl::MutexLock lock(&mu_);
    requests_.push_back(request);
    auto it = replies_.find(request.url);
    if (it == replies_.end()) {
      FakeReply not_found;
      not_found.status = 404;
      return std::make_unique<FakeResponse>(not_found, this);
    }
    if (!it->second.open_error.ok()) return it->second.open_error;
    if (it->second.honor_range) {
      if (auto range = FakeRange(request, it->second.generated_size)) {
        FakeReply slice = it->second;
        slice.status = 206;
        slice.headers.emplace_back("Content-Range",
                                   absl::StrCat("bytes ", range->first, "-", range->second, "/",
                                                it->second.generated_size));
        return std::make_unique<FakeResponse>(slice, this, range->first, range->second);
      }
    }
    return std::make_unique<FakeResponse>(it->second, this);
  }
  std::vector<UpstreamRequest> Requests() const {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  std::vector<std::string> RequestedUrls() const {
    std::vector<std::string> urls;
    for (const UpstreamRequest& r : Requests()) urls.push_back(r.url);
    return urls;
  }
  void ClearRequests() {
    absl::MutexLock lock(&mu_);
    requests_.clear();
  }
  std::atomic<std::uint64_t> bytes_read{0};
  std::atomic<std::size_t> largest_read{0};

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, FakeReply> replies_;
  std::vector<UpstreamRequest> requests_;
};

absl::StatusOr<std::size_t> FakeResponse::Read(char* buf, std::size_t max) {
  std::size_t prev = owner_->largest_read.load();
  while (max > prev && !owner_->largest_read.compare_exchange_weak(prev, max)) {
  }
  std::uint64_t limit = size_;
  if (reply_.fail_after) {
    if (pos_ >= *reply_.fail_after) {
      return absl::UnavailableError("connection to a.test:5000 reset by peer");
    }
    limit = std::min(limit, *reply_.fail_after);
  }
  const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(max, limit - pos_));
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t at = begin_ + pos_ + i;
    buf[i] = reply_.generated_size > 0 ? GeneratedByte(at) : reply_.body[at];
  }
  pos_ += n;
  owner_->bytes_read += n;
  return n;
}

// ---------------------------------------------------------------------------
// Plans
// ---------------------------------------------------------------------------

constexpr char kManifest[] =
    R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"})";
constexpr char kManifestType[] = "application/vnd.oci.image.manifest.v1+json";

resolver::Endpoint MakeEndpoint(std::string host, std::string repository,
                                resolver::EndpointKind kind = resolver::EndpointKind::kMirror) {
  resolver::Endpoint e;
  e.base_url = absl::StrCat(kind == resolver::EndpointKind::kMirror ? "http://" : "https://", host);
  e.host = std::move(host);
  e.repository = std::move(repository);
  e.kind = kind;
  return e;
}

resolver::EndpointPlan NginxPlan() {
  resolver::EndpointPlan plan;
  plan.reference = {"docker.io", "library/nginx", "1.25", ""};
  plan.matched_rule = "docker.io";
  plan.endpoints = {
      MakeEndpoint("a.test:5000", "dockerhub/library/nginx"),
      MakeEndpoint("b.test:5000", "library/nginx"),
      MakeEndpoint("registry-1.docker.io:443", "library/nginx", resolver::EndpointKind::kUpstream)};
  return plan;
}

std::string Url(const resolver::EndpointPlan& plan, int i, const std::string& what) {
  const resolver::Endpoint& e = plan.endpoints[i];
  return absl::StrCat(e.base_url, "/v2/", e.repository, "/", what);
}

// ---------------------------------------------------------------------------
// HTTP client (libcurl)
// ---------------------------------------------------------------------------

struct HttpResult {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
};

struct HttpOptions {
  std::string method = "GET";
  std::optional<std::pair<std::string, std::string>> basic;
  std::vector<std::string> headers;
  // Called for each body chunk with the total so far.
  std::function<void(std::uint64_t)> on_body;
  bool keep_body = true;
};

std::size_t OnHeader(char* data, std::size_t size, std::size_t n, void* user) {
  std::string line(data, size * n);
  const std::size_t colon = line.find(':');
  if (colon != std::string::npos) {
    (*static_cast<HttpResult*>(user)).headers[absl::AsciiStrToLower(line.substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  return size * n;
}

struct BodySink {
  HttpResult* result;
  const HttpOptions* options;
  std::uint64_t total = 0;
};

std::size_t OnBody(char* data, std::size_t size, std::size_t n, void* user) {
  auto* sink = static_cast<BodySink*>(user);
  sink->total += size * n;
  if (sink->options->keep_body) sink->result->body.append(data, size * n);
  if (sink->options->on_body) sink->options->on_body(sink->total);
  return size * n;
}

HttpResult Http(int port, const std::string& path, const HttpOptions& options = {}) {
  HttpResult result;
  CURL* curl = curl_easy_init();
  const std::string url = absl::StrCat("http://127.0.0.1:", port, path);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
  if (options.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (options.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, options.method.c_str());
  }
  const std::string userpwd =
      options.basic ? absl::StrCat(options.basic->first, ":", options.basic->second) : "";
  if (options.basic) curl_easy_setopt(curl, CURLOPT_USERPWD, userpwd.c_str());
  curl_slist* list = nullptr;
  for (const std::string& h : options.headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &result);
  BodySink sink{&result, &options};
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  result.code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return result;
}

// ---------------------------------------------------------------------------
// Pure parts
// ---------------------------------------------------------------------------

const std::string kDigest = absl::StrCat("sha256:", std::string(64, 'a'));

TEST(ParseRouteTest, AcceptsTheThreeRoutes) {
  struct Case {
    std::string path;
    RouteKind kind;
    std::string name;
    std::string ref;
    bool digest;
  };
  const Case cases[] = {
      {"/v2/", RouteKind::kBase, "", "", false},
      {"/v2", RouteKind::kBase, "", "", false},
      {"/v2/docker.io/library/nginx/manifests/1.25", RouteKind::kManifest,
       "docker.io/library/nginx", "1.25", false},
      {"/v2/host:5000/a/b/manifests/" + kDigest, RouteKind::kManifest, "host:5000/a/b", kDigest,
       true},
      {"/v2/docker.io/library/nginx/blobs/" + kDigest, RouteKind::kBlob, "docker.io/library/nginx",
       kDigest, true},
      {"/v2/docker.io/my__repo/sub-dir/manifests/v1.0_rc-1", RouteKind::kManifest,
       "docker.io/my__repo/sub-dir", "v1.0_rc-1", false},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Route> route = ParseRoute(c.path);
    ASSERT_TRUE(route.ok()) << c.path << ": " << route.status();
    EXPECT_EQ(route->kind, c.kind) << c.path;
    EXPECT_EQ(route->name, c.name) << c.path;
    EXPECT_EQ(route->ref, c.ref) << c.path;
    EXPECT_EQ(route->ref_is_digest, c.digest) << c.path;
  }
}

TEST(ParseRouteTest, RejectsMalformedPathsAsInvalidArgument) {
  const std::string cases[] = {
      "/v2/docker.io/library/../nginx/manifests/1",
      "/v2/docker.io/library/./nginx/manifests/1",
      "/v2/docker.io%2Flibrary/nginx/manifests/1",
      "/v2/docker.io/library/nginx/manifests/%2e%2e",
      "/v2/docker.io//nginx/manifests/1",
      "/v2/docker.io/Library/nginx/manifests/1",
      "/v2/docker.io/library/nginx-/manifests/1",
      "/v2/docker.io/library/nginx/manifests/.tag",
      "/v2/docker.io/library/nginx/manifests/sha256:abc",
      "/v2/docker.io/library/nginx/manifests/md5:" + std::string(32, 'a'),
      "/v2/docker.io/library/nginx/manifests/sha256:" + std::string(64, 'A'),
      "/v2/docker.io/library/nginx/blobs/latest",
      "/v2/nginx/manifests/latest",
      "/v2/docker.io/library/nginx/manifests/" + std::string(129, 'a'),
      "/v2/docker.io/library/nginx/manifests/a b",
      "/v2/docker.io/" + std::string(kMaxPathLength, 'a') + "/manifests/1",
      "/../v2/",
      "/v2/x?/manifests/1",
  };
  for (const std::string& path : cases) {
    absl::StatusOr<Route> route = ParseRoute(path);
    EXPECT_TRUE(absl::IsInvalidArgument(route.status())) << path << ": " << route.status();
  }
}

TEST(ParseRouteTest, UnknownRoutesAreNotFound) {
  const std::string cases[] = {
      "/",
      "/index.html",
      "/v1/_ping",
      "/v2/_catalog",
      "/v2/docker.io/library/nginx/tags/list",
      "/v2/docker.io/library/nginx/blobs/uploads/",
      "/v2/docker.io/library/nginx/referrers/" + kDigest,
  };
  for (const std::string& path : cases) {
    absl::StatusOr<Route> route = ParseRoute(path);
    EXPECT_TRUE(absl::IsNotFound(route.status())) << path << ": " << route.status();
  }
}

TEST(RelayPullReferenceTest, RegistryBecomesOnePathComponent) {
  struct Case {
    resolver::Reference reference;
    std::string want;
  };
  const Case cases[] = {
      {{"docker.io", "library/nginx", "1.25", ""}, "127.0.0.1:5098/docker.io/library/nginx:1.25"},
      {{"docker-registry:5000", "mynginx", "v1", ""},
       "127.0.0.1:5098/docker-registry__5000/mynginx:v1"},
      {{"localhost:32000", "app", "latest", kDigest},
       "127.0.0.1:5098/localhost__32000/app@" + kDigest},
      {{"Registry.Example.COM", "a/b", "t", ""}, "127.0.0.1:5098/registry.example.com/a/b:t"},
  };
  for (const Case& c : cases) {
    const std::string got = RelayPullReference("127.0.0.1:5098", c.reference);
    EXPECT_EQ(got, c.want);
    // And the relay accepts the path containerd derives from it.
    const std::string name = got.substr(
        std::strlen("127.0.0.1:5098/"),
        got.find_first_of(c.reference.digest.empty() ? ":" : "@", std::strlen("127.0.0.1:5098/")) -
            std::strlen("127.0.0.1:5098/"));
    absl::StatusOr<Route> route =
        ParseRoute("/v2/" + name + "/manifests/" + c.reference.FetchRef());
    ASSERT_TRUE(route.ok()) << route.status();
    EXPECT_EQ(route->name, RelayRepository(c.reference));
  }
}

TEST(ParseBasicAuthorizationTest, DecodesAndRejects) {
  auto ok = ParseBasicAuthorization("Basic " + absl::Base64Escape("user:pa:ss"));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->first, "user");
  EXPECT_EQ(ok->second, "pa:ss");
  EXPECT_TRUE(ParseBasicAuthorization("basic " + absl::Base64Escape("u:p")).ok());
  for (const std::string& bad : {std::string("Bearer abc"), std::string("Basic !!!"),
                                 "Basic " + absl::Base64Escape("nocolon"), std::string("Basic")}) {
    EXPECT_TRUE(absl::IsUnauthenticated(ParseBasicAuthorization(bad).status())) << bad;
  }
}

TEST(DigestVerifierTest, MatchesAndMismatches) {
  const std::string digest = DigestVerifier::Sha256("hello");
  EXPECT_EQ(digest, "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
  auto ok = DigestVerifier::Create(digest);
  ASSERT_TRUE(ok.ok());
  (*ok)->Update("hel");
  (*ok)->Update("lo");
  EXPECT_TRUE((*ok)->Matches());
  auto bad = DigestVerifier::Create(digest);
  (*bad)->Update("hellO");
  EXPECT_FALSE((*bad)->Matches());
  EXPECT_FALSE(DigestVerifier::Create("md5:abc").ok());
}

TEST(SessionStoreTest, CredentialsAreRandomAndAuthenticate) {
  FakeClock clock;
  SessionStore store(clock.AsFunction());
  auto a = store.Create(NginxPlan(), std::nullopt, absl::Minutes(5));
  auto b = store.Create(NginxPlan(), std::nullopt, absl::Minutes(5));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->id.size(), 32u);
  EXPECT_EQ(a->username, a->id);
  EXPECT_EQ(a->password.Reveal().size(), 43u);
  EXPECT_NE(a->id, b->id);
  EXPECT_NE(a->password, b->password);
  auto state = store.Authenticate(a->username, a->password.Reveal());
  ASSERT_TRUE(state.ok());
  EXPECT_EQ((*state)->plan().reference.repository, "library/nginx");
  EXPECT_EQ(store.Find(a->id), *state);
  EXPECT_TRUE(absl::IsUnauthenticated(store.Authenticate(a->username, "wrong").status()));
  EXPECT_TRUE(
      absl::IsUnauthenticated(store.Authenticate(a->username, b->password.Reveal()).status()));
  EXPECT_TRUE(absl::IsUnauthenticated(store.Authenticate("nobody", "x").status()));
  // Never the password in a message.
  EXPECT_THAT(std::string(store.Authenticate(a->username, "wrong").status().message()),
              Not(HasSubstr(a->password.Reveal())));
}

TEST(SessionStoreTest, ExpiryCloseAndPurge) {
  FakeClock clock;
  SessionStore store(clock.AsFunction());
  auto s = store.Create(NginxPlan(), std::nullopt, absl::Minutes(5));
  ASSERT_TRUE(s.ok());
  clock.Advance(absl::Minutes(5));
  auto expired = store.Authenticate(s->username, s->password.Reveal());
  EXPECT_TRUE(absl::IsUnauthenticated(expired.status()));
  EXPECT_THAT(std::string(expired.status().message()), HasSubstr("expired"));
  auto t = store.Create(NginxPlan(), std::nullopt, absl::Minutes(5));  // purges s
  EXPECT_EQ(store.Find(s->id), nullptr);
  EXPECT_EQ(store.size(), 1u);
  store.Close(t->id);
  EXPECT_TRUE(
      absl::IsUnauthenticated(store.Authenticate(t->username, t->password.Reveal()).status()));
  EXPECT_FALSE(store.Create(NginxPlan(), std::nullopt, absl::ZeroDuration()).ok());
}

TEST(SessionStateTest, AttemptsExclusionsAndDescription) {
  SessionState state("id", NginxPlan(), std::nullopt, absl::InfiniteFuture());
  EXPECT_EQ(state.DescribeAttempts(), "");
  state.RecordAttempt({"http://a.test:5000", "GET manifests/1.25", "HTTP 404"});
  state.RecordAttempt({"http://b.test:5000", "GET manifests/1.25", "UNAVAILABLE: refused"});
  EXPECT_EQ(state.DescribeAttempts(),
            "http://a.test:5000: GET manifests/1.25: HTTP 404; "
            "http://b.test:5000: GET manifests/1.25: UNAVAILABLE: refused");
  for (std::size_t i = 0; i < SessionState::kMaxAttempts; ++i) state.RecordAttempt({"u", "r", "x"});
  EXPECT_EQ(state.Attempts().size(), SessionState::kMaxAttempts);
  EXPECT_EQ(state.dropped_attempts(), 2u);
  state.ExcludeEndpoint("http://a.test:5000");
  EXPECT_TRUE(state.IsExcluded("http://a.test:5000"));
  EXPECT_FALSE(state.IsExcluded("http://b.test:5000"));
}

TEST(SessionStateTest, BlobSourcesKeepTheLatestEndpointAndAreBounded) {
  SessionState state("id", NginxPlan(), std::nullopt, absl::InfiniteFuture());
  EXPECT_EQ(state.BlobSource("sha256:aa"), std::nullopt);
  state.RecordBlobSource("sha256:aa", "http://a.test:5000");
  state.RecordBlobSource("sha256:aa", "http://b.test:5000");
  EXPECT_EQ(state.BlobSource("sha256:aa"), "http://b.test:5000");
  for (std::size_t i = 0; i < SessionState::kMaxBlobSources; ++i) {
    state.RecordBlobSource(absl::StrCat("sha256:", i), "http://c.test:5000");
  }
  EXPECT_EQ(state.BlobSource("sha256:aa"), "http://b.test:5000");
  EXPECT_EQ(state.BlobSource(absl::StrCat("sha256:", SessionState::kMaxBlobSources - 1)),
            std::nullopt);
}

TEST(SessionStateTest, ServedByEndpointInFirstServedOrder) {
  SessionState state("id", NginxPlan(), std::nullopt, absl::InfiniteFuture());
  EXPECT_TRUE(state.Served().empty());
  state.RecordManifestServed("http://b.test:5000");
  state.AddServedBytes("http://b.test:5000", 500);
  state.RecordBlobServed("http://a.test:5000");
  state.AddServedBytes("http://a.test:5000", 1000);
  state.RecordBlobServed("http://a.test:5000");
  state.AddServedBytes("http://a.test:5000", 24);
  std::vector<ServedBy> served = state.Served();
  ASSERT_EQ(served.size(), 2u);
  EXPECT_EQ(served[0].base_url, "http://b.test:5000");
  EXPECT_EQ(served[0].manifests, 1);
  EXPECT_EQ(served[0].blobs, 0);
  EXPECT_EQ(served[0].bytes, 500u);
  EXPECT_EQ(served[1].base_url, "http://a.test:5000");
  EXPECT_EQ(served[1].blobs, 2);
  EXPECT_EQ(served[1].bytes, 1024u);
  EXPECT_EQ(state.served_bytes(), 1524u);
}

TEST(EndpointHealthTest, ExponentialBackoffCappedAndResetOnSuccess) {
  FakeClock clock;
  EndpointHealth health({absl::Seconds(5), absl::Seconds(18), clock.AsFunction()});
  EXPECT_FALSE(health.IsBackedOff("h:1"));
  const absl::Duration expected[] = {absl::Seconds(5), absl::Seconds(10), absl::Seconds(18),
                                     absl::Seconds(18)};
  for (absl::Duration d : expected) {
    health.RecordFailure("h:1");
    EXPECT_EQ(health.BackedOffUntil("h:1") - clock.Now(), d);
    clock.Advance(d - absl::Seconds(1));
    EXPECT_TRUE(health.IsBackedOff("h:1"));
    clock.Advance(absl::Seconds(1));
    EXPECT_FALSE(health.IsBackedOff("h:1"));
  }
  health.RecordFailure("h:1");
  health.RecordSuccess("h:1");
  EXPECT_FALSE(health.IsBackedOff("h:1"));
  health.RecordFailure("h:1");
  EXPECT_EQ(health.BackedOffUntil("h:1") - clock.Now(), absl::Seconds(5));
}

TEST(EndpointHealthTest, OrderSkipsBackedOffUnlessAllAre) {
  FakeClock clock;
  EndpointHealth health({absl::Seconds(5), absl::Minutes(5), clock.AsFunction()});
  const std::vector<std::string> hosts = {"a:1", "b:1", "c:1"};
  EXPECT_EQ(health.Order(hosts), (std::vector<std::size_t>{0, 1, 2}));
  health.RecordFailure("b:1");
  EXPECT_EQ(health.Order(hosts), (std::vector<std::size_t>{0, 2}));
  clock.Advance(absl::Seconds(1));
  health.RecordFailure("c:1");
  clock.Advance(absl::Seconds(1));
  health.RecordFailure("a:1");
  // All backed off: least recently failed first.
  EXPECT_EQ(health.Order(hosts), (std::vector<std::size_t>{1, 2, 0}));
  EXPECT_TRUE(EndpointHealth::IsConnectionFailure(absl::UnavailableError("")));
  EXPECT_TRUE(EndpointHealth::IsConnectionFailure(absl::DeadlineExceededError("")));
  EXPECT_TRUE(EndpointHealth::IsConnectionFailure(absl::FailedPreconditionError("")));
  EXPECT_FALSE(EndpointHealth::IsConnectionFailure(absl::InvalidArgumentError("")));
}

// Issue 10 defect 7: under a `*` rule every failing registry host is
// remembered; the table stays bounded, keeps the most recent failures and
// forgets hosts whose back-off ended long ago.
TEST(EndpointHealthTest, StaysBoundedUnderManyFailingHosts) {
  FakeClock clock;
  EndpointHealth::Options options{absl::Seconds(5), absl::Minutes(5), clock.AsFunction()};
  options.max_hosts = 4;
  EndpointHealth health(options);
  for (int i = 0; i < 1000; ++i) {
    health.RecordFailure(absl::StrCat("host", i, ":443"));
    clock.Advance(absl::Milliseconds(1));
  }
  EXPECT_EQ(health.size(), 4u);
  EXPECT_TRUE(health.IsBackedOff("host999:443"));
  EXPECT_TRUE(health.IsBackedOff("host996:443"));
  EXPECT_FALSE(health.IsBackedOff("host995:443")) << "least recently failed is dropped";
  // Long after every back-off ended, a new host makes the old ones go.
  clock.Advance(absl::Minutes(11));
  health.RecordFailure("new:443");
  EXPECT_EQ(health.size(), 1u);
  EXPECT_TRUE(health.IsBackedOff("new:443"));
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

class RelayServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sessions_ = std::make_unique<SessionStore>(clock_.AsFunction());
    health_ = std::make_unique<EndpointHealth>(
        EndpointHealth::Options{absl::Seconds(5), absl::Minutes(5), clock_.AsFunction()});
    RelayServer::Options options;
    options.upstream = &upstream_;
    options.sessions = sessions_.get();
    options.health = health_.get();
    auto server = RelayServer::Create(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    auto session = sessions_->Create(plan_, std::nullopt, absl::Minutes(30));
    ASSERT_TRUE(session.ok());
    session_ = *session;
    state_ = sessions_->Find(session_.id);
  }

  HttpOptions Authed(std::string method = "GET") {
    HttpOptions o;
    o.method = std::move(method);
    o.basic.emplace(session_.username, session_.password.Reveal());
    return o;
  }
  int port() const { return server_->port(); }

  FakeClock clock_;
  FakeUpstream upstream_;
  resolver::EndpointPlan plan_ = NginxPlan();
  std::unique_ptr<SessionStore> sessions_;
  std::unique_ptr<EndpointHealth> health_;
  std::unique_ptr<RelayServer> server_;
  Session session_;
  SessionStatePtr state_;
};

const char kTagPath[] = "/v2/docker.io/library/nginx/manifests/1.25";

FakeReply ManifestReply(std::string body = kManifest) {
  FakeReply r;
  r.headers = {{"Content-Type", kManifestType},
               {"Docker-Content-Digest", DigestVerifier::Sha256(body)}};
  r.body = std::move(body);
  return r;
}

// Issue 10 defect 2: redirect targets and token realms get their own [host]
// table from the session's config snapshot.
TEST_F(RelayServerTest, UpstreamRequestsLookUpOtherOriginsInTheSessionConfig) {
  auto config = std::make_shared<config::Config>();
  config::HostSettings realm;
  realm.host = "auth.test:443";
  realm.ca_files = {"/etc/realm-ca.pem"};
  config->hosts[realm.host] = realm;
  resolver::EndpointPlan plan = plan_;
  plan.config = config;
  auto session = sessions_->Create(plan, std::nullopt, absl::Minutes(30));
  ASSERT_TRUE(session.ok());
  upstream_.Set(Url(plan_, 0, "manifests/1.25"), ManifestReply());
  HttpOptions options;
  options.basic.emplace(session->username, session->password.Reveal());
  EXPECT_EQ(Http(port(), kTagPath, options).status, 200);
  std::vector<UpstreamRequest> requests = upstream_.Requests();
  ASSERT_EQ(requests.size(), 1u);
  ASSERT_TRUE(requests[0].host_lookup);
  std::optional<config::HostSettings> found = requests[0].host_lookup("auth.test:443");
  ASSERT_TRUE(found.has_value());
  EXPECT_THAT(found->ca_files, testing::ElementsAre("/etc/realm-ca.pem"));
  EXPECT_FALSE(requests[0].host_lookup("auth.test:8443").has_value());
}

TEST_F(RelayServerTest, BaseWithoutSessionIs401BasicChallenge) {
  std::vector<HttpOptions> cases(3);
  cases[1].basic.emplace(session_.username, "bad");
  cases[2].basic.emplace("nobody", session_.password.Reveal());
  for (const HttpOptions& options : cases) {
    HttpResult r = Http(port(), "/v2/", options);
    EXPECT_EQ(r.code, CURLE_OK);
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.headers["www-authenticate"], "Basic realm=\"cri-mirror\"");
    EXPECT_THAT(r.body, HasSubstr("UNAUTHORIZED"));
  }
  EXPECT_EQ(Http(port(), kTagPath).status, 401);
  EXPECT_THAT(upstream_.Requests(), IsEmpty());
}

TEST_F(RelayServerTest, BaseWithSessionIs200AndExpiredSessionIs401) {
  HttpResult r = Http(port(), "/v2/", Authed());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["docker-distribution-api-version"], "registry/2.0");
  clock_.Advance(absl::Minutes(31));
  r = Http(port(), "/v2/", Authed());
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.headers["www-authenticate"], "Basic realm=\"cri-mirror\"");
  EXPECT_EQ(Http(port(), kTagPath, Authed()).status, 401);
}

TEST_F(RelayServerTest, ClosedSessionIs401) {
  sessions_->Close(session_.id);
  EXPECT_EQ(Http(port(), "/v2/", Authed()).status, 401);
}

TEST_F(RelayServerTest, ManifestPassesHeadersThroughAndForwardsAcceptAndPlanSettings) {
  upstream_.Set(Url(plan_, 0, "manifests/1.25"), ManifestReply());
  HttpOptions options = Authed();
  options.headers = {"Accept: application/vnd.oci.image.index.v1+json",
                     "Accept: application/vnd.docker.distribution.manifest.v2+json",
                     "Accept-Encoding: gzip", "X-Other: 1"};
  HttpResult r = Http(port(), kTagPath, options);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, kManifest);
  EXPECT_EQ(r.headers["content-type"], kManifestType);
  EXPECT_EQ(r.headers["docker-content-digest"], DigestVerifier::Sha256(kManifest));
  EXPECT_EQ(r.headers["content-length"], absl::StrCat(std::strlen(kManifest)));
  std::vector<UpstreamRequest> requests = upstream_.Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].url, "http://a.test:5000/v2/dockerhub/library/nginx/manifests/1.25");
  EXPECT_EQ(requests[0].repository, "dockerhub/library/nginx");
  Headers accepts;
  for (const auto& h : requests[0].headers) {
    EXPECT_TRUE(absl::EqualsIgnoreCase(h.first, "Accept")) << h.first;
    accepts.push_back(h);
  }
  EXPECT_EQ(accepts.size(), 2u);
  EXPECT_FALSE(requests[0].kubelet_credentials.has_value());
}

TEST_F(RelayServerTest, HeadManifestSendsHeadersAndLengthOnly) {
  upstream_.Set(Url(plan_, 0, "manifests/1.25"), ManifestReply());
  HttpResult r = Http(port(), kTagPath, Authed("HEAD"));
  EXPECT_EQ(r.code, CURLE_OK);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.headers["docker-content-digest"], DigestVerifier::Sha256(kManifest));
  EXPECT_EQ(r.headers["content-length"], absl::StrCat(std::strlen(kManifest)));
  EXPECT_EQ(r.headers["content-type"], kManifestType);
  ASSERT_EQ(upstream_.Requests().size(), 1u);
  EXPECT_EQ(upstream_.Requests()[0].method, "HEAD");
}

TEST_F(RelayServerTest, TagSkipsDigestOnlyEndpointAndDigestSkipsTagOnlyEndpoint) {
  plan_.endpoints[0].serves_tags = false;     // a: digest-only
  plan_.endpoints[1].serves_digests = false;  // b: tag-only
  auto s = sessions_->Create(plan_, std::nullopt, absl::Minutes(5));
  HttpOptions options = Authed();
  options.basic.emplace(s->username, s->password.Reveal());
  const std::string digest = DigestVerifier::Sha256(kManifest);
  for (int i = 0; i < 3; ++i) {
    upstream_.Set(Url(plan_, i, "manifests/1.25"), ManifestReply());
    upstream_.Set(Url(plan_, i, "manifests/" + digest), ManifestReply());
  }
  EXPECT_EQ(Http(port(), kTagPath, options).status, 200);
  EXPECT_EQ(Http(port(), "/v2/docker.io/library/nginx/manifests/" + digest, options).status, 200);
  EXPECT_EQ(upstream_.RequestedUrls(),
            (std::vector<std::string>{Url(plan_, 1, "manifests/1.25"),
                                      Url(plan_, 0, "manifests/" + digest)}));
}

TEST_F(RelayServerTest, DebugLogNamesTheAnsweringEndpointOrWhyNoneDid) {
  log::SetMinSeverity(log::Severity::kDebug);
  upstream_.Set(Url(plan_, 1, "manifests/1.25"), ManifestReply());
  testing::internal::CaptureStderr();
  EXPECT_EQ(Http(port(), kTagPath, Authed()).status, 200);
  EXPECT_EQ(Http(port(), "/v2/docker.io/library/nginx/blobs/" + kDigest, Authed()).status, 404);
  const std::string logged = testing::internal::GetCapturedStderr();
  log::SetMinSeverity(log::Severity::kInfo);
  EXPECT_THAT(logged, HasSubstr(absl::StrCat("relay: session ", state_->id(),
                                             ": GET manifests/1.25 <- http://b.test:5000 200 after ")));
  EXPECT_THAT(logged, HasSubstr(absl::StrCat("relay: session ", state_->id(), ": GET blobs/",
                                             kDigest, " failed after ")));
  EXPECT_THAT(logged, Not(HasSubstr(session_.password.Reveal())));
}

TEST_F(RelayServerTest, FallsBackOver404And5xxAndConnectionErrorsRecordingReasons) {
  FakeReply unavailable;
  unavailable.status = 503;
  upstream_.Set(Url(plan_, 1, "manifests/1.25"), unavailable);  // a: 404 (unset)
  upstream_.Set(Url(plan_, 2, "manifests/1.25"), ManifestReply());
  HttpResult r = Http(port(), kTagPath, Authed());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, kManifest);
  EXPECT_EQ(state_->DescribeAttempts(),
            "http://a.test:5000: GET manifests/1.25: HTTP 404; "
            "http://b.test:5000: GET manifests/1.25: HTTP 503");

  FakeReply refused;
  refused.open_error = absl::UnavailableError("connect to a.test:5000: Connection refused");
  upstream_.Set(Url(plan_, 0, "blobs/" + kDigest), refused);
  FakeReply denied;
  denied.status = 401;
  denied.headers = {{"X-Cri-Mirror-Auth-Error", "token realm https://auth.b.test/token: HTTP 500"}};
  upstream_.Set(Url(plan_, 1, "blobs/" + kDigest), denied);
  FakeReply limited;
  limited.status = 429;
  upstream_.Set(Url(plan_, 2, "blobs/" + kDigest), limited);
  r = Http(port(), "/v2/docker.io/library/nginx/blobs/" + kDigest, Authed());
  EXPECT_EQ(r.status, 502);
  EXPECT_THAT(r.body, HasSubstr("UNAVAILABLE"));
  EXPECT_THAT(r.body, HasSubstr("Connection refused"));
  EXPECT_THAT(r.body, HasSubstr("HTTP 401 after authentication: token realm "
                                "https://auth.b.test/token: HTTP 500"));
  EXPECT_THAT(r.body, HasSubstr("HTTP 429"));
  EXPECT_THAT(r.body, Not(HasSubstr(session_.password.Reveal())));
  EXPECT_EQ(state_->Attempts().size(), 5u);
  EXPECT_THAT(state_->DescribeAttempts(),
              HasSubstr("http://a.test:5000: GET blobs/" + kDigest +
                        ": UNAVAILABLE: connect to a.test:5000: Connection refused"));
  EXPECT_TRUE(health_->IsBackedOff("a.test:5000"));
  EXPECT_FALSE(health_->IsBackedOff("b.test:5000"));
}

TEST_F(RelayServerTest, EveryEndpoint404Is404) {
  HttpResult r = Http(port(), "/v2/docker.io/library/nginx/blobs/" + kDigest, Authed());
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(r.body, HasSubstr("BLOB_UNKNOWN"));
  EXPECT_EQ(upstream_.Requests().size(), 3u);
  r = Http(port(), kTagPath, Authed());
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(r.body, HasSubstr("MANIFEST_UNKNOWN"));
}

TEST_F(RelayServerTest, BackedOffEndpointIsSkippedUntilBackoffEnds) {
  FakeReply timeout;
  timeout.open_error = absl::DeadlineExceededError("connect to a.test:5000 timed out");
  upstream_.Set(Url(plan_, 0, "manifests/1.25"), timeout);
  upstream_.Set(Url(plan_, 1, "manifests/1.25"), ManifestReply());
  EXPECT_EQ(Http(port(), kTagPath, Authed()).status, 200);
  EXPECT_EQ(upstream_.Requests().size(), 2u);

  upstream_.ClearRequests();
  EXPECT_EQ(Http(port(), kTagPath, Authed()).status, 200);
  EXPECT_EQ(upstream_.RequestedUrls(), (std::vector<std::string>{Url(plan_, 1, "manifests/1.25")}));
  EXPECT_THAT(state_->DescribeAttempts(), HasSubstr("skipped: in back-off"));

  clock_.Advance(absl::Seconds(5));  // back-off over: tried again
  upstream_.ClearRequests();
  upstream_.Set(Url(plan_, 0, "manifests/1.25"), ManifestReply());
  EXPECT_EQ(Http(port(), kTagPath, Authed()).status, 200);
  EXPECT_EQ(upstream_.RequestedUrls(), (std::vector<std::string>{Url(plan_, 0, "manifests/1.25")}));
  EXPECT_FALSE(health_->IsBackedOff("a.test:5000"));
}

TEST_F(RelayServerTest, BackedOffEndpointsAreStillTriedWhenNothingElseServes) {
  FakeReply refused;
  refused.open_error = absl::UnavailableError("refused");
  for (int i = 0; i < 3; ++i) upstream_.Set(Url(plan_, i, "manifests/1.25"), refused);
  EXPECT_EQ(Http(port(), kTagPath, Authed()).status, 502);
  upstream_.Set(Url(plan_, 2, "manifests/1.25"), ManifestReply());
  upstream_.ClearRequests();
  EXPECT_EQ(Http(port(), kTagPath, Authed()).status, 200);
  EXPECT_EQ(upstream_.Requests().size(), 3u);
}

TEST_F(RelayServerTest, ExcludedEndpointIsSkipped) {
  upstream_.Set(Url(plan_, 0, "manifests/1.25"), ManifestReply());
  upstream_.Set(Url(plan_, 1, "manifests/1.25"), ManifestReply());
  state_->ExcludeEndpoint(plan_.endpoints[0].base_url);
  EXPECT_EQ(Http(port(), kTagPath, Authed()).status, 200);
  EXPECT_EQ(upstream_.RequestedUrls(), (std::vector<std::string>{Url(plan_, 1, "manifests/1.25")}));
}

TEST_F(RelayServerTest, KubeletCredentialGoesOnlyToUpstreamEndpoints) {
  auto s = sessions_->Create(plan_, KubeletAuth{auth::BasicCredentials("kubelet", config::Secret("pw")), ""},
                             absl::Minutes(5));
  HttpOptions options = Authed();
  options.basic.emplace(s->username, s->password.Reveal());
  upstream_.Set(Url(plan_, 2, "manifests/1.25"), ManifestReply());
  EXPECT_EQ(Http(port(), kTagPath, options).status, 200);
  std::vector<UpstreamRequest> requests = upstream_.Requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_FALSE(requests[0].kubelet_credentials.has_value());
  EXPECT_FALSE(requests[1].kubelet_credentials.has_value());
  ASSERT_TRUE(requests[2].kubelet_credentials.has_value());
  EXPECT_EQ(requests[2].kubelet_credentials->username, "kubelet");
  EXPECT_EQ(requests[2].kubelet_credentials->password.Reveal(), "pw");
}

// Credential sources may exec a helper: asked only for endpoints tried.
class CountingSource : public credentials::CredentialSource {
 public:
  std::optional<credentials::FoundCredentials> Lookup(
      const credentials::CredentialQuery& query) const override {
    absl::MutexLock lock(&mu_);
    asked_.push_back(query.Image());
    return credentials::FoundCredentials{
        auth::BasicCredentials("src", config::Secret("src-secret")), "counting source"};
  }
  std::vector<std::string> asked() const {
    absl::MutexLock lock(&mu_);
    return asked_;
  }

 private:
  mutable absl::Mutex mu_;
  mutable std::vector<std::string> asked_;
};

TEST_F(RelayServerTest, CredentialSourcesAreAskedOnlyForEndpointsTried) {
  auto source = std::make_shared<CountingSource>();
  auto config = std::make_shared<config::Config>();
  config->credential_sources = source;
  resolver::EndpointPlan plan = plan_;
  plan.config = config;
  auto s = sessions_->Create(plan, std::nullopt, absl::Minutes(5));
  ASSERT_TRUE(s.ok());
  HttpOptions options = Authed();
  options.basic.emplace(s->username, s->password.Reveal());
  upstream_.Set(Url(plan_, 0, "manifests/1.25"), ManifestReply());
  EXPECT_EQ(Http(port(), kTagPath, options).status, 200);
  EXPECT_EQ(Http(port(), kTagPath, options).status, 200);
  std::vector<UpstreamRequest> requests = upstream_.Requests();
  ASSERT_EQ(requests.size(), 2u);
  ASSERT_TRUE(requests[0].source_credentials.has_value());
  EXPECT_EQ(requests[0].source_credentials->username, "src");
  EXPECT_FALSE(requests[0].kubelet_credentials.has_value());
  EXPECT_EQ(source->asked(), std::vector<std::string>{"a.test:5000/dockerhub/library/nginx"});
}

TEST_F(RelayServerTest, ManifestDigestMismatchFallsToNextEndpoint) {
  const std::string digest = DigestVerifier::Sha256(kManifest);
  FakeReply wrong = ManifestReply(R"({"schemaVersion":2,"evil":true})");
  wrong.headers = {{"Content-Type", kManifestType}, {"Docker-Content-Digest", digest}};
  upstream_.Set(Url(plan_, 0, "manifests/" + digest), wrong);
  upstream_.Set(Url(plan_, 1, "manifests/" + digest), ManifestReply());
  HttpResult r = Http(port(), "/v2/docker.io/library/nginx/manifests/" + digest, Authed());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, kManifest);
  EXPECT_EQ(r.headers["docker-content-digest"], digest);
  EXPECT_THAT(state_->DescribeAttempts(), HasSubstr("manifest digest mismatch"));
  EXPECT_TRUE(state_->IsExcluded(plan_.endpoints[0].base_url));
}

TEST_F(RelayServerTest, RejectsBadPathsMethodsAndForeignNames) {
  struct Case {
    std::string method;
    std::string path;
    long status;
  };
  const Case cases[] = {
      {"GET", "/v2/docker.io/library/../library/nginx/manifests/1.25", 400},
      {"GET", "/v2/docker.io%2Flibrary/nginx/manifests/1.25", 400},
      {"GET", "/v2/docker.io/library/nginx/manifests/%31.25", 400},
      {"GET", "/v2/docker.io/library/nginx/manifests/" + std::string(3000, 'a'), 400},
      {"GET", "/v2/docker.io/library/nginx/blobs/latest", 400},
      {"GET", "/", 404},
      {"GET", "/etc/passwd", 404},
      {"GET", "/v2/_catalog", 404},
      {"GET", "/v2/docker.io/library/nginx/tags/list", 404},
      {"GET", "/v2/docker.io/library/redis/manifests/1.25", 404},
      {"GET", "/v2/quay.io/library/nginx/blobs/" + kDigest, 404},
      {"GET", "/v2/docker.io/library/nginx/manifests/other-tag", 404},
      {"POST", "/v2/docker.io/library/nginx/blobs/uploads/", 405},
      {"PUT", kTagPath, 405},
      {"DELETE", kTagPath, 405},
      {"PATCH", "/v2/", 405},
  };
  for (const Case& c : cases) {
    HttpResult r = Http(port(), c.path, Authed(c.method));
    EXPECT_EQ(r.status, c.status) << c.method << " " << c.path << " " << r.body;
  }
  EXPECT_THAT(upstream_.Requests(), IsEmpty());
}

TEST_F(RelayServerTest, OversizedHeadersAre400WithTheLimit) {
  HttpOptions options = Authed();
  options.headers = {"X-Big: " + std::string(20 * 1024, 'x')};
  HttpResult r = Http(port(), kTagPath, options);
  EXPECT_EQ(r.status, 400) << r.code;
  EXPECT_THAT(r.body, HasSubstr("request headers exceed 16384 bytes"));
  EXPECT_THAT(upstream_.Requests(), IsEmpty());
}

// Beyond the connection's memory the request never reaches the handler;
// libmicrohttpd refuses it with a 4xx and nothing goes upstream.
TEST_F(RelayServerTest, RequestsBeyondConnectionMemoryAreRefused) {
  HttpOptions options = Authed();
  options.headers = {"X-Big: " + std::string(100 * 1024, 'x')};
  HttpResult r = Http(port(), kTagPath, options);
  EXPECT_GE(r.status, 400) << r.code;
  EXPECT_LT(r.status, 500);
  EXPECT_THAT(upstream_.Requests(), IsEmpty());
}

TEST_F(RelayServerTest, RangeIsForwardedAnd206PassedThrough) {
  FakeReply partial;
  partial.status = 206;
  partial.body = "cdef";
  partial.headers = {{"Content-Range", "bytes 2-5/6"},
                     {"Content-Type", "application/octet-stream"}};
  upstream_.Set(Url(plan_, 0, "blobs/" + kDigest), partial);
  HttpOptions options = Authed();
  options.headers = {"Range: bytes=2-"};
  HttpResult r = Http(port(), "/v2/docker.io/library/nginx/blobs/" + kDigest, options);
  EXPECT_EQ(r.code, CURLE_OK);
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, "cdef");
  EXPECT_EQ(r.headers["content-range"], "bytes 2-5/6");
  EXPECT_EQ(r.headers["content-length"], "4");
  const std::vector<UpstreamRequest> requests = upstream_.Requests();
  ASSERT_EQ(requests.size(), 1u);
  Headers ranges;
  for (const auto& h : requests[0].headers) {
    if (absl::EqualsIgnoreCase(h.first, "Range")) ranges.push_back(h);
  }
  ASSERT_EQ(ranges.size(), 1u);
  EXPECT_EQ(ranges[0].second, "bytes=2-");
  // A slice is not the blob: no source is recorded for it.
  EXPECT_EQ(state_->BlobSource(kDigest), std::nullopt);
}

TEST_F(RelayServerTest, LargeBlobStreamsWithBoundedMemoryAndBackPressure) {
  constexpr std::uint64_t kSize = 64ull << 20;
  const std::string digest = GeneratedDigest(kSize);
  FakeReply blob;
  blob.generated_size = kSize;
  blob.headers = {{"Content-Type", "application/octet-stream"}, {"Docker-Content-Digest", digest}};
  upstream_.Set(Url(plan_, 0, "blobs/" + digest), blob);

  std::uint64_t read_while_paused = 0;
  bool paused = false;
  HttpOptions options = Authed();
  options.keep_body = false;
  auto verifier = DigestVerifier::Create(digest);
  options.on_body = [&](std::uint64_t total) {
    if (!paused && total >= (1u << 20)) {
      paused = true;  // a slow containerd: stop reading for a while
      absl::SleepFor(absl::Milliseconds(500));
      read_while_paused = upstream_.bytes_read.load();
    }
  };
  HttpResult r = Http(port(), "/v2/docker.io/library/nginx/blobs/" + digest, options);
  EXPECT_EQ(r.code, CURLE_OK);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-length"], absl::StrCat(kSize));
  EXPECT_EQ(r.headers["docker-content-digest"], digest);
  EXPECT_EQ(upstream_.bytes_read.load(), kSize);
  // While the client was not reading, the relay stopped reading the upstream
  // after at most the socket buffers plus one chunk: never the whole blob.
  EXPECT_TRUE(paused);
  std::cerr << "read from upstream while the client paused at 1 MiB: " << read_while_paused
            << " bytes\n";
  EXPECT_LT(read_while_paused, 24u << 20) << read_while_paused;
  // One read never exceeds the configured chunk (RelayLimits::stream_chunk).
  EXPECT_LE(upstream_.largest_read.load(), RelayLimits{}.stream_chunk);
}

TEST_F(RelayServerTest, StreamedBlobBodyIsIntactAndVerified) {
  constexpr std::uint64_t kSize = (3u << 20) + 17;
  const std::string digest = GeneratedDigest(kSize);
  FakeReply blob;
  blob.generated_size = kSize;
  blob.omit_length = true;  // chunked to the client
  upstream_.Set(Url(plan_, 0, "blobs/" + digest), blob);
  HttpResult r = Http(port(), "/v2/docker.io/library/nginx/blobs/" + digest, Authed());
  EXPECT_EQ(r.code, CURLE_OK);
  EXPECT_EQ(r.status, 200);
  ASSERT_EQ(r.body.size(), kSize);
  EXPECT_EQ(DigestVerifier::Sha256(r.body), digest);
}

TEST_F(RelayServerTest, UpstreamFailureMidBodyAbortsTheTransfer) {
  for (bool omit_length : {false, true}) {
    clock_.Advance(absl::Minutes(10));  // past the back-off of the last round
    FakeReply blob;
    blob.generated_size = 4u << 20;
    blob.fail_after = 1u << 20;
    blob.omit_length = omit_length;
    upstream_.Set(Url(plan_, 0, "blobs/" + kDigest), blob);
    HttpResult r = Http(port(), "/v2/docker.io/library/nginx/blobs/" + kDigest, Authed());
    EXPECT_NE(r.code, CURLE_OK) << "omit_length=" << omit_length;
    EXPECT_LE(r.body.size(), 1u << 20);
  }
  EXPECT_THAT(state_->DescribeAttempts(), HasSubstr("reset by peer"));
  EXPECT_TRUE(health_->IsBackedOff("a.test:5000"));
}

TEST_F(RelayServerTest, BlobBytesPassUnhashedAndTheirSourceIsRecorded) {
  // Endpoint 0 serves bytes that are not kDigest's: the relay does not hash
  // blobs (containerd does, and refuses them), it passes the whole body on
  // and records endpoint 0 as the blob's source for cri-mirror's retry.
  FakeReply blob;
  blob.generated_size = 1u << 20;
  upstream_.Set(Url(plan_, 0, "blobs/" + kDigest), blob);
  HttpResult r = Http(port(), "/v2/docker.io/library/nginx/blobs/" + kDigest, Authed());
  EXPECT_EQ(r.code, CURLE_OK);
  EXPECT_EQ(r.body.size(), 1u << 20);
  EXPECT_EQ(state_->BlobSource(kDigest), plan_.endpoints[0].base_url);
  EXPECT_FALSE(state_->IsExcluded(plan_.endpoints[0].base_url));
}

TEST(ParseContentRangeTest, AcceptsOnlyWellFormedRanges) {
  struct Case {
    std::string value;
    bool ok;
    std::uint64_t first, last;
    std::optional<std::uint64_t> total;
  };
  const std::vector<Case> cases = {
      {"bytes 0-9/10", true, 0, 9, 10},   {"bytes 5-5/6", true, 5, 5, 6},
      {"bytes 2-7/*", true, 2, 7, std::nullopt}, {"bytes 0-9/9", false, 0, 0, {}},
      {"bytes 7-2/10", false, 0, 0, {}}, {"bytes=0-9/10", false, 0, 0, {}},
      {"bytes 0-/10", false, 0, 0, {}},  {"bytes -1-9/10", false, 0, 0, {}},
      {"bytes 0-9", false, 0, 0, {}},    {"", false, 0, 0, {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.value);
    std::optional<ContentRange> range = ParseContentRange(c.value);
    ASSERT_EQ(range.has_value(), c.ok);
    if (!c.ok) continue;
    EXPECT_EQ(range->first, c.first);
    EXPECT_EQ(range->last, c.last);
    EXPECT_EQ(range->total, c.total);
  }
}

// The Range headers the fake received for `url`, in order.
std::vector<std::string> RangesSentTo(const FakeUpstream& upstream, const std::string& url) {
  std::vector<std::string> out;
  for (const UpstreamRequest& r : upstream.Requests()) {
    if (r.url != url) continue;
    for (const auto& [key, value] : r.headers) {
      if (absl::EqualsIgnoreCase(key, "Range")) out.push_back(value);
    }
  }
  return out;
}

constexpr std::uint64_t kResumeSize = 4u << 20;
constexpr std::uint64_t kBreakAt = 1u << 20;

FakeReply GeneratedBlob(bool honor_range = true) {
  FakeReply blob;
  blob.generated_size = kResumeSize;
  blob.honor_range = honor_range;
  return blob;
}

// Endpoint 0 resets after kBreakAt bytes of the blob, endpoint 1 serves it
// with Range support; returns the blob's digest.
std::string ResetOnFirstEndpoint(FakeUpstream& upstream, const resolver::EndpointPlan& plan) {
  const std::string digest = GeneratedDigest(kResumeSize);
  FakeReply reset = GeneratedBlob();
  reset.fail_after = kBreakAt;
  upstream.Set(Url(plan, 0, "blobs/" + digest), reset);
  upstream.Set(Url(plan, 1, "blobs/" + digest), GeneratedBlob());
  return digest;
}

TEST_F(RelayServerTest, BrokenBlobResumesFromTheNextEndpointWithRange) {
  const std::string digest = GeneratedDigest(kResumeSize);
  FakeReply reset = GeneratedBlob();
  reset.fail_after = kBreakAt;
  FakeReply short_body = GeneratedBlob();
  short_body.generated_size = kBreakAt;  // ends early, announcing the whole length
  short_body.declared_length = kResumeSize;
  for (const FakeReply& broken : {reset, short_body}) {
    clock_.Advance(absl::Minutes(10));  // past the back-off of the last round
    // A new pull: the demotion of the last round does not carry over.
    auto session = sessions_->Create(plan_, std::nullopt, absl::Minutes(30));
    ASSERT_TRUE(session.ok());
    session_ = *session;
    state_ = sessions_->Find(session_.id);
    upstream_.ClearRequests();
    upstream_.Set(Url(plan_, 0, "blobs/" + digest), broken);
    upstream_.Set(Url(plan_, 1, "blobs/" + digest), GeneratedBlob());
    HttpResult r = Http(port(), "/v2/docker.io/library/nginx/blobs/" + digest, Authed());
    EXPECT_EQ(r.code, CURLE_OK);
    EXPECT_EQ(r.status, 200);
    ASSERT_EQ(r.body.size(), kResumeSize);
    EXPECT_EQ(DigestVerifier::Sha256(r.body), digest);
    EXPECT_THAT(RangesSentTo(upstream_, Url(plan_, 1, "blobs/" + digest)),
                ::testing::ElementsAre(absl::StrCat("bytes=", kBreakAt, "-", kResumeSize - 1)));
    EXPECT_TRUE(state_->IsDemoted(plan_.endpoints[0].base_url));
    EXPECT_FALSE(state_->IsDemoted(plan_.endpoints[1].base_url));
    EXPECT_THAT(state_->DescribeAttempts(),
                HasSubstr(broken.fail_after ? "reset by peer" : "body ended after"));
  }
}

TEST_F(RelayServerTest, ResumeSkipsSentBytesOfA200AndRefusesAWrongContentRange) {
  const std::string digest = GeneratedDigest(kResumeSize);
  FakeReply reset = GeneratedBlob();
  reset.fail_after = kBreakAt;
  upstream_.Set(Url(plan_, 0, "blobs/" + digest), reset);
  FakeReply wrong_start = GeneratedBlob(false);
  wrong_start.status = 206;
  wrong_start.headers = {{"Content-Range", absl::StrCat("bytes 0-", kResumeSize - 1, "/",
                                                        kResumeSize)}};
  upstream_.Set(Url(plan_, 1, "blobs/" + digest), wrong_start);
  upstream_.Set(Url(plan_, 2, "blobs/" + digest), GeneratedBlob(/*honor_range=*/false));
  HttpResult r = Http(port(), "/v2/docker.io/library/nginx/blobs/" + digest, Authed());
  EXPECT_EQ(r.code, CURLE_OK);
  ASSERT_EQ(r.body.size(), kResumeSize);
  EXPECT_EQ(DigestVerifier::Sha256(r.body), digest);
  EXPECT_THAT(state_->DescribeAttempts(),
              HasSubstr(absl::StrCat("Content-Range starts at 0, asked for ", kBreakAt)));
}

TEST_F(RelayServerTest, ResumedRangeOfARangedRequestKeepsItsEnd) {
  const std::string digest = ResetOnFirstEndpoint(upstream_, plan_);
  HttpOptions options = Authed();
  options.headers = {"Range: bytes=100-3000099"};
  HttpResult r = Http(port(), "/v2/docker.io/library/nginx/blobs/" + digest, options);
  EXPECT_EQ(r.code, CURLE_OK);
  EXPECT_EQ(r.status, 206);
  ASSERT_EQ(r.body.size(), 3000000u);
  for (std::size_t i = 0; i < r.body.size(); i += 4099) {
    ASSERT_EQ(r.body[i], GeneratedByte(100 + i)) << i;
  }
  EXPECT_THAT(RangesSentTo(upstream_, Url(plan_, 1, "blobs/" + digest)),
              ::testing::ElementsAre(absl::StrCat("bytes=", 100 + kBreakAt, "-3000099")));
}

TEST_F(RelayServerTest, BlobBrokenEverywhereGivesUpAfterRoundsWithoutProgress) {
  const std::string digest = GeneratedDigest(kResumeSize);
  FakeReply reset = GeneratedBlob();
  reset.fail_after = kBreakAt;
  reset.honor_range = false;  // asked again, it breaks before the offset
  FakeReply dead = GeneratedBlob();
  dead.fail_after = 0;  // opens, then breaks before any byte
  upstream_.Set(Url(plan_, 0, "blobs/" + digest), reset);
  upstream_.Set(Url(plan_, 1, "blobs/" + digest), dead);
  upstream_.Set(Url(plan_, 2, "blobs/" + digest), dead);
  HttpResult r = Http(port(), "/v2/docker.io/library/nginx/blobs/" + digest, Authed());
  EXPECT_NE(r.code, CURLE_OK);
  EXPECT_EQ(r.body.size(), kBreakAt);
  // 1 + 3 rounds, each adopting the first endpoint that opens.
  EXPECT_LE(upstream_.Requests().size(), 4u);
}

TEST_F(RelayServerTest, EndpointThatBrokeABlobIsTriedLastForTheRestOfThePull) {
  const std::string digest = ResetOnFirstEndpoint(upstream_, plan_);
  ASSERT_EQ(Http(port(), "/v2/docker.io/library/nginx/blobs/" + digest, Authed()).code,
            CURLE_OK);
  clock_.Advance(absl::Minutes(10));  // the back-off is over; the demotion is not
  upstream_.ClearRequests();
  upstream_.Set(Url(plan_, 0, "blobs/" + kDigest), GeneratedBlob());
  upstream_.Set(Url(plan_, 1, "blobs/" + kDigest), GeneratedBlob());
  ASSERT_EQ(Http(port(), "/v2/docker.io/library/nginx/blobs/" + kDigest, Authed()).code,
            CURLE_OK);
  EXPECT_THAT(upstream_.RequestedUrls(),
              ::testing::ElementsAre(Url(plan_, 1, "blobs/" + kDigest)));
}

// Issue 10 defect 9: by tag, the upstream's digest is what containerd
// trusts; one that does not hash the body moves to the next endpoint.
TEST_F(RelayServerTest, TagManifestWithAWrongUpstreamDigestFallsToNextEndpoint) {
  FakeReply lying = ManifestReply(R"({"schemaVersion":2,"evil":true})");
  lying.headers = {{"Content-Type", kManifestType},
                   {"Docker-Content-Digest", DigestVerifier::Sha256(kManifest)}};
  upstream_.Set(Url(plan_, 0, "manifests/1.25"), lying);
  upstream_.Set(Url(plan_, 1, "manifests/1.25"), ManifestReply());
  HttpResult r = Http(port(), kTagPath, Authed());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, kManifest);
  EXPECT_EQ(r.headers["docker-content-digest"], DigestVerifier::Sha256(kManifest));
  EXPECT_THAT(state_->DescribeAttempts(), HasSubstr("does not match the manifest body"));
  FakeReply garbage = ManifestReply();
  garbage.headers = {{"Content-Type", kManifestType}, {"Docker-Content-Digest", "md5:abc"}};
  upstream_.Set(Url(plan_, 0, "manifests/1.25"), garbage);
  r = Http(port(), kTagPath, Authed());
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(state_->DescribeAttempts(), HasSubstr("is not a digest the relay can check"));
}

TEST_F(RelayServerTest, HeadBlobReportsLengthWithoutBody) {
  FakeReply blob;
  blob.generated_size = 12345;
  upstream_.Set(Url(plan_, 0, "blobs/" + kDigest), blob);
  HttpResult r = Http(port(), "/v2/docker.io/library/nginx/blobs/" + kDigest, Authed("HEAD"));
  EXPECT_EQ(r.code, CURLE_OK);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-length"], "12345");
  EXPECT_EQ(upstream_.bytes_read.load(), 0u);
  // Without an upstream length the HEAD still completes, without a length.
  blob.omit_length = true;
  upstream_.Set(Url(plan_, 0, "blobs/" + kDigest), blob);
  r = Http(port(), "/v2/docker.io/library/nginx/blobs/" + kDigest, Authed("HEAD"));
  EXPECT_EQ(r.code, CURLE_OK);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.count("content-length"), 0u);
}

TEST_F(RelayServerTest, ManifestWithoutUpstreamLengthOrDigestGetsBoth) {
  FakeReply reply = ManifestReply();
  reply.omit_length = true;
  reply.headers = {{"Content-Type", kManifestType}};
  upstream_.Set(Url(plan_, 0, "manifests/1.25"), reply);
  HttpResult r = Http(port(), kTagPath, Authed());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, kManifest);
  EXPECT_EQ(r.headers["content-length"], absl::StrCat(std::strlen(kManifest)));
  EXPECT_EQ(r.headers["docker-content-digest"], DigestVerifier::Sha256(kManifest));
}

TEST_F(RelayServerTest, OversizedManifestFailsTheEndpoint) {
  upstream_.Set(Url(plan_, 0, "manifests/1.25"), ManifestReply(std::string(5 << 20, ' ')));
  upstream_.Set(Url(plan_, 1, "manifests/1.25"), ManifestReply());
  HttpResult r = Http(port(), kTagPath, Authed());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, kManifest);
  EXPECT_THAT(state_->DescribeAttempts(), HasSubstr("manifest larger than 4194304 bytes"));
}

TEST_F(RelayServerTest, ConcurrentStreamsAreIndependent) {
  constexpr std::uint64_t kSize = 2u << 20;
  const std::string digest = GeneratedDigest(kSize);
  FakeReply blob;
  blob.generated_size = kSize;
  upstream_.Set(Url(plan_, 0, "blobs/" + digest), blob);
  std::vector<std::thread> clients;
  std::vector<HttpResult> results(8);
  for (HttpResult& result : results) {
    clients.emplace_back(
        [&] { result = Http(port(), "/v2/docker.io/library/nginx/blobs/" + digest, Authed()); });
  }
  for (std::thread& t : clients) t.join();
  for (const HttpResult& r : results) {
    EXPECT_EQ(r.code, CURLE_OK);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(DigestVerifier::Sha256(r.body), digest);
  }
}

TEST_F(RelayServerTest, StopEndsInFlightStreams) {
  FakeReply blob;
  blob.generated_size = 256u << 20;
  upstream_.Set(Url(plan_, 0, "blobs/" + kDigest), blob);
  std::atomic<bool> started{false};
  HttpOptions options = Authed();
  options.keep_body = false;
  options.on_body = [&](std::uint64_t) {
    started = true;
    absl::SleepFor(absl::Milliseconds(1));  // a slow reader
  };
  HttpResult result;
  std::thread client(
      [&] { result = Http(port(), "/v2/docker.io/library/nginx/blobs/" + kDigest, options); });
  while (!started) absl::SleepFor(absl::Milliseconds(5));
  const absl::Time begin = absl::Now();
  server_->Stop();
  EXPECT_LT(absl::Now() - begin, absl::Seconds(5));
  client.join();
  EXPECT_NE(result.code, CURLE_OK);
  server_->Stop();  // idempotent
}

#ifdef CRIMIRROR_HAVE_CURL_UPSTREAM
// ---------------------------------------------------------------------------
// The relay in front of the real CurlUpstream: an outer relay whose only
// endpoint is the inner test relay (with its fake upstream), reached over
// HTTP with the inner session's credential as the [host] Basic credential.
// Exercises the two libraries together: curl streaming into the relay's
// reader, header pass-through, abort propagation.
// ---------------------------------------------------------------------------

class RelayChainTest : public RelayServerTest {
 protected:
  void SetUp() override {
    RelayServerTest::SetUp();
    auto curl = CurlUpstream::Create({});
    ASSERT_TRUE(curl.ok()) << curl.status();
    curl_ = *std::move(curl);
    resolver::Endpoint inner;
    inner.host = absl::StrCat("127.0.0.1:", port());
    inner.base_url = absl::StrCat("http://", inner.host);
    inner.repository = "docker.io/library/nginx";
    config::HostSettings settings;
    settings.host = inner.host;
    settings.username = session_.username;
    settings.password = session_.password;
    inner.host_settings = settings;
    resolver::EndpointPlan outer_plan;
    outer_plan.reference = plan_.reference;
    outer_plan.matched_rule = "docker.io";
    outer_plan.endpoints = {MakeEndpoint("127.0.0.1:1", "library/nginx"), inner};
    RelayServer::Options options;
    options.upstream = curl_.get();
    options.sessions = &outer_sessions_;
    options.health = &outer_health_;
    auto outer = RelayServer::Create(options);
    ASSERT_TRUE(outer.ok()) << outer.status();
    outer_ = *std::move(outer);
    auto session = outer_sessions_.Create(outer_plan, std::nullopt, absl::Minutes(5));
    ASSERT_TRUE(session.ok());
    outer_options_.basic.emplace(session->username, session->password.Reveal());
    outer_state_ = outer_sessions_.Find(session->id);
  }

  HttpResult Outer(const std::string& path) { return Http(outer_->port(), path, outer_options_); }

  std::unique_ptr<CurlUpstream> curl_;
  SessionStore outer_sessions_;
  EndpointHealth outer_health_{EndpointHealth::Options{}};
  std::unique_ptr<RelayServer> outer_;
  HttpOptions outer_options_;
  SessionStatePtr outer_state_;
};

TEST_F(RelayChainTest, ManifestAndBlobFlowThroughCurlUpstream) {
  upstream_.Set(Url(plan_, 0, "manifests/1.25"), ManifestReply());
  HttpResult r = Outer(kTagPath);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, kManifest);
  EXPECT_EQ(r.headers["content-type"], kManifestType);
  EXPECT_EQ(r.headers["docker-content-digest"], DigestVerifier::Sha256(kManifest));
  // The dead first endpoint was recorded and backed off.
  EXPECT_THAT(outer_state_->DescribeAttempts(), HasSubstr("http://127.0.0.1:1"));
  EXPECT_TRUE(outer_health_.IsBackedOff("127.0.0.1:1"));

  constexpr std::uint64_t kSize = (8u << 20) + 3;
  const std::string digest = GeneratedDigest(kSize);
  FakeReply blob;
  blob.generated_size = kSize;
  upstream_.Set(Url(plan_, 0, "blobs/" + digest), blob);
  r = Outer("/v2/docker.io/library/nginx/blobs/" + digest);
  EXPECT_EQ(r.code, CURLE_OK);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-length"], absl::StrCat(kSize));
  EXPECT_EQ(DigestVerifier::Sha256(r.body), digest);
}

TEST_F(RelayChainTest, NotFoundAndInnerAbortPropagate) {
  // First request: the dead endpoint is refused (and backed off), the inner
  // relay says 404: not every endpoint said 404, so 502.
  const std::string path = "/v2/docker.io/library/nginx/manifests/" + kDigest;
  EXPECT_EQ(Outer(path).status, 502);
  // Now the dead endpoint is skipped: every endpoint tried said 404.
  HttpResult r = Outer(path);
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(r.body, HasSubstr("MANIFEST_UNKNOWN"));
  EXPECT_THAT(outer_state_->DescribeAttempts(),
              HasSubstr("http://127.0.0.1:1: GET manifests/" + kDigest +
                        ": skipped: in back-off after a connection failure"));

  FakeReply blob;
  blob.generated_size = 4u << 20;
  blob.fail_after = 1u << 20;
  upstream_.Set(Url(plan_, 0, "blobs/" + kDigest), blob);
  r = Outer("/v2/docker.io/library/nginx/blobs/" + kDigest);
  EXPECT_NE(r.code, CURLE_OK);
  EXPECT_LT(r.body.size(), 4u << 20);
  EXPECT_THAT(outer_state_->DescribeAttempts(), HasSubstr("Transferred a partial file"));
}
#endif  // CRIMIRROR_HAVE_CURL_UPSTREAM

TEST(RelayServerCreateTest, RefusesNonLoopbackAndMissingDependencies) {
  FakeUpstream upstream;
  SessionStore sessions;
  EndpointHealth health({});
  for (const std::string listen : {"0.0.0.0:0", "192.168.1.1:5098", "[::]:0", "example.com:80",
                                   "127.0.0.1", "127.0.0.1:99999", ":0"}) {
    RelayServer::Options options{listen, &upstream, &sessions, &health, {}};
    EXPECT_TRUE(absl::IsInvalidArgument(RelayServer::Create(options).status())) << listen;
  }
  RelayServer::Options missing{"127.0.0.1:0", nullptr, &sessions, &health, {}};
  EXPECT_TRUE(absl::IsInvalidArgument(RelayServer::Create(missing).status()));
  for (const std::string listen : {"127.0.0.1:0", "localhost:0", "127.0.0.2:0", "[::1]:0"}) {
    RelayServer::Options options{listen, &upstream, &sessions, &health, {}};
    auto server = RelayServer::Create(options);
    if (listen == "[::1]:0" && !server.ok()) continue;  // no IPv6 in this sandbox
    ASSERT_TRUE(server.ok()) << listen << ": " << server.status();
    EXPECT_NE((*server)->port(), 0);
    (*server)->Stop();
  }
}

TEST(RelayServerCreateTest, BusyPortIsUnavailable) {
  FakeUpstream upstream;
  SessionStore sessions;
  EndpointHealth health({});
  auto first = RelayServer::Create({"127.0.0.1:0", &upstream, &sessions, &health, {}});
  ASSERT_TRUE(first.ok());
  auto second = RelayServer::Create(
      {absl::StrCat("127.0.0.1:", (*first)->port()), &upstream, &sessions, &health, {}});
  EXPECT_TRUE(absl::IsUnavailable(second.status())) << second.status();
}

}  // namespace
}  // namespace crimirror::relay
