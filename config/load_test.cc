#include "config/load.h"

#include <string>

#include "config/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace crimirror::config {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using testing::TempDir;

// A rule whose endpoint uses the [host."m:5000"] tables below.
constexpr char kRule[] =
    "[[mirror]]\nregistry = \"docker.io\"\nendpoints = [\"https://m:5000\"]\n";

TEST(LoadConfigFileTest, MissingFileIsNotFoundAndNamesPath) {
  TempDir dir;
  absl::StatusOr<ParsedConfig> parsed = LoadConfigFile(dir.File("none.toml"));
  ASSERT_FALSE(parsed.ok());
  EXPECT_TRUE(absl::IsNotFound(parsed.status()));
  EXPECT_THAT(parsed.status().message(), HasSubstr(dir.File("none.toml")));
}

TEST(LoadConfigFileTest, DirectoryIsNotNotFound) {
  TempDir dir;
  absl::StatusOr<ParsedConfig> parsed = LoadConfigFile(dir.path());
  ASSERT_FALSE(parsed.ok());
  EXPECT_FALSE(absl::IsNotFound(parsed.status()));
}

TEST(LoadConfigFileTest, ParseErrorsCarryThePath) {
  TempDir dir;
  std::string path = dir.Write("c.toml", "[server]\nlisten = 1\n");
  absl::StatusOr<ParsedConfig> parsed = LoadConfigFile(path);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.status().message(),
              HasSubstr(path + ":2:10: [server].listen"));
}

TEST(LoadConfigFileTest, ReadsPasswordFileAndTrimsNewline) {
  TempDir dir;
  std::string pw = dir.Write("pw", "hunter2\n", 0600);
  std::string ca = dir.Write("ca.pem", "pem", 0644);
  std::string path = dir.Write(
      "c.toml", kRule + std::string("[host.\"m:5000\"]\nusername = \"u\"\n") +
                    "password_file = \"" + pw +
                    "\"\n"
                    "ca_file = \"" +
                    ca + "\"\n");
  absl::StatusOr<ParsedConfig> parsed = LoadConfigFile(path);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->config.FindHost("m:5000")->password.Reveal(), "hunter2");
  EXPECT_THAT(parsed->warnings, IsEmpty());
}

TEST(LoadConfigFileTest, ReportsEveryUnreadableFileWithLocation) {
  TempDir dir;
  std::string cert = dir.Write("node.crt", "pem");
  std::string path =
      dir.Write("c.toml",
                "[host.\"m:5000\"]\nca_file = \"/nonexistent/ca.pem\"\n"
                "client_cert = \"" +
                    cert +
                    "\"\nclient_key = \"/nonexistent/k\"\n"
                    "username = \"u\"\npassword_file = \"/nonexistent/pw\"\n");
  absl::StatusOr<ParsedConfig> parsed = LoadConfigFile(path);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  std::string message(parsed.status().message());
  EXPECT_THAT(
      message,
      HasSubstr(path + ":2:11: [host.\"m:5000\"].ca_file: cannot read "
                       "/nonexistent/ca.pem: No such file or directory"));
  EXPECT_THAT(
      message,
      HasSubstr(path + ":4:14: [host.\"m:5000\"].client_key: cannot read"));
  EXPECT_THAT(
      message,
      HasSubstr(path + ":6:17: [host.\"m:5000\"].password_file: cannot read"));
  EXPECT_THAT(message, Not(HasSubstr("client_cert")));
}

TEST(LoadConfigFileTest, UnreadableSecondCaFileIsNamedWithItsIndex) {
  TempDir dir;
  std::string ca = dir.Write("ca.pem", "pem", 0644);
  std::string path = dir.Write("c.toml", kRule + std::string("[host.\"m:5000\"]\nca_file = [\"") +
                                             ca + "\", \"/nonexistent/b.pem\"]\n");
  absl::StatusOr<ParsedConfig> parsed = LoadConfigFile(path);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.status().message(),
              HasSubstr(": [host.\"m:5000\"].ca_file[1]: cannot read "
                        "/nonexistent/b.pem: No such file or directory"));
  EXPECT_THAT(parsed.status().message(), HasSubstr(path + ":"));
  EXPECT_THAT(parsed.status().message(), Not(HasSubstr("ca_file[0]")));
}

TEST(LoadConfigFileTest, EmptyPasswordFileIsAnError) {
  TempDir dir;
  std::string pw = dir.Write("pw", "\n");
  std::string path = dir.Write("c.toml",
                               "[host.\"m:5000\"]\nusername = \"u\"\n"
                               "password_file = \"" +
                                   pw + "\"\n");
  absl::StatusOr<ParsedConfig> parsed = LoadConfigFile(path);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.status().message(), HasSubstr("is empty"));
}

TEST(LoadConfigFileTest, WarnsOnGroupOrWorldReadableSecrets) {
  TempDir dir;
  std::string pw = dir.Write("pw", "hunter2", 0644);
  std::string key = dir.Write("k", "key", 0640);
  std::string cert = dir.Write("c", "cert", 0644);
  std::string path = dir.Write(
      "c.toml",
      kRule +
          std::string(
              "[host.\"m:5000\"]\nusername = \"u\"\npassword_file = \"") +
          pw + "\"\nclient_cert = \"" + cert + "\"\nclient_key = \"" + key +
          "\"\n");
  absl::StatusOr<ParsedConfig> parsed = LoadConfigFile(path);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->warnings.size(), 2u);
  std::string all = parsed->warnings[0].message + parsed->warnings[1].message;
  EXPECT_THAT(all, HasSubstr("[host.\"m:5000\"].password_file"));
  EXPECT_THAT(all, HasSubstr("[host.\"m:5000\"].client_key"));
  EXPECT_THAT(all, HasSubstr("chmod 600"));
  EXPECT_THAT(all, Not(HasSubstr("hunter2")));
}

}  // namespace
}  // namespace crimirror::config
