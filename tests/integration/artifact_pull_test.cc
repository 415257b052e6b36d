// An OCI artifact pulled through a mirror rule (issue 14 "Artifacts"; image
// volumes are pulled by PullImage too): an image manifest with
// `artifactType`, the empty config (application/vnd.oci.empty.v1+json, the
// 2-byte `{}` blob) and one layer of a custom media type, pushed by hand
// over the registry API to a real docker-registry 2.8, pulled by CRI
// PullImage through cri-mirror's relay into a real containerd. The relay
// must pass every media type unchanged: containerd checks each digest, and
// the registry's access log shows the manifest and both blobs were fetched.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/integration/testbed/gtest_util.h"
#include "tests/integration/testbed/testbed.h"

namespace crimirror::testbed {
namespace {

using ::testing::HasSubstr;

constexpr char kEmptyConfig[] = "{}";
constexpr char kEmptyType[] = "application/vnd.oci.empty.v1+json";
constexpr char kLayerType[] = "application/vnd.cri-mirror.test.data.v1";
constexpr char kArtifactType[] = "application/vnd.cri-mirror.test.artifact.v1";
constexpr char kManifestType[] = "application/vnd.oci.image.manifest.v1+json";

class ArtifactPullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TESTBED_SKIP_UNLESS_PREREQUISITES();
    TESTBED_ASSERT_OK_AND_ASSIGN(dir_, TempDir::Create("crimirror-artifact"));
    TESTBED_ASSERT_OK_AND_ASSIGN(containerd_, Containerd::Create(dir_->path()));
    TESTBED_ASSERT_OK_AND_ASSIGN(registry_, Registry::Create(dir_->path()));
    TESTBED_ASSERT_OK_AND_ASSIGN(relay_port_, FreeLoopbackPort());
    CriMirrorOptions options;
    options.binary = CRI_MIRROR_BINARY;
    options.backend = containerd_->Endpoint();
    options.config_toml = absl::StrCat(
        "[server]\nrelay = \"127.0.0.1:", relay_port_,
        "\"\npull_timeout = \"1m\"\n\n[[mirror]]\nregistry = \"artifacts.test\"\n"
        "endpoints = [\"", registry_->Url(), "\"]\nfallback_to_upstream = false\n");
    TESTBED_ASSERT_OK_AND_ASSIGN(mirror_, CriMirror::Create(dir_->path(), options));
    TESTBED_ASSERT_OK_AND_ASSIGN(cri_, CriImageClient::Create(mirror_->Endpoint()));
  }

  // Monolithic upload: POST for an upload URL, then PUT the bytes there.
  void PushBlob(const std::string& repository, const std::string& bytes) {
    HttpRequest start;
    start.method = "POST";
    start.url = absl::StrCat(registry_->Url(), "/v2/", repository, "/blobs/uploads/");
    TESTBED_ASSERT_OK_AND_ASSIGN(HttpResponse started, HttpGet(start));
    ASSERT_EQ(started.status, 202) << started.body;
    std::string location = started.headers["location"];
    if (absl::StartsWith(location, "/")) location = registry_->Url() + location;
    HttpRequest put;
    put.method = "PUT";
    put.url = absl::StrCat(location, absl::StrContains(location, "?") ? "&" : "?",
                           "digest=", Sha256Digest(bytes));
    put.headers = {"Content-Type: application/octet-stream"};
    put.body = bytes;
    TESTBED_ASSERT_OK_AND_ASSIGN(HttpResponse done, HttpGet(put));
    ASSERT_EQ(done.status, 201) << done.body;
  }

