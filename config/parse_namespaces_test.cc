// `[[mirror]] namespaces` (issue 14): accepted forms, the duplicate-rule
// check across namespace sets, and every rejection.
#include <string>
#include <vector>

#include "config/namespace_name.h"
#include "config/parse.h"
#include "config/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace crimirror::config {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::string Rule(const std::string& registry, const std::string& namespaces) {
  std::string out = "[[mirror]]\nregistry = \"" + registry + "\"\nendpoints = [\"https://m\"]\n";
  if (!namespaces.empty()) out += "namespaces = " + namespaces + "\n";
  return out;
}

TEST(ParseNamespacesTest, NamespacedAndGenericRulesForOneRegistry) {
  auto parsed = ParseConfig(Rule("docker.io", "") + Rule("docker.io", "[\"team-a\", \"b\"]") +
                                Rule("docker.io", "[\"team-c\"]") + Rule("*", "[\"team-a\"]"),
                            "c.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const std::vector<MirrorRule>& rules = parsed->config.mirrors;
  ASSERT_EQ(rules.size(), 4u);
  EXPECT_THAT(rules[0].namespaces, IsEmpty());
  EXPECT_THAT(rules[1].namespaces, ElementsAre("team-a", "b"));
  EXPECT_THAT(rules[2].namespaces, ElementsAre("team-c"));
  EXPECT_EQ(rules[3].registry, "*");
}

TEST(ParseNamespacesTest, NamespaceNames) {
  EXPECT_TRUE(IsValidNamespaceName("team-a"));
  EXPECT_TRUE(IsValidNamespaceName("0"));
  EXPECT_TRUE(IsValidNamespaceName(std::string(63, 'a')));
  EXPECT_FALSE(IsValidNamespaceName(std::string(64, 'a')));
  EXPECT_FALSE(IsValidNamespaceName(""));
  EXPECT_FALSE(IsValidNamespaceName("Team-A"));
  EXPECT_FALSE(IsValidNamespaceName("-team"));
  EXPECT_FALSE(IsValidNamespaceName("team-"));
  EXPECT_FALSE(IsValidNamespaceName("team.a"));
  EXPECT_FALSE(IsValidNamespaceName("team_a"));
}

TEST(ParseNamespacesTest, Rejections) {
  struct Case {
    std::string toml;
    std::string error;
  } cases[] = {
      {Rule("docker.io", "[]"),
       "c.toml:4:14: [[mirror]][0].namespaces: is empty; write e.g. namespaces = [\"team-a\"]"},
      {Rule("docker.io", "\"team-a\""),
       "[[mirror]][0].namespaces: expected an array of namespace names, got a string"},
      {Rule("docker.io", "[1]"), "[[mirror]][0].namespaces[0]: expected a string"},
      {Rule("docker.io", "[\"Team-A\"]"),
       "c.toml:4:15: [[mirror]][0].namespaces[0]: \"Team-A\" is not a Kubernetes namespace name"},
      {Rule("docker.io", "[\"" + std::string(64, 'a') + "\"]"),
       "is not a Kubernetes namespace name; use 1 to 63"},
      {Rule("docker.io", "[\"a\", \"a\"]"),
       "[[mirror]][0].namespaces[1]: \"a\" is listed twice"},
      {Rule("docker.io", "[\"a\", \"b\"]") + Rule("docker.io", "[\"c\", \"b\"]"),
       "c.toml:6:12: [[mirror]][1].registry: duplicate rule for \"docker.io\" in namespace "
       "\"b\" (first defined at line 1); list each namespace in one rule per registry"},
      {Rule("*", "[\"a\"]") + Rule("*", "[\"a\"]"),
       "duplicate rule for \"*\" in namespace \"a\""},
      {Rule("docker.io", "") + Rule("docker.io", "[\"a\"]") + Rule("index.docker.io", ""),
       "c.toml:9:12: [[mirror]][2].registry: duplicate rule for \"docker.io\" (first defined at "
       "line 1); merge the two [[mirror]] sections, or give one of them namespaces = [...]"},
      {Rule("docker.io", "[\"a\"]") + "namespace = [\"b\"]\n",
       "[[mirror]][0].namespace: unknown key; did you mean \"namespaces\"?"},
  };
  for (const Case& c : cases) testing::ExpectRejected(c.toml, c.error);
}

}  // namespace
}  // namespace crimirror::config
