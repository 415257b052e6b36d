// Tests CurlUpstream against the real docker-registry (Debian's
// /usr/bin/docker-registry) on loopback: plain HTTP, TLS from a CA generated
// here with the openssl CLI, htpasswd Basic auth and token auth. Fakes only
// where no real server can produce the case: the token realm (no real token
// server is installed), a black hole, a cross-host redirect.
#include "relay/curl_upstream.h"
#include "relay/address_policy.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/strings/ascii.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/registry_token.h"

namespace crimirror::relay {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kUser[] = "alice";
constexpr char kPassword[] = "Sup3r-Secret-Pw";
constexpr char kRegistryBin[] = "/usr/bin/docker-registry";

// ---------------------------------------------------------------------------
// Small helpers: files, commands, ports, hashes.

void WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string ReadFileText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), len));
}

std::string RandomBytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// ---------------------------------------------------------------------------
// A plain libcurl client used only to seed registries (push blobs and
// manifests) and to wait for readiness; independent of the code under test.
struct RawResponse {
  long status = 0;
  std::string body;
  std::string location;
};

size_t CollectBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}
size_t CollectLocation(char* data, size_t size, size_t n, void* out) {
  std::string line(data, size * n);
  if (absl::StartsWithIgnoreCase(line, "location:")) {
    *static_cast<std::string*>(out) = std::string(absl::StripAsciiWhitespace(line.substr(9)));
  }
  return size * n;
}

RawResponse RawRequest(const std::string& method, const std::string& url,
                       const std::string& authorization, const std::string& content_type = "",
                       const std::string& body = "") {
  RawResponse r;
  CURL* c = curl_easy_init();
  curl_slist* headers = nullptr;
  if (!authorization.empty()) headers = curl_slist_append(headers, ("Authorization: " + authorization).c_str());
  if (!content_type.empty()) headers = curl_slist_append(headers, ("Content-Type: " + content_type).c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &CollectBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &CollectLocation);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.location);
  if (method == "PUT" || method == "POST") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  return r;
}

// Monolithic blob upload: POST .../blobs/uploads/ then PUT <location>&digest=.
std::string PushBlob(const std::string& base, const std::string& repo, const std::string& data,
                     const std::string& authorization) {
  std::string digest = "sha256:" + Sha256Hex(data);
  RawResponse start = RawRequest("POST", base + "/v2/" + repo + "/blobs/uploads/", authorization);
  EXPECT_EQ(start.status, 202) << start.body;
  std::string location = start.location;
  if (absl::StartsWith(location, "/")) location = base + location;
  location += (location.find('?') == std::string::npos ? "?" : "&") + std::string("digest=") + digest;
  RawResponse put = RawRequest("PUT", location, authorization, "application/octet-stream", data);
  EXPECT_EQ(put.status, 201) << put.body;
  return digest;
}

struct PushedImage {
  std::string manifest;
  std::string manifest_digest;
  std::string layer;
  std::string layer_digest;
};

PushedImage PushImage(const std::string& base, const std::string& repo, const std::string& tag,
                      const std::string& layer, const std::string& authorization) {
  PushedImage image;
  std::string config = R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}})";
  std::string config_digest = PushBlob(base, repo, config, authorization);
  image.layer = layer;
  image.layer_digest = PushBlob(base, repo, layer, authorization);
  image.manifest = absl::StrCat(
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)",
      R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")",
      config_digest, R"(","size":)", config.size(), R"(},"layers":[{"mediaType":)",
      R"("application/vnd.oci.image.layer.v1.tar+gzip","digest":")", image.layer_digest,
      R"(","size":)", layer.size(), "}]}");
  image.manifest_digest = "sha256:" + Sha256Hex(image.manifest);
  RawResponse put = RawRequest("PUT", base + "/v2/" + repo + "/manifests/" + tag, authorization,
                               "application/vnd.oci.image.manifest.v1+json", image.manifest);
  EXPECT_EQ(put.status, 201) << put.body;
  return image;
}

// ---------------------------------------------------------------------------
// The real docker-registry, on 127.0.0.1:<free port>, temp storage.
struct RegistryOptions {
  std::string tls_cert, tls_key;
  std::string htpasswd;
  std::string token_realm, token_root_cert;
};

