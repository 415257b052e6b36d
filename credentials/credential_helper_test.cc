#include "credentials/credential_helper.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "credentials/test_helper_dir.h"

namespace crimirror::credentials {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(ParseHelperAnswerTest, ReadsBasicAndTokenAnswers) {
  absl::StatusOr<auth::Credentials> basic = ParseHelperAnswer(
      R"({"ServerURL":"r.example","Username":"u","Secret":"s"})", "x");
  ASSERT_TRUE(basic.ok()) << basic.status();
  EXPECT_EQ(basic->username, "u");
  EXPECT_EQ(basic->password.Reveal(), "s");
  absl::StatusOr<auth::Credentials> token =
      ParseHelperAnswer(R"({"Username":"<token>","Secret":"refresh"})", "x");
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_TRUE(token->username.empty());
  EXPECT_TRUE(token->password.empty());
  EXPECT_EQ(token->identity_token.Reveal(), "refresh");
}

TEST(ParseHelperAnswerTest, RejectsGarbageWithoutQuotingIt) {
  for (const char* output : {"secret-value", R"({"Username":"u","Secret":""})",
                             R"({"Username":5,"Secret":"secret-value"})", "[\"secret-value\"]",
                             ""}) {
    absl::StatusOr<auth::Credentials> parsed = ParseHelperAnswer(output, "x");
    ASSERT_FALSE(parsed.ok()) << output;
    EXPECT_THAT(parsed.status().message(), HasSubstr("docker-credential-x"));
    EXPECT_THAT(parsed.status().message(), Not(HasSubstr("secret-value")));
  }
}

TEST(HelperServerTest, DockerHubIsTheV1Url) {
  EXPECT_EQ(HelperServer("docker.io"), "https://index.docker.io/v1/");
  EXPECT_EQ(HelperServer("r.example:5000"), "r.example:5000");
}

TEST(CredentialHelperTest, RunsGetWithTheServerOnStdinAndCachesTheAnswer) {
  testing::HelperDir dir;
  const std::string log = dir.dir() + "/calls";
  dir.AddHelper("fake", "read server; echo \"$1 $server\" >> " + log +
                            "; printf '{\"ServerURL\":\"%s\",\"Username\":\"u\",\"Secret\":\"s\"}' "
                            "\"$server\"");
  absl::Time now = absl::FromUnixSeconds(1000);
  CredentialHelper helper("fake", absl::Seconds(10), absl::Minutes(1), [&now] { return now; });
  EXPECT_EQ(helper.program(), "docker-credential-fake");
  for (int i = 0; i < 3; ++i) {
    std::optional<auth::Credentials> found = helper.Get("r.example:5000");
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->username, "u");
    EXPECT_EQ(found->password.Reveal(), "s");
  }
  now += absl::Minutes(2);
  ASSERT_TRUE(helper.Get("r.example:5000").has_value());
  std::ifstream in(log);
  std::string line;
  std::vector<std::string> calls;
  while (std::getline(in, line)) calls.push_back(line);
  EXPECT_EQ(calls, (std::vector<std::string>{"get r.example:5000", "get r.example:5000"}));
}

TEST(CredentialHelperTest, NotFoundFailureHangAndGarbageAreAllNone) {
  testing::HelperDir dir;
  dir.AddHelper("notfound", "echo 'credentials not found in native keychain'; exit 1");
  dir.AddHelper("garbage", "echo 'secret-value is not json'");
  dir.AddHelper("hang", "sleep 30");
  for (const char* name : {"notfound", "garbage", "hang", "missing-helper"}) {
    CredentialHelper helper(name, absl::Milliseconds(500));
    const absl::Time start = absl::Now();
    EXPECT_FALSE(helper.Get("r.example").has_value()) << name;
    EXPECT_LT(absl::Now() - start, absl::Seconds(10)) << name;
  }
}

}  // namespace
}  // namespace crimirror::credentials
