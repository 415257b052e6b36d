// Wire-compatibility checks for the hand-written protos: field numbers are
// the contract with kubelet and containerd.
#include <string>

#include <gtest/gtest.h>

#include "containerd/images.grpc.pb.h"
#include "cri/api.grpc.pb.h"

namespace {

TEST(CriProto, ServiceFullNameMatchesUpstream) {
  EXPECT_EQ(runtime::v1::ImageService::service_full_name(),
            std::string("runtime.v1.ImageService"));
  EXPECT_EQ(containerd::services::images::v1::Images::service_full_name(),
            std::string("containerd.services.images.v1.Images"));
}

TEST(CriProto, PullImageFieldNumbersMatchUpstream) {
  const auto* d = runtime::v1::PullImageRequest::descriptor();
  EXPECT_EQ(d->FindFieldByName("image")->number(), 1);
  EXPECT_EQ(d->FindFieldByName("auth")->number(), 2);
  EXPECT_EQ(d->FindFieldByName("sandbox_config")->number(), 3);
  const auto* spec = runtime::v1::ImageSpec::descriptor();
  EXPECT_EQ(spec->FindFieldByName("user_specified_image")->number(), 18);
  EXPECT_EQ(spec->FindFieldByName("runtime_handler")->number(), 19);
}

TEST(CriProto, UnknownSandboxFieldsSurviveReserialization) {
  runtime::v1::PullImageRequest req;
  req.mutable_image()->set_image("nginx");
  std::string wire = req.SerializeAsString();
  // sandbox_config (3) { linux (8) { cgroup_parent (1) = "x" } } — a field this
  // build does not declare.
  wire += std::string("\x1a\x05\x42\x03\x0a\x01x", 7);
  runtime::v1::PullImageRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(wire));
  parsed.mutable_image()->set_image("other");
  runtime::v1::PullImageRequest again;
  ASSERT_TRUE(again.ParseFromString(parsed.SerializeAsString()));
  EXPECT_NE(again.SerializeAsString().find(std::string("\x42\x03\x0a\x01x", 5)),
            std::string::npos);
}

}  // namespace