class Registry {
 public:
  Registry(const fs::path& dir, const RegistryOptions& options) : dir_(dir) {
    fs::create_directories(dir_ / "storage");
    port_ = FreePort();
    std::string yaml = absl::StrCat(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ",
        (dir_ / "storage").string(), "\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:",
        port_, "\n");
    if (!options.tls_cert.empty()) {
      absl::StrAppend(&yaml, "  tls:\n    certificate: ", options.tls_cert, "\n    key: ",
                      options.tls_key, "\n");
    }
    if (!options.htpasswd.empty()) {
      absl::StrAppend(&yaml, "auth:\n  htpasswd:\n    realm: basic-realm\n    path: ",
                      options.htpasswd, "\n");
    } else if (!options.token_realm.empty()) {
      absl::StrAppend(&yaml, "auth:\n  token:\n    realm: ", options.token_realm,
                      "\n    service: test-registry\n    issuer: test-issuer\n"
                      "    rootcertbundle: ", options.token_root_cert, "\n");
    }
    WriteFile(dir_ / "config.yml", yaml);
    pid_ = ::fork();
    if (pid_ == 0) {
      std::string log = (dir_ / "registry.log").string();
      FILE* f = std::freopen(log.c_str(), "w", stderr);
      (void)f;
      std::freopen(log.c_str(), "a", stdout);
      std::string config = (dir_ / "config.yml").string();
      ::execl(kRegistryBin, kRegistryBin, "serve", config.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    scheme_ = options.tls_cert.empty() ? "http" : "https";
    for (int i = 0; i < 200; ++i) {  // wait until /v2/ answers
      if (RawRequest("GET", Base() + "/v2/", "").status != 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "docker-registry did not start: " << ReadFileText(dir_ / "registry.log");
  }
  ~Registry() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::string Base() const { return absl::StrCat(scheme_, "://127.0.0.1:", port_); }
  std::string HostPort() const { return absl::StrCat("127.0.0.1:", port_); }
  int port() const { return port_; }

 private:
  fs::path dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::string scheme_;
};

// ---------------------------------------------------------------------------
// A tiny loopback HTTP/1.1 server for the fakes. One connection at a time;
// the handler returns the full response text, or nullopt to never answer
// (black hole).
struct FakeRequest {
  std::string method, target, body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string Header(const std::string& name) const {
    for (const auto& [k, v] : headers) {
      if (absl::EqualsIgnoreCase(k, name)) return v;
    }
    return "";
  }
};
// The handler's result: the response bytes; prefixed with kHold the bytes
// are written and the connection is kept open; nullopt never answers.
using FakeHandler = std::function<std::optional<std::string>(const FakeRequest&)>;
constexpr char kHold[] = "\x01HOLD";

std::string HttpResponse(int status, const std::vector<std::string>& headers,
                         const std::string& body) {
  std::string r = absl::StrCat("HTTP/1.1 ", status, " X\r\nContent-Length: ", body.size(),
                               "\r\nConnection: close\r\n");
  for (const std::string& h : headers) absl::StrAppend(&r, h, "\r\n");
  return absl::StrCat(r, "\r\n", body);
}

// A 401 sending clients to the plain-http realm on 127.0.0.1:`realm_port`.
std::string BearerChallenge(int realm_port) {
  return HttpResponse(401, {absl::StrCat(R"(WWW-Authenticate: Bearer realm="http://127.0.0.1:)",
                                         realm_port, R"(/token",service="s")")},
                      "");
}

// With a certificate and key it speaks TLS (one handshake per connection).
struct FakeTls {
  std::string cert, key;
};

class FakeServer {
 public:
  explicit FakeServer(FakeHandler handler, std::optional<FakeTls> tls = std::nullopt)
      : handler_(std::move(handler)) {
    if (tls) {
      ssl_ctx_ = SSL_CTX_new(TLS_server_method());
      SSL_CTX_use_certificate_chain_file(ssl_ctx_, tls->cert.c_str());
      SSL_CTX_use_PrivateKey_file(ssl_ctx_, tls->key.c_str(), SSL_FILETYPE_PEM);
    }
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(listen_fd_, 16);
    socklen_t len = sizeof(addr);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~FakeServer() {
    stop_ = true;
    thread_.join();
    for (auto [fd, ssl] : held_) {
      SSL_free(ssl);
      ::close(fd);
    }
    ::close(listen_fd_);
    SSL_CTX_free(ssl_ctx_);
  }
  int port() const { return port_; }
  int hits() const { return hits_; }
  std::vector<FakeRequest> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  void Loop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      timeval limit{3, 0};  // a client that never handshakes cannot wedge the loop
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
      SSL* ssl = nullptr;
      if (ssl_ctx_ != nullptr) {
        ssl = SSL_new(ssl_ctx_);
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) <= 0) {
          SSL_free(ssl);
          ::close(fd);
          continue;
        }
      }
      Serve(fd, ssl);
    }
  }
  // The body after the headers already in `in`, up to Content-Length.
  static ssize_t Recv(int fd, SSL* ssl, char* buf, std::size_t n) {
    if (ssl == nullptr) return ::read(fd, buf, n);
    return SSL_read(ssl, buf, static_cast<int>(n));
  }
  static bool Readable(int fd, SSL* ssl) {
    if (ssl != nullptr && SSL_pending(ssl) > 0) return true;
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 2000) > 0;
  }
  static void Send(int fd, SSL* ssl, const std::string& bytes) {
    if (ssl == nullptr) {
      (void)::write(fd, bytes.data(), bytes.size());
    } else {
      (void)SSL_write(ssl, bytes.data(), static_cast<int>(bytes.size()));
    }
  }
  static void ReadBody(int fd, SSL* ssl, const std::string& in, FakeRequest* req) {
    std::size_t length = 0;
    if (!absl::SimpleAtoi(req->Header("Content-Length"), &length) || length > (1 << 20)) return;
    req->body = in.substr(std::min(in.size(), in.find("\r\n\r\n") + 4));
    char buf[4096];
    while (req->body.size() < length) {
      if (!Readable(fd, ssl)) break;
      ssize_t n = Recv(fd, ssl, buf, sizeof(buf));
      if (n <= 0) break;
      req->body.append(buf, static_cast<std::size_t>(n));
    }
  }
  void Serve(int fd, SSL* ssl) {
    std::string in;
    char buf[4096];
    while (in.find("\r\n\r\n") == std::string::npos) {
      if (!Readable(fd, ssl)) break;
      ssize_t n = Recv(fd, ssl, buf, sizeof(buf));
      if (n <= 0) break;
      in.append(buf, static_cast<std::size_t>(n));
    }
    FakeRequest req;
    std::vector<std::string> lines = absl::StrSplit(in.substr(0, in.find("\r\n\r\n")), "\r\n");
    if (!lines.empty()) {
      std::vector<std::string> parts = absl::StrSplit(lines[0], ' ');
      if (parts.size() >= 2) {
        req.method = parts[0];
        req.target = parts[1];
      }
      for (std::size_t i = 1; i < lines.size(); ++i) {
        std::size_t colon = lines[i].find(':');
        if (colon == std::string::npos) continue;
        req.headers.emplace_back(lines[i].substr(0, colon),
                                 std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1))));
      }
    }
    ReadBody(fd, ssl, in, &req);
    ++hits_;
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(req);
    }
    std::optional<std::string> out = handler_(req);
    if (!out) {
      held_.emplace_back(fd, ssl);  // black hole: keep it open, never answer
      return;
    }
    if (absl::StartsWith(*out, kHold)) {
      Send(fd, ssl, out->substr(std::strlen(kHold)));
      held_.emplace_back(fd, ssl);
      return;
    }
    Send(fd, ssl, *out);
    if (ssl != nullptr) {
      SSL_shutdown(ssl);
      SSL_free(ssl);
    }
    ::shutdown(fd, SHUT_WR);
    ::close(fd);
  }

  FakeHandler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> hits_{0};
  std::mutex mu_;
  std::vector<FakeRequest> requests_;
  std::vector<std::pair<int, SSL*>> held_;
  SSL_CTX* ssl_ctx_ = nullptr;
  std::thread thread_;
};

std::vector<std::string> QueryValues(const std::string& target, const std::string& name) {
  std::size_t q = target.find('?');
  if (q == std::string::npos) return {};
  return test_support::FormValues(std::string_view(target).substr(q + 1), name);
}

std::string BasicHeader(const std::string& user, const std::string& password) {
  return "Basic " + absl::Base64Escape(user + ":" + password);
}

