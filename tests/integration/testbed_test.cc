// Copyright cri-mirror authors.
//
// Self-test of the integration test bed: every piece works against the real
// containerd, docker-registry and skopeo of this machine, without cri-mirror.
// If these fail, the cri-mirror integration tests cannot be trusted.
#include "tests/integration/testbed/testbed.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/integration/testbed/gtest_util.h"

namespace crimirror::testbed {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

class TestbedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TESTBED_SKIP_UNLESS_PREREQUISITES();
    TESTBED_ASSERT_OK_AND_ASSIGN(dir_, TempDir::Create("crimirror-bed"));
  }

  // Starts containerd and a CRI client on its socket.
  void StartContainerd() {
    TESTBED_ASSERT_OK_AND_ASSIGN(containerd_, Containerd::Create(dir_->path()));
    TESTBED_ASSERT_OK_AND_ASSIGN(
        cri_, CriImageClient::Create(containerd_->Endpoint()));
  }

  // Pulls `ref` through containerd's CRI and checks ImageStatus and
  // ListImages know it under its tag and `digest`.
  void PullAndCheck(const std::string& ref, const std::string& repo,
                    const std::string& digest) {
    auto pulled = cri_->Pull(ref);
    ASSERT_TRUE(pulled.ok()) << pulled.status.error_message() << "\n"
                             << containerd_->LogTail();
    auto status = cri_->Status(ref);
    ASSERT_TRUE(status.ok()) << status.status.error_message();
    ASSERT_TRUE(status.response.has_image()) << ref << " unknown after pull";
    EXPECT_EQ(status.response.image().id(), pulled.response.image_ref());
    EXPECT_THAT(status.response.image().repo_tags(), Contains(ref));
    EXPECT_THAT(status.response.image().repo_digests(),
                Contains(absl::StrCat(repo, "@", digest)));
    EXPECT_TRUE(cri_->HasImage(ref));
  }

  // Removes `ref` through CRI and checks it is gone.
  void RemoveAndCheck(const std::string& ref) {
    auto removed = cri_->Remove(ref);
    ASSERT_TRUE(removed.ok()) << removed.status.error_message();
    auto status = cri_->Status(ref);
    ASSERT_TRUE(status.ok()) << status.status.error_message();
    EXPECT_FALSE(status.response.has_image()) << ref << " still there";
    EXPECT_FALSE(cri_->HasImage(ref));
  }

  // Declared first: destroyed last, after every process below it.
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Containerd> containerd_;
  std::unique_ptr<CriImageClient> cri_;
};

