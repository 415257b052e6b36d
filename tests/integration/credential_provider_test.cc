// The kubelet's credential provider plugins, end to end (issue 12 source
// 4): a real containerd, a real TLS docker-registry with htpasswd auth and
// no [host] credentials, the cri-mirror binary, and plugins that are shell
// scripts behaving as the kubelet's plugins do (CredentialProviderRequest
// on stdin, CredentialProviderResponse on stdout), named by the same
// CredentialProviderConfig file the kubelet reads.
#include <memory>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/integration/testbed/gtest_util.h"
#include "tests/integration/testbed/testbed.h"

namespace crimirror::testbed {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kUser[] = "provider-user";
constexpr char kPassword[] = "pr0vider-pw-s3cret";

class CredentialProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TESTBED_SKIP_UNLESS_PREREQUISITES();
    TESTBED_ASSERT_OK_AND_ASSIGN(dir_, TempDir::Create("crimirror-provider"));
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
    TESTBED_ASSERT_OK_AND_ASSIGN(
        registry_, StartRegistryWithImage(dir_->path(), options, *builder_, "img1", "team/app:v1"));
    TESTBED_ASSERT_OK_AND_ASSIGN(bin_dir_, dir_->MakeSubdir("plugins"));
  }

  // A plugin script: records the request in NAME.requests, then `body`.
  void Plugin(const std::string& name, const std::string& body) {
    TESTBED_ASSERT_OK(WriteFile(
        bin_dir_ + "/" + name,
        absl::StrCat("#!/bin/sh\ncat >> \"$0.requests\"\necho >> \"$0.requests\"\n", body, "\n"),
        0755));
  }
  // The answer of a plugin that has the registry's credentials.
  std::string GoodAnswer() const {
    return absl::StrCat(
        "cat <<EOF\n{\"apiVersion\":\"credentialprovider.kubelet.k8s.io/v1\","
        "\"kind\":\"CredentialProviderResponse\",\"cacheKeyType\":\"Registry\","
        "\"cacheDuration\":\"5m\",\"auth\":{\"127.0.0.*:",
        registry_->HostPort().substr(registry_->HostPort().rfind(':') + 1),
        "\":{\"username\":\"", kUser, "\",\"password\":\"", kPassword,
        "\"},\"elsewhere.test\":{\"username\":\"x\",\"password\":\"y\"}}}\nEOF");
  }
  std::string Provider(const std::string& name) const {
    return absl::StrCat("  - name: ", name, "\n    matchImages: [\"127.0.0.*:",
                        registry_->HostPort().substr(registry_->HostPort().rfind(':') + 1),
                        "\", \"*.other.test\"]\n    defaultCacheDuration: \"1m\"\n"
                        "    apiVersion: credentialprovider.kubelet.k8s.io/v1\n");
  }
  void ProviderConfig(const std::string& providers) {
    TESTBED_ASSERT_OK(WriteFile(
        dir_->Join("credential-provider.yaml"),
        "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n" +
            providers));
  }

  // A rule for private.test:5000 with the TLS registry as its only
  // endpoint, its CA in [host] (no credentials), and the providers.
  void StartMirror() {
    CriMirrorOptions options;
    options.binary = CRI_MIRROR_BINARY;
    options.backend = containerd_->Endpoint();
    options.config_toml = absl::StrCat(
        "[server]\nrelay = \"127.0.0.1:", relay_port_, "\"\npull_timeout = \"1m\"\n\n",
        "[[mirror]]\nregistry = \"private.test:5000\"\nendpoints = [\"", registry_->Url(),
        "\"]\nfallback_to_upstream = false\n\n[host.\"", registry_->HostPort(),
        "\"]\nca_file = \"", ca_->ca_cert_path(), "\"\n\n[credentials]\nprovider_config = \"",
        dir_->Join("credential-provider.yaml"), "\"\nprovider_bin_dir = \"", bin_dir_,
        "\"\nprovider_timeout = \"1s\"\n");
    TESTBED_ASSERT_OK_AND_ASSIGN(mirror_, CriMirror::Create(dir_->path(), options));
    TESTBED_ASSERT_OK_AND_ASSIGN(cri_, CriImageClient::Create(mirror_->Endpoint()));
  }

  std::string Logs() const {
    return absl::StrCat("\n--- cri-mirror log:\n", mirror_ ? mirror_->LogTail(1 << 20) : "");
  }
  std::string Requests(const std::string& name) const {
    return ReadFile(bin_dir_ + "/" + name + ".requests").value_or("");
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Containerd> containerd_;
  std::unique_ptr<ImageBuilder> builder_;
  int relay_port_ = 0;
  std::unique_ptr<TestCa> ca_;
  BuiltImage image_;
  std::unique_ptr<Registry> registry_;
  std::string bin_dir_;
  std::unique_ptr<CriMirror> mirror_;
  std::unique_ptr<CriImageClient> cri_;
};

TEST_F(CredentialProviderTest, PluginCredentialsPullFromATlsHtpasswdRegistry) {
  Plugin("registry-provider", GoodAnswer());
  ProviderConfig(Provider("registry-provider"));
  StartMirror();
  ASSERT_FALSE(HasFatalFailure());
  const std::string name = "private.test:5000/team/app:v1";
  auto pulled = cri_->Pull(name);
  ASSERT_TRUE(pulled.ok()) << pulled.status.error_message() << Logs();
  EXPECT_EQ(pulled.response.image_ref(), image_.config_digest);
  // The plugin was asked about the image as named at the endpoint that got
  // the credential, in the kubelet's request format.
  EXPECT_THAT(Requests("registry-provider"),
              HasSubstr(absl::StrCat("\"apiVersion\":\"credentialprovider.kubelet.k8s.io/v1\","
                                     "\"image\":\"", registry_->HostPort(), "/team/app\","
                                     "\"kind\":\"CredentialProviderRequest\"")));
  EXPECT_THAT(mirror_->LogTail(1 << 20), Not(HasSubstr(kPassword)));
}

