// TLS trust is per [host] table (issue 10 defect 1), end to end: a real
// containerd, two real TLS docker-registry instances whose certificates
// (one private CA, name "docker-registry") do not carry the 127.0.0.1 they
// are dialled by, and the cri-mirror binary. Both [host] tables name the
// same ca_file; only one sets insecure_skip_verify. The other must keep
// verifying (and fail naming its host), and a reload must flip both.
#include <csignal>
#include <memory>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/integration/testbed/gtest_util.h"
#include "tests/integration/testbed/testbed.h"

namespace crimirror::testbed {
namespace {

using ::testing::HasSubstr;

class TlsTrustTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TESTBED_SKIP_UNLESS_PREREQUISITES();
    TESTBED_ASSERT_OK_AND_ASSIGN(dir_, TempDir::Create("crimirror-tls-trust"));
    TESTBED_ASSERT_OK_AND_ASSIGN(containerd_, Containerd::Create(dir_->path()));
    TESTBED_ASSERT_OK_AND_ASSIGN(builder_, ImageBuilder::Create(dir_->Join("oci")));
    TESTBED_ASSERT_OK_AND_ASSIGN(relay_port_, FreeLoopbackPort());
    TESTBED_ASSERT_OK_AND_ASSIGN(ca_, TestCa::Create(dir_->Join("pki")));
    TESTBED_ASSERT_OK_AND_ASSIGN(image_, builder_->BuildImage("img1", ImageOptions{}));
    skipping_ = TlsRegistry("skipping");
    verifying_ = TlsRegistry("verifying");
  }

  // A TLS registry holding app:v1 (pushed without verification: the
  // certificate does not carry 127.0.0.1).
  std::unique_ptr<Registry> TlsRegistry(const std::string& name) {
    RegistryOptions options;
    options.name = name;
    options.tls = RegistryTls{ca_->server_cert_path(), ca_->server_key_path(), ""};
    auto registry = Registry::Create(dir_->path(), options);
    EXPECT_TRUE(registry.ok()) << registry.status();
    if (!registry.ok()) return nullptr;
    auto pushed = builder_->Push("img1", (*registry)->HostPort() + "/app:v1", PushOptions());
    EXPECT_TRUE(pushed.ok()) << pushed.status();
    return *std::move(registry);
  }

  // Rules "skipping.test:5000" and "verifying.test:5000", one endpoint
  // each, both [host] tables with the same ca_file.
  std::string Config(bool skipping_insecure, bool verifying_insecure) const {
    auto rule = [](const std::string& registry, const Registry& endpoint) {
      return absl::StrCat("[[mirror]]\nregistry = \"", registry, "\"\nendpoints = [\"",
                          endpoint.Url(), "\"]\nfallback_to_upstream = false\n\n");
    };
    auto host = [this](const Registry& endpoint, bool insecure) {
      return absl::StrCat("[host.\"", endpoint.HostPort(), "\"]\nca_file = \"",
                          ca_->ca_cert_path(), "\"\ninsecure_skip_verify = ",
                          insecure ? "true" : "false", "\n\n");
    };
    return absl::StrCat("[server]\nrelay = \"127.0.0.1:", relay_port_, "\"\npull_timeout = \"1m\"\n\n",
                        rule("skipping.test:5000", *skipping_), rule("verifying.test:5000", *verifying_),
                        host(*skipping_, skipping_insecure), host(*verifying_, verifying_insecure));
  }

  void Reload(const std::string& toml) { TESTBED_ASSERT_OK(mirror_->Reload(toml)); }

  std::string Logs() const {
    return absl::StrCat("\n--- cri-mirror log:\n", mirror_ ? mirror_->LogTail() : "");
  }

  // Pulls `image`; OK or the error message. Removes it afterwards so the
  // next pull fetches again.
  absl::Status PullAndRemove(const std::string& image) {
    auto pulled = cri_->Pull(image);
    if (!pulled.ok()) return absl::UnavailableError(pulled.status.error_message());
    EXPECT_EQ(pulled.response.image_ref(), image_.config_digest);
    auto removed = cri_->Remove(image);
    EXPECT_TRUE(removed.ok()) << removed.status.error_message();
    return absl::OkStatus();
  }

  void ExpectTlsFailureNaming(const absl::Status& status, const Registry& registry) {
    ASSERT_FALSE(status.ok()) << "verification was skipped for " << registry.HostPort();
    EXPECT_THAT(status.message(), HasSubstr("TLS")) << status;
    EXPECT_THAT(status.message(), HasSubstr(registry.HostPort())) << status;
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Containerd> containerd_;
  std::unique_ptr<ImageBuilder> builder_;
  int relay_port_ = 0;
  std::unique_ptr<TestCa> ca_;
  BuiltImage image_;
  std::unique_ptr<Registry> skipping_;
  std::unique_ptr<Registry> verifying_;
  std::unique_ptr<CriMirror> mirror_;
  std::unique_ptr<CriImageClient> cri_;
};

TEST_F(TlsTrustTest, InsecureSkipVerifyStaysWithItsHostAndReloadFlipsIt) {
  ASSERT_NE(skipping_, nullptr);
  ASSERT_NE(verifying_, nullptr);
  CriMirrorOptions options;
  options.binary = CRI_MIRROR_BINARY;
  options.backend = containerd_->Endpoint();
  options.config_toml = Config(/*skipping_insecure=*/true, /*verifying_insecure=*/false);
  TESTBED_ASSERT_OK_AND_ASSIGN(mirror_, CriMirror::Create(dir_->path(), options));
  TESTBED_ASSERT_OK_AND_ASSIGN(cri_, CriImageClient::Create(mirror_->Endpoint()));

  // The skipping host loads the shared ca_file first...
  absl::Status skipped = PullAndRemove("skipping.test:5000/app:v1");
  ASSERT_TRUE(skipped.ok()) << skipped << Logs();
  // ...and must not decide for the other one.
  ExpectTlsFailureNaming(PullAndRemove("verifying.test:5000/app:v1"), *verifying_);

  // A reload turning insecure_skip_verify off (files unchanged) takes effect,
  // and turning it on for the other host does too.
  Reload(Config(/*skipping_insecure=*/false, /*verifying_insecure=*/true));
  ExpectTlsFailureNaming(PullAndRemove("skipping.test:5000/app:v1"), *skipping_);
  absl::Status now_skipping = PullAndRemove("verifying.test:5000/app:v1");
  EXPECT_TRUE(now_skipping.ok()) << now_skipping << Logs();
}

}  // namespace
}  // namespace crimirror::testbed
