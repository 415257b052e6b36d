// [credentials] and `[host] forward_kubelet_credentials` (issue 12):
// accepted forms, defaults and every rejection.
#include <string>

#include "config/parse.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace crimirror::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ParseCredentialsTest, Defaults) {
  auto parsed = ParseConfig("", "c.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const CredentialsSettings& c = parsed->config.credentials;
  EXPECT_TRUE(c.docker_config.empty());
  EXPECT_TRUE(c.provider_config.empty());
  EXPECT_EQ(c.helper_timeout, absl::Seconds(5));
  EXPECT_EQ(c.provider_timeout, absl::Minutes(1));
  EXPECT_EQ(c.verify_kubelet_credentials, VerifyKubeletCredentials::kWhenReachable);
  EXPECT_EQ(c.verify_timeout, absl::Seconds(5));
}

TEST(ParseCredentialsTest, EveryKey) {
  auto parsed = ParseConfig(
      "[credentials]\n"
      "docker_config = [\"/var/lib/kubelet/config.json\", \"/root/.docker/config.json\"]\n"
      "helper_timeout = \"2s\"\n"
      "provider_config = \"/etc/kubernetes/providers.yaml\"\n"
      "provider_bin_dir = \"/usr/libexec/providers\"\n"
      "provider_timeout = \"10s\"\n"
      "verify_kubelet_credentials = \"require\"\n"
      "verify_timeout = \"3s\"\n"
      "[host.\"m.example:5000\"]\nforward_kubelet_credentials = true\n",
      "c.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const CredentialsSettings& c = parsed->config.credentials;
  EXPECT_THAT(c.docker_config,
              ElementsAre("/var/lib/kubelet/config.json", "/root/.docker/config.json"));
  EXPECT_EQ(c.helper_timeout, absl::Seconds(2));
  EXPECT_EQ(c.provider_config, "/etc/kubernetes/providers.yaml");
  EXPECT_EQ(c.provider_bin_dir, "/usr/libexec/providers");
  EXPECT_EQ(c.provider_timeout, absl::Seconds(10));
  EXPECT_EQ(c.verify_kubelet_credentials, VerifyKubeletCredentials::kRequire);
  EXPECT_EQ(c.verify_timeout, absl::Seconds(3));
  EXPECT_TRUE(parsed->config.hosts.at("m.example:5000").forward_kubelet_credentials);
}

TEST(ParseCredentialsTest, Modes) {
  for (auto [text, mode] : {std::pair{"off", VerifyKubeletCredentials::kOff},
                            std::pair{"when-reachable", VerifyKubeletCredentials::kWhenReachable}}) {
    auto parsed = ParseConfig(
        absl::StrCat("[credentials]\nverify_kubelet_credentials = \"", text, "\"\n"), "c.toml");
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->config.credentials.verify_kubelet_credentials, mode);
  }
}

TEST(ParseCredentialsTest, Rejections) {
  struct Case {
    const char* toml;
    const char* error;
  } cases[] = {
      {"[credentials]\ndocker_config = \"/x.json\"\n",
       "c.toml:2:17: [credentials].docker_config: expected an array of paths"},
      {"[credentials]\ndocker_config = [\"config.json\"]\n",
       "[credentials].docker_config: \"config.json\" must be an absolute path"},
      {"[credentials]\ndocker_config = [1]\n", "[credentials].docker_config: expected a string"},
      {"[credentials]\nprovider_config = \"/p.yaml\"\n",
       "[credentials]: provider_config and provider_bin_dir go together"},
      {"[credentials]\nprovider_bin_dir = \"bin\"\nprovider_config = \"/p.yaml\"\n",
       "[credentials].provider_bin_dir: \"bin\" must be an absolute path"},
      {"[credentials]\nhelper_timeout = \"0s\"\n",
       "[credentials].helper_timeout: \"0s\" must be a finite duration above zero"},
      {"[credentials]\nverify_kubelet_credentials = \"always\"\n",
       "\"always\" is not a mode; write \"require\", \"when-reachable\" or \"off\""},
      {"[credentials]\ndocker_configs = []\n", "[credentials].docker_configs: unknown key"},
      {"credentials = 1\n", "credentials: expected a table"},
      {"[host.\"m:5000\"]\nforward_kubelet_credentials = \"yes\"\n",
       "[host.\"m:5000\"].forward_kubelet_credentials: expected a boolean"},
  };
  for (const Case& c : cases) {
    auto parsed = ParseConfig(c.toml, "c.toml");
    ASSERT_FALSE(parsed.ok()) << c.toml;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(c.error)) << c.toml;
  }
}

// [server] metrics (issue 11) lives here too: one small table of cases.
TEST(ParseMetricsTest, AcceptedAndRejected) {
  auto parsed = ParseConfig("[server]\nmetrics = \"127.0.0.1:9098\"\n", "c.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->config.server.metrics, "127.0.0.1:9098");
  EXPECT_TRUE(ParseConfig("", "c.toml")->config.server.metrics.empty());
  for (const char* bad : {"9098", "metrics.example:9098", "127.0.0.1", "1"}) {
    auto refused = ParseConfig(absl::StrCat("[server]\nmetrics = \"", bad, "\"\n"), "c.toml");
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_THAT(std::string(refused.status().message()),
                HasSubstr("[server].metrics: \"" + std::string(bad) + "\" must be IP:PORT"));
  }
}

TEST(ParseStatusTest, DefaultOffAndRejected) {
  EXPECT_EQ(ParseConfig("", "c.toml")->config.server.status,
            "unix:///run/cri-mirror/status.sock");
  auto off = ParseConfig("[server]\nstatus = \"\"\n", "c.toml");
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_TRUE(off->config.server.status.empty());
  auto moved = ParseConfig("[server]\nstatus = \"unix:///tmp/s.sock\"\n", "c.toml");
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(moved->config.server.status, "unix:///tmp/s.sock");
  auto refused = ParseConfig("[server]\nstatus = \"127.0.0.1:1\"\n", "c.toml");
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("[server].status: \"127.0.0.1:1\" is not a unix socket address"));
}

}  // namespace
}  // namespace crimirror::config
