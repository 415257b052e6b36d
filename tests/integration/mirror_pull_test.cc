// End-to-end PullImage through mirrors (issue 4): a real containerd, real
// docker-registry instances and the cri-mirror binary in between. Each test
// writes a config.toml with mirror rules, pulls through cri-mirror's socket
// and checks what CRI and containerd's images API then hold: the original
// names only, never a relay-named record.

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/integration/testbed/gtest_util.h"
#include "tests/integration/testbed/testbed.h"

namespace crimirror::testbed {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

class MirrorPullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TESTBED_SKIP_UNLESS_PREREQUISITES();
    TESTBED_ASSERT_OK_AND_ASSIGN(dir_, TempDir::Create("crimirror-pull"));
    TESTBED_ASSERT_OK_AND_ASSIGN(containerd_, Containerd::Create(dir_->path()));
    TESTBED_ASSERT_OK_AND_ASSIGN(images_,
                                 ContainerdImagesClient::Create(containerd_->Endpoint()));
    TESTBED_ASSERT_OK_AND_ASSIGN(builder_, ImageBuilder::Create(dir_->Join("oci")));
    TESTBED_ASSERT_OK_AND_ASSIGN(relay_port_, FreeLoopbackPort());
  }

  // The [server] table every config starts with: a fixed relay port so the
  // test knows the relay address.
  std::string ServerToml() const {
    return absl::StrCat("[server]\nrelay = \"127.0.0.1:", relay_port_, "\"\npull_timeout = \"",
                        pull_timeout_, "\"\n\n");
  }
  std::string RelayPrefix() const { return absl::StrCat("127.0.0.1:", relay_port_, "/"); }

  // Starts cri-mirror with ServerToml() + `rules` and a CRI client on it.
  void StartMirror(const std::string& rules) {
    CriMirrorOptions options;
    options.binary = CRI_MIRROR_BINARY;
    options.backend = containerd_->Endpoint();
    options.config_toml = ServerToml() + rules;
    TESTBED_ASSERT_OK_AND_ASSIGN(mirror_, CriMirror::Create(dir_->path(), options));
    TESTBED_ASSERT_OK_AND_ASSIGN(cri_, CriImageClient::Create(mirror_->Endpoint()));
  }

  std::string Logs() const {
    return absl::StrCat("\n--- cri-mirror log:\n", mirror_ ? mirror_->LogTail() : "",
                        "\n--- containerd log:\n", containerd_->LogTail(3000));
  }

  // Pulls `image` through cri-mirror; fails the test with the logs if not OK.
  void Pull(const std::string& image, std::string* image_ref = nullptr) {
    auto pulled = cri_->Pull(image);
    ASSERT_TRUE(pulled.ok()) << image << ": " << pulled.status.error_message() << Logs();
    EXPECT_THAT(pulled.response.image_ref(), ::testing::StartsWith("sha256:"));
    if (image_ref != nullptr) *image_ref = pulled.response.image_ref();
  }

  // ImageStatus of `name` through cri-mirror knows the image, with `tag` in
  // repo_tags (when non-empty) and `repo_digest` in repo_digests.
  void ExpectImage(const std::string& name, const std::string& tag,
                   const std::string& repo_digest) {
    auto status = cri_->Status(name);
    ASSERT_TRUE(status.ok()) << status.status.error_message();
    ASSERT_TRUE(status.response.has_image()) << name << " unknown after the pull" << Logs();
    if (!tag.empty()) {
      EXPECT_THAT(status.response.image().repo_tags(), Contains(tag));
    }
    EXPECT_THAT(status.response.image().repo_digests(), Contains(repo_digest));
  }

  // Neither CRI ListImages nor containerd's own records hold a relay name.
  void ExpectNoRelayNames() {
    auto listed = cri_->List();
    ASSERT_TRUE(listed.ok()) << listed.status.error_message();
    for (const auto& image : listed.response.images()) {
      for (const auto& tag : image.repo_tags()) EXPECT_FALSE(absl::StartsWith(tag, RelayPrefix()));
      for (const auto& d : image.repo_digests()) EXPECT_FALSE(absl::StartsWith(d, RelayPrefix()));
    }
    TESTBED_ASSERT_OK_AND_ASSIGN(std::vector<std::string> names, images_->Names());
    for (const std::string& name : names) {
      EXPECT_FALSE(absl::StartsWith(name, RelayPrefix())) << "relay-named record left: " << name;
    }
  }

  // Removes `name` through cri-mirror and checks it is gone.
  void RemoveAndCheck(const std::string& name) {
    auto removed = cri_->Remove(name);
    ASSERT_TRUE(removed.ok()) << removed.status.error_message();
    auto status = cri_->Status(name);
    ASSERT_TRUE(status.ok()) << status.status.error_message();
    EXPECT_FALSE(status.response.has_image()) << name << " still there";
  }

  absl::StatusOr<std::unique_ptr<Registry>> RegistryNamed(const std::string& name) {
    RegistryOptions options;
    options.name = name;
    return Registry::Create(dir_->path(), options);
  }

  // A plain HTTP registry named `name` holding `repo_tag` built from `seed`.
  std::unique_ptr<Registry> RegistryWith(const std::string& name, const std::string& repo_tag,
                                         uint64_t seed, BuiltImage* built) {
    RegistryOptions options;
    options.name = name;
    return RegistryWith(options, PushOptions(), repo_tag, seed, built);
  }

  // A registry made with `options` (TLS, htpasswd, ...) holding `repo_tag`
  // built from `seed` and pushed with `push`.
  std::unique_ptr<Registry> RegistryWith(const RegistryOptions& options, const PushOptions& push,
                                         const std::string& repo_tag, uint64_t seed,
                                         BuiltImage* built) {
    auto registry = Registry::Create(dir_->path(), options);
    EXPECT_TRUE(registry.ok()) << registry.status();
    if (!registry.ok()) return nullptr;
    if (!repo_tag.empty()) {
      ImageOptions image;
      image.seed = seed;
      const std::string layout_tag = absl::StrCat("img", seed);
      auto image_built = builder_->BuildImage(layout_tag, image);
      EXPECT_TRUE(image_built.ok()) << image_built.status();
      if (!image_built.ok()) return nullptr;
      if (built != nullptr) *built = *image_built;
      auto pushed = builder_->Push(layout_tag, (*registry)->HostPort() + "/" + repo_tag, push);
      EXPECT_TRUE(pushed.ok()) << pushed.status();
    }
    return *std::move(registry);
  }

  // Declared first: destroyed last, after every process below it.
  // A TLS registry (server certificate from `ca`) made with `options`,
  // holding team/app:v1 pushed with `push`, behind a rule whose only mirror
  // is an empty registry (empty_mirror_), so pulls end at this upstream; the
  // rule trusts `ca`, and cri-mirror is started with it. nullptr on failure.
  std::unique_ptr<Registry> UpstreamBehindEmptyMirror(RegistryOptions options, const TestCa& ca,
                                                      const PushOptions& push, BuiltImage* image,
                                                      const std::string& extra_toml = "") {
    options.tls = RegistryTls{ca.server_cert_path(), ca.server_key_path(), ""};
    auto registry = RegistryWith(options, push, "team/app:v1", 1, image);
    empty_mirror_ = RegistryWith("empty", "", 0, nullptr);
    if (registry == nullptr || empty_mirror_ == nullptr) return nullptr;
    StartMirror(absl::StrCat("[[mirror]]\nregistry = \"", registry->HostPort(),
                             "\"\nendpoints = [\"", empty_mirror_->Url(), "\"]\n\n[host.\"",
                             registry->HostPort(), "\"]\nca_file = \"", ca.ca_cert_path(),
                             "\"\n", extra_toml));
    return registry;
  }

  // A token-auth upstream (UpstreamBehindEmptyMirror) that sends clients to
  // `realm` and trusts tokens of `signer` (default: a new signer_), holding
  // team/app:v1 pushed with such a token. nullptr on failure.
  // `extra_toml` is appended to the config (e.g. the realm's own [host]).
  std::unique_ptr<Registry> TokenUpstream(const std::string& realm, BuiltImage* image,
                                          const TokenSigner* signer = nullptr,
                                          const std::string& extra_toml = "") {
    auto ca = TestCa::Create(dir_->Join("pki"), TestCaOptions{"docker-registry", {"IP:127.0.0.1"}});
    EXPECT_TRUE(ca.ok()) << ca.status();
    if (!ca.ok()) return nullptr;
    ca_ = *std::move(ca);
    if (signer == nullptr) {
      auto created = TokenSigner::Create(dir_->Join("token-key"));
      EXPECT_TRUE(created.ok()) << created.status();
      if (!created.ok()) return nullptr;
      signer_ = *std::move(created);
      signer = signer_.get();
    }
    RegistryOptions options;
    options.name = "token";
    options.token_auth = RegistryTokenAuth{realm, signer->cert_path()};
    PushOptions push;
    push.registry_token = signer->Mint({"repository:team/app:pull,push"});
    return UpstreamBehindEmptyMirror(options, *ca_, push, image, extra_toml);
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Containerd> containerd_;
  std::unique_ptr<ContainerdImagesClient> images_;
  std::unique_ptr<ImageBuilder> builder_;
  int relay_port_ = 0;
  std::string pull_timeout_ = "2m";
  std::unique_ptr<CriMirror> mirror_;
  std::unique_ptr<CriImageClient> cri_;
  std::unique_ptr<Registry> empty_mirror_;
  std::unique_ptr<TestCa> ca_;
  std::unique_ptr<TokenSigner> signer_;
};