// ---------------------------------------------------------------------------
// Suite: certificates, htpasswd and four registries, built once.
class CurlUpstreamTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / absl::StrCat("curl_upstream_test_", ::getpid()));
    fs::create_directories(*dir_);
    GenerateFiles();
    FILE* f = std::fopen(P("token.key").c_str(), "r");
    token_key_ = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    token_server_ = new FakeServer([](const FakeRequest& req) -> std::optional<std::string> {
      if (req.method == "POST" && absl::StrContains(req.body, "refresh_token=kubelet-refresh-token")) {
        std::string token =
            test_support::MintRegistryToken(token_key_, test_support::FormValues(req.body, "scope"));
        return HttpResponse(200, {"Content-Type: application/json"},
                            absl::StrCat(R"({"access_token":")", token, R"(","expires_in":300})"));
      }
      if (req.Header("Authorization") != BasicHeader(kUser, kPassword)) {
        return HttpResponse(401, {R"(WWW-Authenticate: Basic realm="token")"}, "{}");
      }
      std::string token =
          test_support::MintRegistryToken(token_key_, QueryValues(req.target, "scope"));
      return HttpResponse(200, {"Content-Type: application/json"},
                          absl::StrCat(R"({"token":")", token, R"(","expires_in":300})"));
    }, TestCert());
    layer_ = RandomBytes(5 * 1024 * 1024 + 123, 7);
    plain_ = new Registry(*dir_ / "plain", {});
    RegistryOptions basic_options;
    basic_options.htpasswd = P("htpasswd");
    basic_ = new Registry(*dir_ / "basic", basic_options);
    RegistryOptions tls_options = basic_options;
    tls_options.tls_cert = P("server.crt");
    tls_options.tls_key = P("server.key");
    tls_ = new Registry(*dir_ / "tls", tls_options);
    RegistryOptions token_options;
    // An https realm (Basic credentials never go to a plain-http one), on
    // its own origin: its [host] table comes from RealmHosts().
    token_options.token_realm = absl::StrCat("https://127.0.0.1:", token_server_->port(), "/token");
    token_options.token_root_cert = P("token.crt");
    token_ = new Registry(*dir_ / "token", token_options);
    std::string basic = BasicHeader(kUser, kPassword);
    image_ = new PushedImage(PushImage(plain_->Base(), "library/demo", "v1", layer_, ""));
    PushImage(basic_->Base(), "library/demo", "v1", layer_, basic);
    PushImage(tls_->Base(), "library/demo", "v1", layer_, basic);
    PushImage(token_->Base(), "library/demo", "v1", layer_,
              "Bearer " + test_support::MintRegistryToken(
                              token_key_, {"repository:library/demo:pull,push"}));
  }
  static void TearDownTestSuite() {
    delete plain_;
    delete basic_;
    delete tls_;
    delete token_;
    delete token_server_;
    delete image_;
    EVP_PKEY_free(token_key_);
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string P(const std::string& name) { return (*dir_ / name).string(); }
  // For TLS fakes on 127.0.0.1: the test CA's "docker-registry" certificate.
  static FakeTls TestCert() { return FakeTls{P("server.crt"), P("server.key")}; }
  static void GenerateFiles() {
    const std::string d = dir_->string();
    const std::string cmds[] = {
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca -keyout " + d +
            "/ca.key -out " + d + "/ca.crt",
        "openssl req -newkey rsa:2048 -nodes -subj /CN=docker-registry -keyout " + d +
            "/server.key -out " + d + "/server.csr",
        "printf 'subjectAltName=DNS:docker-registry\\nbasicConstraints=CA:FALSE\\n' > " + d + "/ext.cnf",
        "openssl x509 -req -in " + d + "/server.csr -CA " + d + "/ca.crt -CAkey " + d +
            "/ca.key -CAcreateserial -days 2 -extfile " + d + "/ext.cnf -out " + d + "/server.crt",
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=token-signer -keyout " + d +
            "/token.key -out " + d + "/token.crt",
        std::string("htpasswd -Bbn ") + kUser + " " + kPassword + " > " + d + "/htpasswd",
    };
    for (const std::string& cmd : cmds) {
      ASSERT_EQ(std::system(("(" + cmd + ") >/dev/null 2>&1").c_str()), 0) << cmd;
    }
  }

  void SetUp() override {
    absl::StatusOr<std::unique_ptr<CurlUpstream>> upstream = CurlUpstream::Create({});
    ASSERT_TRUE(upstream.ok()) << upstream.status();
    upstream_ = *std::move(upstream);
  }

  static config::HostSettings Host(const Registry& r) {
    config::HostSettings host;
    host.host = r.HostPort();
    host.connect_timeout = absl::Seconds(2);
    host.response_timeout = absl::Seconds(5);
    return host;
  }
  static config::HostSettings WithCredentials(config::HostSettings host) {
    host.username = kUser;
    host.password = config::Secret(kPassword);
    return host;
  }
  static UpstreamRequest Request(const std::string& url, const std::string& method = "GET") {
    UpstreamRequest request;
    request.method = method;
    request.url = url;
    request.repository = "library/demo";
    request.headers = {{"Accept", "application/vnd.oci.image.manifest.v1+json"}};
    return request;
  }
  // A GET of `url` on the TLS registry with its credentials, trusting the
  // test CA and checking the certificate's name.
  static UpstreamRequest TrustedTlsRequest(const std::string& url) {
    UpstreamRequest request = Request(url);
    request.host_settings = WithCredentials(Host(*tls_));
    request.host_settings->ca_files = {P("ca.crt")};
    request.host_settings->tls_server_name = "docker-registry";
    return request;
  }
  // host_lookup giving the token realm its own [host] table (the test CA,
  // its certificate's name).
  static std::function<std::optional<config::HostSettings>(std::string_view)> RealmHosts() {
    return [](std::string_view host_port) -> std::optional<config::HostSettings> {
      if (host_port != absl::StrCat("127.0.0.1:", token_server_->port())) return std::nullopt;
      config::HostSettings realm;
      realm.host = std::string(host_port);
      realm.ca_files = {P("ca.crt")};
      realm.tls_server_name = "docker-registry";
      return realm;
    };
  }
  static std::string ManifestUrl(const Registry& r) { return r.Base() + "/v2/library/demo/manifests/v1"; }
  static std::string BlobUrl(const Registry& r) {
    return r.Base() + "/v2/library/demo/blobs/" + image_->layer_digest;
  }

  // Reads the whole body in reads of `step` bytes.
  static std::string ReadBody(UpstreamResponse& response, std::size_t step = 64 * 1024) {
    std::string body;
    std::vector<char> buf(step);
    while (true) {
      absl::StatusOr<std::size_t> n = response.Read(buf.data(), buf.size());
      EXPECT_TRUE(n.ok()) << n.status();
      if (!n.ok() || *n == 0) return body;
      body.append(buf.data(), *n);
    }
  }

  static fs::path* dir_;
  static EVP_PKEY* token_key_;
  static FakeServer* token_server_;
  static Registry* plain_;
  static Registry* basic_;
  static Registry* tls_;
  static Registry* token_;
  static PushedImage* image_;
  static std::string layer_;
  std::unique_ptr<CurlUpstream> upstream_;
};
fs::path* CurlUpstreamTest::dir_ = nullptr;
EVP_PKEY* CurlUpstreamTest::token_key_ = nullptr;
FakeServer* CurlUpstreamTest::token_server_ = nullptr;
Registry* CurlUpstreamTest::plain_ = nullptr;
Registry* CurlUpstreamTest::basic_ = nullptr;
Registry* CurlUpstreamTest::tls_ = nullptr;
Registry* CurlUpstreamTest::token_ = nullptr;
PushedImage* CurlUpstreamTest::image_ = nullptr;
std::string CurlUpstreamTest::layer_;

// ---------------------------------------------------------------------------
// Plain HTTP, anonymous.

TEST_F(CurlUpstreamTest, GetsManifestWithHeaders) {
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(Request(ManifestUrl(*plain_)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->status(), 200);
  EXPECT_EQ(FindHeader((*r)->headers(), "content-type"), "application/vnd.oci.image.manifest.v1+json");
  EXPECT_EQ(FindHeader((*r)->headers(), "Docker-Content-Digest"), image_->manifest_digest);
  EXPECT_EQ((*r)->content_length(), image_->manifest.size());
  EXPECT_EQ(ReadBody(**r), image_->manifest);
}

TEST_F(CurlUpstreamTest, HeadManifestAndBlobHaveLengthAndNoBody) {
  for (const std::string& url : {ManifestUrl(*plain_), BlobUrl(*plain_)}) {
    absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(Request(url, "HEAD"));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ((*r)->status(), 200) << url;
    EXPECT_TRUE((*r)->content_length().has_value()) << url;
    char buf[16];
    EXPECT_EQ(*(*r)->Read(buf, sizeof(buf)), 0u) << url;
  }
}

TEST_F(CurlUpstreamTest, MissingManifestAndBlobAre404Responses) {
  std::string missing_blob = plain_->Base() + "/v2/library/demo/blobs/sha256:" + std::string(64, 'a');
  for (const std::string& url : {plain_->Base() + "/v2/library/demo/manifests/nope", missing_blob}) {
    absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(Request(url));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ((*r)->status(), 404) << url;
  }
}

TEST_F(CurlUpstreamTest, RangeRequestReturnsPartialContent) {
  UpstreamRequest request = Request(BlobUrl(*plain_));
  request.headers = {{"Range", "bytes=100-1099"}};
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->status(), 206);
  EXPECT_EQ(ReadBody(**r), layer_.substr(100, 1000));
}

TEST_F(CurlUpstreamTest, StreamsMultiMiBBlobInSmallReads) {
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(Request(BlobUrl(*plain_)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->content_length(), layer_.size());
  std::string body = ReadBody(**r, 1000);
  EXPECT_EQ(body.size(), layer_.size());
  EXPECT_EQ("sha256:" + Sha256Hex(body), image_->layer_digest);
}

TEST_F(CurlUpstreamTest, SlowReaderIsNotAStall) {
  UpstreamRequest request = Request(BlobUrl(*plain_));
  request.stall_timeout = absl::Milliseconds(300);
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  ASSERT_TRUE(r.ok()) << r.status();
  char buf[4096];
  absl::StatusOr<std::size_t> first = (*r)->Read(buf, sizeof(buf));
  ASSERT_TRUE(first.ok()) << first.status();
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // caller busy, not the network
  std::string body = std::string(buf, *first) + ReadBody(**r);
  EXPECT_EQ("sha256:" + Sha256Hex(body), image_->layer_digest);
}

TEST_F(CurlUpstreamTest, ConcurrentOpensShareOneUpstream) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 3; ++j) {
        absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(Request(BlobUrl(*plain_)));
        if (r.ok() && "sha256:" + Sha256Hex(ReadBody(**r)) == image_->layer_digest) ++ok;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok, 12);
}

