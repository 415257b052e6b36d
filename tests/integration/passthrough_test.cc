// Issue 2: cri-mirror as a pure pass-through between a CRI client and the
// real containerd. Every answer through cri-mirror must equal the answer
// straight from containerd; containerd restarts, client deadlines, stale and
// live sockets and graceful shutdown behave as an operator expects.
#include <signal.h>

#include <filesystem>
#include <string>

#include <grpcpp/generic/generic_stub.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "tests/integration/testbed/gtest_util.h"
#include "tests/integration/testbed/testbed.h"

namespace crimirror::testbed {
namespace {

using ::testing::HasSubstr;

// No mirror rules; the relay on a free loopback port.
constexpr char kConfig[] = R"([server]
relay = "127.0.0.1:0"
)";

class PassthroughTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TESTBED_SKIP_UNLESS_PREREQUISITES();
    TESTBED_ASSERT_OK_AND_ASSIGN(dir_, TempDir::Create("crimirror-pass"));
    TESTBED_ASSERT_OK_AND_ASSIGN(containerd_, Containerd::Create(dir_->path()));
    TESTBED_ASSERT_OK_AND_ASSIGN(registry_, Registry::Create(dir_->path()));
    TESTBED_ASSERT_OK_AND_ASSIGN(auto builder, ImageBuilder::Create(dir_->Join("oci")));
    ImageOptions image;
    image.layer_sizes = {64 * 1024, 16 * 1024};
    TESTBED_ASSERT_OK_AND_ASSIGN(auto built, builder->BuildImage("v1", image));
    (void)built;
    image_ = absl::StrCat(registry_->HostPort(), "/demo/app:v1");
    TESTBED_ASSERT_OK_AND_ASSIGN(digest_, builder->Push("v1", image_));
    StartCriMirror();
    TESTBED_ASSERT_OK_AND_ASSIGN(direct_, CriImageClient::Create(containerd_->Endpoint()));
  }

  void StartCriMirror() {
    CriMirrorOptions options;
    options.binary = CRI_MIRROR_BINARY;
    options.backend = containerd_->Endpoint();
    options.config_toml = kConfig;
    TESTBED_ASSERT_OK_AND_ASSIGN(mirror_, CriMirror::Create(dir_->path(), options));
    TESTBED_ASSERT_OK_AND_ASSIGN(proxied_, CriImageClient::Create(mirror_->Endpoint()));
  }

  // A raw ImageStatus through `channel`: the response bytes exactly as sent.
  grpc::Status RawStatus(const std::shared_ptr<grpc::Channel>& channel,
                         const std::string& request, std::string* response) {
    grpc::GenericStub stub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Slice slice(request);
    grpc::ByteBuffer req(&slice, 1), resp;
    absl::Notification done;
    grpc::Status result;
    stub.UnaryCall(&ctx, "/runtime.v1.ImageService/ImageStatus", grpc::StubOptions(), &req,
                   &resp, [&](grpc::Status s) {
                     result = std::move(s);
                     done.Notify();
                   });
    done.WaitForNotification();
    std::vector<grpc::Slice> slices;
    if (result.ok() && resp.Dump(&slices).ok()) {
      for (const auto& s : slices) {
        response->append(reinterpret_cast<const char*>(s.begin()), s.size());
      }
    }
    return result;
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Containerd> containerd_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<CriMirror> mirror_;
  std::unique_ptr<CriImageClient> direct_;
  std::unique_ptr<CriImageClient> proxied_;
  std::string image_;
  std::string digest_;
};

TEST_F(PassthroughTest, EveryCallAnswersAsContainerdDoes) {
  auto pulled = proxied_->Pull(image_);
  ASSERT_TRUE(pulled.ok()) << pulled.status.error_message() << "\n" << mirror_->LogTail();
  EXPECT_THAT(pulled.response.image_ref(), ::testing::StartsWith("sha256:"));

  auto via = proxied_->Status(image_, /*verbose=*/true);
  auto direct = direct_->Status(image_, /*verbose=*/true);
  ASSERT_TRUE(via.ok() && direct.ok());
  EXPECT_EQ(via.response.SerializeAsString(), direct.response.SerializeAsString());
  EXPECT_THAT(via.response.image().repo_digests(),
              ::testing::Contains(absl::StrCat(registry_->HostPort(), "/demo/app@", digest_)));

  auto list_via = proxied_->List();
  auto list_direct = direct_->List();
  ASSERT_TRUE(list_via.ok() && list_direct.ok());
  EXPECT_EQ(list_via.response.SerializeAsString(), list_direct.response.SerializeAsString());

  auto fs_via = proxied_->FsInfo();
  auto fs_direct = direct_->FsInfo();
  ASSERT_TRUE(fs_via.ok() && fs_direct.ok());
  ASSERT_EQ(fs_via.response.image_filesystems_size(), fs_direct.response.image_filesystems_size());
  EXPECT_EQ(fs_via.response.image_filesystems(0).fs_id().mountpoint(),
            fs_direct.response.image_filesystems(0).fs_id().mountpoint());

  auto removed = proxied_->Remove(image_);
  ASSERT_TRUE(removed.ok()) << removed.status.error_message();
  EXPECT_FALSE(direct_->HasImage(image_));
  auto gone = proxied_->Status(image_);
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone.response.has_image());
}

