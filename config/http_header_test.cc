#include "config/http_header.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/parse.h"

namespace crimirror::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(RegistryHeaderTest, AcceptedAndRefused) {
  EXPECT_TRUE(CheckRegistryHeader("X-Mirror-Tenant", "team-a").ok());
  EXPECT_TRUE(CheckRegistryHeader("x-custom_1", "a\tb c").ok());
  struct Case {
    std::string name, value, message;
  } cases[] = {
      {"", "v", "1 to 256 characters"},
      {"X Bad", "v", "is not an HTTP header name"},
      {"X:Bad", "v", "is not an HTTP header name"},
      {"Authorization", "Bearer x", "use username and password"},
      {"host", "evil", "cannot be set"},
      {"Range", "bytes=0-", "cannot be set"},
      {"Accept", "*/*", "cannot be set"},
      {"X-Ok", "line\r\nInjected: 1", "control character or line break"},
      {"X-Ok", std::string(9000, 'a'), "over 8192 bytes"},
  };
  for (const Case& c : cases) {
    absl::Status status = CheckRegistryHeader(c.name, c.value);
    ASSERT_FALSE(status.ok()) << c.name;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.message)) << c.name;
  }
}

TEST(RegistryHeaderTest, HostHeadersParseInOrderWithRepeats) {
  auto parsed = ParseConfig(
      "[host.\"mirror:5000\"]\nheaders = { \"X-Tenant\" = \"a\", \"X-Multi\" = [\"1\", \"2\"] }\n",
      "c.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const HostSettings* host = parsed->config.FindHost("mirror:5000");
  ASSERT_NE(host, nullptr);
  using Pair = std::pair<std::string, std::string>;
  EXPECT_THAT(host->headers, ::testing::UnorderedElementsAre(Pair{"X-Tenant", "a"},
                                                            Pair{"X-Multi", "1"},
                                                            Pair{"X-Multi", "2"}));
  auto refused = ParseConfig(
      "[host.\"mirror:5000\"]\nheaders = { \"Authorization\" = \"Bearer s3cret\" }\n", "c.toml");
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("c.toml:2:"));
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("[host.\"mirror:5000\"].headers.\"Authorization\": Authorization is set by "
                        "cri-mirror"));
  EXPECT_THAT(std::string(refused.status().message()), Not(HasSubstr("s3cret")));
  auto wrong = ParseConfig("[host.\"mirror:5000\"]\nheaders = \"X-A: b\"\n", "c.toml");
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(std::string(wrong.status().message()), HasSubstr("expected a table of header names"));
}

}  // namespace
}  // namespace crimirror::config
