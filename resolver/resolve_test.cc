#include "resolver/resolve.h"

#include <memory>
#include <string>
#include <vector>

#include "config/parse.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace crimirror::resolver {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kDigest = "sha256:" + std::string(64, 'a');

config::Config Parse(const std::string& toml) {
  absl::StatusOr<config::ParsedConfig> parsed =
      config::ParseConfig(toml, "t.toml");
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? parsed->config : config::Config();
}

EndpointPlan Plan(const std::string& image, const std::string& toml) {
  absl::StatusOr<Reference> ref = ParseReference(image);
  EXPECT_TRUE(ref.ok()) << ref.status();
  return Resolve(*ref, Parse(toml));
}

// "kind base_url repository" per endpoint, for compact expectations.
std::vector<std::string> Summary(const EndpointPlan& plan) {
  std::vector<std::string> out;
  for (const Endpoint& e : plan.endpoints) {
    out.push_back((e.kind == EndpointKind::kMirror ? "mirror " : "upstream ") +
                  e.base_url + " " + e.repository);
  }
  return out;
}

constexpr char kRules[] = R"(
[[mirror]]
registry = "docker.io"
endpoints = ["https://hub-mirror:5000"]

[[mirror]]
registry = "docker.io/bitnami"
endpoints = ["https://bitnami-mirror"]

[[mirror]]
registry = "*"
endpoints = ["http://127.0.0.1:5001/any"]
fallback_to_upstream = false

[[mirror]]
registry = "quay.io:8443"
endpoints = ["https://quay-mirror"]
)";

struct RuleCase {
  std::string image;
  std::string rule;  // expected matched_rule, "" for none
};

class RuleChoiceTest : public ::testing::TestWithParam<RuleCase> {};

TEST_P(RuleChoiceTest, MostSpecificPrefixWins) {
  EndpointPlan plan = Plan(GetParam().image, kRules);
  EXPECT_EQ(plan.matched_rule, GetParam().rule) << GetParam().image;
}

INSTANTIATE_TEST_SUITE_P(
    Table, RuleChoiceTest,
    ::testing::Values(RuleCase{"nginx", "docker.io"},
                      RuleCase{"bitnami/redis", "docker.io/bitnami"},
                      RuleCase{"docker.io/bitnami/x/y", "docker.io/bitnami"},
                      RuleCase{"bitnamiextra/x", "docker.io"},
                      RuleCase{"ghcr.io/a/b", "*"},
                      RuleCase{"quay.io:8443/a", "quay.io:8443"},
                      // A rule with a port matches only that port.
                      RuleCase{"quay.io/a", "*"},
                      RuleCase{"quay.io:9443/a", "*"}));

// registries.conf-style `*.domain` rules (issue 13): any subdomain at any
// depth and on any port, never the domain itself; an exact host beats a
// wildcard, a longer wildcard beats a shorter one, and every wildcard beats
// "*".
constexpr char kWildcardRules[] = R"(
[[mirror]]
registry = "*.example.com"
endpoints = ["https://sub-mirror"]

[[mirror]]
registry = "*.b.example.com"
endpoints = ["https://deep-mirror"]

[[mirror]]
registry = "exact.example.com"
endpoints = ["https://exact-mirror"]

[[mirror]]
registry = "*"
endpoints = ["https://any"]
)";

class WildcardRuleTest : public ::testing::TestWithParam<RuleCase> {};

TEST_P(WildcardRuleTest, ExactBeatsSubdomainWildcardBeatsStar) {
  EndpointPlan plan = Plan(GetParam().image, kWildcardRules);
  EXPECT_EQ(plan.matched_rule, GetParam().rule) << GetParam().image;
}

INSTANTIATE_TEST_SUITE_P(
    Table, WildcardRuleTest,
    ::testing::Values(RuleCase{"a.example.com/x", "*.example.com"},
                      RuleCase{"x.y.example.com:5000/x", "*.example.com"},
                      RuleCase{"c.b.example.com/x", "*.b.example.com"},
                      RuleCase{"b.example.com/x", "*.example.com"},
                      RuleCase{"exact.example.com/x", "exact.example.com"},
                      RuleCase{"sub.exact.example.com/x", "*.example.com"},
                      RuleCase{"example.com/x", "*"},
                      RuleCase{"badexample.com/x", "*"},
                      RuleCase{"nginx", "*"}));