// ESTABLISHED TCP connections to 127.0.0.1:`port` from this host (client side).
int ConnectionsTo(int port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);
  int count = 0;
  char want[16];
  std::snprintf(want, sizeof(want), "0100007F:%04X", port);
  while (std::getline(in, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() > 3 && f[2] == want && f[3] == "01") ++count;
  }
  return count;
}

TEST_F(CurlUpstreamTest, ReusesConnectionsAcrossRequests) {
  const UpstreamRequest tls_request = TrustedTlsRequest(ManifestUrl(*tls_));
  for (const UpstreamRequest& request : {Request(ManifestUrl(*plain_)), tls_request}) {
    for (int i = 0; i < 5; ++i) {
      absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ((*r)->status(), 200);
      ReadBody(**r);
    }
  }
  EXPECT_EQ(ConnectionsTo(plain_->port()), 1);
  EXPECT_EQ(ConnectionsTo(tls_->port()), 1);
  // HTTP/2 is negotiated where offered (docker-registry offers h2 over TLS).
  EXPECT_THAT(ReadFileText(*dir_ / "tls" / "registry.log"), HasSubstr("HTTP/2.0"));
}

// Local ends ("0100007F:PORT") of the ESTABLISHED connections to
// 127.0.0.1:`port` from this host.
std::set<std::string> ClientEndsTo(int port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);
  std::set<std::string> ends;
  char want[16];
  std::snprintf(want, sizeof(want), "0100007F:%04X", port);
  while (std::getline(in, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() > 3 && f[2] == want && f[3] == "01") ends.insert(f[1]);
  }
  return ends;
}

// As the relay reads a blob (BlobPump): reads of the stream chunk (the
// buffer size) and none past Content-Length. Receiving pauses whenever the
// caller's buffer cannot take another whole read, but never on the last
// byte: a transfer left paused does not complete, and its connection would
// be closed instead of kept for the next request.
TEST_F(CurlUpstreamTest, BlobInChunkSizedReadsKeepsItsConnection) {
  std::set<std::string> first_ends;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(Request(BlobUrl(*plain_)));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ((*r)->content_length(), layer_.size());
    std::string body;
    std::vector<char> buf(CurlUpstream::Options{}.buffer_size);
    while (body.size() < layer_.size()) {
      const std::size_t want = std::min(buf.size(), layer_.size() - body.size());
      absl::StatusOr<std::size_t> n = (*r)->Read(buf.data(), want);
      ASSERT_TRUE(n.ok()) << n.status();
      ASSERT_GT(*n, 0u);
      body.append(buf.data(), *n);
    }
    EXPECT_EQ("sha256:" + Sha256Hex(body), image_->layer_digest);
    r->reset();
    if (i == 0) first_ends = ClientEndsTo(plain_->port());
    EXPECT_EQ(ClientEndsTo(plain_->port()), first_ends) << "blob " << i;
  }
  EXPECT_EQ(first_ends.size(), 1u);
}

TEST_F(CurlUpstreamTest, BlobOverHttp2InChunkSizedReads) {
  const UpstreamRequest request = TrustedTlsRequest(BlobUrl(*tls_));
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  ASSERT_TRUE(r.ok()) << r.status();
  std::string body = ReadBody(**r, CurlUpstream::Options{}.buffer_size);
  EXPECT_EQ("sha256:" + Sha256Hex(body), image_->layer_digest);
}

// ---------------------------------------------------------------------------
// Basic auth (htpasswd).

TEST_F(CurlUpstreamTest, AnonymousAgainstBasicRegistryReturns401) {
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(Request(ManifestUrl(*basic_)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->status(), 401);
  EXPECT_THAT(FindHeader((*r)->headers(), kAuthErrorHeader).value_or(""),
              HasSubstr("no credentials"));
}

TEST_F(CurlUpstreamTest, BasicChallengeAnsweredWithHostCredentials) {
  UpstreamRequest request = Request(BlobUrl(*basic_));
  request.host_settings = WithCredentials(Host(*basic_));
  for (int i = 0; i < 2; ++i) {  // the second request sends Basic up front
    absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ((*r)->status(), 200);
    EXPECT_EQ("sha256:" + Sha256Hex(ReadBody(**r)), image_->layer_digest);
  }
}

TEST_F(CurlUpstreamTest, BasicChallengeAnsweredWithAuthField) {
  UpstreamRequest request = Request(ManifestUrl(*basic_));
  request.host_settings = Host(*basic_);
  request.host_settings->auth = config::Secret(absl::Base64Escape(std::string(kUser) + ":" + kPassword));
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->status(), 200);
}

TEST_F(CurlUpstreamTest, BasicChallengeAnsweredWithKubeletCredentials) {
  UpstreamRequest request = Request(ManifestUrl(*basic_));
  request.kubelet_credentials = auth::BasicCredentials(kUser, config::Secret(kPassword));
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->status(), 200);
}

TEST_F(CurlUpstreamTest, WrongPasswordReturnsSecond401) {
  UpstreamRequest request = Request(ManifestUrl(*basic_));
  request.host_settings = Host(*basic_);
  request.host_settings->username = kUser;
  request.host_settings->password = config::Secret("wrong-password");
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->status(), 401);
}

// ---------------------------------------------------------------------------
// TLS (CA generated by the test, certificate for "docker-registry").

TEST_F(CurlUpstreamTest, UntrustedCaIsTlsFailedPrecondition) {
  UpstreamRequest request = Request(ManifestUrl(*tls_));
  request.host_settings = WithCredentials(Host(*tls_));
  request.host_settings->tls_server_name = "docker-registry";
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("TLS"));
  EXPECT_THAT(r.status().message(), HasSubstr("ca_file"));
}

TEST_F(CurlUpstreamTest, CaFileAndServerNameReachRegistryByIp) {
  const UpstreamRequest request = TrustedTlsRequest(BlobUrl(*tls_));
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->status(), 200);
  EXPECT_EQ("sha256:" + Sha256Hex(ReadBody(**r, 777)), image_->layer_digest);
}

// Issue 13: hosts.toml `ca` lists and several *.crt files; every file is
// trusted, here the registry's CA is the second one.
TEST_F(CurlUpstreamTest, EveryCaFileIsTrustedNotOnlyTheFirst) {
  UpstreamRequest request = Request(BlobUrl(*tls_));
  request.host_settings = WithCredentials(Host(*tls_));
  request.host_settings->tls_server_name = "docker-registry";
  request.host_settings->ca_files = {P("token.crt")};  // an unrelated CA alone
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
  request.host_settings->ca_files = {P("token.crt"), P("ca.crt")};
  r = upstream_->Open(request);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->status(), 200);
  EXPECT_EQ("sha256:" + Sha256Hex(ReadBody(**r, 777)), image_->layer_digest);
}

TEST_F(CurlUpstreamTest, UnreadableSecondCaFileIsNamed) {
  UpstreamRequest request = Request(ManifestUrl(*tls_));
  request.host_settings = Host(*tls_);
  request.host_settings->ca_files = {P("ca.crt"), P("missing-second.crt")};
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("ca_file: " + P("missing-second.crt")));
}

TEST_F(CurlUpstreamTest, CaFileWithoutServerNameFailsHostnameCheck) {
  UpstreamRequest request = Request(ManifestUrl(*tls_));
  request.host_settings = WithCredentials(Host(*tls_));
  request.host_settings->ca_files = {P("ca.crt")};
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
}

TEST_F(CurlUpstreamTest, InsecureSkipVerifyConnects) {
  UpstreamRequest request = Request(ManifestUrl(*tls_));
  request.host_settings = WithCredentials(Host(*tls_));
  request.host_settings->insecure_skip_verify = true;
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->status(), 200);
}