// The private-registry guide: TLS from a private CA for the name
// docker-registry, reached by IP, with htpasswd auth; no containerd config.
TEST_F(MirrorPullTest, PrivateTlsRegistryWithAuthByServerName) {
  TESTBED_ASSERT_OK_AND_ASSIGN(auto ca, TestCa::Create(dir_->Join("pki")));
  RegistryOptions options;
  options.name = "private";
  options.tls = RegistryTls{ca->server_cert_path(), ca->server_key_path(), ""};
  options.htpasswd = RegistryCredentials{"puller", "s3cret-pw"};
  PushOptions push;
  push.credentials = options.htpasswd;
  BuiltImage image;
  auto registry = RegistryWith(options, push, "mynginx:v1", 1, &image);
  ASSERT_NE(registry, nullptr);
  const std::string password_file = dir_->Join("registry-password");
  TESTBED_ASSERT_OK(WriteFile(password_file, "s3cret-pw", 0600));
  TESTBED_ASSERT_OK_AND_ASSIGN(const std::string containerd_config,
                               ReadFile(containerd_->config_path()));

  StartMirror(absl::StrCat(
      "[[mirror]]\nregistry = \"docker-registry:5000\"\nendpoints = [\"", registry->Url(),
      "\"]\nfallback_to_upstream = false\n\n[host.\"", registry->HostPort(),
      "\"]\nca_file = \"", ca->ca_cert_path(),
      "\"\ntls_server_name = \"docker-registry\"\nusername = \"puller\"\npassword_file = \"",
      password_file, "\"\n"));
  const std::string name = "docker-registry:5000/mynginx:v1";
  std::string image_ref;
  Pull(name, &image_ref);
  EXPECT_EQ(image_ref, image.config_digest);
  ExpectImage(name, name, "docker-registry:5000/mynginx@" + image.manifest_digest);
  EXPECT_TRUE(cri_->HasImage(name));
  ExpectNoRelayNames();
  TESTBED_ASSERT_OK_AND_ASSIGN(auto records, images_->List());
  for (const auto& record : records) {
    if (absl::StartsWith(record.name(), "docker-registry:5000/")) {
      EXPECT_EQ(record.labels().at("io.cri-containerd.image"), "managed");
    }
  }
  EXPECT_EQ(ReadFile(containerd_->config_path()).value_or(""), containerd_config);
  EXPECT_THAT(mirror_->LogTail(100000), Not(HasSubstr("s3cret-pw")));
  RemoveAndCheck(name);
  EXPECT_FALSE(cri_->HasImage(name));
}