TEST_F(CredentialProviderTest, HangingAndGarbagePluginsFailClearlyThenTheNextProviderServes) {
  Plugin("hang", "sleep 60");
  Plugin("garbage", absl::StrCat("echo 'password: ", kPassword, " (not JSON)'"));
  Plugin("good", GoodAnswer());
  ProviderConfig(Provider("hang") + Provider("garbage"));
  StartMirror();
  ASSERT_FALSE(HasFatalFailure());
  const std::string name = "private.test:5000/team/app:v1";
  auto failed = cri_->Pull(name);
  ASSERT_FALSE(failed.ok()) << "pulled without credentials";
  EXPECT_THAT(failed.status.error_message(), Not(HasSubstr(kPassword)));
  const std::string config = dir_->Join("credential-provider.yaml");
  std::string logs = mirror_->LogTail(1 << 20);
  EXPECT_THAT(logs, HasSubstr(absl::StrCat("credential provider hang (provider_config ", config,
                                           ") for ", registry_->HostPort(),
                                           "/team/app: no answer within provider_timeout 1s "
                                           "(killed)")))
      << Logs();
  EXPECT_THAT(logs, HasSubstr(absl::StrCat("credential provider garbage (provider_config ", config,
                                           ") for ", registry_->HostPort(),
                                           "/team/app: credential provider response: not JSON")))
      << Logs();
  // A third provider added to the file (no reload of cri-mirror: the file
  // is re-read when it changes) serves the pull after the failing two.
  ProviderConfig(Provider("hang") + Provider("garbage") + Provider("good"));
  absl::SleepFor(absl::Milliseconds(1100));  // the file is checked at most once a second
  auto pulled = cri_->Pull(name);
  ASSERT_TRUE(pulled.ok()) << pulled.status.error_message() << Logs();
  EXPECT_EQ(pulled.response.image_ref(), image_.config_digest);
  EXPECT_FALSE(Requests("good").empty());
  EXPECT_THAT(mirror_->LogTail(1 << 20), Not(HasSubstr(kPassword)));
}

// A provider that needs a pod's service-account token is skipped when the
// file is read (one line, its plugin never runs); a plugin that exits
// non-zero gives one warning per cause, with an excerpt of its stderr, and
// the next provider serves.
TEST_F(CredentialProviderTest, ServiceAccountProviderSkippedFailingPluginLoggedNextServes) {
  Plugin("needs-sa", GoodAnswer());
  Plugin("failing", "echo 'metadata service unreachable' >&2\nexit 3");
  Plugin("good", GoodAnswer());
  ProviderConfig(Provider("needs-sa") +
                 "    tokenAttributes:\n      serviceAccountTokenAudience: registry.test\n"
                 "      cacheType: Token\n      requireServiceAccount: true\n" +
                 Provider("failing") + Provider("good"));
  StartMirror();
  ASSERT_FALSE(HasFatalFailure());
  for (int pull = 0; pull < 2; ++pull) {
    auto pulled = cri_->Pull("private.test:5000/team/app:v1");
    ASSERT_TRUE(pulled.ok()) << pulled.status.error_message() << Logs();
    EXPECT_EQ(pulled.response.image_ref(), image_.config_digest);
  }
  const std::string config = dir_->Join("credential-provider.yaml");
  const std::string logs = mirror_->LogTail(1 << 20);
  EXPECT_EQ(CountOf(logs, absl::StrCat("credential provider needs-sa (provider_config ", config,
                                       ") skipped: tokenAttributes.requireServiceAccount is true")),
            1)
      << Logs();
  EXPECT_EQ(Requests("needs-sa"), "");
  // Failures are not cached (nor by the kubelet): the failing plugin ran for
  // both pulls but warned once; "good" answered once (Registry key, 5m).
  EXPECT_EQ(CountOf(logs, absl::StrCat("credential provider failing (provider_config ", config,
                                       ") for ", registry_->HostPort(),
                                       "/team/app: exited with status 3; stderr: metadata "
                                       "service unreachable")),
            1)
      << Logs();
  EXPECT_EQ(CountOf(Requests("failing"), "CredentialProviderRequest"), 2) << Requests("failing");
  EXPECT_EQ(CountOf(Requests("good"), "CredentialProviderRequest"), 1) << Requests("good");
  EXPECT_THAT(logs, HasSubstr(absl::StrCat("credentials for ", registry_->Url(),
                                           ": credential provider good (provider_config ")));
  EXPECT_THAT(logs, Not(HasSubstr(kPassword)));
}

TEST_F(CredentialProviderTest, MissingPluginBinaryFailsStartNamingIt) {
  ProviderConfig(Provider("not-installed"));
  CriMirrorOptions options;
  options.binary = CRI_MIRROR_BINARY;
  options.backend = containerd_->Endpoint();
  options.config_toml = absl::StrCat(
      "[server]\nrelay = \"127.0.0.1:", relay_port_, "\"\n\n[credentials]\nprovider_config = \"",
      dir_->Join("credential-provider.yaml"), "\"\nprovider_bin_dir = \"", bin_dir_, "\"\n");
  options.start_timeout = absl::Seconds(10);
  auto mirror = CriMirror::Create(dir_->path(), options);
  ASSERT_FALSE(mirror.ok()) << "started with a missing plugin";
  EXPECT_THAT(std::string(mirror.status().message()),
              HasSubstr(absl::StrCat("plugin binary ", bin_dir_, "/not-installed is missing")));
}

}  // namespace
}  // namespace crimirror::testbed