TEST(ResolveTest, WildcardRuleUpstreamIsTheImagesOwnRegistry) {
  EndpointPlan plan = Plan("a.example.com:5000/team/app:v1", kWildcardRules);
  EXPECT_THAT(Summary(plan),
              ElementsAre("mirror https://sub-mirror team/app",
                          "upstream https://a.example.com:5000 team/app"));
}

TEST(ResolveTest, NoRuleMeansPassThrough) {
  EndpointPlan plan = Plan("ghcr.io/a/b", R"(
[[mirror]]
registry = "docker.io"
endpoints = ["https://m"]
)");
  EXPECT_FALSE(plan.Matched());
  EXPECT_TRUE(plan.endpoints.empty());
  EXPECT_EQ(plan.reference.Canonical(), "ghcr.io/a/b:latest");
}

TEST(ResolveTest, PathPrefixIsNotAStringPrefix) {
  EndpointPlan plan = Plan("bitnami/x", R"(
[[mirror]]
registry = "docker.io/bit"
endpoints = ["https://m"]
)");
  EXPECT_FALSE(plan.Matched());
}

TEST(ResolveTest, MirrorsInOrderThenDockerHubUpstream) {
  EndpointPlan plan = Plan("nginx:1.25", R"(
[[mirror]]
registry = "docker.io"
endpoints = ["https://mirror.corp.example:5000", "http://127.0.0.1:5001/dockerhub"]
)");
  EXPECT_THAT(
      Summary(plan),
      ElementsAre("mirror https://mirror.corp.example:5000 library/nginx",
                  "mirror http://127.0.0.1:5001 dockerhub/library/nginx",
                  "upstream https://registry-1.docker.io library/nginx"));
  EXPECT_EQ(plan.endpoints[0].host, "mirror.corp.example:5000");
  EXPECT_EQ(plan.endpoints[1].host, "127.0.0.1:5001");
  EXPECT_EQ(plan.endpoints[2].host, "registry-1.docker.io:443");
}

TEST(ResolveTest, DefaultPortsAreExplicitInHost) {
  EndpointPlan plan = Plan("nginx", R"(
[[mirror]]
registry = "docker.io"
endpoints = ["https://a", "http://b", "https://[::1]/x"]
fallback_to_upstream = false
)");
  ASSERT_EQ(plan.endpoints.size(), 3u);
  EXPECT_EQ(plan.endpoints[0].host, "a:443");
  EXPECT_EQ(plan.endpoints[0].base_url, "https://a");
  EXPECT_EQ(plan.endpoints[1].host, "b:80");
  EXPECT_EQ(plan.endpoints[2].host, "[::1]:443");
  EXPECT_EQ(plan.endpoints[2].repository, "x/library/nginx");
}

TEST(ResolveTest, SlashAndV2PathsMeanNoPrefix) {
  EndpointPlan plan = Plan("nginx", R"(
[[mirror]]
registry = "docker.io"
endpoints = ["https://a/", "https://b/v2", "https://c/v2/", "https://d/a/b/"]
fallback_to_upstream = false
)");
  EXPECT_THAT(Summary(plan), ElementsAre("mirror https://a library/nginx",
                                         "mirror https://b library/nginx",
                                         "mirror https://c library/nginx",
                                         "mirror https://d a/b/library/nginx"));
}

TEST(ResolveTest, FallbackFalseHasNoUpstream) {
  EndpointPlan plan = Plan("nginx", R"(
[[mirror]]
registry = "docker.io"
endpoints = ["https://m"]
fallback_to_upstream = false
)");
  EXPECT_THAT(Summary(plan), ElementsAre("mirror https://m library/nginx"));
}