// A registry that requires a client certificate (mTLS): cri-mirror presents
// the [host] client_cert/client_key (the registry refuses handshakes
// without one: see TestbedTest.MutualTlsRegistryRequiresClientCertificate).
TEST_F(MirrorPullTest, MutualTlsRegistryGetsTheClientCertificate) {
  TestCaOptions ca_options;
  ca_options.client_certificate = true;
  ca_options.extra_sans = {"IP:127.0.0.1"};
  TESTBED_ASSERT_OK_AND_ASSIGN(auto ca, TestCa::Create(dir_->Join("mtls-pki"), ca_options));
  RegistryOptions options;
  options.name = "mtls";
  options.tls = RegistryTls{ca->server_cert_path(), ca->server_key_path(), ca->ca_cert_path()};
  PushOptions push;
  push.tls_verify = true;
  push.cert_dir = ca->cert_dir();
  BuiltImage image;
  auto registry = RegistryWith(options, push, "secure/app:v1", 1, &image);
  ASSERT_NE(registry, nullptr);

  const std::string host_table = absl::StrCat(
      "[[mirror]]\nregistry = \"secure.example\"\nendpoints = [\"", registry->Url(),
      "\"]\nfallback_to_upstream = false\n\n[host.\"", registry->HostPort(),
      "\"]\nca_file = \"", ca->ca_cert_path(), "\"\ntls_server_name = \"docker-registry\"\n");
  StartMirror(absl::StrCat(host_table, "client_cert = \"", ca->client_cert_path(),
                           "\"\nclient_key = \"", ca->client_key_path(), "\"\n"));
  std::string image_ref;
  Pull("secure.example/secure/app:v1", &image_ref);
  EXPECT_EQ(image_ref, image.config_digest);
  ExpectNoRelayNames();
  RemoveAndCheck("secure.example/secure/app:v1");
}

