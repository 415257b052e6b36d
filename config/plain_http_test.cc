// Issue 10 defect 12: credentials for a plain-http endpoint are warned about.
#include "config/plain_http.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/parse.h"

namespace crimirror::config {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

std::vector<std::string> PlainHttpWarnings(const std::string& toml) {
  absl::StatusOr<ParsedConfig> parsed = ParseConfig(toml, "config.toml");
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  std::vector<std::string> out;
  if (!parsed.ok()) return out;
  for (const Warning& warning : parsed->warnings) {
    if (warning.message.find("clear text") != std::string::npos) out.push_back(warning.message);
  }
  return out;
}

struct Case {
  std::string name;
  std::string endpoint;
  std::string host_keys;
  bool warns;
};

TEST(PlainHttpCredentialWarningsTest, WarnsOnlyForCredentialsOverPlainHttpOffTheNode) {
  const Case cases[] = {
      {"password over http", "http://mirror.corp:5000",
       "username = \"u\"\npassword = \"hunter2\"\n", true},
      {"auth over http", "http://mirror.corp:5000", "auth = \"dTpw\"\n", true},
      {"identity_token over http", "http://mirror.corp:5000", "identity_token = \"tok\"\n", true},
      {"password over https", "https://mirror.corp:5000",
       "username = \"u\"\npassword = \"hunter2\"\n", false},
      {"no credentials over http", "http://mirror.corp:5000", "connect_timeout = \"1s\"\n",
       false},
  };
  for (const Case& c : cases) {
    const std::string toml = "[[mirror]]\nregistry = \"docker.io\"\nendpoints = [\"" +
                             c.endpoint + "\"]\n\n[host.\"mirror.corp:5000\"]\n" + c.host_keys;
    std::vector<std::string> warnings = PlainHttpWarnings(toml);
    if (!c.warns) {
      EXPECT_THAT(warnings, IsEmpty()) << c.name;
      continue;
    }
    ASSERT_EQ(warnings.size(), 1u) << c.name;
    EXPECT_THAT(warnings[0], HasSubstr("config.toml:5:1: [host.\"mirror.corp:5000\"]: "));
    EXPECT_THAT(warnings[0], HasSubstr("clear text to http://mirror.corp:5000 "
                                       "([[mirror]][0].endpoints[0])"));
    EXPECT_THAT(warnings[0], HasSubstr("make the endpoint https://mirror.corp:5000"));
    EXPECT_THAT(warnings[0], Not(HasSubstr("hunter2"))) << "secret in a warning";
    EXPECT_THAT(warnings[0], Not(HasSubstr("tok\""))) << "secret in a warning";
  }
}

TEST(PlainHttpCredentialWarningsTest, LoopbackEndpointsAreExempt) {
  for (const std::string host : {"127.0.0.1:5000", "localhost:5000", "[::1]:5000"}) {
    const std::string toml = "[[mirror]]\nregistry = \"docker.io\"\nendpoints = [\"http://" +
                             host + "\"]\n\n[host.\"" + host +
                             "\"]\nusername = \"u\"\npassword = \"p\"\n";
    EXPECT_THAT(PlainHttpWarnings(toml), IsEmpty()) << host;
  }
}

}  // namespace
}  // namespace crimirror::config