TEST(ResolveTest, OtherRegistryUpstreamKeepsPortAndOriginalRepository) {
  EndpointPlan plan = Plan("docker-registry:5000/mynginx:v1", R"(
[[mirror]]
registry = "docker-registry:5000"
endpoints = ["https://127.0.0.1:5443"]
rewrite = [{ match = "^(.*)$", replace = "cache/\\1" }]
)");
  EXPECT_THAT(Summary(plan),
              ElementsAre("mirror https://127.0.0.1:5443 cache/mynginx",
                          "upstream https://docker-registry:5000 mynginx"));
  EXPECT_EQ(plan.endpoints[1].host, "docker-registry:5000");
  EXPECT_EQ(plan.endpoints[1].kind, EndpointKind::kUpstream);
}

TEST(ResolveTest, UpstreamWithoutPortUses443) {
  EndpointPlan plan = Plan("ghcr.io/a/b", R"(
[[mirror]]
registry = "ghcr.io"
endpoints = ["https://m"]
)");
  EXPECT_EQ(plan.endpoints.back().base_url, "https://ghcr.io");
  EXPECT_EQ(plan.endpoints.back().host, "ghcr.io:443");
}

TEST(ResolveTest, RewritesApplyOnMirrorsOnlyFirstMatchWins) {
  EndpointPlan plan = Plan("nginx", R"(
[[mirror]]
registry = "docker.io"
endpoints = ["https://m/proxy"]
rewrite = [
  { match = "^library/(.*)$", replace = "dockerhub/$1" },
  { match = "^(.*)$", replace = "never/$1" },
]
)");
  EXPECT_THAT(
      Summary(plan),
      ElementsAre("mirror https://m proxy/dockerhub/nginx",  // skipped

                  "upstream https://registry-1.docker.io library/nginx"))
      << ::testing::PrintToString(plan.skipped);
}

TEST(ResolveTest, RewriteThatDoesNotMatchLeavesRepository) {
  EndpointPlan plan = Plan("user/app", R"(
[[mirror]]
registry = "docker.io"
endpoints = ["https://m"]
fallback_to_upstream = false
rewrite = [{ match = "^library/(.*)$", replace = "dockerhub/$1" }]
)");
  EXPECT_THAT(Summary(plan), ElementsAre("mirror https://m user/app"));
}

TEST(ResolveTest, RewriteProducingInvalidNameSkipsEndpoint) {
  EndpointPlan plan = Plan("nginx", R"(
[[mirror]]
registry = "docker.io"
endpoints = ["https://m"]
rewrite = [{ match = "^library/", replace = "UPPER/" }]
)");
  EXPECT_THAT(
      Summary(plan),
      ElementsAre("upstream https://registry-1.docker.io library/nginx"));
  ASSERT_EQ(plan.skipped.size(), 1u);
  EXPECT_THAT(plan.skipped[0], HasSubstr("not a valid name"));
}

constexpr char kTrust[] = R"(
[[mirror]]
registry = "docker.io"
endpoints = ["https://digests:5000", "https://all:5000"]
pull_from_mirror = "digest-only"
resolve_tags = "mirror"
)";

TEST(ResolveTest, TagReferenceSkipsDigestOnlyMirror) {
  EndpointPlan plan = Plan("nginx:1.25", kTrust);
  EXPECT_THAT(
      Summary(plan),
      ElementsAre("upstream https://registry-1.docker.io library/nginx"));
  EXPECT_THAT(
      plan.skipped,
      ElementsAre(
          "https://digests:5000: digest-only mirror skipped for tag reference",
          "https://all:5000: digest-only mirror skipped for tag reference"));
}

TEST(ResolveTest, DigestReferenceUsesDigestOnlyMirror) {
  EndpointPlan plan = Plan("nginx@" + kDigest, kTrust);
  ASSERT_EQ(plan.endpoints.size(), 3u);
  EXPECT_FALSE(plan.endpoints[0].serves_tags);
  EXPECT_TRUE(plan.endpoints[0].serves_digests);
  EXPECT_TRUE(plan.endpoints[2].serves_tags);  // upstream serves everything
  EXPECT_TRUE(plan.skipped.empty());
}