// docker.io rule with a local mirror and no upstream fallback.
TEST_F(MirrorPullTest, DockerHubMirrorServesShortNames) {
  BuiltImage image;
  auto registry = RegistryWith("hub", "library/nginx:alpine", 11, &image);
  ASSERT_NE(registry, nullptr);
  StartMirror(absl::StrCat("[[mirror]]\nregistry = \"docker.io\"\nendpoints = [\"",
                           registry->Url(), "\"]\nfallback_to_upstream = false\n"));
  Pull("nginx:alpine");
  EXPECT_TRUE(cri_->HasImage("docker.io/library/nginx:alpine"));
  ExpectImage("nginx:alpine", "docker.io/library/nginx:alpine",
              "docker.io/library/nginx@" + image.manifest_digest);
  ExpectNoRelayNames();
  // A second pull of the same image (records exist: updated, not duplicated).
  Pull("docker.io/library/nginx:alpine");
  ExpectNoRelayNames();
}

// First endpoints that refuse, black-hole or 404: the second one serves.
TEST_F(MirrorPullTest, FallsBackToTheNextEndpoint) {
  BuiltImage image;
  auto good = RegistryWith("good", "team/app:v1", 21, &image);
  ASSERT_NE(good, nullptr);
  auto empty = RegistryWith("empty", "", 0, nullptr);
  ASSERT_NE(empty, nullptr);
  TESTBED_ASSERT_OK_AND_ASSIGN(int refused_port, FreeLoopbackPort());
  TESTBED_ASSERT_OK_AND_ASSIGN(auto hole, BlackHole::Create());
  struct Case {
    std::string registry;
    std::string first_endpoint;
    std::string first_host;
  };
  const std::vector<Case> cases = {
      {"refused.example", absl::StrCat("http://127.0.0.1:", refused_port),
       absl::StrCat("127.0.0.1:", refused_port)},
      {"hole.example", "http://" + hole->HostPort(), hole->HostPort()},
      {"notfound.example", empty->Url(), empty->HostPort()},
  };
  std::string rules;
  for (const Case& c : cases) {
    absl::StrAppend(&rules, "[[mirror]]\nregistry = \"", c.registry, "\"\nendpoints = [\"",
                    c.first_endpoint, "\", \"", good->Url(),
                    "\"]\nfallback_to_upstream = false\n\n");
  }
  for (const Case& c : cases) {
    absl::StrAppend(&rules, "[host.\"", c.first_host,
                    "\"]\nconnect_timeout = \"1s\"\nresponse_timeout = \"1s\"\n\n");
  }
  StartMirror(rules);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.registry);
    const absl::Time start = absl::Now();
    const std::string name = c.registry + "/team/app:v1";
    Pull(name);
    EXPECT_LT(absl::Now() - start, absl::Seconds(30));
    ExpectImage(name, name, c.registry + "/team/app@" + image.manifest_digest);
  }
  ExpectNoRelayNames();
}

// Pull by digest; a digest-only mirror is skipped for tags (the tag comes
// from the upstream, here a TLS registry trusted through ca_file) and used
// for digests. The mirror holds a different image under the same tag, so the
// digest CRI reports tells which endpoint served the tag.
TEST_F(MirrorPullTest, DigestOnlyMirrorServesDigestsOnly) {
  TESTBED_ASSERT_OK_AND_ASSIGN(
      auto ca, TestCa::Create(dir_->Join("pki"), TestCaOptions{"docker-registry", {"IP:127.0.0.1"}}));
  RegistryOptions options;
  options.name = "upstream";
  options.tls = RegistryTls{ca->server_cert_path(), ca->server_key_path(), ""};
  TESTBED_ASSERT_OK_AND_ASSIGN(auto upstream, Registry::Create(dir_->path(), options));
  ImageOptions upstream_image;
  upstream_image.seed = 31;
  TESTBED_ASSERT_OK_AND_ASSIGN(BuiltImage tagged, builder_->BuildImage("up", upstream_image));
  TESTBED_ASSERT_OK(builder_->Push("up", upstream->HostPort() + "/team/app:v1").status());
  BuiltImage mirrored;
  auto mirror = RegistryWith("digests", "team/app:v1", 32, &mirrored);
  ASSERT_NE(mirror, nullptr);
  ASSERT_NE(tagged.manifest_digest, mirrored.manifest_digest);

  StartMirror(absl::StrCat("[[mirror]]\nregistry = \"", upstream->HostPort(),
                           "\"\nendpoints = [\"", mirror->Url(),
                           "\"]\npull_from_mirror = \"digest-only\"\n\n[host.\"",
                           upstream->HostPort(), "\"]\nca_file = \"", ca->ca_cert_path(),
                           "\"\n"));
  const std::string repo = upstream->HostPort() + "/team/app";
  Pull(repo + ":v1");
  ExpectImage(repo + ":v1", repo + ":v1", repo + "@" + tagged.manifest_digest);
  // Only the digest-only mirror holds this manifest.
  const std::string by_digest = repo + "@" + mirrored.manifest_digest;
  Pull(by_digest);
  ExpectImage(by_digest, "", by_digest);
  ExpectNoRelayNames();
}

