// End-to-end checks of issue 10's defects 8 and 11 with the real containerd:
// relay-named image records never outlive a pull (swept at start-up and
// after a cancelled pull), and a huge image reference is refused with
// INVALID_ARGUMENT rather than trailers too large for the client.

#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <google/protobuf/empty.pb.h>

#include "absl/strings/str_cat.h"
#include "tests/integration/testbed/gtest_util.h"
#include "tests/integration/testbed/testbed.h"

namespace crimirror::testbed {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

namespace images_v1 = containerd::services::images::v1;

class PullCleanupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TESTBED_SKIP_UNLESS_PREREQUISITES();
    TESTBED_ASSERT_OK_AND_ASSIGN(dir_, TempDir::Create("crimirror-cleanup"));
    TESTBED_ASSERT_OK_AND_ASSIGN(containerd_, Containerd::Create(dir_->path()));
    TESTBED_ASSERT_OK_AND_ASSIGN(images_,
                                 ContainerdImagesClient::Create(containerd_->Endpoint()));
    TESTBED_ASSERT_OK_AND_ASSIGN(relay_port_, FreeLoopbackPort());
  }

  std::string RelayPrefix() const { return absl::StrCat("127.0.0.1:", relay_port_, "/"); }

  // Starts cri-mirror on a fixed relay port with `rules` and a CRI client.
  void StartMirror(const std::string& rules) {
    CriMirrorOptions options;
    options.binary = CRI_MIRROR_BINARY;
    options.backend = containerd_->Endpoint();
    options.config_toml =
        absl::StrCat("[server]\nrelay = \"127.0.0.1:", relay_port_, "\"\n\n", rules);
    TESTBED_ASSERT_OK_AND_ASSIGN(mirror_, CriMirror::Create(dir_->path(), options));
    TESTBED_ASSERT_OK_AND_ASSIGN(cri_, CriImageClient::Create(mirror_->Endpoint()));
  }

  // Creates image record `name` directly in containerd (namespace k8s.io),
  // as containerd's CRI does when it pulls.
  void Plant(const std::string& name) {
    images_v1::CreateImageRequest request;
    images_v1::Image* image = request.mutable_image();
    image->set_name(name);
    (*image->mutable_labels())["io.cri-containerd.image"] = "managed";
    image->mutable_target()->set_media_type("application/vnd.oci.image.manifest.v1+json");
    image->mutable_target()->set_digest("sha256:" + std::string(64, 'a'));
    image->mutable_target()->set_size(100);
    grpc::ClientContext context;
    context.AddMetadata("containerd-namespace", "k8s.io");
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    images_v1::CreateImageResponse response;
    grpc::Status status = images_->stub().Create(&context, request, &response);
    ASSERT_TRUE(status.ok()) << name << ": " << status.error_message();
  }

  std::vector<std::string> Names() {
    absl::StatusOr<std::vector<std::string>> names = images_->Names();
    EXPECT_TRUE(names.ok()) << names.status();
    return names.value_or(std::vector<std::string>());
  }

  std::string Logs() const {
    return absl::StrCat("\n--- cri-mirror log:\n", mirror_ ? mirror_->LogTail() : "");
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Containerd> containerd_;
  std::unique_ptr<ContainerdImagesClient> images_;
  std::unique_ptr<CriMirror> mirror_;
  std::unique_ptr<CriImageClient> cri_;
  int relay_port_ = 0;
};

// Defect 8: records a pull cut short (a crash, a kill) left in containerd
// under the relay's address are gone once cri-mirror serves; records of any
// other name, even on another loopback port, stay.
TEST_F(PullCleanupTest, RelayNamedRecordsAreSweptAtStartUp) {
  const std::string relay_tag = RelayPrefix() + "docker.io/library/ghost:1";
  const std::string relay_digest =
      RelayPrefix() + "docker.io/library/ghost@sha256:" + std::string(64, 'a');
  const std::string other_port = absl::StrCat("127.0.0.1:", relay_port_ + 1, "/x/y:1");
  Plant(relay_tag);
  Plant(relay_digest);
  Plant(other_port);
  Plant("docker.io/library/ghost:1");
  ASSERT_THAT(Names(), Contains(relay_tag));
  StartMirror("[[mirror]]\nregistry = \"docker.io\"\nendpoints = [\"http://127.0.0.1:9\"]\n");
  const std::vector<std::string> names = Names();
  EXPECT_THAT(names, Not(Contains(relay_tag))) << Logs();
  EXPECT_THAT(names, Not(Contains(relay_digest))) << Logs();
  EXPECT_THAT(names, Contains(other_port));
  EXPECT_THAT(names, Contains("docker.io/library/ghost:1"));
  EXPECT_THAT(mirror_->LogTail(), HasSubstr("deleted 2 relay-named image record(s)"));
}

// Defect 8: the kubelet gives up on a pull (its deadline passes) after
// containerd made the relay-named record: cri-mirror cancels the backend
// pull and deletes the record.
TEST_F(PullCleanupTest, CancelledPullLeavesNoRelayNamedRecord) {
  TESTBED_ASSERT_OK_AND_ASSIGN(auto hole, BlackHole::Create());
  StartMirror(absl::StrCat("[[mirror]]\nregistry = \"corp.example\"\nendpoints = [\"http://",
                           hole->HostPort(), "\"]\nfallback_to_upstream = false\n"));
  const std::string relay_name = RelayPrefix() + "corp.example/team/app:v1";
  std::thread planter([&] {
    absl::SleepFor(absl::Milliseconds(500));  // while the pull hangs on the black hole
    Plant(relay_name);
  });
  auto pulled = cri_->Pull("corp.example/team/app:v1", absl::Seconds(2));
  planter.join();
  ASSERT_FALSE(pulled.ok());
  EXPECT_EQ(pulled.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  absl::Status gone = WaitFor(
      [&] {
        std::vector<std::string> names = Names();
        return std::find(names.begin(), names.end(), relay_name) == names.end();
      },
      absl::Seconds(20), "the relay-named record to go");
  EXPECT_TRUE(gone.ok()) << relay_name << " left behind" << Logs();
}

// Defect 11: a 120 kB reference is INVALID_ARGUMENT with a short message; it
// used to be echoed whole, and the client refused the oversized trailers
// with RESOURCE_EXHAUSTED.
TEST_F(PullCleanupTest, HugeReferenceIsInvalidArgument) {
  StartMirror("[[mirror]]\nregistry = \"docker.io\"\nendpoints = [\"http://127.0.0.1:9\"]\n");
  auto pulled = cri_->Pull("nginx:" + std::string(120 * 1024, 'a'));
  EXPECT_EQ(pulled.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << pulled.status.error_message().substr(0, 300);
  EXPECT_LT(pulled.status.error_message().size(), 1000u);
  EXPECT_THAT(pulled.status.error_message(), HasSubstr("cri-mirror: image reference"));
  EXPECT_THAT(pulled.status.error_message(), HasSubstr("bytes in all"));
}

}  // namespace
}  // namespace crimirror::testbed
