// The kubelet's credential check (KEP-2535, issue 12), end to end: a real
// containerd, a real TLS docker-registry with htpasswd auth as the image's
// own registry, an anonymous docker-registry mirror holding the same image,
// and the cri-mirror binary. The kubelet's credentials are checked at the
// registry with a HEAD of the manifest before the mirror serves the bytes:
// wrong ones are refused although the mirror would serve anyone, right ones
// are served from the mirror. An unreachable registry follows
// [credentials] verify_kubelet_credentials.
#include <csignal>
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

constexpr char kUser[] = "kep2535-user";
constexpr char kPassword[] = "kep2535-right-pw";
constexpr char kWrongPassword[] = "kep2535-wrong-pw";

class KubeletCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TESTBED_SKIP_UNLESS_PREREQUISITES();
    TESTBED_ASSERT_OK_AND_ASSIGN(dir_, TempDir::Create("crimirror-kubelet-check"));
    TESTBED_ASSERT_OK_AND_ASSIGN(containerd_, Containerd::Create(dir_->path()));
    TESTBED_ASSERT_OK_AND_ASSIGN(builder_, ImageBuilder::Create(dir_->Join("oci")));
    TESTBED_ASSERT_OK_AND_ASSIGN(relay_port_, FreeLoopbackPort());
    TESTBED_ASSERT_OK_AND_ASSIGN(
        ca_, TestCa::Create(dir_->Join("pki"), TestCaOptions{"docker-registry", {"IP:127.0.0.1"}}));
    TESTBED_ASSERT_OK_AND_ASSIGN(image_, builder_->BuildImage("img1", ImageOptions{}));
    RegistryOptions mirror;
    mirror.name = "anonymous-mirror";
    TESTBED_ASSERT_OK_AND_ASSIGN(
        mirror_registry_, StartRegistryWithImage(dir_->path(), mirror, *builder_, "img1", "team/app:v1"));
  }

  // The private registry: TLS (trusted through [host] ca_file) + htpasswd.
  void StartPrivateRegistry() {
    RegistryOptions options;
    options.name = "private";
    options.tls = RegistryTls{ca_->server_cert_path(), ca_->server_key_path(), ""};
    options.htpasswd = RegistryCredentials{kUser, kPassword};
    TESTBED_ASSERT_OK_AND_ASSIGN(
        private_, StartRegistryWithImage(dir_->path(), options, *builder_, "img1", "team/app:v1"));
  }

  // A rule for `registry` whose one mirror is the anonymous registry.
  std::string Config(const std::string& registry, const std::string& credentials_toml) const {
    return absl::StrCat("[server]\nrelay = \"127.0.0.1:", relay_port_,
                        "\"\npull_timeout = \"1m\"\n\n[[mirror]]\nregistry = \"", registry,
                        "\"\nendpoints = [\"", mirror_registry_->Url(), "\"]\n\n[host.\"", registry,
                        "\"]\nca_file = \"", ca_->ca_cert_path(), "\"\n\n", credentials_toml);
  }

  void StartMirror(const std::string& toml) {
    CriMirrorOptions options;
    options.binary = CRI_MIRROR_BINARY;
    options.backend = containerd_->Endpoint();
    options.config_toml = toml;
    TESTBED_ASSERT_OK_AND_ASSIGN(mirror_, CriMirror::Create(dir_->path(), options));
    TESTBED_ASSERT_OK_AND_ASSIGN(cri_, CriImageClient::Create(mirror_->Endpoint()));
  }

  void Reload(const std::string& toml) { TESTBED_ASSERT_OK(mirror_->Reload(toml)); }

  std::string Logs() const {
    return absl::StrCat("\n--- cri-mirror log:\n", mirror_ ? mirror_->LogTail() : "");
  }

  // Pulls `request`; on success checks the image and removes it, so the
  // next pull fetches again.
  CriResult<runtime::v1::PullImageResponse> PullAndRemove(
      const runtime::v1::PullImageRequest& request) {
    auto pulled = cri_->Pull(request);
    if (pulled.ok()) {
      EXPECT_EQ(pulled.response.image_ref(), image_.config_digest);
      auto removed = cri_->Remove(request.image().image());
      EXPECT_TRUE(removed.ok()) << removed.status.error_message();
    }
    return pulled;
  }

  static std::size_t RelayRequests(const Registry& registry, const std::string& what) {
    return static_cast<std::size_t>(RelayRequestsIn(registry.LogTail(1 << 20), what));
  }

  void ExpectNoSecretsIn(const std::string& text) {
    EXPECT_THAT(text, Not(HasSubstr(kPassword)));
    EXPECT_THAT(text, Not(HasSubstr(kWrongPassword)));
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Containerd> containerd_;
  std::unique_ptr<ImageBuilder> builder_;
  int relay_port_ = 0;
  std::unique_ptr<TestCa> ca_;
  BuiltImage image_;
  std::unique_ptr<Registry> mirror_registry_;
  std::unique_ptr<Registry> private_;
  std::unique_ptr<CriMirror> mirror_;
  std::unique_ptr<CriImageClient> cri_;
};

