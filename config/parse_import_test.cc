// [import] and `[[mirror]] blocked` (issue 13): accepted forms and every
// rejection.
#include <string>

#include "config/parse.h"
#include "config/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace crimirror::config {
namespace {


TEST(ParseImportTest, BlockedRuleNeedsNoEndpoints) {
  auto parsed = ParseConfig("[[mirror]]\nregistry = \"bad.io\"\nblocked = true\n", "c.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->config.mirrors[0].blocked);
  EXPECT_EQ(parsed->config.mirrors[0].origin, "c.toml:1");
}

TEST(ParseImportTest, ImportPaths) {
  auto parsed = ParseConfig(
      "[import]\ncontainerd_hosts_dir = \"/etc/containerd/certs.d\"\n"
      "containerd_config = \"/etc/containerd/config.toml\"\n"
      "k3s_registries = \"/etc/rancher/k3s/registries.yaml\"\n"
      "registries_conf = \"/etc/containers/registries.conf\"\n",
      "c.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const ImportSettings& i = parsed->config.imports;
  EXPECT_EQ(i.containerd_hosts_dir, "/etc/containerd/certs.d");
  EXPECT_EQ(i.containerd_config, "/etc/containerd/config.toml");
  EXPECT_EQ(i.k3s_registries, "/etc/rancher/k3s/registries.yaml");
  EXPECT_EQ(i.registries_conf, "/etc/containers/registries.conf");
}

TEST(ParseImportTest, Rejections) {
  struct Case {
    const char* toml;
    const char* error;
  } cases[] = {
      {"[[mirror]]\nregistry = \"r.io\"\nblocked = \"yes\"\n",
       "c.toml:3:11: [[mirror]][0].blocked: expected a boolean"},
      {"[[mirror]]\nregistry = \"r.io\"\n", "[[mirror]][0].endpoints: missing"},
      {"[import]\nk3s_registries = \"registries.yaml\"\n",
       "c.toml:2:18: [import].k3s_registries: \"registries.yaml\" must be an absolute path"},
      {"[import]\nk3s = \"/x\"\n", "c.toml:2:1: [import].k3s: unknown key"},
      {"[import]\nregistries_conf = 1\n", "[import].registries_conf: expected a string"},
      {"import = 1\n", "import: expected a table"},
  };
  for (const Case& c : cases) testing::ExpectRejected(c.toml, c.error);
}

}  // namespace
}  // namespace crimirror::config