TEST_F(PassthroughTest, ResponsesAreRelayedByteForByteAndUnknownRequestFieldsPass) {
  ASSERT_TRUE(proxied_->Pull(image_).ok());
  runtime::v1::ImageStatusRequest req;
  req.mutable_image()->set_image(image_);
  req.set_verbose(true);
  // ImageSpec field 60 is unknown to this build and to containerd 1.6.
  std::string wire = req.SerializeAsString() + std::string("\xe0\x03\x01", 3);
  std::string via, direct;
  ASSERT_TRUE(RawStatus(proxied_->channel(), wire, &via).ok());
  ASSERT_TRUE(RawStatus(direct_->channel(), wire, &direct).ok());
  EXPECT_FALSE(via.empty());
  EXPECT_EQ(via, direct);
}

TEST_F(PassthroughTest, ErrorsFromContainerdKeepTheirCodeAndMessage) {
  auto via = proxied_->Pull("127.0.0.1:1/missing/image:none", absl::Seconds(30));
  auto direct = direct_->Pull("127.0.0.1:1/missing/image:none", absl::Seconds(30));
  ASSERT_FALSE(via.ok());
  EXPECT_EQ(via.status.error_code(), direct.status.error_code());
  EXPECT_THAT(via.status.error_message(), HasSubstr("127.0.0.1:1/missing/image:none"));
}

TEST_F(PassthroughTest, ContainerdRestartGivesUnavailableThenRecovers) {
  containerd_->Stop();
  auto down = proxied_->List(absl::Seconds(10));
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(down.status.error_message(), HasSubstr(containerd_->socket_path()));
  EXPECT_TRUE(mirror_->Running());

  TESTBED_ASSERT_OK(containerd_->Start());
  TESTBED_ASSERT_OK(WaitFor([&] { return proxied_->List(absl::Seconds(2)).ok(); },
                            absl::Seconds(20), "ListImages through cri-mirror to recover"));
}

TEST_F(PassthroughTest, ClientDeadlineCancelsTheBackendPull) {
  TESTBED_ASSERT_OK_AND_ASSIGN(auto hole, BlackHole::Create());
  std::string image = absl::StrCat(hole->HostPort(), "/never/answers:v1");
  absl::Time start = absl::Now();
  auto pulled = proxied_->Pull(image, absl::Seconds(2));
  EXPECT_EQ(pulled.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  // containerd saw the cancellation and gave up its own pull.
  TESTBED_ASSERT_OK(WaitFor(
      [&] {
        std::string log = containerd_->LogTail(1 << 20);
        return log.find("context canceled") != std::string::npos ||
               log.find("context deadline exceeded") != std::string::npos;
      },
      absl::Seconds(20), "containerd to log the cancelled pull"));
}

TEST_F(PassthroughTest, StaleSocketIsReplacedAndLiveSocketIsRefused) {
  mirror_->Kill();
  ASSERT_TRUE(std::filesystem::exists(mirror_->socket_path()));
  TESTBED_ASSERT_OK(mirror_->Start());
  EXPECT_TRUE(proxied_->List(absl::Seconds(10)).ok());

  CriMirrorOptions second;
  second.binary = CRI_MIRROR_BINARY;
  second.backend = containerd_->Endpoint();
  second.name = "second";
  second.config_toml = kConfig;
  second.extra_args = {"--listen", mirror_->Endpoint()};
  second.start_timeout = absl::Seconds(5);
  auto refused = CriMirror::Create(dir_->path(), second);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("another process"));
  EXPECT_TRUE(proxied_->List(absl::Seconds(10)).ok());
}

TEST_F(PassthroughTest, SigtermShutsDownGracefullyAndRemovesTheSocket) {
  EXPECT_EQ(mirror_->Stop(), 0) << mirror_->LogTail();
  EXPECT_FALSE(std::filesystem::exists(mirror_->socket_path()));
}

TEST_F(PassthroughTest, SighupWithABrokenConfigKeepsServing) {
  TESTBED_ASSERT_OK(mirror_->WriteConfig("[server]\nrelay = 5\n"));
  ASSERT_TRUE(mirror_->process()->Signal(SIGHUP).ok());
  TESTBED_ASSERT_OK(WaitFor(
      [&] { return mirror_->LogTail().find("reload rejected") != std::string::npos; },
      absl::Seconds(10), "cri-mirror to reject the broken config"));
  EXPECT_TRUE(proxied_->List(absl::Seconds(10)).ok());
  EXPECT_TRUE(mirror_->Running());
}

}  // namespace
}  // namespace crimirror::testbed
