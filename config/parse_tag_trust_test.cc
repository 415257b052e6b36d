// resolve_tags, resolve_timeout, last_known, [host] trusted and [server]
// state_dir (issue 14): defaults, accepted forms and every rejection.
#include <string>

#include "config/config.h"
#include "config/parse.h"
#include "config/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace crimirror::config {
namespace {

std::string Rule(const std::string& extra) {
  return "[[mirror]]\nregistry = \"docker.io\"\nendpoints = [\"https://m:5000\"]\n" + extra;
}

TEST(ParseTagTrustTest, DefaultsFollowTheUpstream) {
  auto parsed = ParseConfig(Rule("") + "[[mirror]]\nregistry = \"quay.io\"\nendpoints = "
                                       "[\"https://q:5000\"]\nfallback_to_upstream = false\n",
                            "c.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const MirrorRule& keeps = parsed->config.mirrors[0];
  const MirrorRule& air_gapped = parsed->config.mirrors[1];
  EXPECT_FALSE(keeps.resolve_tags.has_value());
  EXPECT_EQ(EffectiveResolveTags(keeps), ResolveTags::kUpstreamOrMirror);
  EXPECT_EQ(EffectiveResolveTags(air_gapped), ResolveTags::kMirror);
  EXPECT_EQ(keeps.resolve_timeout, absl::Seconds(3));
  EXPECT_FALSE(keeps.last_known);
  EXPECT_EQ(parsed->config.server.state_dir, "/var/lib/cri-mirror");
}

TEST(ParseTagTrustTest, AcceptedForms) {
  auto parsed = ParseConfig("[server]\nstate_dir = \"/srv/cri-mirror\"\n" +
                                Rule("resolve_tags = \"upstream\"\nresolve_timeout = \"1500ms\"\n"
                                     "last_known = true\n") +
                                "[[mirror]]\nregistry = \"quay.io\"\nendpoints = "
                                "[\"https://q:5000\"]\nfallback_to_upstream = false\n"
                                "resolve_tags = \"upstream-or-mirror\"\n"
                                "[host.\"q:5000\"]\ntrusted = true\n",
                            "c.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->config.server.state_dir, "/srv/cri-mirror");
  EXPECT_EQ(parsed->config.mirrors[0].resolve_tags, ResolveTags::kUpstream);
  EXPECT_EQ(parsed->config.mirrors[0].resolve_timeout, absl::Milliseconds(1500));
  EXPECT_TRUE(parsed->config.mirrors[0].last_known);
  EXPECT_EQ(parsed->config.mirrors[1].resolve_tags, ResolveTags::kUpstreamOrMirror);
  EXPECT_TRUE(parsed->config.FindHost("q:5000")->trusted);
}

TEST(ParseTagTrustTest, Rejections) {
  struct Case {
    std::string toml;
    std::string error;
  } cases[] = {
      {Rule("resolve_tags = \"registry\"\n"),
       "c.toml:4:16: [[mirror]][0].resolve_tags: \"registry\" is not a mode; use \"upstream\", "
       "\"upstream-or-mirror\" or \"mirror\""},
      {Rule("resolve_tags = true\n"), "[[mirror]][0].resolve_tags: expected a string"},
      {Rule("resolve_timeout = \"0s\"\n"), "[[mirror]][0].resolve_timeout:"},
      {Rule("resolve_timeout = 3\n"), "[[mirror]][0].resolve_timeout:"},
      {Rule("last_known = \"yes\"\n"), "[[mirror]][0].last_known: expected a boolean"},
      {Rule("fallback_to_upstream = false\nresolve_tags = \"upstream\"\n"),
       "c.toml:5:16: [[mirror]][0].resolve_tags: needs a trusted endpoint to resolve tags at, "
       "and this rule has none (fallback_to_upstream = false, no [host] with trusted = true); "
       "keep the upstream, mark a mirror's [host] trusted = true, or use \"mirror\""},
      {Rule("fallback_to_upstream = false\nresolve_tags = \"upstream-or-mirror\"\n"),
       "needs a trusted endpoint"},
      {Rule("") + "[host.\"m:5000\"]\ntrusted = 1\n", "[host.\"m:5000\"].trusted: expected a boolean"},
      {"[server]\nstate_dir = \"var/lib\"\n",
       "[server].state_dir: \"var/lib\" must be an absolute path; write e.g. "
       "\"/var/lib/cri-mirror\""},
      {Rule("resolve_tag = \"upstream\"\n"),
       "[[mirror]][0].resolve_tag: unknown key; did you mean \"resolve_tags\"?"},
  };
  for (const Case& c : cases) testing::ExpectRejected(c.toml, c.error);
}

}  // namespace
}  // namespace crimirror::config
