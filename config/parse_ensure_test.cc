// [server] keys of the image ensurer (node/image_ensurer.h): defaults,
// accepted values and one rejection per validation rule.
#include <string>
#include <vector>

#include "config/parse.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace crimirror::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ParseEnsureTest, DefaultsEnsureTheSandboxImageOnly) {
  absl::StatusOr<ParsedConfig> parsed = ParseConfig("", "t.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const ServerSettings& s = parsed->config.server;
  EXPECT_TRUE(s.ensure_sandbox_image);
  EXPECT_TRUE(s.ensure_images.empty());
  EXPECT_EQ(s.ensure_interval, absl::Minutes(1));
  EXPECT_EQ(s.ensure_timeout, absl::Minutes(1));
}

TEST(ParseEnsureTest, AcceptsEveryKey) {
  absl::StatusOr<ParsedConfig> parsed = ParseConfig(R"([server]
ensure_sandbox_image = false
ensure_images = ["registry.k8s.io/coredns/coredns:v1.10.1", "nginx@sha256:0123"]
ensure_interval = "30s"
ensure_timeout = "10s"
)",
                                                    "t.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const ServerSettings& s = parsed->config.server;
  EXPECT_FALSE(s.ensure_sandbox_image);
  EXPECT_THAT(s.ensure_images,
              ElementsAre("registry.k8s.io/coredns/coredns:v1.10.1", "nginx@sha256:0123"));
  EXPECT_EQ(s.ensure_interval, absl::Seconds(30));
  EXPECT_EQ(s.ensure_timeout, absl::Seconds(10));
}

struct RejectCase {
  std::string name;
  std::string toml;
  std::string expected;
};

void PrintTo(const RejectCase& c, std::ostream* os) { *os << c.name; }

class ParseEnsureRejectTest : public ::testing::TestWithParam<RejectCase> {};

TEST_P(ParseEnsureRejectTest, NamesTheKeyAndTheFix) {
  absl::StatusOr<ParsedConfig> parsed = ParseConfig("[server]\n" + GetParam().toml, "c.toml");
  ASSERT_FALSE(parsed.ok()) << GetParam().name << " was accepted";
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseEnsureRejectTest,
    ::testing::Values(
        RejectCase{"SandboxNotBool", "ensure_sandbox_image = \"yes\"",
                   "c.toml:2:24: [server].ensure_sandbox_image: expected a boolean"},
        RejectCase{"ImagesNotArray", "ensure_images = \"nginx\"",
                   "c.toml:2:17: [server].ensure_images: expected an array of image "
                   "references, got a string; write e.g. ["},
        RejectCase{"ImageNotString", "ensure_images = [\"nginx\", 3]",
                   "[server].ensure_images[1]: expected a string"},
        RejectCase{"ImageEmpty", "ensure_images = [\"\"]",
                   "[server].ensure_images[0]: \"\" is not an image reference"},
        RejectCase{"ImageWithScheme", "ensure_images = [\"https://r/x:1\"]",
                   "[server].ensure_images[0]: \"https://r/x:1\" is not an image reference"},
        RejectCase{"ImageWithSpace", "ensure_images = [\"nginx 1\"]",
                   "is not an image reference; write it as the kubelet would"},
        RejectCase{"IntervalNotDuration", "ensure_interval = \"1 minute\"",
                   "[server].ensure_interval"},
        RejectCase{"TimeoutZero", "ensure_timeout = \"0s\"",
                   "[server].ensure_timeout"}),
    [](const ::testing::TestParamInfo<RejectCase>& p) { return p.param.name; });

}  // namespace
}  // namespace crimirror::config
