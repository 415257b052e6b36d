// Plans for resolve_tags (issue 14): the mode and timeout a plan carries,
// which endpoints are trusted, and digest-only mirrors kept for tag pulls
// once tags are resolved at a trusted endpoint.
#include <memory>
#include <string>

#include "config/parse.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "resolver/plan_format.h"
#include "resolver/resolve.h"

namespace crimirror::resolver {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

EndpointPlan PlanFor(const std::string& toml, const std::string& image) {
  absl::StatusOr<config::ParsedConfig> parsed = config::ParseConfig(toml, "t.toml");
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  absl::StatusOr<Reference> ref = ParseReference(image);
  EXPECT_TRUE(ref.ok()) << ref.status();
  return Resolve(*ref, parsed.ok() ? parsed->config : config::Config());
}

constexpr char kDigest[] =
    "@sha256:0123456789012345678901234567890123456789012345678901234567890123";

TEST(ResolveTagTrustTest, Table) {
  struct Case {
    const char* name;
    std::string toml;
    std::string image;
    config::ResolveTags mode;
    bool resolves;
    int endpoints;
    int trusted;  // index of the first trusted endpoint, -1 none
  } cases[] = {
      {"default with upstream", "[[mirror]]\nregistry = \"docker.io\"\nendpoints = [\"https://m\"]\n",
       "nginx:1", config::ResolveTags::kUpstreamOrMirror, true, 2, 1},
      {"default air-gapped",
       "[[mirror]]\nregistry = \"docker.io\"\nendpoints = [\"https://m\"]\n"
       "fallback_to_upstream = false\n",
       "nginx:1", config::ResolveTags::kMirror, false, 1, -1},
      {"digest reference resolves nothing",
       "[[mirror]]\nregistry = \"docker.io\"\nendpoints = [\"https://m\"]\n",
       std::string("nginx") + kDigest, config::ResolveTags::kUpstreamOrMirror, false, 2, 1},
      {"digest-only mirror kept for a tag",
       "[[mirror]]\nregistry = \"docker.io\"\nendpoints = [\"https://m\"]\n"
       "pull_from_mirror = \"digest-only\"\nresolve_tags = \"upstream\"\n",
       "nginx:1", config::ResolveTags::kUpstream, true, 2, 1},
      {"digest-only mirror dropped with resolve_tags = mirror",
       "[[mirror]]\nregistry = \"docker.io\"\nendpoints = [\"https://m\"]\n"
       "pull_from_mirror = \"digest-only\"\nresolve_tags = \"mirror\"\n",
       "nginx:1", config::ResolveTags::kMirror, false, 1, 0},
      {"trusted mirror host",
       "[[mirror]]\nregistry = \"docker.io\"\nendpoints = [\"https://m\", \"https://t:5000\"]\n"
       "fallback_to_upstream = false\nresolve_tags = \"upstream\"\n"
       "[host.\"t:5000\"]\ntrusted = true\n",
       "nginx:1", config::ResolveTags::kUpstream, true, 2, 1},
      {"last_known alone resolves",
       "[[mirror]]\nregistry = \"docker.io\"\nendpoints = [\"https://m\"]\n"
       "fallback_to_upstream = false\nlast_known = true\n",
       "nginx:1", config::ResolveTags::kMirror, true, 1, -1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EndpointPlan plan = PlanFor(c.toml, c.image);
    EXPECT_EQ(plan.resolve_tags, c.mode);
    EXPECT_EQ(plan.ResolvesTag(), c.resolves);
    ASSERT_EQ(static_cast<int>(plan.endpoints.size()), c.endpoints);
    int first_trusted = -1;
    for (std::size_t i = 0; i < plan.endpoints.size(); ++i) {
      if (plan.endpoints[i].trusted) {
        first_trusted = static_cast<int>(i);
        break;
      }
    }
    EXPECT_EQ(first_trusted, c.trusted);
  }
}

TEST(ResolveTagTrustTest, DigestOnlyMirrorServesOnlyTheDigestOfAResolvedTag) {
  EndpointPlan plan = PlanFor(
      "[[mirror]]\nregistry = \"docker.io\"\nendpoints = [\"https://m\"]\n"
      "pull_from_mirror = \"digest-only\"\nresolve_tags = \"upstream\"\n",
      "nginx:1");
  ASSERT_EQ(plan.endpoints.size(), 2u);
  EXPECT_FALSE(plan.endpoints[0].serves_tags);
  EXPECT_TRUE(plan.endpoints[0].serves_digests);
  EXPECT_THAT(plan.skipped, IsEmpty());
}

TEST(ResolveTagTrustTest, ResolveShowsHowTheTagIsDecided) {
  EndpointPlan plan = PlanFor(
      "[[mirror]]\nregistry = \"docker.io\"\nendpoints = [\"https://m\"]\n"
      "resolve_tags = \"upstream\"\nresolve_timeout = \"2s\"\nlast_known = true\n",
      "nginx:1");
  const std::string text = FormatPlanText(plan, {});
  EXPECT_THAT(text, HasSubstr("tags: resolved at trusted endpoints within 2s (resolve_tags = "
                              "\"upstream\"), then fetched by digest; a mirror's answer must "
                              "match the last digest a trusted endpoint gave (last_known)"));
  EXPECT_THAT(text, HasSubstr("upstream https://registry-1.docker.io repository=library/nginx "
                              "serves=tags,digests host=registry-1.docker.io:443 trusted"));
  const std::string json = FormatPlanJson(plan, {});
  EXPECT_THAT(json, HasSubstr("\"resolve_tags\": \"upstream\""));
  EXPECT_THAT(json, HasSubstr("\"trusted\": true"));
}

}  // namespace
}  // namespace crimirror::resolver
