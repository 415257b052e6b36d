#include "import/containerd_config.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "import/test_util.h"

namespace crimirror::importer {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::HasNote;
using testing::RuleFor;

// containerd docs/cri/registry.md (deprecated CRI registry) and the MicroK8s
// containerd-template.toml, adapted.
constexpr char kConfig[] = R"(version = 2
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = ""
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors]
    [plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
      endpoint = ["https://registry-1.docker.io", "https://mirror.example"]
    [plugins."io.containerd.grpc.v1.cri".registry.mirrors."my.registry.local:32000"]
      endpoint = ["http://127.0.0.1:32000"]
    [plugins."io.containerd.grpc.v1.cri".registry.mirrors."localhost:5000"]
      endpoint = ["http://127.0.0.1:5001/v2/proxy"]
  [plugins."io.containerd.grpc.v1.cri".registry.configs]
    [plugins."io.containerd.grpc.v1.cri".registry.configs."mirror.example".auth]
      username = "u"
      password = "p"
    [plugins."io.containerd.grpc.v1.cri".registry.configs."mirror.example".tls]
      ca_file = "/etc/ca.pem"
      insecure_skip_verify = true
)";

TEST(ContainerdConfigTest, MirrorsKeepOrderAndAppendTheRegistry) {
  auto got = ParseContainerdConfig(kConfig, "config.toml");
  ASSERT_TRUE(got.ok()) << got.status();
  const config::MirrorRule* hub = RuleFor(*got, "docker.io");
  ASSERT_NE(hub, nullptr);
  // The registry is listed first: it stays first (not a fallback).
  EXPECT_THAT(hub->endpoints, ElementsAre("https://registry-1.docker.io",
                                          "https://mirror.example"));
  EXPECT_FALSE(hub->fallback_to_upstream);
  const config::MirrorRule* microk8s = RuleFor(*got, "my.registry.local:32000");
  ASSERT_NE(microk8s, nullptr);
  EXPECT_THAT(microk8s->endpoints, ElementsAre("http://127.0.0.1:32000"));
  EXPECT_TRUE(microk8s->fallback_to_upstream);
  EXPECT_EQ(microk8s->origin, "config.toml:7");
  const config::MirrorRule* local = RuleFor(*got, "localhost:5000");
  ASSERT_NE(local, nullptr);
  EXPECT_THAT(local->endpoints,
              ElementsAre("http://127.0.0.1:5001/proxy", "http://localhost:5000"));
  EXPECT_FALSE(local->fallback_to_upstream);
  const config::HostSettings& host = got->hosts.at("mirror.example:443");
  EXPECT_EQ(host.username, "u");
  EXPECT_EQ(host.password.Reveal(), "p");
  EXPECT_THAT(host.ca_files, ElementsAre("/etc/ca.pem"));
  EXPECT_TRUE(host.insecure_skip_verify);
  EXPECT_TRUE(HasNote(*got, "config_path dropped"));
}

TEST(ContainerdConfigTest, EndpointPathNotUnderV2IsDropped) {
  auto got = ParseContainerdConfig(
      "[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"r.io\"]\n"
      "endpoint = [\"https://m/other\"]\n",
      "c.toml");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(RuleFor(*got, "r.io"), nullptr);
  EXPECT_TRUE(HasNote(*got, "not /v2"));
}

TEST(ContainerdConfigTest, Rejections) {
  testing::ExpectRejected(
      [](const char* text) { return ParseContainerdConfig(text, "c.toml"); },
      {
      {"[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"r.io\"]\n"
       "endpoint = 3\n",
       "c.toml:2:12: registry.mirrors.\"r.io\".endpoint: expected a string"},
      {"[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"r.io\"]\n",
       "endpoint: missing"},
      {"[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"r.io\".auth]\n"
       "username = 1\n",
       "auth.username: expected a string"},
      {"[plugins\n", "c.toml:1:"},
      });
}

}  // namespace
}  // namespace crimirror::importer