// Issue 10 defect 1: the TLS material cache was keyed by the files alone, so
// the first host loaded decided insecure_skip_verify for every host naming
// the same ca_file, and a reload turning it off changed nothing.
TEST_F(CurlUpstreamTest, InsecureSkipVerifyDoesNotLeakToHostSharingCaFile) {
  config::HostSettings skipping = Host(*tls_);
  skipping.host = "skipping.example:443";
  skipping.ca_files = {P("ca.crt")};
  skipping.insecure_skip_verify = true;
  config::HostSettings verifying = Host(*tls_);  // no tls_server_name: name mismatch
  verifying.ca_files = {P("ca.crt")};
  for (int round = 0; round < 2; ++round) {
    UpstreamRequest request = Request(ManifestUrl(*tls_));
    request.host_settings = skipping;
    absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ((*r)->status(), 401);  // reached the registry (it wants Basic)
    request.host_settings = verifying;
    r = upstream_->Open(request);
    ASSERT_FALSE(r.ok()) << "round " << round << ": verification was skipped";
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
    EXPECT_THAT(r.status().message(), HasSubstr("TLS"));
    EXPECT_THAT(r.status().message(), HasSubstr(tls_->HostPort()));
  }
}

TEST_F(CurlUpstreamTest, ReloadTurningInsecureSkipVerifyOffTakesEffect) {
  config::HostSettings host = Host(*tls_);
  host.ca_files = {P("ca.crt")};
  host.insecure_skip_verify = true;
  UpstreamRequest request = Request(ManifestUrl(*tls_));
  request.host_settings = host;
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  ASSERT_TRUE(r.ok()) << r.status();
  request.host_settings->insecure_skip_verify = false;  // the reloaded table
  r = upstream_->Open(request);
  ASSERT_FALSE(r.ok()) << "insecure_skip_verify = false had no effect";
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
  request.host_settings->insecure_skip_verify = true;  // and back on
  r = upstream_->Open(request);
  EXPECT_TRUE(r.ok()) << r.status();
}

TEST_F(CurlUpstreamTest, UnreadableCaFileIsFailedPreconditionNamingIt) {
  UpstreamRequest request = Request(ManifestUrl(*tls_));
  request.host_settings = Host(*tls_);
  request.host_settings->ca_files = {P("missing-ca.crt")};
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("missing-ca.crt"));
}

// ---------------------------------------------------------------------------
// Token auth: docker-registry `auth: token` with a fake realm.

TEST_F(CurlUpstreamTest, BearerTokenFetchedCachedAndReused) {
  UpstreamRequest request = Request(ManifestUrl(*token_));
  request.host_settings = WithCredentials(Host(*token_));
  request.host_lookup = RealmHosts();
  int hits_before = token_server_->hits();
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ((*r)->status(), 200) << FindHeader((*r)->headers(), kAuthErrorHeader).value_or("");
  EXPECT_EQ(ReadBody(**r), image_->manifest);
  EXPECT_EQ(token_server_->hits(), hits_before + 1);
  FakeRequest token_request = token_server_->requests().back();
  EXPECT_THAT(QueryValues(token_request.target, "service"), testing::ElementsAre("test-registry"));
  EXPECT_THAT(QueryValues(token_request.target, "scope"),
              testing::ElementsAre("repository:library/demo:pull"));

  absl::StatusOr<UpstreamResponsePtr> blob = upstream_->Open(Request(BlobUrl(*token_)));
  ASSERT_TRUE(blob.ok());
  EXPECT_EQ((*blob)->status(), 401);  // other identity (anonymous): not the cached token
  UpstreamRequest again = Request(BlobUrl(*token_));
  again.host_settings = WithCredentials(Host(*token_));
  absl::StatusOr<UpstreamResponsePtr> cached = upstream_->Open(again);
  ASSERT_TRUE(cached.ok());
  EXPECT_EQ((*cached)->status(), 200);
  EXPECT_EQ("sha256:" + Sha256Hex(ReadBody(**cached)), image_->layer_digest);
}

// The kubelet's registry_token goes to the registry as is: no realm hit.
TEST_F(CurlUpstreamTest, KubeletRegistryTokenIsSentWithoutATokenFetch) {
  UpstreamRequest request = Request(ManifestUrl(*token_));
  auth::Credentials kubelet;
  kubelet.registry_token =
      config::Secret(
          test_support::MintRegistryToken(token_key_, {"repository:library/demo:pull"}));
  request.kubelet_credentials = kubelet;
  int hits_before = token_server_->hits();
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ((*r)->status(), 200) << FindHeader((*r)->headers(), kAuthErrorHeader).value_or("");
  EXPECT_EQ(ReadBody(**r), image_->manifest);
  EXPECT_EQ(token_server_->hits(), hits_before);

  kubelet.registry_token = config::Secret("not-a-token");
  request.kubelet_credentials = kubelet;
  absl::StatusOr<UpstreamResponsePtr> refused = upstream_->Open(request);
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ((*refused)->status(), 401);
  EXPECT_THAT(FindHeader((*refused)->headers(), kAuthErrorHeader).value_or(""),
              HasSubstr("registry_token"));
  EXPECT_EQ(token_server_->hits(), hits_before);
}

// Issue 10 defect 5: a token with CR/LF would split the Authorization header.
TEST_F(CurlUpstreamTest, KubeletRegistryTokenWithControlBytesIsRefused) {
  FakeServer registry([](const FakeRequest&) -> std::optional<std::string> {
    return HttpResponse(200, {}, "{}");
  });
  for (const std::string& token :
       std::vector<std::string>{"tok\r\nX-Injected: 1", "tok\nX", std::string("a\0b", 3)}) {
    UpstreamRequest request =
        Request(absl::StrCat("http://127.0.0.1:", registry.port(), "/v2/x/manifests/v1"));
    auth::Credentials kubelet;
    kubelet.registry_token = config::Secret(token);
    request.kubelet_credentials = kubelet;
    absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
    EXPECT_THAT(r.status().message(), HasSubstr("registry_token"));
    EXPECT_THAT(r.status().message(), HasSubstr("control bytes"));
    EXPECT_THAT(r.status().message(), Not(HasSubstr("X-Injected")));
  }
  EXPECT_EQ(registry.hits(), 0);
}

TEST_F(CurlUpstreamTest, RealmTokenWithControlBytesIsRefused) {
  FakeServer realm([](const FakeRequest&) -> std::optional<std::string> {
    return HttpResponse(200, {"Content-Type: application/json"},
                        R"({"token":"evil\r\nX-Injected: 1"})");
  });
  FakeServer registry([&realm](const FakeRequest& req) -> std::optional<std::string> {
    if (req.Header("Authorization").empty()) {
      return BearerChallenge(realm.port());
    }
    return HttpResponse(200, {}, "{}");
  });
  UpstreamRequest request =
      Request(absl::StrCat("http://127.0.0.1:", registry.port(), "/v2/x/manifests/v1"));
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->status(), 401);
  EXPECT_THAT(FindHeader((*r)->headers(), kAuthErrorHeader).value_or(""),
              HasSubstr("control bytes"));
  for (const FakeRequest& req : registry.requests()) {
    EXPECT_EQ(req.Header("X-Injected"), "");
    EXPECT_EQ(req.Header("Authorization"), "");
  }
}

// The kubelet's identity_token drives the OAuth2 refresh-token POST.
TEST_F(CurlUpstreamTest, KubeletIdentityTokenUsesTheRefreshTokenFlow) {
  UpstreamRequest request = Request(ManifestUrl(*token_));
  auth::Credentials kubelet;
  kubelet.identity_token = config::Secret("kubelet-refresh-token");
  request.kubelet_credentials = kubelet;
  request.host_lookup = RealmHosts();
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ((*r)->status(), 200) << FindHeader((*r)->headers(), kAuthErrorHeader).value_or("");
  FakeRequest token_request = token_server_->requests().back();
  EXPECT_EQ(token_request.method, "POST");
  EXPECT_THAT(token_request.body, HasSubstr("grant_type=refresh_token"));
  EXPECT_THAT(token_request.body, HasSubstr("refresh_token=kubelet-refresh-token"));
}

