// SandboxImageFromConfigJson: containerd's verbose Status info["config"].
#include "node/cri_ensure_backend.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cri/runtime_service.grpc.pb.h"

namespace crimirror::node {
namespace {

using ::testing::HasSubstr;

TEST(SandboxImageFromConfigJsonTest, ReadsSandboxImage) {
  // Abridged from containerd 1.6's answer.
  auto image = SandboxImageFromConfigJson(
      R"({"containerd":{"snapshotter":"native"},"sandboxImage":"registry.k8s.io/pause:3.6",)"
      R"("restrictOOMScoreAdj":true})");
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(*image, "registry.k8s.io/pause:3.6");
}

struct BadCase {
  std::string name;
  std::string json;
  absl::StatusCode code;
  std::string message;
};

class SandboxImageRejectTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(SandboxImageRejectTest, SaysWhatIsWrong) {
  auto image = SandboxImageFromConfigJson(GetParam().json);
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), GetParam().code);
  EXPECT_THAT(image.status().message(), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Table, SandboxImageRejectTest,
    ::testing::Values(
        BadCase{"NotJson", "{sandboxImage", absl::StatusCode::kInvalidArgument, "not a JSON"},
        BadCase{"NotAnObject", "[1]", absl::StatusCode::kInvalidArgument, "not a JSON object"},
        BadCase{"Missing", "{}", absl::StatusCode::kNotFound, "ensure_sandbox_image = false"},
        BadCase{"Empty", R"({"sandboxImage":""})", absl::StatusCode::kNotFound, "no sandboxImage"},
        BadCase{"NotString", R"({"sandboxImage":3})", absl::StatusCode::kNotFound,
                "no sandboxImage"}),
    [](const ::testing::TestParamInfo<BadCase>& p) { return p.param.name; });

TEST(CriEnsureBackendTest, RuntimeStatusWireMatchesUpstream) {
  EXPECT_EQ(runtime::v1::RuntimeService::service_full_name(),
            std::string("runtime.v1.RuntimeService"));
  EXPECT_EQ(runtime::v1::StatusRequest::descriptor()->FindFieldByName("verbose")->number(), 1);
  const auto* response = runtime::v1::StatusResponse::descriptor();
  EXPECT_EQ(response->FindFieldByName("status")->number(), 1);
  EXPECT_EQ(response->FindFieldByName("info")->number(), 2);
  const auto* sandbox = runtime::v1::PodSandboxConfig::descriptor();
  EXPECT_EQ(sandbox->FindFieldByName("linux")->number(), 8);
}

TEST(CriEnsureBackendTest, RejectsMissingChannels) {
  EXPECT_EQ(CriEnsureBackend::Create(nullptr, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace crimirror::node