  // Pushes the artifact as `repository`:`tag`; returns the manifest bytes.
  std::string PushArtifact(const std::string& repository, const std::string& tag) {
    PushBlob(repository, kEmptyConfig);
    PushBlob(repository, layer_);
    std::string manifest = absl::StrCat(
        "{\"schemaVersion\":2,\"mediaType\":\"", kManifestType, "\",\"artifactType\":\"",
        kArtifactType, "\",\"config\":{\"mediaType\":\"", kEmptyType, "\",\"digest\":\"",
        Sha256Digest(kEmptyConfig), "\",\"size\":2,\"data\":\"e30=\"},\"layers\":[{\"mediaType\":\"",
        kLayerType, "\",\"digest\":\"", Sha256Digest(layer_), "\",\"size\":", layer_.size(),
        ",\"annotations\":{\"org.opencontainers.image.title\":\"data.txt\"}}],"
        "\"annotations\":{\"org.opencontainers.image.created\":\"2026-01-01T00:00:00Z\"}}");
    HttpRequest put;
    put.method = "PUT";
    put.url = absl::StrCat(registry_->Url(), "/v2/", repository, "/manifests/", tag);
    put.headers = {absl::StrCat("Content-Type: ", kManifestType)};
    put.body = manifest;
    auto done = HttpGet(put);
    EXPECT_TRUE(done.ok()) << done.status();
    if (done.ok()) EXPECT_EQ(done->status, 201) << done->body;
    return manifest;
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Containerd> containerd_;
  std::unique_ptr<Registry> registry_;
  int relay_port_ = 0;
  std::unique_ptr<CriMirror> mirror_;
  std::unique_ptr<CriImageClient> cri_;
  const std::string layer_ = "artifact payload: not a tar, not an image layer\n";
};

// containerd 1.6's CRI plugin fetches such an artifact completely and then
// refuses to unpack it, since the empty config has no rootfs.diff_ids for the
// layer: "failed to unpack image on snapshotter native: mismatched image
// rootfs and manifest layers". (Image volumes need containerd 2.1+.) So this
// asserts what cri-mirror owns: the error reaches the kubelet as containerd
// said it, and the relay passed manifest and blobs unchanged: containerd
// named the image by the digest of the bytes pushed (it verifies fetched
// content against the digest it resolved, and commits nothing that does not
// match) after the registry served the manifest and both blobs to the relay.
// When the node's containerd unpacks artifacts, the pull succeeds and
// image_ref is the empty config's digest.
TEST_F(ArtifactPullTest, RelayPassesArtifactManifestAndBlobsUnchanged) {
  const std::string manifest = PushArtifact("art/data", "v1");
  ASSERT_FALSE(HasFatalFailure());
  auto pulled = cri_->Pull("artifacts.test/art/data:v1");
  const std::string registry_log = registry_->LogTail(1 << 22);
  const std::string containerd_log = containerd_->LogTail(1 << 22);
  if (pulled.ok()) {
    EXPECT_EQ(pulled.response.image_ref(), Sha256Digest(kEmptyConfig));
  } else {
    EXPECT_THAT(pulled.status.error_message(),
                HasSubstr("mismatched image rootfs and manifest layers"))
        << "\n--- cri-mirror log:\n" << mirror_->LogTail(1 << 20);
    EXPECT_THAT(pulled.status.error_message(), HasSubstr("cri-mirror: pull of artifacts.test/"));
  }
  EXPECT_THAT(containerd_log, HasSubstr(absl::StrCat("msg=\"create image\" name=\"",
                                                     "127.0.0.1:", relay_port_,
                                                     "/artifacts.test/art/data:v1\" target=\"",
                                                     Sha256Digest(manifest), "\"")))
      << containerd_log;
  EXPECT_THAT(registry_log, HasSubstr("GET /v2/art/data/manifests/"));
  for (const std::string& blob : {std::string(kEmptyConfig), layer_}) {
    EXPECT_THAT(registry_log,
                HasSubstr(absl::StrCat("\"GET /v2/art/data/blobs/", Sha256Digest(blob),
                                       " HTTP/1.1\" 200 ", blob.size())))
        << registry_log;
  }
}

}  // namespace
}  // namespace crimirror::testbed
