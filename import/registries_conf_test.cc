#include "import/registries_conf.h"

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

// containers-registries.conf(5), EXAMPLE section, adapted.
constexpr char kConf[] = R"(unqualified-search-registries = ["example.com"]

[[registry]]
prefix = "example.com/foo"
insecure = false
blocked = false
location = "internal-registry-for-example.com/bar"

[[registry.mirror]]
location = "example-mirror-0.local/mirror-for-foo"

[[registry.mirror]]
location = "example-mirror-1.local/mirrors/foo"
insecure = true

[[registry]]
location = "registry.com"

[[registry.mirror]]
location = "mirror.registry.com"
pull-from-mirror = "digest-only"

[[registry]]
prefix = "blocked.example.com"
blocked = true

[aliases]
"fedora" = "registry.fedoraproject.org/fedora"
)";

TEST(RegistriesConfTest, ManPageExample) {
  auto got = ParseRegistriesConf(kConf, "registries.conf");
  ASSERT_TRUE(got.ok()) << got.status();
  const config::MirrorRule* foo = RuleFor(*got, "example.com/foo");
  ASSERT_NE(foo, nullptr);
  EXPECT_THAT(foo->endpoints,
              ElementsAre("https://example-mirror-0.local/mirror-for-foo",
                          "https://example-mirror-1.local/mirrors/foo",
                          "http://example-mirror-1.local/mirrors/foo",
                          "https://internal-registry-for-example.com/bar"));
  EXPECT_FALSE(foo->fallback_to_upstream);
  ASSERT_EQ(foo->rewrite.size(), 1u);
  EXPECT_EQ(foo->rewrite[0].match, "^foo/(.*)$");
  EXPECT_TRUE(got->hosts.at("example-mirror-1.local:443").insecure_skip_verify);
  const config::MirrorRule* reg = RuleFor(*got, "registry.com");
  ASSERT_NE(reg, nullptr);
  EXPECT_THAT(reg->endpoints, ElementsAre("https://mirror.registry.com"));
  EXPECT_TRUE(reg->fallback_to_upstream);
  EXPECT_EQ(reg->pull_from_mirror, config::PullFromMirror::kDigestOnly);
  const config::MirrorRule* blocked = RuleFor(*got, "blocked.example.com");
  ASSERT_NE(blocked, nullptr);
  EXPECT_TRUE(blocked->blocked);
  EXPECT_EQ(blocked->origin, "registries.conf:23");
  EXPECT_TRUE(HasNote(*got, "unqualified-search-registries dropped"));
  EXPECT_TRUE(HasNote(*got, "aliases dropped"));
}

TEST(RegistriesConfTest, DropInReplacesSamePrefix) {
  Imported base = *ParseRegistriesConf(
      "[[registry]]\nprefix = \"r.io\"\nlocation = \"a.io\"\n", "main.conf");
  Imported later = *ParseRegistriesConf(
      "[[registry]]\nprefix = \"r.io\"\nlocation = \"b.io\"\n", "d/1.conf");
  MergeRegistriesConf(std::move(later), &base);
  ASSERT_EQ(base.mirrors.size(), 1u);
  EXPECT_THAT(base.mirrors[0].endpoints, ElementsAre("https://b.io"));
  EXPECT_TRUE(HasNote(base, "replaces the entry"));
}

TEST(RegistriesConfTest, WildcardPrefixesBecomeSubdomainRules) {
  auto got = ParseRegistriesConf(
      "[[registry]]\nprefix = \"*.example.com\"\n"
      "[[registry.mirror]]\nlocation = \"m.io/cache\"\n\n"
      "[[registry]]\nprefix = \"*.corp.example\"\nlocation = \"internal.io\"\n\n"
      "[[registry]]\nprefix = \"*.bad.example\"\nblocked = true\n\n"
      "[[registry]]\nprefix = \"*.insecure.example\"\ninsecure = true\n"
      "[[registry.mirror]]\nlocation = \"n.io\"\n",
      "r.conf");
  ASSERT_TRUE(got.ok()) << got.status();
  const config::MirrorRule* sub = RuleFor(*got, "*.example.com");
  ASSERT_NE(sub, nullptr);
  EXPECT_THAT(sub->endpoints, ElementsAre("https://m.io/cache"));
  EXPECT_TRUE(sub->fallback_to_upstream);  // the image's own registry last
  const config::MirrorRule* moved = RuleFor(*got, "*.corp.example");
  ASSERT_NE(moved, nullptr);
  EXPECT_THAT(moved->endpoints, ElementsAre("https://internal.io"));
  EXPECT_FALSE(moved->fallback_to_upstream);
  const config::MirrorRule* blocked = RuleFor(*got, "*.bad.example");
  ASSERT_NE(blocked, nullptr);
  EXPECT_TRUE(blocked->blocked);
  // insecure names no one host for a wildcard: noted, the mirror kept.
  const config::MirrorRule* insecure = RuleFor(*got, "*.insecure.example");
  ASSERT_NE(insecure, nullptr);
  EXPECT_THAT(insecure->endpoints, ElementsAre("https://n.io"));
  EXPECT_TRUE(insecure->fallback_to_upstream);
  EXPECT_TRUE(HasNote(*got, "insecure of \"*.insecure.example\" dropped"));
  EXPECT_EQ(got->notes.size(), 1u);
}

TEST(RegistriesConfTest, Rejections) {
  testing::ExpectRejected(
      [](const char* text) { return ParseRegistriesConf(text, "r.conf"); },
      {
      {"[registries.search]\nregistries = []\n", "the v1 format"},
      {"[[registry]]\ninsecure = true\n", "r.conf:1:1: [[registry]][0]: needs a prefix"},
      {"[[registry]]\nprefix = \"r.io\"\n[[registry.mirror]]\nlocation = \"m\"\n"
       "pull-from-mirror = \"some\"\n",
       "r.conf:5:20: [[registry]][0].mirror[0].pull-from-mirror"},
      {"[[registry]]\nprefix = 3\n", "[[registry]][0].prefix: expected a string"},
      {"[[registry]]\nprefix = \"bad prefix\"\n", "is not host[:port][/path]"},
      {"[[registry]]\nprefix = \"*.example.com:5000\"\n",
       "r.conf:1:1: [[registry]][0].prefix: \"*.example.com:5000\" is not host[:port][/path]"},
      });
}

}  // namespace
}  // namespace crimirror::importer
