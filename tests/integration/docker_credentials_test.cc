// Credentials from where nodes keep them (issue 12), end to end: a real
// containerd, a TLS docker-registry with htpasswd auth and the cri-mirror
// binary with no [host] credentials. The registry's password comes from a
// docker config.json `auths` entry (key written as a URL, then as a bare
// host:port), from a `credHelpers` helper script and from a `credsStore`
// script, both put on the daemon's PATH. Then scoping: the kubelet's
// credentials for the image's registry A do not reach mirror B (B's access
// log shows no authorized request) unless B's [host] sets forward_kubelet_credentials.
// A helper that hangs and one that prints garbage give one warning each and
// the next file serves. Everything captured (daemon log, pull errors, `resolve` output) is
// grepped for the secrets.
#include <sys/stat.h>

#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "tests/integration/testbed/gtest_util.h"
#include "tests/integration/testbed/testbed.h"

namespace crimirror::testbed {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kUser[] = "dc-user";
constexpr char kPassword[] = "dc-secret-pw-8734";

class DockerCredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TESTBED_SKIP_UNLESS_PREREQUISITES();
    TESTBED_ASSERT_OK_AND_ASSIGN(dir_, TempDir::Create("crimirror-docker-creds"));
    TESTBED_ASSERT_OK_AND_ASSIGN(containerd_, Containerd::Create(dir_->path()));
    TESTBED_ASSERT_OK_AND_ASSIGN(builder_, ImageBuilder::Create(dir_->Join("oci")));
    TESTBED_ASSERT_OK_AND_ASSIGN(relay_port_, FreeLoopbackPort());
    TESTBED_ASSERT_OK_AND_ASSIGN(
        ca_, TestCa::Create(dir_->Join("pki"), TestCaOptions{"docker-registry", {"IP:127.0.0.1"}}));
    TESTBED_ASSERT_OK_AND_ASSIGN(image_, builder_->BuildImage("img1", ImageOptions{}));
    RegistryOptions options;
    options.name = "private";
    options.tls = RegistryTls{ca_->server_cert_path(), ca_->server_key_path(), ""};
    options.htpasswd = RegistryCredentials{kUser, kPassword};
    registry_ = Pushed(options);
    ASSERT_NE(registry_, nullptr);
    RegistryOptions empty;
    empty.name = "empty";
    TESTBED_ASSERT_OK_AND_ASSIGN(empty_, Registry::Create(dir_->path(), empty));
    helpers_ = dir_->Join("helpers");
    ASSERT_EQ(mkdir(helpers_.c_str(), 0755), 0);
  }

  // A registry made with `options` holding team/app:v1.
  std::unique_ptr<Registry> Pushed(const RegistryOptions& options) {
    auto registry = StartRegistryWithImage(dir_->path(), options, *builder_, "img1", "team/app:v1");
    EXPECT_TRUE(registry.ok()) << registry.status();
    return registry.ok() ? *std::move(registry) : nullptr;
  }

  std::string Name() const { return registry_->HostPort() + "/team/app:v1"; }

  // A rule for the private registry whose endpoints are `mirrors` (default:
  // an empty anonymous mirror; then the registry itself, upstream), its CA
  // trusted, `extra` appended.
  std::string Config(std::vector<std::string> mirrors, const std::string& extra) const {
    if (mirrors.empty()) mirrors.push_back(empty_->Url());
    std::string endpoints;
    for (const std::string& m : mirrors) absl::StrAppend(&endpoints, endpoints.empty() ? "" : ", ", "\"", m, "\"");
    return absl::StrCat("[server]\nrelay = \"127.0.0.1:", relay_port_,
                        "\"\npull_timeout = \"2m\"\n\n[[mirror]]\nregistry = \"",
                        registry_->HostPort(), "\"\nendpoints = [", endpoints, "]\n\n[host.\"",
                        registry_->HostPort(), "\"]\nca_file = \"", ca_->ca_cert_path(), "\"\n\n",
                        extra);
  }

  // [credentials] naming one docker config file holding `json`.
  std::string DockerConfig(const std::string& json) {
    const std::string path = dir_->Join(absl::StrCat("docker-config-", ++configs_, ".json"));
    EXPECT_TRUE(WriteFile(path, json, 0600).ok());
    return absl::StrCat("[credentials]\ndocker_config = [\"/nonexistent/config.json\", \"", path,
                        "\"]\nhelper_timeout = \"10s\"\n");
  }

  // docker-credential-<name>: answers for the private registry only and
  // records each server it was asked about.
  void AddHelper(const std::string& name) {
    const std::string path = absl::StrCat(helpers_, "/docker-credential-", name);
    const std::string script = absl::StrCat(
        "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread server\necho \"$server\" >> ", helpers_,
        "/", name, ".calls\n[ \"$server\" = \"", registry_->HostPort(),
        "\" ] || { echo 'credentials not found in native keychain'; exit 1; }\n"
        "printf '{\"ServerURL\":\"%s\",\"Username\":\"", kUser, "\",\"Secret\":\"", kPassword,
        "\"}' \"$server\"\n");
    ASSERT_TRUE(WriteFile(path, script, 0755).ok());
  }

  void StartMirror(const std::string& toml) {
    CriMirrorOptions options;
    options.binary = CRI_MIRROR_BINARY;
    options.backend = containerd_->Endpoint();
    options.config_toml = toml;
    options.env["PATH"] = absl::StrCat(helpers_, ":/usr/sbin:/usr/bin:/sbin:/bin");
    TESTBED_ASSERT_OK_AND_ASSIGN(mirror_, CriMirror::Create(dir_->path(), options));
    TESTBED_ASSERT_OK_AND_ASSIGN(cri_, CriImageClient::Create(mirror_->Endpoint()));
  }

  std::string Logs() const {
    return absl::StrCat("\n--- cri-mirror log:\n", mirror_ ? mirror_->LogTail() : "");
  }

  // Pulls Name() (with `request` when given), checks the image and removes it.
  void PullAndRemove(std::optional<runtime::v1::PullImageRequest> request = std::nullopt) {
    auto pulled = request ? cri_->Pull(*request) : cri_->Pull(Name());
    captured_ += pulled.status.error_message();
    ASSERT_TRUE(pulled.ok()) << pulled.status.error_message() << Logs();
    EXPECT_EQ(pulled.response.image_ref(), image_.config_digest);
    auto removed = cri_->Remove(Name());
    EXPECT_TRUE(removed.ok()) << removed.status.error_message();
  }

  // `cri-mirror resolve` with the running config; its output is captured.
  std::string Resolve() {
    auto result = RunCommand({CRI_MIRROR_BINARY, "resolve", Name(), "--config",
                              mirror_->config_path()},
                             dir_->Join(absl::StrCat("resolve-", ++configs_)), absl::Seconds(60),
                             {{"PATH", absl::StrCat(helpers_, ":/usr/sbin:/usr/bin:/sbin:/bin")}});
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok()) return "";
    EXPECT_EQ(result->exit_code, 0) << result->stderr_text;
    captured_ += result->stdout_text + result->stderr_text;
    return result->stdout_text;
  }

  void TearDown() override {
    if (mirror_ == nullptr) return;
    captured_ += mirror_->LogTail(1 << 22);
    const std::string encoded = absl::Base64Escape(absl::StrCat(kUser, ":", kPassword));
    EXPECT_THAT(captured_, Not(HasSubstr(kPassword)));
    EXPECT_THAT(captured_, Not(HasSubstr(encoded)));
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Containerd> containerd_;
  std::unique_ptr<ImageBuilder> builder_;
  int relay_port_ = 0;
  std::unique_ptr<TestCa> ca_;
  BuiltImage image_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<Registry> empty_;
  std::string helpers_;
  int configs_ = 0;
  std::unique_ptr<CriMirror> mirror_;
  std::unique_ptr<CriImageClient> cri_;
  std::string captured_;
};

