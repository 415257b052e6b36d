// docker config.json credentials against a TOKEN-auth registry (issue 12
// source 3): a real containerd, a TLS docker-registry that accepts only
// JWTs of its token service, that service (TokenServer, https, knowing one
// refresh token), and the cri-mirror binary with no [host] credentials and
// no kubelet AuthConfig. The refresh token comes from an `auths` entry's
// `identitytoken` (as `docker login` writes it: `auth` holding "user:" and
// the token beside it), or from a credential helper answering
// `Username: "<token>"`; either way the relay runs the OAuth2
// refresh-token grant at the realm. A rewritten config file is used
// without a restart. Everything captured (daemon log, pull errors) is
// grepped for the refresh token and for any JWT.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/integration/testbed/gtest_util.h"
#include "tests/integration/testbed/testbed.h"

namespace crimirror::testbed {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kRefreshToken[] = "dc-refresh-t0ken-4417";
constexpr char kWrongToken[] = "not-the-refresh-token";

class DockerTokenCredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TESTBED_SKIP_UNLESS_PREREQUISITES();
    TESTBED_ASSERT_OK_AND_ASSIGN(dir_, TempDir::Create("crimirror-docker-token"));
    TESTBED_ASSERT_OK_AND_ASSIGN(containerd_, Containerd::Create(dir_->path()));
    TESTBED_ASSERT_OK_AND_ASSIGN(builder_, ImageBuilder::Create(dir_->Join("oci")));
    TESTBED_ASSERT_OK_AND_ASSIGN(relay_port_, FreeLoopbackPort());
    TESTBED_ASSERT_OK_AND_ASSIGN(
        ca_, TestCa::Create(dir_->Join("pki"), TestCaOptions{"docker-registry", {"IP:127.0.0.1"}}));
    TESTBED_ASSERT_OK_AND_ASSIGN(signer_, TokenSigner::Create(dir_->Join("token-key")));
    // An https registry's realm must be https too (cri-mirror refuses a
    // plain-http one); the same CA signs both.
    TESTBED_ASSERT_OK_AND_ASSIGN(realm_,
                                 TokenServer::Start(signer_.get(), kRefreshToken, ca_.get()));
    TESTBED_ASSERT_OK_AND_ASSIGN(image_, builder_->BuildImage("img1", ImageOptions{}));
    RegistryOptions options;
    options.name = "token";
    options.tls = RegistryTls{ca_->server_cert_path(), ca_->server_key_path(), ""};
    options.token_auth = RegistryTokenAuth{realm_->Url(), signer_->cert_path()};
    TESTBED_ASSERT_OK_AND_ASSIGN(registry_, Registry::Create(dir_->path(), options));
    PushOptions push;
    push.registry_token = signer_->Mint({"repository:team/app:pull,push"});
    TESTBED_ASSERT_OK(
        builder_->Push("img1", registry_->HostPort() + "/team/app:v1", push).status());
    TESTBED_ASSERT_OK_AND_ASSIGN(helpers_, dir_->MakeSubdir("helpers"));
  }

  // What the kubelet pulls: a rule sends token.test to the registry.
  static std::string Name() { return "token.test/team/app:v1"; }
  std::string ConfigPath() const { return dir_->Join("config.json"); }

  // An `auths` entry for the registry as `docker login` writes one for an
  // identity token: `auth` is base64("user:"), the token beside it.
  void WriteAuths(const std::string& identity_token) {
    TESTBED_ASSERT_OK(WriteFile(ConfigPath(),
                                absl::StrCat(R"({"auths": {")", registry_->HostPort(),
                                             R"(": {"auth": ")", absl::Base64Escape("token-user:"),
                                             R"(", "identitytoken": ")", identity_token, R"("}}})"),
                                0600));
  }

  // A rule for token.test whose one endpoint is the registry, the
  // registry's and the realm's CA, and the docker config.
  void StartMirror() {
    CriMirrorOptions options;
    options.binary = CRI_MIRROR_BINARY;
    options.backend = containerd_->Endpoint();
    options.env["PATH"] = absl::StrCat(helpers_, ":/usr/sbin:/usr/bin:/sbin:/bin");
    options.config_toml = absl::StrCat(
        "[server]\nrelay = \"127.0.0.1:", relay_port_, "\"\npull_timeout = \"1m\"\n\n",
        "[[mirror]]\nregistry = \"token.test\"\nendpoints = [\"", registry_->Url(),
        "\"]\nfallback_to_upstream = false\n\n[host.\"", registry_->HostPort(), "\"]\nca_file = \"",
        ca_->ca_cert_path(), "\"\n\n[host.\"", realm_->HostPort(), "\"]\nca_file = \"",
        ca_->ca_cert_path(), "\"\n\n", "[credentials]\ndocker_config = [\"", ConfigPath(),
        "\"]\nhelper_timeout = \"10s\"\n");
    TESTBED_ASSERT_OK_AND_ASSIGN(mirror_, CriMirror::Create(dir_->path(), options));
    TESTBED_ASSERT_OK_AND_ASSIGN(cri_, CriImageClient::Create(mirror_->Endpoint()));
  }

  std::string Logs() const {
    return absl::StrCat("\n--- cri-mirror log:\n", mirror_ ? mirror_->LogTail(1 << 20) : "");
  }

  // Pulls Name() without kubelet credentials; the error is captured.
  CriResult<runtime::v1::PullImageResponse> Pull() {
    auto pulled = cri_->Pull(Name());
    captured_ += pulled.status.error_message();
    return pulled;
  }

  void TearDown() override {
    if (mirror_ == nullptr) return;
    captured_ += mirror_->LogTail(1 << 22);
    EXPECT_THAT(captured_, Not(HasSubstr(kRefreshToken)));
    EXPECT_THAT(captured_, Not(HasSubstr(kWrongToken)));
    // The realm's access tokens are JWTs: base64 of `{"` starts them all.
    EXPECT_THAT(captured_, Not(HasSubstr("eyJ")));
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Containerd> containerd_;
  std::unique_ptr<ImageBuilder> builder_;
  int relay_port_ = 0;
  std::unique_ptr<TestCa> ca_;
  std::unique_ptr<TokenSigner> signer_;
  std::unique_ptr<TokenServer> realm_;
  BuiltImage image_;
  std::unique_ptr<Registry> registry_;
  std::string helpers_;
  std::unique_ptr<CriMirror> mirror_;
  std::unique_ptr<CriImageClient> cri_;
  std::string captured_;
};

