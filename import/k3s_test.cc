#include "import/k3s.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "import/test_util.h"

namespace crimirror::importer {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::HasNote;
using testing::RuleFor;

// docs.k3s.io/installation/private-registry, adapted.
constexpr char kRegistries[] = R"yaml(mirrors:
  docker.io:
    endpoint:
      - "https://mycustomreg.com:5000"
    rewrite:
      "^rancher/(.*)": "mirrorproject/rancher-images/$1"
  registry.example.com:
    endpoint:
      - "https://registry.example.com/v2/proxy"
      - "localhost:5001"
      - "https://bad.example/prefix"
  "*":
    endpoint:
      - "https://catchall.example"
configs:
  "mycustomreg.com:5000":
    auth:
      username: xxxxxx
      password: yyyyyy
    tls:
      cert_file: /etc/certs/c.pem
      key_file: /etc/certs/c.key
      ca_file: /etc/certs/ca.pem
      insecure_skip_verify: false
  registry.example.com:
    auth:
      identity_token: tok
)yaml";

TEST(K3sTest, DocumentedExample) {
  auto got = ParseK3sRegistries(kRegistries, "registries.yaml");
  ASSERT_TRUE(got.ok()) << got.status();
  const config::MirrorRule* hub = RuleFor(*got, "docker.io");
  ASSERT_NE(hub, nullptr);
  EXPECT_THAT(hub->endpoints, ElementsAre("https://mycustomreg.com:5000"));
  EXPECT_TRUE(hub->fallback_to_upstream);
  ASSERT_EQ(hub->rewrite.size(), 1u);
  EXPECT_EQ(hub->rewrite[0].replace, "mirrorproject/rancher-images/$1");
  EXPECT_EQ(hub->origin, "registries.yaml:2");
  const config::MirrorRule* reg = RuleFor(*got, "registry.example.com");
  ASSERT_NE(reg, nullptr);
  EXPECT_THAT(reg->endpoints, ElementsAre("https://registry.example.com/proxy",
                                          "http://localhost:5001"));
  EXPECT_TRUE(HasNote(*got, "\"https://bad.example/prefix\" skipped"));
  ASSERT_NE(RuleFor(*got, "*"), nullptr);
  const config::HostSettings& host = got->hosts.at("mycustomreg.com:5000");
  EXPECT_EQ(host.username, "xxxxxx");
  EXPECT_EQ(host.password.Reveal(), "yyyyyy");
  EXPECT_EQ(host.client_cert, "/etc/certs/c.pem");
  EXPECT_THAT(host.ca_files, ElementsAre("/etc/certs/ca.pem"));
  EXPECT_EQ(got->hosts.at("registry.example.com:443").identity_token.Reveal(), "tok");
}

TEST(K3sTest, DefaultEndpointCanBeDisabled) {
  auto got = ParseK3sRegistries(
      "mirrors:\n  r.io:\n    endpoint: [\"https://m\"]\n", "r.yaml",
      {.disable_default_endpoint = true});
  ASSERT_TRUE(got.ok()) << got.status();
  const config::MirrorRule* rule = RuleFor(*got, "r.io");
  ASSERT_NE(rule, nullptr);
  EXPECT_FALSE(rule->fallback_to_upstream);
}

TEST(K3sTest, DefaultEndpointWrittenOutIsTheFallback) {
  auto got = ParseK3sRegistries(
      "mirrors:\n  r.io:\n    endpoint: [\"https://m\", \"https://r.io\", \"https://m/\"]\n",
      "r.yaml");
  ASSERT_TRUE(got.ok()) << got.status();
  const config::MirrorRule* rule = RuleFor(*got, "r.io");
  ASSERT_NE(rule, nullptr);
  EXPECT_THAT(rule->endpoints, ElementsAre("https://m"));
  EXPECT_TRUE(HasNote(*got, "duplicate endpoint"));
}

TEST(K3sTest, WildcardConfigIsDroppedWithANote) {
  auto got = ParseK3sRegistries(
      "configs:\n  \"*\":\n    tls:\n      insecure_skip_verify: true\n", "r.yaml");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->hosts.empty());
  EXPECT_TRUE(HasNote(*got, "configs.\"*\" dropped"));
}

TEST(K3sTest, Rejections) {
  testing::ExpectRejected(
      [](const char* text) { return ParseK3sRegistries(text, "r.yaml"); },
      {
      {"mirrors:\n  r.io: 3\n", "r.yaml:2:9: mirrors.r.io: expected a map"},
      {"mirrors:\n  r.io:\n    endpoint: x\n", "mirrors.r.io.endpoint: expected a list"},
      {"mirrors:\n  r.io:\n    endpoint: [a]\n    rewrite: {\"(\": x}\n",
       "invalid regular expression"},
      {"mirrors: [\n", "r.yaml:"},
      {"configs:\n  r.io:\n    tls:\n      insecure_skip_verify: maybe\n", "r.yaml:4:"},
      });
}

// k3s writes tls paths unchanged into the hosts.toml it generates, where
// containerd resolves a relative one against that generated directory: no
// directory cri-mirror could choose would match, so it is an error.
TEST(K3sTest, RelativeTlsFilesAreErrorsNamingTheLine) {
  testing::ExpectRejected(
      [](const char* text) { return ParseK3sRegistries(text, "/etc/rancher/k3s/r.yaml"); },
      {
      {"configs:\n  r.io:\n    tls:\n      ca_file: certs/ca.pem\n",
       "/etc/rancher/k3s/r.yaml:4:16: configs.r.io.tls.ca_file: \"certs/ca.pem\" is a "
       "relative path"},
      {"configs:\n  r.io:\n    tls:\n      ca_file: ca.pem\n",
       "write an absolute path (e.g. /etc/rancher/k3s/ca.pem)"},
      {"configs:\n  r.io:\n    tls:\n      cert_file: ./c.pem\n      key_file: /c.key\n",
       "r.yaml:4:18: configs.r.io.tls.cert_file: \"./c.pem\" is a relative path"},
      {"configs:\n  r.io:\n    tls:\n      cert_file: /c.pem\n      key_file: c.key\n",
       "r.yaml:5:17: configs.r.io.tls.key_file: \"c.key\" is a relative path"},
      });
}

TEST(K3sTest, YamlErrorsNeverEchoSecrets) {
  auto got = ParseK3sRegistries(
      "configs:\n  r.io:\n    auth:\n      password: hunter2\n   bad: [\n", "r.yaml");
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(std::string(got.status().message()), Not(HasSubstr("hunter2")));
}

}  // namespace
}  // namespace crimirror::importer