TEST_F(CurlUpstreamTest, RealmRefusingCredentialsGives401WithReason) {
  UpstreamRequest request = Request(ManifestUrl(*token_));
  request.host_settings = Host(*token_);
  request.host_settings->username = kUser;
  request.host_settings->password = config::Secret("not-the-password");
  request.host_lookup = RealmHosts();
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->status(), 401);
  std::string reason = FindHeader((*r)->headers(), kAuthErrorHeader).value_or("");
  EXPECT_THAT(reason, HasSubstr("UNAUTHENTICATED"));
  EXPECT_THAT(reason, HasSubstr("/token"));
  EXPECT_THAT(reason, Not(HasSubstr("not-the-password")));
}

// ---------------------------------------------------------------------------
// Failures below HTTP.

TEST_F(CurlUpstreamTest, ConnectionRefusedIsUnavailable) {
  int port = FreePort();  // nothing listens there
  UpstreamRequest request = Request(absl::StrCat("http://127.0.0.1:", port, "/v2/x/manifests/v1"));
  request.host_settings = WithCredentials(Host(*plain_));
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr(absl::StrCat("127.0.0.1:", port)));
}

TEST_F(CurlUpstreamTest, BlackHoleIsDeadlineExceededWithinResponseTimeout) {
  FakeServer hole([](const FakeRequest&) { return std::nullopt; });
  UpstreamRequest request =
      Request(absl::StrCat("http://127.0.0.1:", hole.port(), "/v2/x/manifests/v1"));
  request.host_settings = Host(*plain_);
  request.host_settings->response_timeout = absl::Milliseconds(800);
  absl::Time start = absl::Now();
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  absl::Duration elapsed = absl::Now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_GE(elapsed, absl::Milliseconds(700));
  EXPECT_LT(elapsed, absl::Seconds(3));
}

TEST_F(CurlUpstreamTest, BlackHoleTlsHandshakeIsDeadlineExceeded) {
  FakeServer hole([](const FakeRequest&) { return std::nullopt; });
  UpstreamRequest request =
      Request(absl::StrCat("https://127.0.0.1:", hole.port(), "/v2/x/manifests/v1"));
  request.host_settings = Host(*plain_);
  request.host_settings->connect_timeout = absl::Milliseconds(800);
  absl::Time start = absl::Now();
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

// Cancels `flag` after `delay` from another thread.
std::thread CancelLater(std::shared_ptr<std::atomic<bool>> flag, absl::Duration delay) {
  return std::thread([flag, delay] {
    absl::SleepFor(delay);
    flag->store(true);
  });
}

TEST_F(CurlUpstreamTest, CancelledOpenReturnsCancelledQuickly) {
  FakeServer hole([](const FakeRequest&) { return std::nullopt; });
  UpstreamRequest request =
      Request(absl::StrCat("http://127.0.0.1:", hole.port(), "/v2/x/manifests/v1"));
  request.host_settings = Host(*plain_);
  request.host_settings->response_timeout = absl::Seconds(60);
  request.cancel = std::make_shared<std::atomic<bool>>(false);
  std::thread canceller = CancelLater(request.cancel, absl::Milliseconds(300));
  absl::Time start = absl::Now();
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  absl::Duration elapsed = absl::Now() - start;
  canceller.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr(absl::StrCat("127.0.0.1:", hole.port())));
  EXPECT_LT(elapsed, absl::Seconds(5));  // generous: the target is ~50 ms after the flag
}

TEST_F(CurlUpstreamTest, CancelledReadReturnsCancelledQuickly) {
  FakeServer stall([](const FakeRequest&) -> std::optional<std::string> {
    return std::string(kHold) + "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nabc";
  });
  UpstreamRequest request =
      Request(absl::StrCat("http://127.0.0.1:", stall.port(), "/v2/x/blobs/sha256:1"));
  request.stall_timeout = absl::Seconds(60);
  request.cancel = std::make_shared<std::atomic<bool>>(false);
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  ASSERT_TRUE(r.ok()) << r.status();
  char buf[1024];
  ASSERT_TRUE((*r)->Read(buf, sizeof(buf)).ok());
  std::thread canceller = CancelLater(request.cancel, absl::Milliseconds(300));
  absl::Time start = absl::Now();
  absl::StatusOr<std::size_t> next = (*r)->Read(buf, sizeof(buf));
  absl::Duration elapsed = absl::Now() - start;
  canceller.join();
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().code(), absl::StatusCode::kCancelled) << next.status();
  EXPECT_LT(elapsed, absl::Seconds(5));
}

TEST_F(CurlUpstreamTest, BodyStallIsDeadlineExceeded) {
  // Headers and three bytes, then silence on an open connection.
  FakeServer stall([](const FakeRequest&) -> std::optional<std::string> {
    return std::string(kHold) + "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nabc";
  });
  UpstreamRequest request =
      Request(absl::StrCat("http://127.0.0.1:", stall.port(), "/v2/x/blobs/sha256:1"));
  request.stall_timeout = absl::Milliseconds(500);
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  ASSERT_TRUE(r.ok()) << r.status();
  char buf[1024];
  absl::StatusOr<std::size_t> n = (*r)->Read(buf, sizeof(buf));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 3u);
  absl::Time start = absl::Now();
  absl::StatusOr<std::size_t> next = (*r)->Read(buf, sizeof(buf));
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().code(), absl::StatusCode::kDeadlineExceeded) << next.status();
  EXPECT_THAT(next.status().message(), HasSubstr("stall"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST_F(CurlUpstreamTest, ShortBodyIsUnavailable) {
  FakeServer partial([](const FakeRequest&) -> std::optional<std::string> {
    return std::string("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nabc");
  });
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(
      Request(absl::StrCat("http://127.0.0.1:", partial.port(), "/v2/x/blobs/sha256:1")));
  ASSERT_TRUE(r.ok()) << r.status();
  char buf[1024];
  absl::StatusOr<std::size_t> n = (*r)->Read(buf, sizeof(buf));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 3u);
  absl::StatusOr<std::size_t> next = (*r)->Read(buf, sizeof(buf));
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().code(), absl::StatusCode::kUnavailable) << next.status();
}

// ---------------------------------------------------------------------------
// Redirects.

// Whichever source the credentials came from (issue 12: [host] table, the
// kubelet's AuthConfig, docker config / helpers / plugins), a redirect to
// another host carries none of them.
TEST_F(CurlUpstreamTest, RedirectToOtherHostDropsAuthorization) {
  // "localhost" is another host than "127.0.0.1" for the redirect rule.
  FakeServer storage([](const FakeRequest&) -> std::optional<std::string> {
    return HttpResponse(200, {"Content-Type: application/octet-stream"}, "blob-bytes");
  });
  FakeServer registry([&storage](const FakeRequest& req) -> std::optional<std::string> {
    if (req.Header("Authorization") != BasicHeader(kUser, kPassword)) {
      return HttpResponse(401, {R"(WWW-Authenticate: Basic realm="r")"}, "");
    }
    return HttpResponse(307, {absl::StrCat("Location: http://localhost:", storage.port(),
                                           "/bucket/blob?X-Amz-Signature=s3cr3t")},
                        "");
  });
  for (const char* source : {"[host]", "kubelet", "docker config"}) {
    SCOPED_TRACE(source);
    UpstreamRequest request =
        Request(absl::StrCat("http://127.0.0.1:", registry.port(), "/v2/x/blobs/sha256:1"));
    config::HostSettings host;
    host.host = absl::StrCat("127.0.0.1:", registry.port());
    const auth::Credentials credentials = auth::BasicCredentials(kUser, config::Secret(kPassword));
    if (std::string_view(source) == "[host]") request.host_settings = WithCredentials(host);
    if (std::string_view(source) == "kubelet") request.kubelet_credentials = credentials;
    if (std::string_view(source) == "docker config") request.source_credentials = credentials;
    const std::size_t before = storage.requests().size();
    absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ((*r)->status(), 200);
    EXPECT_EQ(ReadBody(**r), "blob-bytes");
    ASSERT_EQ(storage.requests().size(), before + 1);
    EXPECT_EQ(storage.requests().back().Header("Authorization"), "");
    EXPECT_EQ(storage.requests().back().target, "/bucket/blob?X-Amz-Signature=s3cr3t");
  }
}