TEST_F(KubeletCheckTest, WrongCredentialsAreRefusedRightOnesAreServedFromTheMirror) {
  StartPrivateRegistry();
  ASSERT_FALSE(HasFatalFailure());
  StartMirror(Config(private_->HostPort(), ""));
  ASSERT_FALSE(HasFatalFailure());
  const std::string name = private_->HostPort() + "/team/app:v1";

  auto refused = PullAndRemove(MakePullRequest(name, kUser, kWrongPassword));
  ASSERT_FALSE(refused.ok()) << "a wrong secret passed the kubelet's check" << Logs();
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(refused.status.error_message(), HasSubstr("does not accept the kubelet's credentials"));
  EXPECT_THAT(refused.status.error_message(), HasSubstr(private_->HostPort()));
  ExpectNoSecretsIn(refused.status.error_message());

  auto served = PullAndRemove(MakePullRequest(name, kUser, kPassword));
  ASSERT_TRUE(served.ok()) << served.status.error_message() << Logs();
  // Checked at the registry, served by the mirror: no blob left the registry.
  EXPECT_GE(RelayRequests(*private_, "HEAD /v2/team/app/manifests/v1"), 1u);
  EXPECT_EQ(RelayRequests(*private_, "/blobs/"), 0u) << private_->LogTail(1 << 20);
  EXPECT_GE(RelayRequests(*mirror_registry_, "GET /v2/team/app/blobs/sha256"), 1u);

  // No kubelet credentials: nothing to check, the mirror serves as before.
  auto anonymous = PullAndRemove(MakePullRequest(name));
  EXPECT_TRUE(anonymous.ok()) << anonymous.status.error_message() << Logs();

  // Off: the wrong secret is no longer checked (today's behaviour).
  Reload(Config(private_->HostPort(), "[credentials]\nverify_kubelet_credentials = \"off\"\n"));
  ASSERT_FALSE(HasFatalFailure());
  auto unchecked = PullAndRemove(MakePullRequest(name, kUser, kWrongPassword));
  EXPECT_TRUE(unchecked.ok()) << unchecked.status.error_message() << Logs();
  ExpectNoSecretsIn(mirror_->LogTail(1 << 20));
}

TEST_F(KubeletCheckTest, UnreachableRegistryFollowsVerifyKubeletCredentials) {
  TESTBED_ASSERT_OK_AND_ASSIGN(int dead_port, FreeLoopbackPort());
  const std::string registry = absl::StrCat("127.0.0.1:", dead_port);
  const std::string name = registry + "/team/app:v1";
  StartMirror(Config(registry, "[credentials]\nverify_kubelet_credentials = \"require\"\n"
                               "verify_timeout = \"2s\"\n"));
  ASSERT_FALSE(HasFatalFailure());
  auto refused = PullAndRemove(MakePullRequest(name, kUser, kPassword));
  ASSERT_FALSE(refused.ok()) << "served although the check was required" << Logs();
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(refused.status.error_message(), HasSubstr("verify_kubelet_credentials = \"require\""));
  EXPECT_THAT(refused.status.error_message(), HasSubstr(registry));

  Reload(Config(registry, "[credentials]\nverify_kubelet_credentials = \"when-reachable\"\n"
                          "verify_timeout = \"2s\"\n"));
  ASSERT_FALSE(HasFatalFailure());
  auto served = PullAndRemove(MakePullRequest(name, kUser, kPassword));
  ASSERT_TRUE(served.ok()) << served.status.error_message() << Logs();
  EXPECT_THAT(mirror_->LogTail(1 << 20), HasSubstr("could not be checked at the image's registry"));
  ExpectNoSecretsIn(mirror_->LogTail(1 << 20));
  ExpectNoSecretsIn(refused.status.error_message());
}

}  // namespace
}  // namespace crimirror::testbed