// A multi-platform index and a multi-layer image of several MiB: CRI reports
// the digests the registry holds.
TEST_F(MirrorPullTest, MultiPlatformAndMultiLayerImages) {
  TESTBED_ASSERT_OK_AND_ASSIGN(auto registry, Registry::Create(dir_->path()));
  ImageOptions big;
  big.layer_sizes = {0, 3 * kMiB, 2 * kMiB, 512 * 1024};
  TESTBED_ASSERT_OK_AND_ASSIGN(BuiltImage image, builder_->BuildImage("big", big));
  TESTBED_ASSERT_OK_AND_ASSIGN(BuiltIndex index,
                               builder_->BuildIndex("multi", DefaultMultiPlatform(41)));
  TESTBED_ASSERT_OK_AND_ASSIGN(std::string big_digest,
                               builder_->Push("big", registry->HostPort() + "/app/big:v1"));
  TESTBED_ASSERT_OK_AND_ASSIGN(std::string index_digest,
                               builder_->Push("multi", registry->HostPort() + "/app/multi:v1"));
  EXPECT_EQ(big_digest, image.manifest_digest);
  EXPECT_EQ(index_digest, index.index_digest);
  StartMirror(absl::StrCat("[[mirror]]\nregistry = \"docker.io\"\nendpoints = [\"",
                           registry->Url(), "\"]\nfallback_to_upstream = false\n"));
  std::string image_ref;
  Pull("app/big:v1", &image_ref);
  EXPECT_EQ(image_ref, image.config_digest);
  ExpectImage("docker.io/app/big:v1", "docker.io/app/big:v1",
              "docker.io/app/big@" + big_digest);
  Pull("app/multi:v1");
  ExpectImage("docker.io/app/multi:v1", "docker.io/app/multi:v1",
              "docker.io/app/multi@" + index_digest);
  ExpectNoRelayNames();
}

// A docker-registry in proxy mode in front of another local registry.
TEST_F(MirrorPullTest, PullThroughCacheMirror) {
  BuiltImage image;
  auto upstream = RegistryWith("upstream", "library/busybox:1", 51, &image);
  ASSERT_NE(upstream, nullptr);
  RegistryOptions options;
  options.name = "cache";
  options.proxy = RegistryProxy{upstream->Url(), std::nullopt};
  TESTBED_ASSERT_OK_AND_ASSIGN(auto cache, Registry::Create(dir_->path(), options));
  StartMirror(absl::StrCat("[[mirror]]\nregistry = \"docker.io\"\nendpoints = [\"",
                           cache->Url(), "\"]\nfallback_to_upstream = false\n"));
  Pull("busybox:1");
  ExpectImage("busybox:1", "docker.io/library/busybox:1",
              "docker.io/library/busybox@" + image.manifest_digest);
  ExpectNoRelayNames();
}

