// Tags resolved at the registry, bytes from the mirrors (issue 14), end to
// end: a real containerd, the cri-mirror binary, a TLS docker-registry as
// the image's own registry (the upstream, trusted) holding the new image as
// team/app:v1, and a plain docker-registry mirror whose team/app:v1 is an
// older image (stale) but which also holds the new image (as team/app:new).
// The image ID of each pull says which image was named v1; the access logs
// say who was asked for the tag and who served the blobs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/integration/testbed/gtest_util.h"
#include "tests/integration/testbed/testbed.h"

namespace crimirror::testbed {
namespace {

using ::testing::HasSubstr;

constexpr char kTagHead[] = "HEAD /v2/team/app/manifests/v1";

class TagTrustTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TESTBED_SKIP_UNLESS_PREREQUISITES();
    TESTBED_ASSERT_OK_AND_ASSIGN(dir_, TempDir::Create("crimirror-tag-trust"));
    TESTBED_ASSERT_OK_AND_ASSIGN(containerd_, Containerd::Create(dir_->path()));
    TESTBED_ASSERT_OK_AND_ASSIGN(builder_, ImageBuilder::Create(dir_->Join("oci")));
    TESTBED_ASSERT_OK_AND_ASSIGN(relay_port_, FreeLoopbackPort());
    TESTBED_ASSERT_OK_AND_ASSIGN(metrics_port_, FreeLoopbackPort());
    TESTBED_ASSERT_OK_AND_ASSIGN(
        ca_, TestCa::Create(dir_->Join("pki"), TestCaOptions{"docker-registry", {"IP:127.0.0.1"}}));
    ImageOptions old_shape;
    old_shape.seed = 1;
    ImageOptions new_shape;
    new_shape.seed = 2;
    TESTBED_ASSERT_OK_AND_ASSIGN(old_, builder_->BuildImage("old", old_shape));
    TESTBED_ASSERT_OK_AND_ASSIGN(new_, builder_->BuildImage("new", new_shape));
    ASSERT_NE(old_.config_digest, new_.config_digest);

    RegistryOptions upstream;
    upstream.name = "registry";
    upstream.tls = RegistryTls{ca_->server_cert_path(), ca_->server_key_path(), ""};
    TESTBED_ASSERT_OK_AND_ASSIGN(
        registry_, StartRegistryWithImage(dir_->path(), upstream, *builder_, "new", "team/app:v1"));
    RegistryOptions stale;
    stale.name = "stale-mirror";
    TESTBED_ASSERT_OK_AND_ASSIGN(
        mirror_, StartRegistryWithImage(dir_->path(), stale, *builder_, "old", "team/app:v1"));
    TESTBED_ASSERT_OK(
        builder_->Push("new", mirror_->HostPort() + "/team/app:new").status());
    image_ = registry_->HostPort() + "/team/app:v1";
  }

  // One rule for the registry with the stale mirror first and `extra`
  // keys; the registry's CA trusted through its [host] table.
  std::string Config(const std::string& extra, const std::string& endpoint = "") const {
    return absl::StrCat(
        "[server]\nrelay = \"127.0.0.1:", relay_port_, "\"\nmetrics = \"127.0.0.1:", metrics_port_,
        "\"\npull_timeout = \"1m\"\nstate_dir = \"", dir_->Join("state"), "\"\n\n[[mirror]]\n",
        "registry = \"", registry_->HostPort(), "\"\nendpoints = [\"",
        endpoint.empty() ? mirror_->Url() : endpoint, "\"]\n", extra, "\n[host.\"",
        registry_->HostPort(), "\"]\nca_file = \"", ca_->ca_cert_path(), "\"\n");
  }

  void StartCriMirror(const std::string& toml) {
    CriMirrorOptions options;
    options.binary = CRI_MIRROR_BINARY;
    options.backend = containerd_->Endpoint();
    options.config_toml = toml;
    TESTBED_ASSERT_OK_AND_ASSIGN(cri_mirror_, CriMirror::Create(dir_->path(), options));
    TESTBED_ASSERT_OK_AND_ASSIGN(cri_, CriImageClient::Create(cri_mirror_->Endpoint()));
  }

