// Rule choice with `[[mirror]] namespaces` (issue 14): namespaced specific >
// namespaced "*" > generic specific > generic "*"; a pull without a pod
// namespace sees only the generic rules.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "config/parse.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "resolver/plan_format.h"
#include "resolver/resolve.h"

namespace crimirror::resolver {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Each rule's one endpoint names it, so the plan's first endpoint tells
// which rule won.
constexpr char kRules[] = R"(
[[mirror]]
registry = "docker.io"
endpoints = ["https://generic-hub"]

[[mirror]]
registry = "docker.io"
namespaces = ["team-a"]
endpoints = ["https://a-hub"]

[[mirror]]
registry = "docker.io/bitnami"
endpoints = ["https://generic-bitnami"]

[[mirror]]
registry = "*"
endpoints = ["https://generic-any"]

[[mirror]]
registry = "*"
namespaces = ["team-a", "team-b"]
endpoints = ["https://ab-any"]

[[mirror]]
registry = "quay.io"
namespaces = ["team-c"]
endpoints = ["https://c-quay"]
)";

std::shared_ptr<const CompiledConfig> Compiled() {
  absl::StatusOr<config::ParsedConfig> parsed = config::ParseConfig(kRules, "t.toml");
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return CompiledConfig::Compile(
      std::make_shared<const config::Config>(parsed.ok() ? parsed->config : config::Config()));
}

struct NamespaceCase {
  std::string image;
  std::string pod_namespace;
  std::string endpoint;  // first endpoint's base_url; "" = no rule
};

class NamespaceRuleTest : public ::testing::TestWithParam<NamespaceCase> {};

TEST_P(NamespaceRuleTest, NamespacedRulesWinForTheirNamespaces) {
  const NamespaceCase& c = GetParam();
  Reference ref = *ParseReference(c.image);
  auto compiled = Compiled();
  EndpointPlan plan = compiled->Resolve(ref, c.pod_namespace);
  std::string first = plan.endpoints.empty() ? "" : plan.endpoints.front().base_url;
  EXPECT_EQ(first, c.endpoint) << c.image << " in \"" << c.pod_namespace << "\"";
  // The free function agrees with the compiled one.
  EndpointPlan free = Resolve(ref, compiled->config(), c.pod_namespace);
  EXPECT_EQ(free.rule_origin, plan.rule_origin);
}

INSTANTIATE_TEST_SUITE_P(
    Table, NamespaceRuleTest,
    ::testing::Values(
        // No sandbox config: only rules without namespaces.
        NamespaceCase{"nginx", "", "https://generic-hub"},
        NamespaceCase{"ghcr.io/x/y", "", "https://generic-any"},
        NamespaceCase{"quay.io/x", "", "https://generic-any"},
        // team-a: its docker.io rule beats the more specific generic bitnami
        // rule; its "*" beats the generic "*" and even generic specific rules.
        NamespaceCase{"nginx", "team-a", "https://a-hub"},
        NamespaceCase{"bitnami/redis", "team-a", "https://a-hub"},
        NamespaceCase{"ghcr.io/x/y", "team-a", "https://ab-any"},
        NamespaceCase{"quay.io/x", "team-a", "https://ab-any"},
        // team-b has only a namespaced "*": it beats generic docker.io.
        NamespaceCase{"nginx", "team-b", "https://ab-any"},
        // team-c: its quay.io rule; everything else falls to the generic rules.
        NamespaceCase{"quay.io/x", "team-c", "https://c-quay"},
        NamespaceCase{"nginx", "team-c", "https://generic-hub"},
        NamespaceCase{"bitnami/redis", "team-c", "https://generic-bitnami"},
        NamespaceCase{"ghcr.io/x/y", "team-c", "https://generic-any"},
        // A namespace no rule lists behaves like a pull without one.
        NamespaceCase{"nginx", "other", "https://generic-hub"},
        NamespaceCase{"quay.io/x", "other", "https://generic-any"}),
    [](const ::testing::TestParamInfo<NamespaceCase>& info) {
      std::string name = absl::StrCat(info.index, "_", info.param.image, "_in_",
                                      info.param.pod_namespace.empty() ? "none"
                                                                       : info.param.pod_namespace);
      for (char& c : name) {
        if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return name;
    });

TEST(NamespaceRuleTest, NamespacedRuleOnlyMeansPassThroughElsewhere) {
  auto parsed = config::ParseConfig(
      "[[mirror]]\nregistry = \"docker.io\"\nnamespaces = [\"team-a\"]\n"
      "endpoints = [\"https://a\"]\n",
      "c.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  Reference ref = *ParseReference("nginx");
  EXPECT_FALSE(Resolve(ref, parsed->config).Matched());
  EXPECT_FALSE(Resolve(ref, parsed->config, "team-b").Matched());
  EndpointPlan plan = Resolve(ref, parsed->config, "team-a");
  EXPECT_EQ(plan.rule_origin, "c.toml:1");
  EXPECT_THAT(plan.rule_namespaces, ElementsAre("team-a"));
  EXPECT_EQ(plan.pod_namespace, "team-a");
}

TEST(NamespaceRuleTest, PlanFormatsShowNamespaces) {
  auto compiled = Compiled();
  Reference ref = *ParseReference("nginx");
  EndpointPlan plan = compiled->Resolve(ref, "team-a");
  std::string text = FormatPlanText(plan);
  EXPECT_THAT(text, HasSubstr("namespace: team-a\nrule: docker.io (from t.toml:6) "
                              "namespaces=team-a\n"));
  std::string json = FormatPlanJson(plan);
  EXPECT_THAT(json, HasSubstr("\"rule_namespaces\": [\n    \"team-a\"\n  ]"));
  EXPECT_THAT(json, HasSubstr("\"pod_namespace\": \"team-a\""));

  EndpointPlan generic = compiled->Resolve(ref);
  EXPECT_THAT(generic.rule_namespaces, IsEmpty());
  EXPECT_THAT(FormatPlanText(generic), HasSubstr("rule: docker.io (from t.toml:2)\n"));
  EXPECT_THAT(FormatPlanJson(generic), HasSubstr("\"pod_namespace\": null"));
}

}  // namespace
}  // namespace crimirror::resolver