TEST(ResolveTest, TagAndDigestCountsAsDigest) {
  EndpointPlan plan = Plan("nginx:1.25@" + kDigest, kTrust);
  EXPECT_EQ(plan.endpoints.size(), 3u);
}

TEST(ResolveTest, DigestReferenceSkipsTagOnlyMirror) {
  EndpointPlan plan = Plan("nginx@" + kDigest, R"(
[[mirror]]
registry = "docker.io"
endpoints = ["https://tags"]
pull_from_mirror = "tag-only"
fallback_to_upstream = false
)");
  EXPECT_TRUE(plan.endpoints.empty());
  EXPECT_THAT(
      plan.skipped,
      ElementsAre(
          "https://tags: tag-only mirror skipped for digest reference"));
  EndpointPlan tags = Plan("nginx:1", R"(
[[mirror]]
registry = "docker.io"
endpoints = ["https://tags"]
pull_from_mirror = "tag-only"
)");
  ASSERT_EQ(tags.endpoints.size(), 2u);
  EXPECT_TRUE(tags.endpoints[0].serves_tags);
  EXPECT_FALSE(tags.endpoints[0].serves_digests);
}

TEST(ResolveTest, HostSettingsCopiedByHostPort) {
  EndpointPlan plan = Plan("nginx", R"(
[[mirror]]
registry = "docker.io"
endpoints = ["https://mirror.corp:5000", "https://other"]

[host."mirror.corp:5000"]
tls_server_name = "docker-registry"
username = "puller"
password = "s3cret"

[host."registry-1.docker.io:443"]
identity_token = "tok"
)");
  ASSERT_EQ(plan.endpoints.size(), 3u);
  ASSERT_TRUE(plan.endpoints[0].host_settings.has_value());
  EXPECT_EQ(plan.endpoints[0].host_settings->tls_server_name,
            "docker-registry");
  EXPECT_EQ(plan.endpoints[0].host_settings->password.Reveal(), "s3cret");
  EXPECT_FALSE(plan.endpoints[1].host_settings.has_value());
  ASSERT_TRUE(plan.endpoints[2].host_settings.has_value());
  EXPECT_EQ(plan.endpoints[2].host_settings->identity_token.Reveal(), "tok");
}

TEST(ResolveTest, CompiledConfigMatchesResolve) {
  auto config = std::make_shared<const config::Config>(Parse(R"(
[[mirror]]
registry = "docker.io"
endpoints = ["https://m/p", "https://n"]
rewrite = [{ match = "^library/(.*)$", replace = "hub/$1" }]
)"));
  auto compiled = CompiledConfig::Compile(config);
  for (const char* image : {"nginx", "user/app:1", "ghcr.io/x/y"}) {
    Reference ref = *ParseReference(image);
    EndpointPlan a = Resolve(ref, *config);
    EndpointPlan b = compiled->Resolve(ref);
    EXPECT_EQ(Summary(a), Summary(b)) << image;
    EXPECT_EQ(a.matched_rule, b.matched_rule);
    EXPECT_EQ(b.config, config) << image;  // the relay's [host] lookups use it
  }
}

TEST(ResolveTest, BlockedRuleYieldsBlockedPlanWithoutEndpoints) {
  auto parsed = config::ParseConfig(
      "[[mirror]]\nregistry = \"bad.io\"\nblocked = true\n"
      "[[mirror]]\nregistry = \"bad.io/ok\"\nendpoints = [\"https://m\"]\n",
      "c.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EndpointPlan plan = Resolve(*ParseReference("bad.io/x/y:1"), parsed->config);
  EXPECT_TRUE(plan.blocked);
  EXPECT_TRUE(plan.endpoints.empty());
  EXPECT_EQ(plan.rule_origin, "c.toml:1");
  // A more specific rule that is not blocked wins as usual.
  EndpointPlan ok = Resolve(*ParseReference("bad.io/ok/y:1"), parsed->config);
  EXPECT_FALSE(ok.blocked);
  EXPECT_EQ(ok.endpoints.size(), 2u);
}

}  // namespace
}  // namespace crimirror::resolver