  std::string Logs() const {
    return absl::StrCat("\n--- cri-mirror log:\n", cri_mirror_ ? cri_mirror_->LogTail(1 << 16) : "");
  }

  // Pulls image_; on success returns the image ID and removes the image so
  // the next pull fetches again.
  CriResult<runtime::v1::PullImageResponse> PullAndRemove() {
    auto pulled = cri_->Pull(MakePullRequest(image_));
    if (pulled.ok()) {
      auto removed = cri_->Remove(image_);
      EXPECT_TRUE(removed.ok()) << removed.status.error_message();
    }
    return pulled;
  }

  int Requests(const Registry& registry, const std::string& what) const {
    return RelayRequestsIn(registry.LogTail(1 << 22), what);
  }

  std::string Metrics() {
    HttpRequest request;
    request.url = absl::StrCat("http://127.0.0.1:", metrics_port_, "/metrics");
    absl::StatusOr<HttpResponse> response = HttpGet(request);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? response->body : "";
  }

  std::string Resolutions(const std::string& result) const {
    return absl::StrCat("cri_mirror_tag_resolutions_total{rule=\"", registry_->HostPort(),
                        "\",result=\"", result, "\"} 1");
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Containerd> containerd_;
  std::unique_ptr<ImageBuilder> builder_;
  int relay_port_ = 0;
  int metrics_port_ = 0;
  std::unique_ptr<TestCa> ca_;
  BuiltImage old_, new_;
  std::unique_ptr<Registry> registry_, mirror_;
  std::string image_;
  std::unique_ptr<CriMirror> cri_mirror_;
  std::unique_ptr<CriImageClient> cri_;
};

TEST_F(TagTrustTest, TheRegistryNamesTheTagAndTheMirrorServesTheBytes) {
  StartCriMirror(Config("resolve_tags = \"upstream\"\n"));
  ASSERT_FALSE(HasFatalFailure());
  auto pulled = PullAndRemove();
  ASSERT_TRUE(pulled.ok()) << pulled.status.error_message() << Logs();
  // The registry's image, not the stale mirror's v1.
  EXPECT_EQ(pulled.response.image_ref(), new_.config_digest);
  // The registry was asked the tag with a HEAD and served nothing else.
  EXPECT_EQ(Requests(*registry_, kTagHead), 1) << registry_->LogTail(1 << 16);
  EXPECT_EQ(Requests(*registry_, "GET /v2/team/app/"), 0) << registry_->LogTail(1 << 16);
  // The mirror was never asked what v1 is; it served the manifest by
  // digest and the blobs.
  EXPECT_EQ(Requests(*mirror_, "/manifests/v1"), 0) << mirror_->LogTail(1 << 16);
  EXPECT_GE(Requests(*mirror_, "/manifests/" + new_.manifest_digest), 1);
  EXPECT_GE(Requests(*mirror_, "GET /v2/team/app/blobs/sha256"), 2) << mirror_->LogTail(1 << 16);
  const std::string log = cri_mirror_->LogTail(1 << 20);
  EXPECT_THAT(log, HasSubstr(absl::StrCat("tag_digest=", new_.manifest_digest)));
  EXPECT_THAT(Metrics(), HasSubstr(Resolutions("trusted")));
}

TEST_F(TagTrustTest, AnUnreachableRegistryFailsUpstreamAndFallsBackWithUpstreamOrMirror) {
  registry_->Stop();
  StartCriMirror(Config("resolve_tags = \"upstream\"\n"));
  ASSERT_FALSE(HasFatalFailure());
  auto refused = PullAndRemove();
  ASSERT_FALSE(refused.ok()) << "pulled the mirror's tag although resolve_tags = upstream" << Logs();
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::UNAVAILABLE) << refused.status.error_message();
  EXPECT_THAT(refused.status.error_message(),
              HasSubstr("could not be resolved at a trusted endpoint within 3s"));
  EXPECT_THAT(refused.status.error_message(), HasSubstr("resolve_tags = \"upstream-or-mirror\""));
  EXPECT_EQ(Requests(*mirror_, "/blobs/"), 0) << mirror_->LogTail(1 << 16);

