#include "src/config_commands.h"

#include <sstream>
#include <string>

#include "config/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace crimirror::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

class ConfigCommandsTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text,
                    mode_t mode = 0600) {
    return dir_.Write(name, text, mode);
  }

  config::testing::TempDir dir_;
  std::ostringstream out_;
  std::ostringstream err_;
};

constexpr char kGood[] = R"(
[[mirror]]
registry = "docker.io"
endpoints = ["https://mirror:5000", "http://127.0.0.1:5001/hub"]

[[mirror]]
registry = "ghcr.io"
endpoints = ["https://g"]

[host."mirror:5000"]
username = "u"
password = "hunter2"
)";

TEST_F(ConfigCommandsTest, CheckConfigPrintsSummary) {
  std::string path = Write("config.toml", kGood);
  EXPECT_EQ(RunCheckConfig(path, out_, err_), 0);
  EXPECT_EQ(out_.str(), path + ": OK: 2 mirror rules, 1 host\n");
  EXPECT_THAT(err_.str(), IsEmpty());
}

TEST_F(ConfigCommandsTest, CheckConfigPrintsEveryError) {
  std::string path =
      Write("config.toml",
            "[server]\nlisten = 1\n[[mirror]]\nregistry = \"x\"\n"
            "endpoints = [\"ftp://m\"]\n");
  EXPECT_EQ(RunCheckConfig(path, out_, err_), 1);
  EXPECT_THAT(out_.str(), IsEmpty());
  EXPECT_THAT(err_.str(), HasSubstr(path + ":2:10: [server].listen"));
  EXPECT_THAT(err_.str(),
              HasSubstr(path + ":5:14: [[mirror]][0].endpoints[0]"));
}

TEST_F(ConfigCommandsTest, CheckConfigWarningsGoToErr) {
  std::string pw = Write("pw", "hunter2\n", 0644);
  std::string path = Write("config.toml",
                           "[host.\"m:1\"]\nusername = \"u\"\n"
                           "password_file = \"" +
                               pw + "\"\n");
  EXPECT_EQ(RunCheckConfig(path, out_, err_), 0);
  EXPECT_THAT(out_.str(), HasSubstr("OK: 0 mirror rules, 1 host"));
  EXPECT_THAT(err_.str(), StartsWith("warning: "));
  EXPECT_THAT(err_.str(), Not(HasSubstr("hunter2")));
}

TEST_F(ConfigCommandsTest, CheckConfigMissingFileFails) {
  EXPECT_EQ(RunCheckConfig(dir_.File("none.toml"), out_, err_), 1);
  EXPECT_THAT(err_.str(), HasSubstr("none.toml"));
}

TEST_F(ConfigCommandsTest, ResolvePrintsPlanText) {
  std::string path = Write("config.toml", kGood);
  EXPECT_EQ(RunResolve("nginx:1.25", path, false, out_, err_), 0);
  EXPECT_EQ(out_.str(),
            "reference: docker.io/library/nginx:1.25\n"
            "rule: docker.io (from " + path + ":2)\n"
            "1. mirror https://mirror:5000 repository=library/nginx "
            "serves=tags,digests host=mirror:5000 credentials=password\n"
            "2. mirror http://127.0.0.1:5001 repository=hub/library/nginx "
            "serves=tags,digests host=127.0.0.1:5001\n"
            "3. upstream https://registry-1.docker.io repository=library/nginx "
            "serves=tags,digests host=registry-1.docker.io:443\n");
}

TEST_F(ConfigCommandsTest, ResolvePrintsJson) {
  std::string path = Write("config.toml", kGood);
  EXPECT_EQ(RunResolve("ghcr.io/a/b:1", path, true, out_, err_), 0);
  nlohmann::json j = nlohmann::json::parse(out_.str());
  EXPECT_EQ(j["reference"], "ghcr.io/a/b:1");
  EXPECT_EQ(j["endpoints"].size(), 2u);
  EXPECT_THAT(out_.str(), Not(HasSubstr("hunter2")));
}

TEST_F(ConfigCommandsTest, ResolveRejectsBadImage) {
  std::string path = Write("config.toml", kGood);
  EXPECT_EQ(RunResolve("Nginx", path, false, out_, err_), 1);
  EXPECT_THAT(err_.str(), HasSubstr("must be lowercase"));
  EXPECT_THAT(out_.str(), IsEmpty());
}

TEST_F(ConfigCommandsTest, ResolveWithBrokenConfigFails) {
  std::string path = Write("config.toml", "[[mirror]]\nregistry = 1\n");
  EXPECT_EQ(RunResolve("nginx", path, false, out_, err_), 1);
  EXPECT_THAT(err_.str(), HasSubstr("[[mirror]][0].registry"));
}

TEST_F(ConfigCommandsTest, ResolveWithMissingExplicitConfigFails) {
  EXPECT_EQ(RunResolve("nginx", dir_.File("none.toml"), false, out_, err_), 1);
}

}  // namespace
}  // namespace crimirror::cli