// No rule: forwarded untouched. Invalid reference: INVALID_ARGUMENT, no
// backend call (containerd never hears of it).
TEST_F(MirrorPullTest, UnmatchedPassesThroughAndInvalidIsRejected) {
  BuiltImage image;
  auto registry = RegistryWith("direct", "x/y:z", 61, &image);
  ASSERT_NE(registry, nullptr);
  StartMirror("[[mirror]]\nregistry = \"docker.io\"\nendpoints = [\"http://127.0.0.1:9\"]\n");
  const std::string name = registry->HostPort() + "/x/y:z";
  Pull(name);
  ExpectImage(name, name, registry->HostPort() + "/x/y@" + image.manifest_digest);

  auto invalid = cri_->Pull("UPPER/Case:tag");
  EXPECT_EQ(invalid.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(invalid.status.error_message(), HasSubstr("cri-mirror: image reference"));
  EXPECT_THAT(ReadFile(containerd_->log_path()).value_or(""), Not(HasSubstr("UPPER/Case")));
}

// The relay refuses requests without a session credential.
TEST_F(MirrorPullTest, RelayWithoutSessionAnswers401) {
  StartMirror("");
  HttpRequest request;
  request.url = absl::StrCat("http://127.0.0.1:", relay_port_, "/v2/");
  TESTBED_ASSERT_OK_AND_ASSIGN(HttpResponse response, HttpGet(request));
  EXPECT_EQ(response.status, 401);
  EXPECT_THAT(response.headers["www-authenticate"], HasSubstr("Basic"));
  request.username = "0123456789abcdef0123456789abcdef";
  request.password = "not-a-session";
  TESTBED_ASSERT_OK_AND_ASSIGN(response, HttpGet(request));
  EXPECT_EQ(response.status, 401);
}

// Overwrites a blob's bytes in a docker-registry's storage (same length), so
// the registry serves content that fails digest verification.
bool CorruptBlob(const Registry& registry, const std::string& digest) {
  const std::string hex = digest.substr(digest.find(':') + 1);
  const std::string path = absl::StrCat(registry.storage_dir(),
                                        "/docker/registry/v2/blobs/sha256/", hex.substr(0, 2),
                                        "/", hex, "/data");
  absl::StatusOr<std::string> bytes = ReadFile(path);
  if (!bytes.ok() || bytes->size() < 64) return false;
  for (size_t i = bytes->size() / 2; i < bytes->size() / 2 + 32; ++i) (*bytes)[i] ^= 0x5a;
  return WriteFile(path, *bytes).ok();
}

// A mirror that serves corrupt layer bytes: the pull still succeeds, from the
// next endpoint. containerd refuses the blob's digest; cri-mirror reads which
// digest from its error, excludes the mirror that served it (recorded by the
// relay), aborts the bad ingest and retries without that mirror.
TEST_F(MirrorPullTest, MirrorServingBadBytesIsExcluded) {
  ImageOptions options;
  options.seed = 71;
  options.layer_sizes = {256 * 1024};
  TESTBED_ASSERT_OK_AND_ASSIGN(BuiltImage image, builder_->BuildImage("bad", options));
  TESTBED_ASSERT_OK_AND_ASSIGN(auto bad, RegistryNamed("bad"));
  TESTBED_ASSERT_OK_AND_ASSIGN(auto good, RegistryNamed("good"));
  TESTBED_ASSERT_OK(builder_->Push("bad", bad->HostPort() + "/team/app:v1").status());
  TESTBED_ASSERT_OK(builder_->Push("bad", good->HostPort() + "/team/app:v1").status());
  ASSERT_TRUE(CorruptBlob(*bad, image.layer_digests[0]));
  StartMirror(absl::StrCat("[[mirror]]\nregistry = \"corp.example\"\nendpoints = [\"", bad->Url(),
                           "\", \"", good->Url(), "\"]\nfallback_to_upstream = false\n"));
  std::string image_ref;
  Pull("corp.example/team/app:v1", &image_ref);
  EXPECT_EQ(image_ref, image.config_digest);
  ExpectImage("corp.example/team/app:v1", "corp.example/team/app:v1",
              "corp.example/team/app@" + image.manifest_digest);
  const std::string log = mirror_->LogTail(100000);
  EXPECT_THAT(log, HasSubstr("retrying without " + bad->Url()));
  // Aborted, or already dropped by containerd after the failed commit (it
  // varies with timing): either way the retry cannot reuse those bytes.
  EXPECT_THAT(log, HasSubstr("containerd ingest layer-" + image.layer_digests[0]));
  ExpectNoRelayNames();
}

// Nothing serves the image: the error keeps containerd's code (NOT_FOUND when
// every endpoint said 404) and lists the endpoints tried; no record is left.
TEST_F(MirrorPullTest, FailedPullListsEveryEndpointTried) {
  auto first = RegistryWith("empty1", "", 0, nullptr);
  ASSERT_NE(first, nullptr);
  auto second = RegistryWith("empty2", "", 0, nullptr);
  ASSERT_NE(second, nullptr);
  StartMirror(absl::StrCat("[[mirror]]\nregistry = \"corp.example\"\nendpoints = [\"",
                           first->Url(), "\", \"", second->Url(),
                           "\"]\nfallback_to_upstream = false\n"));
  auto pulled = cri_->Pull("corp.example/team/missing:v1");
  ASSERT_FALSE(pulled.ok());
  EXPECT_EQ(pulled.status.error_code(), grpc::StatusCode::NOT_FOUND)
      << pulled.status.error_message();
  const std::string message = pulled.status.error_message();
  EXPECT_THAT(message, HasSubstr("cri-mirror: pull of corp.example/team/missing:v1 failed: "));
  EXPECT_THAT(message, HasSubstr("endpoints tried: "));
  EXPECT_THAT(message, HasSubstr(first->Url() + ": HEAD manifests/v1: HTTP 404"));
  EXPECT_THAT(message, HasSubstr(second->Url()));
  TESTBED_ASSERT_OK_AND_ASSIGN(std::vector<std::string> names, images_->Names());
  EXPECT_THAT(names, ::testing::IsEmpty());
}

// [server].pull_timeout bounds the whole pull, even on a mirror that never
// answers and a response_timeout longer than the budget.
TEST_F(MirrorPullTest, PullTimeoutEndsAStuckPull) {
  pull_timeout_ = "3s";
  TESTBED_ASSERT_OK_AND_ASSIGN(auto hole, BlackHole::Create());
  StartMirror(absl::StrCat("[[mirror]]\nregistry = \"corp.example\"\nendpoints = [\"http://",
                           hole->HostPort(), "\"]\nfallback_to_upstream = false\n\n[host.\"",
                           hole->HostPort(), "\"]\nresponse_timeout = \"6s\"\n"));
  const absl::Time start = absl::Now();
  auto pulled = cri_->Pull("corp.example/team/app:v1");
  EXPECT_LT(absl::Now() - start, absl::Seconds(6));
  ASSERT_FALSE(pulled.ok());
  EXPECT_EQ(pulled.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << pulled.status.error_message();
  EXPECT_THAT(pulled.status.error_message(), HasSubstr("pull_timeout"));
}

// The kubelet's AuthConfig is offered to the upstream (here a TLS registry
// with htpasswd auth and no [host] credentials) after the mirror said 404;
// no password shows up in the log.
TEST_F(MirrorPullTest, KubeletCredentialsReachTheUpstream) {
  TESTBED_ASSERT_OK_AND_ASSIGN(
      auto ca, TestCa::Create(dir_->Join("pki"), TestCaOptions{"docker-registry", {"IP:127.0.0.1"}}));
  RegistryOptions options;
  options.name = "auth";
  options.htpasswd = RegistryCredentials{"kubelet-user", "kubelet-pw"};
  PushOptions push;
  push.credentials = options.htpasswd;
  BuiltImage image;
  auto registry = UpstreamBehindEmptyMirror(options, *ca, push, &image);
  ASSERT_NE(registry, nullptr);
  ASSERT_FALSE(HasFatalFailure());
  const std::string name = registry->HostPort() + "/team/app:v1";
  EXPECT_FALSE(cri_->Pull(name).ok()) << "pulled without credentials";
  auto pulled = cri_->Pull(MakePullRequest(name, "kubelet-user", "kubelet-pw"));
  ASSERT_TRUE(pulled.ok()) << pulled.status.error_message() << Logs();
  ExpectImage(name, name, registry->HostPort() + "/team/app@" + image.manifest_digest);
  EXPECT_THAT(mirror_->LogTail(100000), Not(HasSubstr("kubelet-pw")));
  ExpectNoRelayNames();
}

// The kubelet's registry_token (CRI AuthConfig) reaches a registry that
// accepts only bearer tokens, through containerd and the relay, as the bearer
// token itself (the registry's token realm is a dead port: never asked). A
// token the registry refuses fails the pull with a reason naming it.
TEST_F(MirrorPullTest, KubeletRegistryTokenReachesTheUpstream) {
  TESTBED_ASSERT_OK_AND_ASSIGN(int dead_port, FreeLoopbackPort());
  BuiltImage image;
  auto registry = TokenUpstream(absl::StrCat("http://127.0.0.1:", dead_port, "/token"), &image);
  ASSERT_NE(registry, nullptr);
  ASSERT_FALSE(HasFatalFailure());
  const std::string name = registry->HostPort() + "/team/app:v1";
  runtime::v1::PullImageRequest refused = MakePullRequest(name);
  refused.mutable_auth()->set_registry_token("not-a-token");
  auto failed = cri_->Pull(refused);
  ASSERT_FALSE(failed.ok()) << "pulled with a refused token";
  EXPECT_THAT(failed.status.error_message(), HasSubstr("registry_token"));

  const std::string token = signer_->Mint({"repository:team/app:pull"});
  runtime::v1::PullImageRequest request = MakePullRequest(name);
  request.mutable_auth()->set_registry_token(token);
  auto pulled = cri_->Pull(request);
  ASSERT_TRUE(pulled.ok()) << pulled.status.error_message() << Logs();
  ExpectImage(name, name, registry->HostPort() + "/team/app@" + image.manifest_digest);
  EXPECT_THAT(mirror_->LogTail(100000), Not(HasSubstr(token)));
  ExpectNoRelayNames();
}

// The kubelet's identity_token drives the OAuth2 refresh-token grant at the
// registry's token service (TokenServer), through containerd and the relay;
// a refresh token the service refuses fails the pull.
TEST_F(MirrorPullTest, KubeletIdentityTokenDrivesTheRefreshTokenGrant) {
  TESTBED_ASSERT_OK_AND_ASSIGN(auto signer, TokenSigner::Create(dir_->Join("realm-key")));
  // The registry is https, so its realm must be too (a plain-http realm is
  // refused); the realm is another origin and gets its own [host] table.
  TESTBED_ASSERT_OK_AND_ASSIGN(
      auto realm_ca, TestCa::Create(dir_->Join("realm-pki"),
                                    TestCaOptions{"docker-registry", {"IP:127.0.0.1"}}));
  TESTBED_ASSERT_OK_AND_ASSIGN(
      auto realm, TokenServer::Start(signer.get(), "kubelet-refresh", realm_ca.get()));
  BuiltImage image;
  auto registry = TokenUpstream(realm->Url(), &image, signer.get(),
                                absl::StrCat("\n[host.\"", realm->HostPort(), "\"]\nca_file = \"",
                                             realm_ca->ca_cert_path(), "\"\n"));
  ASSERT_NE(registry, nullptr);
  ASSERT_FALSE(HasFatalFailure());
  const std::string name = registry->HostPort() + "/team/app:v1";
  runtime::v1::PullImageRequest refused = MakePullRequest(name);
  refused.mutable_auth()->set_identity_token("not-the-refresh-token");
  EXPECT_FALSE(cri_->Pull(refused).ok()) << "pulled with a refused identity token";
  EXPECT_EQ(realm->issued(), 0);

  runtime::v1::PullImageRequest request = MakePullRequest(name);
  request.mutable_auth()->set_identity_token("kubelet-refresh");
  auto pulled = cri_->Pull(request);
  ASSERT_TRUE(pulled.ok()) << pulled.status.error_message() << Logs();
  EXPECT_GE(realm->issued(), 1);
  ExpectImage(name, name, registry->HostPort() + "/team/app@" + image.manifest_digest);
  EXPECT_THAT(mirror_->LogTail(100000), Not(HasSubstr("kubelet-refresh")));
  ExpectNoRelayNames();
}

TEST_F(MirrorPullTest, IdenticalConcurrentPullsAreCoalesced) {
  BuiltImage image;
  auto good = RegistryWith("good", "team/app:v1", 81, &image);
  ASSERT_NE(good, nullptr);
  TESTBED_ASSERT_OK_AND_ASSIGN(auto hole, BlackHole::Create());
  StartMirror(absl::StrCat("[[mirror]]\nregistry = \"corp.example\"\nendpoints = [\"http://",
                           hole->HostPort(), "\", \"", good->Url(),
                           "\"]\nfallback_to_upstream = false\n\n[host.\"", hole->HostPort(),
                           "\"]\nresponse_timeout = \"2s\"\n"));
  const std::string name = "corp.example/team/app:v1";
  std::vector<std::thread> threads;
  std::vector<grpc::Status> results(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      runtime::v1::PullImageRequest request =
          i == 3 ? MakePullRequest(name, "other", "credential") : MakePullRequest(name);
      results[i] = cri_->Pull(request).status;
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const grpc::Status& status : results) {
    EXPECT_TRUE(status.ok()) << status.error_message() << Logs();
  }
  const std::string log = mirror_->LogTail(100000);
  EXPECT_EQ(CountOf(log, "backend pulls"), 2) << log;
  EXPECT_EQ(CountOf(log, "joining the identical pull in flight"), 2) << log;
  ExpectImage(name, name, "corp.example/team/app@" + image.manifest_digest);
  ExpectNoRelayNames();
}

}  // namespace
}  // namespace crimirror::testbed
