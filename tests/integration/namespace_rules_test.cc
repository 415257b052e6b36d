// Per-namespace rules end to end (issue 14): a real containerd, the
// cri-mirror binary and three docker-registries holding three different
// images under one name, team/app:v1. Registry "ns.test" has a generic rule
// (registry G), a rule for namespace team-a (registry A) and one for team-b
// (registry B), none falling back upstream. Each pull's image_ref (the
// config digest) says which registry served it, and each registry's access
// log says which registries were asked for the manifest. Pulls without a
// sandbox config, or from a namespace no rule lists, get G's image.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/integration/testbed/gtest_util.h"
#include "tests/integration/testbed/testbed.h"

namespace crimirror::testbed {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kImage[] = "ns.test/team/app:v1";
constexpr char kManifestPath[] = "/v2/team/app/manifests/v1";

class NamespaceRulesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TESTBED_SKIP_UNLESS_PREREQUISITES();
    TESTBED_ASSERT_OK_AND_ASSIGN(dir_, TempDir::Create("crimirror-namespace-rules"));
    TESTBED_ASSERT_OK_AND_ASSIGN(containerd_, Containerd::Create(dir_->path()));
    TESTBED_ASSERT_OK_AND_ASSIGN(builder_, ImageBuilder::Create(dir_->Join("oci")));
    TESTBED_ASSERT_OK_AND_ASSIGN(relay_port_, FreeLoopbackPort());
    Start("generic", 1, &generic_, &generic_image_);
    Start("team-a", 2, &team_a_, &team_a_image_);
    Start("team-b", 3, &team_b_, &team_b_image_);
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_NE(team_a_image_.config_digest, team_b_image_.config_digest);
    ASSERT_NE(team_a_image_.config_digest, generic_image_.config_digest);

    CriMirrorOptions options;
    options.binary = CRI_MIRROR_BINARY;
    options.backend = containerd_->Endpoint();
    options.config_toml = absl::StrCat(
        "[server]\nrelay = \"127.0.0.1:", relay_port_, "\"\npull_timeout = \"1m\"\n\n",
        Rule(*generic_, ""), Rule(*team_a_, "[\"team-a\", \"team-x\"]"),
        Rule(*team_b_, "[\"team-b\"]"));
    TESTBED_ASSERT_OK_AND_ASSIGN(mirror_, CriMirror::Create(dir_->path(), options));
    TESTBED_ASSERT_OK_AND_ASSIGN(cri_, CriImageClient::Create(mirror_->Endpoint()));
  }

  // A registry `name` holding an image of `seed` as team/app:v1.
  void Start(const std::string& name, uint64_t seed, std::unique_ptr<Registry>* registry,
             BuiltImage* image) {
    ImageOptions shape;
    shape.seed = seed;
    TESTBED_ASSERT_OK_AND_ASSIGN(*image, builder_->BuildImage(name, shape));
    RegistryOptions options;
    options.name = "registry-" + name;
    TESTBED_ASSERT_OK_AND_ASSIGN(
        *registry, StartRegistryWithImage(dir_->path(), options, *builder_, name, "team/app:v1"));
  }

  static std::string Rule(const Registry& registry, const std::string& namespaces) {
    return absl::StrCat("[[mirror]]\nregistry = \"ns.test\"\n",
                        namespaces.empty() ? "" : absl::StrCat("namespaces = ", namespaces, "\n"),
                        "endpoints = [\"", registry.Url(), "\"]\nfallback_to_upstream = false\n\n");
  }

  // Pulls kImage as a pod in `pod_namespace` would ("": no sandbox config),
  // returns the image_ref and removes the image again (the next pull names
  // a different image under the same reference).
  std::string PullAs(const std::string& pod_namespace) {
    runtime::v1::PullImageRequest request = MakePullRequest(kImage);
    if (!pod_namespace.empty()) {
      runtime::v1::PodSandboxMetadata* metadata = request.mutable_sandbox_config()->mutable_metadata();
      metadata->set_name("pod-in-" + pod_namespace);
      metadata->set_uid("uid-" + pod_namespace);
      metadata->set_namespace_(pod_namespace);
    }
    auto pulled = cri_->Pull(request);
    EXPECT_TRUE(pulled.ok()) << pod_namespace << ": " << pulled.status.error_message()
                             << "\n--- log:\n" << mirror_->LogTail(1 << 20);
    if (!pulled.ok()) return "";
    auto removed = cri_->Remove(kImage);
    EXPECT_TRUE(removed.ok()) << removed.status.error_message();
    return pulled.response.image_ref();
  }

  static int ManifestRequests(const Registry& registry) {
    return CountOf(registry.LogTail(1 << 22), kManifestPath);
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Containerd> containerd_;
  std::unique_ptr<ImageBuilder> builder_;
  int relay_port_ = 0;
  std::unique_ptr<Registry> generic_, team_a_, team_b_;
  BuiltImage generic_image_, team_a_image_, team_b_image_;
  std::unique_ptr<CriMirror> mirror_;
  std::unique_ptr<CriImageClient> cri_;
};

TEST_F(NamespaceRulesTest, EachNamespacePullsFromItsMirror) {
  const int generic_before = ManifestRequests(*generic_);
  EXPECT_EQ(PullAs("team-a"), team_a_image_.config_digest);
  EXPECT_EQ(PullAs("team-b"), team_b_image_.config_digest);
  EXPECT_EQ(PullAs("team-x"), team_a_image_.config_digest);  // the second name of A's rule
  // Neither namespaced pull asked the generic rule's registry.
  EXPECT_EQ(ManifestRequests(*generic_), generic_before) << generic_->LogTail();
  EXPECT_GT(ManifestRequests(*team_a_), 0) << team_a_->LogTail();
  EXPECT_GT(ManifestRequests(*team_b_), 0) << team_b_->LogTail();
}

TEST_F(NamespaceRulesTest, PullsWithoutOrOutsideTheNamespacesUseTheGenericRule) {
  const int a_before = ManifestRequests(*team_a_);
  const int b_before = ManifestRequests(*team_b_);
  EXPECT_EQ(PullAs(""), generic_image_.config_digest);        // crictl, cri-mirror pull
  EXPECT_EQ(PullAs("team-c"), generic_image_.config_digest);  // listed by no rule
  EXPECT_EQ(ManifestRequests(*team_a_), a_before) << team_a_->LogTail();
  EXPECT_EQ(ManifestRequests(*team_b_), b_before) << team_b_->LogTail();
  EXPECT_GT(ManifestRequests(*generic_), 0) << generic_->LogTail();
}

TEST_F(NamespaceRulesTest, AlternatingNamespacesGetTheirOwnImageEachTime) {
  for (int round = 0; round < 2; ++round) {
    EXPECT_EQ(PullAs("team-a"), team_a_image_.config_digest) << round;
    EXPECT_EQ(PullAs("team-b"), team_b_image_.config_digest) << round;
    EXPECT_EQ(PullAs(""), generic_image_.config_digest) << round;
  }
  EXPECT_THAT(mirror_->LogTail(1 << 20), Not(HasSubstr("PERMISSION_DENIED")));
}

}  // namespace
}  // namespace crimirror::testbed
