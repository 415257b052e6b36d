#include "import/containerd_hosts.h"

#include <sys/stat.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "config/test_util.h"
#include "import/test_util.h"

namespace crimirror::importer {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::HasNote;
using testing::RuleFor;

// containerd docs/hosts.md and hosts_test.go's big example, adapted.
constexpr char kHostsToml[] = R"(server = "https://registry-1.docker.io"

[host."https://mirror.registry"]
  capabilities = ["pull"]
  ca = "/etc/certs/mirror.pem"
  skip_verify = false
  [host."https://mirror.registry".header]
    x-custom-2 = ["value1", "value2"]

[host."https://mirror-bak.registry/us"]
  capabilities = ["pull"]
  skip_verify = true

[host."http://mirror.registry"]
  capabilities = ["pull"]

[host."https://test-1.registry"]
  capabilities = ["pull", "resolve", "push"]
  ca = ["/etc/certs/test-1-ca.pem", "/etc/certs/special.pem"]
  client = [["/etc/certs/client.cert", "/etc/certs/client.key"],["/etc/certs/client.pem", ""]]

[host."https://test-2.registry"]
  client = "/etc/certs/client.pem"

[host."https://non-compliant-mirror.registry/v2/upstream"]
  capabilities = ["pull"]
  override_path = true

[host."https://noprefixnoncompliant.registry"]
  override_path = true
)";

TEST(ContainerdHostsTest, DocumentedExampleKeepsFileOrder) {
  auto got = ParseHostsToml(kHostsToml, "d/hosts.toml", "docker.io", "d");
  ASSERT_TRUE(got.ok()) << got.status();
  const config::MirrorRule* rule = RuleFor(*got, "docker.io");
  ASSERT_NE(rule, nullptr);
  // /us gets /v2 appended (API root /us/v2: not expressible, dropped);
  // override_path /v2/upstream is the prefix "upstream"; override_path with no
  // path has API root "/" (dropped).
  EXPECT_THAT(rule->endpoints,
              ElementsAre("https://mirror.registry", "http://mirror.registry",
                          "https://test-1.registry", "https://test-2.registry",
                          "https://non-compliant-mirror.registry/upstream"));
  EXPECT_TRUE(rule->fallback_to_upstream);  // server is docker.io's upstream
  EXPECT_EQ(rule->pull_from_mirror, config::PullFromMirror::kDigestOnly);
  EXPECT_EQ(rule->origin, "d/hosts.toml:3");
  EXPECT_FALSE(HasNote(*got, "header dropped"));
  using Pair = std::pair<std::string, std::string>;
  EXPECT_THAT(got->hosts.at("mirror.registry:443").headers, ElementsAre(Pair{"x-custom-2", "value1"}, Pair{"x-custom-2", "value2"}));
  EXPECT_TRUE(HasNote(*got, "mirrors differ"));
  EXPECT_FALSE(HasNote(*got, "only the first CA"));
  EXPECT_TRUE(HasNote(*got, "\"https://mirror-bak.registry/us\" dropped"));
  EXPECT_THAT(got->hosts.at("mirror.registry:443").ca_files, ElementsAre("/etc/certs/mirror.pem"));
  // A `ca` list: every file, in order (containerd appends them all).
  EXPECT_THAT(got->hosts.at("test-1.registry:443").ca_files,
              ElementsAre("/etc/certs/test-1-ca.pem", "/etc/certs/special.pem"));
  EXPECT_EQ(got->hosts.at("test-1.registry:443").client_cert, "/etc/certs/client.cert");
  EXPECT_EQ(got->hosts.at("test-1.registry:443").client_key, "/etc/certs/client.key");
  EXPECT_EQ(got->hosts.at("test-2.registry:443").client_key, "/etc/certs/client.pem");
}

TEST(ContainerdHostsTest, HostWithoutResolveServesDigestsOnly) {
  auto got = ParseHostsToml(
      "server = \"https://r.example:5000\"\n"
      "[host.\"http://127.0.0.1:5001\"]\ncapabilities = [\"pull\"]\n",
      "h.toml", "r.example:5000", "/x");
  ASSERT_TRUE(got.ok()) << got.status();
  const config::MirrorRule* rule = RuleFor(*got, "r.example:5000");
  ASSERT_NE(rule, nullptr);
  EXPECT_THAT(rule->endpoints, ElementsAre("http://127.0.0.1:5001"));
  EXPECT_TRUE(rule->fallback_to_upstream);
  EXPECT_EQ(rule->pull_from_mirror, config::PullFromMirror::kDigestOnly);
}

TEST(ContainerdHostsTest, OtherServerIsLastEndpointWithoutFallback) {
  auto got = ParseHostsToml(
      "server = \"http://127.0.0.1:5000\"\n"
      "[host.\"http://127.0.0.1:1\"]\n",
      "h.toml", "reg.example", "/x");
  ASSERT_TRUE(got.ok()) << got.status();
  const config::MirrorRule* rule = RuleFor(*got, "reg.example");
  ASSERT_NE(rule, nullptr);
  EXPECT_THAT(rule->endpoints,
              ElementsAre("http://127.0.0.1:1", "http://127.0.0.1:5000"));
  EXPECT_FALSE(rule->fallback_to_upstream);
}