// [host] headers (hosts.toml [header], issue 13) go to the endpoint's own
// origin on every request, never to a redirect target.
TEST_F(CurlUpstreamTest, HostHeadersReachTheEndpointNotARedirectTarget) {
  FakeServer storage([](const FakeRequest&) -> std::optional<std::string> {
    return HttpResponse(200, {"Content-Type: application/octet-stream"}, "blob-bytes");
  });
  FakeServer registry([&storage](const FakeRequest&) -> std::optional<std::string> {
    return HttpResponse(307, {absl::StrCat("Location: http://localhost:", storage.port(), "/b")},
                        "");
  });
  UpstreamRequest request =
      Request(absl::StrCat("http://127.0.0.1:", registry.port(), "/v2/x/blobs/sha256:1"));
  config::HostSettings host;
  host.host = absl::StrCat("127.0.0.1:", registry.port());
  host.headers = {{"X-Mirror-Tenant", "team-a"}, {"X-Trace", "1"}};
  request.host_settings = host;
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadBody(**r), "blob-bytes");
  ASSERT_EQ(registry.requests().size(), 1u);
  EXPECT_EQ(registry.requests()[0].Header("X-Mirror-Tenant"), "team-a");
  EXPECT_EQ(registry.requests()[0].Header("X-Trace"), "1");
  ASSERT_EQ(storage.requests().size(), 1u);
  EXPECT_EQ(storage.requests()[0].Header("X-Mirror-Tenant"), "");
}

// ---------------------------------------------------------------------------
// Issue 10 defects 2-4: per-origin settings, plain-http realms, redirect
// targets.

std::string Redirect(const std::string& location) {
  return HttpResponse(307, {"Location: " + location}, "");
}

TEST_F(CurlUpstreamTest, RedirectTargetOnSameHostOtherPortDoesNotInheritInsecureSkipVerify) {
  FakeServer storage([](const FakeRequest&) -> std::optional<std::string> {
    return HttpResponse(200, {}, "blob-bytes");
  }, TestCert());
  FakeServer registry([&storage](const FakeRequest&) -> std::optional<std::string> {
    return Redirect(absl::StrCat("https://127.0.0.1:", storage.port(), "/blob"));
  }, TestCert());
  UpstreamRequest request =
      Request(absl::StrCat("https://127.0.0.1:", registry.port(), "/v2/x/blobs/sha256:1"));
  config::HostSettings host;
  host.host = absl::StrCat("127.0.0.1:", registry.port());
  host.insecure_skip_verify = true;
  request.host_settings = host;
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  ASSERT_FALSE(r.ok()) << "the endpoint's insecure_skip_verify reached another origin";
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr(absl::StrCat("127.0.0.1:", storage.port())));
  EXPECT_EQ(storage.hits(), 0);

  // With its own [host] table (the CA and the certificate's name) it works.
  request.host_lookup = [&storage](std::string_view host_port) -> std::optional<config::HostSettings> {
    if (host_port != absl::StrCat("127.0.0.1:", storage.port())) return std::nullopt;
    config::HostSettings own;
    own.host = std::string(host_port);
    own.ca_files = {P("ca.crt")};
    own.tls_server_name = "docker-registry";
    return own;
  };
  r = upstream_->Open(request);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->status(), 200);
  EXPECT_EQ(ReadBody(**r), "blob-bytes");
}

TEST_F(CurlUpstreamTest, PlainHttpRealmOfHttpsRegistryIsRefused) {
  FakeServer realm([](const FakeRequest&) -> std::optional<std::string> {
    return HttpResponse(200, {}, R"({"token":"t"})");
  });
  FakeServer registry([&realm](const FakeRequest&) -> std::optional<std::string> {
    return BearerChallenge(realm.port());
  }, TestCert());
  UpstreamRequest request =
      Request(absl::StrCat("https://127.0.0.1:", registry.port(), "/v2/x/manifests/v1"));
  config::HostSettings host = WithCredentials(config::HostSettings{});
  host.host = absl::StrCat("127.0.0.1:", registry.port());
  host.ca_files = {P("ca.crt")};
  host.tls_server_name = "docker-registry";
  request.host_settings = host;
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->status(), 401);
  std::string reason = FindHeader((*r)->headers(), kAuthErrorHeader).value_or("");
  EXPECT_THAT(reason, HasSubstr(absl::StrCat("http://127.0.0.1:", realm.port(), "/token")));
  EXPECT_THAT(reason, HasSubstr("plain http"));
  EXPECT_THAT(reason, HasSubstr("https://"));  // the fix
  EXPECT_EQ(realm.hits(), 0);
}

TEST_F(CurlUpstreamTest, BasicCredentialsNeverGoToPlainHttpRealm) {
  FakeServer realm([](const FakeRequest& req) -> std::optional<std::string> {
    if (req.Header("Authorization").empty()) return HttpResponse(401, {}, "{}");
    return HttpResponse(200, {}, R"({"token":"t"})");
  });
  FakeServer registry([&realm](const FakeRequest&) -> std::optional<std::string> {
    return BearerChallenge(realm.port());
  });
  UpstreamRequest request =
      Request(absl::StrCat("http://127.0.0.1:", registry.port(), "/v2/x/manifests/v1"));
  config::HostSettings host = WithCredentials(config::HostSettings{});
  host.host = absl::StrCat("127.0.0.1:", registry.port());
  request.host_settings = host;
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->status(), 401);
  EXPECT_THAT(FindHeader((*r)->headers(), kAuthErrorHeader).value_or(""),
              HasSubstr("never go to a plain-http realm"));
  ASSERT_EQ(realm.requests().size(), 1u);
  EXPECT_EQ(realm.requests()[0].Header("Authorization"), "");
}

TEST_F(CurlUpstreamTest, HttpsToHttpRedirectIsRefused) {
  FakeServer storage([](const FakeRequest&) -> std::optional<std::string> {
    return HttpResponse(200, {}, "blob-bytes");
  });
  FakeServer registry([&storage](const FakeRequest&) -> std::optional<std::string> {
    return Redirect(absl::StrCat("http://127.0.0.1:", storage.port(), "/blob?sig=s3cr3t"));
  }, TestCert());
  UpstreamRequest request =
      Request(absl::StrCat("https://127.0.0.1:", registry.port(), "/v2/x/blobs/sha256:1"));
  config::HostSettings host;
  host.host = absl::StrCat("127.0.0.1:", registry.port());
  host.ca_files = {P("ca.crt")};
  host.tls_server_name = "docker-registry";
  request.host_settings = host;
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("downgrade"));
  EXPECT_THAT(r.status().message(), HasSubstr(absl::StrCat("http://127.0.0.1:", storage.port())));
  EXPECT_THAT(r.status().message(), Not(HasSubstr("s3cr3t")));
  EXPECT_EQ(storage.hits(), 0);
}