  TESTBED_ASSERT_OK(cri_mirror_->Reload(Config("resolve_tags = \"upstream-or-mirror\"\n"
                                               "resolve_timeout = \"2s\"\n")));
  auto served = PullAndRemove();
  ASSERT_TRUE(served.ok()) << served.status.error_message() << Logs();
  EXPECT_EQ(served.response.image_ref(), old_.config_digest);  // what the mirror says v1 is
  EXPECT_THAT(cri_mirror_->LogTail(1 << 20), HasSubstr("no trusted endpoint resolved tag v1"));
  EXPECT_THAT(Metrics(), HasSubstr(Resolutions("mirror_fallback")));
}

TEST_F(TagTrustTest, ADigestOnlyMirrorServesATagPull) {
  RegistryOptions options;
  options.name = "digest-mirror";
  std::unique_ptr<Registry> digests;
  // It holds the new image under another tag only: it can serve it by
  // digest, and is never asked for v1.
  TESTBED_ASSERT_OK_AND_ASSIGN(
      digests, StartRegistryWithImage(dir_->path(), options, *builder_, "new", "team/app:other"));
  StartCriMirror(Config("pull_from_mirror = \"digest-only\"\nresolve_tags = \"upstream\"\n",
                        digests->Url()));
  ASSERT_FALSE(HasFatalFailure());
  auto pulled = PullAndRemove();
  ASSERT_TRUE(pulled.ok()) << pulled.status.error_message() << Logs();
  EXPECT_EQ(pulled.response.image_ref(), new_.config_digest);
  EXPECT_EQ(Requests(*digests, "/manifests/v1"), 0);
  EXPECT_GE(Requests(*digests, "GET /v2/team/app/blobs/sha256"), 2) << digests->LogTail(1 << 16);
  EXPECT_EQ(Requests(*registry_, "/blobs/"), 0) << registry_->LogTail(1 << 16);
  EXPECT_EQ(Requests(*registry_, kTagHead), 1);
}

TEST_F(TagTrustTest, LastKnownRefusesAStaleMirrorAcrossARestartAndAcceptsAMatchingOne) {
  const std::string toml = Config("last_known = true\n");
  StartCriMirror(toml);
  ASSERT_FALSE(HasFatalFailure());
  auto first = PullAndRemove();
  ASSERT_TRUE(first.ok()) << first.status.error_message() << Logs();
  EXPECT_EQ(first.response.image_ref(), new_.config_digest);
  std::ifstream state(dir_->Join("state/tags.json"));
  std::stringstream text;
  text << state.rdbuf();
  EXPECT_THAT(text.str(), HasSubstr(new_.manifest_digest));
  EXPECT_THAT(text.str(), HasSubstr(image_));

  // The node loses the registry and cri-mirror restarts: the stale mirror's
  // v1 no longer matches what the registry said.
  registry_->Stop();
  cri_mirror_->Stop();
  TESTBED_ASSERT_OK(cri_mirror_->Start());
  auto refused = PullAndRemove();
  ASSERT_FALSE(refused.ok()) << "served the stale mirror's tag" << Logs();
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
      << refused.status.error_message();
  EXPECT_THAT(refused.status.error_message(),
              HasSubstr(absl::StrCat("the last trusted answer")));
  EXPECT_THAT(refused.status.error_message(), HasSubstr(new_.manifest_digest));
  EXPECT_THAT(refused.status.error_message(), HasSubstr("last_known = true"));

  // The mirror catches up: its v1 now names the registry's last digest.
  TESTBED_ASSERT_OK(builder_->Push("new", mirror_->HostPort() + "/team/app:v1").status());
  auto served = PullAndRemove();
  ASSERT_TRUE(served.ok()) << served.status.error_message() << Logs();
  EXPECT_EQ(served.response.image_ref(), new_.config_digest);
}

}  // namespace
}  // namespace crimirror::testbed