TEST(ContainerdHostsTest, RootTlsWithoutServerAppliesToRegistry) {
  auto got = ParseHostsToml("ca = \"ca.pem\"\nclient = [[\"c.cert\", \"c.key\"]]\n",
                            "h.toml", "reg:5000", "/etc/containerd/certs.d/reg:5000");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->mirrors.empty());
  EXPECT_THAT(got->hosts.at("reg:5000").ca_files,
              ElementsAre("/etc/containerd/certs.d/reg:5000/ca.pem"));
}

TEST(ContainerdHostsTest, CaListKeepsEveryFileRelativeToTheHostDirectory) {
  struct Case {
    const char* name;
    const char* toml;
    std::vector<std::string> want;
  };
  const Case cases[] = {
      {"One", "ca = \"a.pem\"\n", {"/h/a.pem"}},
      {"ListInOrder", "ca = [\"b.pem\", \"/etc/a.pem\"]\n", {"/h/b.pem", "/etc/a.pem"}},
      {"TwiceOnce", "ca = [\"a.pem\", \"/h/a.pem\"]\n", {"/h/a.pem"}},
  };
  for (const Case& c : cases) {
    auto got = ParseHostsToml(c.toml, "h.toml", "reg:5000", "/h");
    ASSERT_TRUE(got.ok()) << c.name << ": " << got.status();
    EXPECT_EQ(got->hosts.at("reg:5000").ca_files, c.want) << c.name;
    EXPECT_TRUE(got->notes.empty()) << c.name;
  }
}

TEST(ContainerdHostsTest, Rejections) {
  testing::ExpectRejected(
      [](const char* text) { return ParseHostsToml(text, "h.toml", "docker.io", "/x"); },
      {
      {"[host.\"https://m\"]\ncapabilities = [\"fly\"]\n",
       "h.toml:2:16: [host.\"https://m\"].capabilities: unknown capability \"fly\""},
      {"server = 5\n", "h.toml:1:10: server: expected a string"},
      {"[host.\"https://m\"]\nskip_verify = \"yes\"\n",
       "skip_verify: expected true or false"},
      {"[host.\"https://m\"]\nca = 1\n", "ca: expected a string or a list"},
      {"server = \"x\n", "h.toml:1:"},
      });
}

TEST(ContainerdHostsTest, DirectoryNames) {
  EXPECT_EQ(*RegistryForDirectory("_default"), "*");
  EXPECT_EQ(*RegistryForDirectory("docker.io"), "docker.io");
  EXPECT_EQ(*RegistryForDirectory("host:5000"), "host:5000");
  EXPECT_EQ(*RegistryForDirectory("host_5000_"), "host:5000");
  EXPECT_FALSE(RegistryForDirectory("not a host").ok());
}

TEST(ContainerdHostsTest, DockerStyleCertFiles) {
  Imported got = FromCertFiles("reg:5000", "/d",
                               {"z.crt", "ca.crt", "client.cert", "client.key"});
  EXPECT_TRUE(got.mirrors.empty());
  EXPECT_TRUE(got.notes.empty());
  const config::HostSettings& host = got.hosts.at("reg:5000");
  // Every *.crt, in name order.
  EXPECT_THAT(host.ca_files, ElementsAre("/d/ca.crt", "/d/z.crt"));
  EXPECT_EQ(host.client_cert, "/d/client.cert");
  EXPECT_EQ(host.client_key, "/d/client.key");
  Imported lone = FromCertFiles("docker.io", "/d", {"a.cert"});
  EXPECT_EQ(lone.hosts.at("registry-1.docker.io:443").client_key, "/d/a.cert");
  EXPECT_TRUE(HasNote(lone, "has no a.key"));
}

TEST(ContainerdHostsTest, LoadsADirectoryTree) {
  config::testing::TempDir certs;
  for (const char* sub : {"_default", "reg_5000_", "docker.io", "not a host"}) {
    ::mkdir(certs.File(sub).c_str(), 0700);
  }
  certs.Write("_default/hosts.toml", "[host.\"https://catchall\"]\n");
  certs.Write("reg_5000_/ca.crt", "x");
  certs.Write("docker.io/hosts.toml", "[host.\"https://hub-mirror\"]\n");
  auto got = LoadContainerdHostsDir(certs.path());
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_NE(RuleFor(*got, "*"), nullptr);
  ASSERT_NE(RuleFor(*got, "docker.io"), nullptr);
  EXPECT_EQ(RuleFor(*got, "docker.io")->origin, certs.File("docker.io/hosts.toml") + ":1");
  EXPECT_THAT(got->hosts.at("reg:5000").ca_files, ElementsAre(certs.File("reg_5000_/ca.crt")));
  EXPECT_TRUE(HasNote(*got, "\"not a host\" is not a registry"));
  EXPECT_FALSE(LoadContainerdHostsDir(certs.File("missing")).ok());
}

}  // namespace
}  // namespace crimirror::importer