TEST_F(TestbedTest, ProcessCapturesOutputAndReportsExitCodes) {
  struct Case {
    std::vector<std::string> argv;
    int exit_code;
    std::string output;
  };
  const std::vector<Case> cases = {
      {{"sh", "-c", "echo hello; exit 0"}, 0, "hello\n"},
      {{"sh", "-c", "echo oops >&2; exit 3"}, 3, ""},
      {{"sh", "-c", "kill -KILL $$"}, 128 + SIGKILL, ""},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    TESTBED_ASSERT_OK_AND_ASSIGN(
        CommandResult r,
        RunCommand(cases[i].argv, dir_->Join(absl::StrCat("cmd", i))));
    EXPECT_EQ(r.exit_code, cases[i].exit_code) << i;
    EXPECT_EQ(r.stdout_text, cases[i].output) << i;
  }
  EXPECT_EQ(RunCommand({"/nonexistent/prog"}, dir_->Join("x")).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(TestbedTest, ProcessStopEscalatesToKillAndReachesTheGroup) {
  ProcessOptions options;
  // Ignores SIGTERM and has a child: Stop() must SIGKILL the whole group.
  options.argv = {"sh", "-c", "trap '' TERM; sleep 300 & echo started; wait"};
  options.log_path = dir_->Join("stubborn.log");
  TESTBED_ASSERT_OK_AND_ASSIGN(auto process, Process::Start(options));
  TESTBED_ASSERT_OK(WaitFor([&] { return process->LogTail() == "started\n"; },
                            absl::Seconds(10), "child output"));
  EXPECT_TRUE(process->Running());
  absl::Time start = absl::Now();
  EXPECT_EQ(process->Stop(absl::Milliseconds(300)), 128 + SIGKILL);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_FALSE(process->Running());
  EXPECT_EQ(process->Wait(absl::ZeroDuration()).value_or(-1), 128 + SIGKILL);
}

TEST_F(TestbedTest, BuiltLayersAreValidTarGz) {
  TESTBED_ASSERT_OK_AND_ASSIGN(auto builder,
                               ImageBuilder::Create(dir_->Join("oci")));
  ImageOptions options;
  options.layer_sizes = {0, 200 * 1024};
  TESTBED_ASSERT_OK_AND_ASSIGN(BuiltImage image,
                               builder->BuildImage("v1", options));
  ASSERT_EQ(image.layer_digests.size(), 2u);
  EXPECT_GT(image.layer_sizes[1], 200u * 1024);
  TESTBED_ASSERT_OK_AND_ASSIGN(
      std::string listing,
      RunCommandOk({"tar", "-tzf", builder->BlobPath(image.layer_digests[1])},
                   dir_->Join("tar")));
  EXPECT_EQ(listing, "cri-mirror-data-1.bin\ncri-mirror-layer-1.txt\n");
  // Same options, same digests.
  TESTBED_ASSERT_OK_AND_ASSIGN(BuiltImage again,
                               builder->BuildImage("v2", options));
  EXPECT_EQ(again.manifest_digest, image.manifest_digest);
}

TEST_F(TestbedTest, FilesLayerKeepsModesDirectoriesAndSymlinks) {
  TESTBED_ASSERT_OK_AND_ASSIGN(auto builder,
                               ImageBuilder::Create(dir_->Join("oci")));
  ImageOptions options;
  TarEntry link;
  link.path = "bin/sh";
  link.type = TarEntry::Type::kSymlink;
  link.mode = 0777;
  link.link_target = "/bin/busybox";
  options.files = {TarDirectory("bin"), TarFile("bin/busybox", "#!x", 0755),
                   link, TarFile("www/index.html", "page")};
  options.entrypoint = {"/bin/busybox", "true"};
  TESTBED_ASSERT_OK_AND_ASSIGN(BuiltImage image,
                               builder->BuildImage("files", options));
  ASSERT_EQ(image.layer_digests.size(), 2u);  // layer 0, then the files
  TESTBED_ASSERT_OK_AND_ASSIGN(
      std::string listing,
      RunCommandOk({"tar", "-tvzf", builder->BlobPath(image.layer_digests[1])},
                   dir_->Join("tar")));
  EXPECT_THAT(listing, HasSubstr("drwxr-xr-x root/root"));
  EXPECT_THAT(listing, HasSubstr("-rwxr-xr-x root/root         3 1970-01-01 00:00 bin/busybox"));
  EXPECT_THAT(listing, HasSubstr("bin/sh -> /bin/busybox"));
  EXPECT_THAT(listing, HasSubstr("-rw-r--r-- root/root         4 1970-01-01 00:00 www/index.html"));
  TESTBED_ASSERT_OK_AND_ASSIGN(std::string config,
                               ReadFile(builder->BlobPath(image.config_digest)));
  EXPECT_THAT(config, HasSubstr(R"("Entrypoint":["/bin/busybox","true"])"));
}

TEST_F(TestbedTest, ContainerdCriPullsImagesPushedToAnHttpRegistry) {
  StartContainerd();
  TESTBED_ASSERT_OK_AND_ASSIGN(auto registry, Registry::Create(dir_->path()));
  TESTBED_ASSERT_OK_AND_ASSIGN(auto builder,
                               ImageBuilder::Create(dir_->Join("oci")));
  ImageOptions multi_layer;
  multi_layer.layer_sizes = {0, 2 * kMiB, 1 * kMiB};
  TESTBED_ASSERT_OK_AND_ASSIGN(BuiltImage image,
                               builder->BuildImage("v1", multi_layer));
  TESTBED_ASSERT_OK_AND_ASSIGN(
      BuiltIndex index, builder->BuildIndex("multi", DefaultMultiPlatform()));
  const std::string repo = registry->HostPort() + "/testbed/one";
  TESTBED_ASSERT_OK_AND_ASSIGN(std::string pushed,
                               builder->Push("v1", repo + ":v1"));
  EXPECT_EQ(pushed, image.manifest_digest);
  TESTBED_ASSERT_OK_AND_ASSIGN(std::string pushed_index,
                               builder->Push("multi", repo + ":multi"));
  EXPECT_EQ(pushed_index, index.index_digest);

  PullAndCheck(repo + ":v1", repo, image.manifest_digest);
  PullAndCheck(repo + ":multi", repo, index.index_digest);
  auto status = cri_->Status(repo + ":v1");
  EXPECT_EQ(status.response.image().id(), image.config_digest);
  EXPECT_GT(status.response.image().size(), 3 * kMiB);
  auto fs = cri_->FsInfo();
  ASSERT_TRUE(fs.ok()) << fs.status.error_message();
  EXPECT_GT(fs.response.image_filesystems_size(), 0);

  // containerd's own records (namespace k8s.io): tag and digest names.
  TESTBED_ASSERT_OK_AND_ASSIGN(
      auto images, ContainerdImagesClient::Create(containerd_->Endpoint()));
  TESTBED_ASSERT_OK_AND_ASSIGN(std::vector<std::string> names, images->Names());
  EXPECT_THAT(names, Contains(repo + ":v1"));
  EXPECT_THAT(names, Contains(absl::StrCat(repo, "@", index.index_digest)));

  RemoveAndCheck(repo + ":v1");
  RemoveAndCheck(repo + ":multi");
  TESTBED_ASSERT_OK_AND_ASSIGN(names, images->Names());
  EXPECT_THAT(names, ::testing::IsEmpty());
}

TEST_F(TestbedTest, ContainerdRestartKeepsImagesAndSocketPath) {
  StartContainerd();
  TESTBED_ASSERT_OK_AND_ASSIGN(auto registry, Registry::Create(dir_->path()));
  TESTBED_ASSERT_OK_AND_ASSIGN(auto builder,
                               ImageBuilder::Create(dir_->Join("oci")));
  TESTBED_ASSERT_OK_AND_ASSIGN(BuiltImage image, builder->BuildImage("v1", {}));
  const std::string ref = registry->HostPort() + "/testbed/restart:v1";
  TESTBED_ASSERT_OK(builder->Push("v1", ref).status());
  ASSERT_TRUE(cri_->Pull(ref).ok());

  containerd_->Stop();
  auto down = cri_->List(absl::Seconds(2));
  EXPECT_EQ(down.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  TESTBED_ASSERT_OK(containerd_->Start());
  auto up = cri_->Status(ref, false, absl::Seconds(10));
  ASSERT_TRUE(up.ok()) << up.status.error_message();
  EXPECT_EQ(up.response.image().id(), image.config_digest);

  // A registry restarts on the same port with the same storage.
  const int port = registry->port();
  registry->Stop();
  EXPECT_FALSE(TcpConnectable(port));
  TESTBED_ASSERT_OK(registry->Start());
  EXPECT_EQ(registry->port(), port);
  TESTBED_ASSERT_OK_AND_ASSIGN(std::string served,
                               RegistryDigest(ref, dir_->Join("inspect")));
  EXPECT_EQ(served, image.manifest_digest);
}

TEST_F(TestbedTest, TlsHtpasswdRegistryAnswers401WithoutCredentials) {
  TESTBED_ASSERT_OK_AND_ASSIGN(auto ca, TestCa::Create(dir_->Join("pki")));
  RegistryOptions options;
  options.tls = RegistryTls{ca->server_cert_path(), ca->server_key_path(), ""};
  options.htpasswd = RegistryCredentials{"tester", "s3cret-pass"};
  TESTBED_ASSERT_OK_AND_ASSIGN(auto registry,
                               Registry::Create(dir_->path(), options));
  ASSERT_EQ(registry->Url(), "https://" + registry->HostPort());

  // Verified TLS by name: the certificate is for docker-registry only.
  HttpRequest request;
  request.url =
      absl::StrCat("https://docker-registry:", registry->port(), "/v2/");
  request.resolve = {
      absl::StrCat("docker-registry:", registry->port(), ":127.0.0.1")};
  request.ca_file = ca->ca_cert_path();
  struct Case {
    std::string username, password;
    long status;
  };
  for (const Case& c : std::vector<Case>{{"", "", 401},
                                         {"tester", "wrong", 401},
                                         {"tester", "s3cret-pass", 200}}) {
    request.username = c.username;
    request.password = c.password;
    TESTBED_ASSERT_OK_AND_ASSIGN(HttpResponse response, HttpGet(request));
    EXPECT_EQ(response.status, c.status) << c.username << ":" << c.password;
    if (c.status == 401) {
      EXPECT_THAT(response.headers["www-authenticate"], HasSubstr("Basic"));
    }
  }
  // By IP the name does not match: verification fails.
  HttpRequest by_ip = request;
  by_ip.url = registry->Url() + "/v2/";
  EXPECT_EQ(HttpGet(by_ip).status().code(), absl::StatusCode::kUnavailable);

  // skopeo pushes with credentials.
  TESTBED_ASSERT_OK_AND_ASSIGN(auto builder,
                               ImageBuilder::Create(dir_->Join("oci")));
  TESTBED_ASSERT_OK_AND_ASSIGN(BuiltImage image, builder->BuildImage("v1", {}));
  PushOptions push;
  push.credentials = options.htpasswd;
  TESTBED_ASSERT_OK_AND_ASSIGN(
      std::string digest,
      builder->Push("v1", registry->HostPort() + "/mynginx:v1", push));
  EXPECT_EQ(digest, image.manifest_digest);
}

TEST_F(TestbedTest, MutualTlsRegistryRequiresClientCertificate) {
  TestCaOptions ca_options;
  ca_options.extra_sans = {"IP:127.0.0.1"};
  ca_options.client_certificate = true;
  TESTBED_ASSERT_OK_AND_ASSIGN(auto ca,
                               TestCa::Create(dir_->Join("pki"), ca_options));
  RegistryOptions options;
  options.tls = RegistryTls{ca->server_cert_path(), ca->server_key_path(),
                            ca->ca_cert_path()};
  TESTBED_ASSERT_OK_AND_ASSIGN(auto registry,
                               Registry::Create(dir_->path(), options));

  HttpRequest request;
  request.url = registry->Url() + "/v2/";
  request.ca_file = ca->ca_cert_path();
  EXPECT_FALSE(HttpGet(request).ok()) << "handshake without client cert";
  request.client_cert = ca->client_cert_path();
  request.client_key = ca->client_key_path();
  TESTBED_ASSERT_OK_AND_ASSIGN(HttpResponse response, HttpGet(request));
  EXPECT_EQ(response.status, 200);

  // skopeo with verification on and the cert dir (CA + client cert).
  TESTBED_ASSERT_OK_AND_ASSIGN(auto builder,
                               ImageBuilder::Create(dir_->Join("oci")));
  TESTBED_ASSERT_OK(builder->BuildImage("v1", {}).status());
  PushOptions push;
  push.tls_verify = true;
  push.cert_dir = ca->cert_dir();
  TESTBED_ASSERT_OK(
      builder->Push("v1", registry->HostPort() + "/m:v1", push).status());
}

TEST_F(TestbedTest, ProxyRegistryServesImagePushedToItsUpstream) {
  StartContainerd();
  RegistryOptions upstream_options;
  upstream_options.name = "upstream";
  TESTBED_ASSERT_OK_AND_ASSIGN(
      auto upstream, Registry::Create(dir_->path(), upstream_options));
  RegistryOptions cache_options;
  cache_options.name = "cache";
  cache_options.proxy = RegistryProxy{upstream->Url(), std::nullopt};
  TESTBED_ASSERT_OK_AND_ASSIGN(auto cache,
                               Registry::Create(dir_->path(), cache_options));

  TESTBED_ASSERT_OK_AND_ASSIGN(auto builder,
                               ImageBuilder::Create(dir_->Join("oci")));
  ImageOptions two_layers;
  two_layers.layer_sizes = {0, 512 * 1024};
  TESTBED_ASSERT_OK_AND_ASSIGN(BuiltImage image,
                               builder->BuildImage("alpine", two_layers));
  TESTBED_ASSERT_OK(
      builder->Push("alpine", upstream->HostPort() + "/library/nginx:alpine")
          .status());

  const std::string repo = cache->HostPort() + "/library/nginx";
  PullAndCheck(repo + ":alpine", repo, image.manifest_digest);
  // The cache stored what it served.
  TESTBED_ASSERT_OK_AND_ASSIGN(
      std::string cached,
      RegistryDigest(repo + ":alpine", dir_->Join("inspect")));
  EXPECT_EQ(cached, image.manifest_digest);
}

TEST_F(TestbedTest, BlackHoleAcceptsButNeverAnswers) {
  TESTBED_ASSERT_OK_AND_ASSIGN(auto hole, BlackHole::Create());
  EXPECT_TRUE(TcpConnectable(hole->port()));
  HttpRequest request;
  request.url = absl::StrCat("http://", hole->HostPort(), "/v2/");
  request.timeout = absl::Milliseconds(300);
  absl::Time start = absl::Now();
  EXPECT_EQ(HttpGet(request).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(250));
  // A free port refuses.
  TESTBED_ASSERT_OK_AND_ASSIGN(int port, FreeLoopbackPort());
  EXPECT_FALSE(TcpConnectable(port));
}

TEST_F(TestbedTest, CriMirrorThatExitsAtStartReportsItsLog) {
  // A stand-in binary that prints its arguments and exits: Create() must
  // fail fast with the log, not wait for the socket.
  const std::string fake = dir_->Join("fake-cri-mirror");
  TESTBED_ASSERT_OK(
      WriteFile(fake, "#!/bin/sh\necho args: \"$@\"\nexit 2\n", 0755));
  CriMirrorOptions options;
  options.binary = fake;
  options.backend = "unix:///nonexistent.sock";
  options.config_toml = "[server]\n";
  absl::Time start = absl::Now();
  auto mirror = CriMirror::Create(dir_->path(), options);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  ASSERT_EQ(mirror.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(mirror.status().message(), HasSubstr("exited with 2"));
  EXPECT_THAT(mirror.status().message(),
              HasSubstr("--backend unix:///nonexistent.sock --config "));
}

}  // namespace
}  // namespace crimirror::testbed