TEST_F(DockerCredentialsTest, AuthsEntriesKeyedByUrlAndByBareHost) {
  const std::string auth = absl::Base64Escape(absl::StrCat(kUser, ":", kPassword));
  StartMirror(Config({}, DockerConfig(absl::StrCat(R"({"auths": {"https://)",
                                                   registry_->HostPort(), R"(/": {"auth": ")",
                                                   auth, R"("}}})"))));
  PullAndRemove();
  EXPECT_THAT(mirror_->LogTail(1 << 20),
              HasSubstr(absl::StrCat("auths \"https://", registry_->HostPort(), "/\"")));
  EXPECT_THAT(Resolve(), HasSubstr(absl::StrCat("credentials from: kubelet AuthConfig (when "
                                                "sent), else docker config ")));

  // The same entry keyed by the bare host:port, with username/password.
  mirror_.reset();
  StartMirror(Config({}, DockerConfig(absl::StrCat(R"({"auths": {")", registry_->HostPort(),
                                                   R"(": {"username": ")", kUser,
                                                   R"(", "password": ")", kPassword, R"("}}})"))));
  PullAndRemove();
  EXPECT_THAT(mirror_->LogTail(1 << 20),
              HasSubstr(absl::StrCat("auths \"", registry_->HostPort(), "\"")));
}

TEST_F(DockerCredentialsTest, CredHelpersScriptOnPath) {
  AddHelper("dctest");
  StartMirror(Config({}, DockerConfig(absl::StrCat(R"({"credHelpers": {")", registry_->HostPort(),
                                                   R"(": "dctest"}})"))));
  PullAndRemove();
  PullAndRemove();
  EXPECT_THAT(mirror_->LogTail(1 << 20), HasSubstr("(docker-credential-dctest)"));
  TESTBED_ASSERT_OK_AND_ASSIGN(const std::string calls, ReadFile(helpers_ + "/dctest.calls"));
  // Cached per server: two pulls of many requests ran the helper once.
  EXPECT_EQ(calls, registry_->HostPort() + "\n");
  EXPECT_THAT(Resolve(), HasSubstr("credHelpers \"" + registry_->HostPort() +
                                   "\" (docker-credential-dctest)"));
}

TEST_F(DockerCredentialsTest, CredsStoreScriptOnPath) {
  AddHelper("dcstore");
  StartMirror(Config({}, DockerConfig(R"({"auths": {}, "credsStore": "dcstore"})")));
  PullAndRemove();
  EXPECT_THAT(mirror_->LogTail(1 << 20), HasSubstr("credsStore (docker-credential-dcstore)"));
}

// A credHelpers helper that hangs, then a credsStore that prints garbage
// (holding the password, which must not reach the log), each in its own
// config file: one warning each, and the third file's `auths` serves. The
// failures are remembered like answers, so a second pull runs neither.
TEST_F(DockerCredentialsTest, HangingAndGarbageHelpersLogOnceThenTheNextFileServes) {
  ASSERT_TRUE(WriteFile(helpers_ + "/docker-credential-hang", "#!/bin/sh\nsleep 60\n", 0755).ok());
  ASSERT_TRUE(WriteFile(helpers_ + "/docker-credential-garbage",
                        absl::StrCat("#!/bin/sh\necho 'Secret: ", kPassword, " (not JSON)'\n"),
                        0755)
                  .ok());
  std::string files;
  for (const std::string& json :
       {absl::StrCat(R"({"credHelpers": {")", registry_->HostPort(), R"(": "hang"}})"),
        std::string(R"({"credsStore": "garbage"})"),
        absl::StrCat(R"({"auths": {")", registry_->HostPort(), R"(": {"username": ")", kUser,
                     R"(", "password": ")", kPassword, R"("}}})")}) {
    const std::string path = dir_->Join(absl::StrCat("docker-config-", ++configs_, ".json"));
    ASSERT_TRUE(WriteFile(path, json, 0600).ok());
    absl::StrAppend(&files, files.empty() ? "" : ", ", "\"", path, "\"");
  }
  StartMirror(Config({}, absl::StrCat("[credentials]\ndocker_config = [", files,
                                      "]\nhelper_timeout = \"1s\"\n")));
  PullAndRemove();
  PullAndRemove();
  const std::string log = mirror_->LogTail(1 << 22);
  const std::string hang = absl::StrCat(
      "credentials: docker-credential-hang get for ", registry_->HostPort(),
      " failed, using the next source: docker-credential-hang did not answer within 1s (killed)");
  EXPECT_EQ(CountOf(log, hang), 1) << Logs();
  const std::string garbage = absl::StrCat(
      "credentials: docker-credential-garbage answered something not JSON (expected "
      "{\"ServerURL\",\"Username\",\"Secret\"}) for ",
      registry_->HostPort(), "; using the next source");
  EXPECT_EQ(CountOf(log, garbage), 1) << Logs();
  EXPECT_THAT(log, HasSubstr(absl::StrCat("credentials for ", registry_->Url(), ": docker config ",
                                          dir_->Join("docker-config-3.json"), " auths \"",
                                          registry_->HostPort(), "\"")));
}