TEST_F(CurlUpstreamTest, RedirectToLinkLocalOrUnspecifiedAddressIsRefusedBeforeDialling) {
  for (const std::string target : {"http://169.254.169.254/latest/meta-data/", "http://0.0.0.0:1/x",
                                   "http://[::]:1/x", "http://[fe80::1]:1/x",
                                   "http://[::ffff:169.254.1.1]:1/x"}) {
    FakeServer registry([&target](const FakeRequest&) -> std::optional<std::string> {
      return Redirect(target);
    });
    UpstreamRequest request =
        Request(absl::StrCat("http://127.0.0.1:", registry.port(), "/v2/x/blobs/sha256:1"));
    absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
    ASSERT_FALSE(r.ok()) << target;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied) << r.status();
    EXPECT_THAT(r.status().message(), HasSubstr("redirect from GET http://127.0.0.1:"));
    EXPECT_THAT(r.status().message(), testing::AnyOf(HasSubstr("link-local"),
                                                     HasSubstr("unspecified")))
        << r.status();
  }
}

TEST_F(CurlUpstreamTest, RedirectToLoopbackNameIsAllowedFromLoopbackEndpoint) {
  // "localhost" is resolved: the check sees the address curl dials.
  FakeServer storage([](const FakeRequest&) -> std::optional<std::string> {
    return HttpResponse(200, {}, "blob-bytes");
  });
  FakeServer registry([&storage](const FakeRequest&) -> std::optional<std::string> {
    return Redirect(absl::StrCat("http://localhost:", storage.port(), "/blob"));
  });
  UpstreamRequest request =
      Request(absl::StrCat("http://127.0.0.1:", registry.port(), "/v2/x/blobs/sha256:1"));
  absl::StatusOr<UpstreamResponsePtr> r = upstream_->Open(request);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadBody(**r), "blob-bytes");
}

TEST_F(CurlUpstreamTest, RedirectLoopStopsAfterMaxRedirects) {
  FakeServer loop([](const FakeRequest& req) -> std::optional<std::string> {
    return HttpResponse(302, {"Location: " + req.target + "x?sig=secret"}, "");
  });
  absl::StatusOr<UpstreamResponsePtr> r =
      upstream_->Open(Request(absl::StrCat("http://127.0.0.1:", loop.port(), "/v2/a")));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(r.status().message(), HasSubstr("redirects"));
  EXPECT_THAT(r.status().message(), Not(HasSubstr("sig=secret")));
  EXPECT_EQ(loop.hits(), 6);
}

// ---------------------------------------------------------------------------
// Input validation and secrecy.

TEST_F(CurlUpstreamTest, RejectsBadMethodUrlAndHeaders) {
  EXPECT_EQ(upstream_->Open(Request(ManifestUrl(*plain_), "DELETE")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(upstream_->Open(Request("ftp://127.0.0.1/v2/")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(upstream_->Open(Request("not a url")).status().code(),
            absl::StatusCode::kInvalidArgument);
  UpstreamRequest injected = Request(ManifestUrl(*plain_));
  injected.headers = {{"Accept", "a\r\nX-Evil: 1"}};
  EXPECT_EQ(upstream_->Open(injected).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CurlUpstreamTest, ForwardedAuthorizationIsNeverSent) {
  FakeServer echo([](const FakeRequest&) -> std::optional<std::string> {
    return HttpResponse(200, {}, "ok");
  });
  UpstreamRequest request = Request(absl::StrCat("http://127.0.0.1:", echo.port(), "/v2/"));
  request.headers = {{"Authorization", "Bearer from-containerd"}, {"Accept", "x/y"}};
  ASSERT_TRUE(upstream_->Open(request).ok());
  ASSERT_EQ(echo.requests().size(), 1u);
  EXPECT_EQ(echo.requests()[0].Header("Authorization"), "");
  EXPECT_EQ(echo.requests()[0].Header("Accept"), "x/y");
}

TEST_F(CurlUpstreamTest, ErrorMessagesNeverContainThePassword) {
  std::vector<absl::Status> errors;
  auto with_password = [](const std::string& url) {
    UpstreamRequest request = Request(url);
    config::HostSettings host;
    host.host = "h";
    host.username = kUser;
    host.password = config::Secret(kPassword);
    host.connect_timeout = absl::Seconds(1);
    host.response_timeout = absl::Milliseconds(500);
    request.host_settings = host;
    return request;
  };
  FakeServer hole([](const FakeRequest&) { return std::nullopt; });
  errors.push_back(upstream_->Open(with_password(absl::StrCat("http://127.0.0.1:", FreePort(), "/v2/"))).status());
  errors.push_back(upstream_->Open(with_password(absl::StrCat("http://127.0.0.1:", hole.port(), "/v2/"))).status());
  errors.push_back(upstream_->Open(with_password(ManifestUrl(*tls_))).status());
  UpstreamRequest bad_auth = with_password(ManifestUrl(*plain_));
  bad_auth.host_settings->username.clear();
  bad_auth.host_settings->password = config::Secret();
  bad_auth.host_settings->auth = config::Secret(kPassword);  // not base64 of user:pass
  errors.push_back(upstream_->Open(bad_auth).status());
  for (const absl::Status& s : errors) {
    EXPECT_FALSE(s.ok());
    EXPECT_THAT(std::string(s.message()), Not(HasSubstr(kPassword))) << s;
    EXPECT_THAT(std::string(s.message()),
                Not(HasSubstr(absl::Base64Escape(std::string(kUser) + ":" + kPassword))));
  }
}

TEST(CurlUpstreamCreateTest, RejectsBadOptions) {
  CurlUpstream::Options small;
  small.buffer_size = 10;
  EXPECT_EQ(CurlUpstream::Create(small).status().code(), absl::StatusCode::kInvalidArgument);
  CurlUpstream::Options redirects;
  redirects.max_redirects = -1;
  EXPECT_EQ(CurlUpstream::Create(redirects).status().code(), absl::StatusCode::kInvalidArgument);
}

struct AddressCase {
  std::string ip;
  bool allow_loopback;
  std::string refusal;  // "" = allowed, else a substring of the reason
};

class AddressPolicyTest : public testing::TestWithParam<AddressCase> {};

TEST_P(AddressPolicyTest, RefusesLinkLocalUnspecifiedAndForeignLoopback) {
  std::string why = upstream_internal::RefuseAddress(GetParam().ip, GetParam().allow_loopback);
  if (GetParam().refusal.empty()) {
    EXPECT_EQ(why, "") << GetParam().ip;
  } else {
    EXPECT_THAT(why, HasSubstr(GetParam().refusal)) << GetParam().ip;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, AddressPolicyTest,
    testing::Values(AddressCase{"93.184.216.34", false, ""}, AddressCase{"10.1.2.3", false, ""},
                    AddressCase{"2001:db8::1", false, ""},
                    AddressCase{"127.0.0.1", true, ""}, AddressCase{"127.9.9.9", true, ""},
                    AddressCase{"::1", true, ""},
                    AddressCase{"127.0.0.1", false, "loopback"},
                    AddressCase{"::1", false, "loopback"},
                    AddressCase{"::ffff:127.0.0.1", false, "loopback"},
                    AddressCase{"169.254.169.254", true, "link-local"},
                    AddressCase{"169.254.0.1", false, "link-local"},
                    AddressCase{"fe80::1", true, "link-local"},
                    AddressCase{"febf::1", true, "link-local"},
                    AddressCase{"fe80::1%eth0", true, "link-local"},
                    AddressCase{"::ffff:169.254.1.1", true, "link-local"},
                    AddressCase{"0.0.0.0", true, "unspecified"},
                    AddressCase{"::", true, "unspecified"},
                    AddressCase{"", true, "not an IP address"},
                    AddressCase{"example.com", true, "not an IP address"}));

TEST(FindHeaderTest, IsCaseInsensitiveAndReturnsFirst) {
  Headers headers = {{"Content-Type", "a"}, {"content-type", "b"}};
  EXPECT_EQ(FindHeader(headers, "CONTENT-TYPE"), "a");
  EXPECT_EQ(FindHeader(headers, "missing"), std::nullopt);
}

}  // namespace
}  // namespace crimirror::relay