// A refused identity token fails the pull; the same file rewritten with the
// right one (no restart: the file is re-read when it changes) pulls.
TEST_F(DockerTokenCredentialsTest, AuthsIdentityTokenDrivesTheRefreshTokenGrant) {
  WriteAuths(kWrongToken);
  StartMirror();
  ASSERT_FALSE(HasFatalFailure());
  auto refused = Pull();
  ASSERT_FALSE(refused.ok()) << "pulled with a refused identity token";
  EXPECT_EQ(realm_->issued(), 0);

  absl::SleepFor(absl::Milliseconds(20));  // a new mtime even on coarse clocks
  WriteAuths(kRefreshToken);
  auto pulled = Pull();
  ASSERT_TRUE(pulled.ok()) << pulled.status.error_message() << Logs();
  EXPECT_EQ(pulled.response.image_ref(), image_.config_digest);
  EXPECT_GE(realm_->issued(), 1);
  EXPECT_THAT(mirror_->LogTail(1 << 20),
              HasSubstr(absl::StrCat("credentials for ", registry_->Url(), ": docker config ",
                                     ConfigPath(), " auths \"", registry_->HostPort(), "\"")));
}

TEST_F(DockerTokenCredentialsTest, HelperTokenUsernameIsAnIdentityToken) {
  TESTBED_ASSERT_OK(WriteFile(
      helpers_ + "/docker-credential-dctoken",
      absl::StrCat("#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread server\n[ \"$server\" = \"",
                   registry_->HostPort(),
                   "\" ] || { echo 'credentials not found in native keychain'; exit 1; }\n"
                   "printf '{\"ServerURL\":\"%s\",\"Username\":\"<token>\",\"Secret\":\"",
                   kRefreshToken, "\"}' \"$server\"\n"),
      0755));
  TESTBED_ASSERT_OK(WriteFile(
      ConfigPath(),
      absl::StrCat(R"({"credHelpers": {")", registry_->HostPort(), R"(": "dctoken"}})"), 0600));
  StartMirror();
  ASSERT_FALSE(HasFatalFailure());
  auto pulled = Pull();
  ASSERT_TRUE(pulled.ok()) << pulled.status.error_message() << Logs();
  EXPECT_EQ(pulled.response.image_ref(), image_.config_digest);
  EXPECT_GE(realm_->issued(), 1);
  EXPECT_THAT(mirror_->LogTail(1 << 20),
              HasSubstr(absl::StrCat("credHelpers \"", registry_->HostPort(),
                                     "\" (docker-credential-dctoken)")));
}

}  // namespace
}  // namespace crimirror::testbed