// The kubelet's credentials for the image's registry (A) never reach mirror
// B, which would accept them (same htpasswd user) and holds the image: the
// pull ends at A. With forward_kubelet_credentials B gets them and serves.
TEST_F(DockerCredentialsTest, KubeletCredentialsReachAMirrorOnlyWhenItOptsIn) {
  RegistryOptions options;
  options.name = "mirror-b";
  options.htpasswd = RegistryCredentials{kUser, kPassword};
  std::unique_ptr<Registry> mirror_b = Pushed(options);
  ASSERT_NE(mirror_b, nullptr);
  const std::string b_log_before = mirror_b->LogTail(1 << 22);
  // docker-registry logs "authorized request" for each request whose Basic
  // credentials it accepted, and answers 401 to the others.
  const std::string user_logged = "msg=\"authorized request\"";
  runtime::v1::PullImageRequest request = MakePullRequest(Name(), kUser, kPassword);

  StartMirror(Config({mirror_b->Url()}, ""));
  PullAndRemove(request);
  std::string b_log = mirror_b->LogTail(1 << 22).substr(b_log_before.size());
  // The registry resolves tag v1 (resolve_tags defaults to
  // upstream-or-mirror); B is then asked for the manifest by digest.
  EXPECT_THAT(b_log, HasSubstr("/v2/team/app/manifests/")) << "B was not asked";
  EXPECT_THAT(b_log, Not(HasSubstr(user_logged))) << b_log;
  EXPECT_THAT(b_log, HasSubstr("\" 401 ")) << b_log;
  EXPECT_THAT(mirror_->LogTail(1 << 20),
              HasSubstr(absl::StrCat("credentials for ", mirror_b->Url(), ": anonymous")));

  mirror_.reset();
  const std::string b_log_opted = mirror_b->LogTail(1 << 22);
  StartMirror(Config({mirror_b->Url()}, absl::StrCat("[host.\"", mirror_b->HostPort(),
                                                     "\"]\nforward_kubelet_credentials = true\n")));
  PullAndRemove(request);
  b_log = mirror_b->LogTail(1 << 22).substr(b_log_opted.size());
  EXPECT_THAT(b_log, HasSubstr(user_logged)) << b_log;
  EXPECT_THAT(mirror_->LogTail(1 << 20),
              HasSubstr(absl::StrCat("credentials for ", mirror_b->Url(), ": kubelet AuthConfig")));
}

}  // namespace
}  // namespace crimirror::testbed
