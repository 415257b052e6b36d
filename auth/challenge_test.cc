#include "auth/challenge.h"

#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace crimirror::auth {
namespace {

using Params = std::map<std::string, std::string, std::less<>>;

struct Expected {
  AuthScheme scheme;
  std::string scheme_name;
  Params params;
  std::string token68;
};

struct ParseCase {
  std::string name;
  std::string header;
  std::vector<Expected> want;
};

class ParseWwwAuthenticateTest : public testing::TestWithParam<ParseCase> {};

TEST_P(ParseWwwAuthenticateTest, ParsesChallenges) {
  const ParseCase& c = GetParam();
  absl::StatusOr<std::vector<Challenge>> got = ParseWwwAuthenticate(c.header);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), c.want.size());
  for (std::size_t i = 0; i < c.want.size(); ++i) {
    EXPECT_EQ((*got)[i].scheme, c.want[i].scheme) << i;
    EXPECT_EQ((*got)[i].scheme_name, c.want[i].scheme_name) << i;
    EXPECT_EQ((*got)[i].params, c.want[i].params) << i;
    EXPECT_EQ((*got)[i].token68, c.want[i].token68) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseWwwAuthenticateTest,
    testing::Values(
        ParseCase{"DockerHub",
                  R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull")",
                  {{AuthScheme::kBearer, "bearer",
                    {{"realm", "https://auth.docker.io/token"},
                     {"service", "registry.docker.io"},
                     {"scope", "repository:library/nginx:pull"}}, ""}}},
        ParseCase{"Ghcr",
                  R"(Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:user/image:pull")",
                  {{AuthScheme::kBearer, "bearer",
                    {{"realm", "https://ghcr.io/token"}, {"service", "ghcr.io"},
                     {"scope", "repository:user/image:pull"}}, ""}}},
        ParseCase{"HarborMultipleScopesCommaInQuotes",
                  R"(Bearer realm="https://harbor.example/service/token",service="harbor-registry",scope="repository:lib/a:pull,push")",
                  {{AuthScheme::kBearer, "bearer",
                    {{"realm", "https://harbor.example/service/token"},
                     {"service", "harbor-registry"},
                     {"scope", "repository:lib/a:pull,push"}}, ""}}},
        ParseCase{"BasicRealm", R"(Basic realm="Registry Realm")",
                  {{AuthScheme::kBasic, "basic", {{"realm", "Registry Realm"}}, ""}}},
        ParseCase{"BareBasic", "Basic", {{AuthScheme::kBasic, "basic", {}, ""}}},
        ParseCase{"CaseInsensitive", R"(bEaReR REALM="r", Service=s)",
                  {{AuthScheme::kBearer, "bearer", {{"realm", "r"}, {"service", "s"}}, ""}}},
        ParseCase{"EscapedQuotes", R"(Basic realm="say \"hi\" \\ok")",
                  {{AuthScheme::kBasic, "basic", {{"realm", R"(say "hi" \ok)"}}, ""}}},
        ParseCase{"TwoChallenges", R"(Basic realm="a", Bearer realm="b",service="c")",
                  {{AuthScheme::kBasic, "basic", {{"realm", "a"}}, ""},
                   {AuthScheme::kBearer, "bearer", {{"realm", "b"}, {"service", "c"}}, ""}}},
        ParseCase{"BareSchemeThenChallenge", "Negotiate, Basic realm=x",
                  {{AuthScheme::kOther, "negotiate", {}, ""},
                   {AuthScheme::kBasic, "basic", {{"realm", "x"}}, ""}}},
        ParseCase{"Token68", "Negotiate abc+/==, Basic",
                  {{AuthScheme::kOther, "negotiate", {}, "abc+/=="},
                   {AuthScheme::kBasic, "basic", {}, ""}}},
        ParseCase{"SpacesAroundEquals", R"(Bearer realm = "r" , service= s)",
                  {{AuthScheme::kBearer, "bearer", {{"realm", "r"}, {"service", "s"}}, ""}}},
        ParseCase{"EmptyListElements", R"(, Basic realm="a",, , )",
                  {{AuthScheme::kBasic, "basic", {{"realm", "a"}}, ""}}},
        ParseCase{"EmptyQuotedValue", R"(Bearer realm="",error="invalid_token")",
                  {{AuthScheme::kBearer, "bearer", {{"realm", ""}, {"error", "invalid_token"}}, ""}}},
        ParseCase{"RepeatedParamKeepsFirst", "Basic realm=a, realm=b",
                  {{AuthScheme::kBasic, "basic", {{"realm", "a"}}, ""}}}),
    [](const testing::TestParamInfo<ParseCase>& p) { return p.param.name; });

struct RejectCase {
  std::string name;
  std::string header;
};

class RejectWwwAuthenticateTest : public testing::TestWithParam<RejectCase> {};

TEST_P(RejectWwwAuthenticateTest, ReturnsInvalidArgument) {
  absl::StatusOr<std::vector<Challenge>> got = ParseWwwAuthenticate(GetParam().header);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(got.status().message(), testing::HasSubstr("WWW-Authenticate"));
}

INSTANTIATE_TEST_SUITE_P(
    Table, RejectWwwAuthenticateTest,
    testing::Values(RejectCase{"Empty", ""}, RejectCase{"OnlySpaces", "   "},
                    RejectCase{"Unterminated", R"(Bearer realm="abc)"},
                    RejectCase{"DanglingEscape", "Bearer realm=\"abc\\"},
                    RejectCase{"NoValue", "Bearer service=x,realm="},
                    RejectCase{"GarbageAfterValue", R"(Bearer realm="a" junk junk)"},
                    RejectCase{"StartsWithQuote", R"("Bearer")"},
                    RejectCase{"ControlBytes", std::string("Bearer \x01\x02", 9)},
                    RejectCase{"SchemeGluedToQuote", R"(Bearer"x")"}),
    [](const testing::TestParamInfo<RejectCase>& p) { return p.param.name; });

// Issue 10 defect 11: what a registry sent is quoted in an escaped excerpt.
TEST(RejectWwwAuthenticateTest, QuotesAnEscapedExcerptOnly) {
  const std::string header = "Bearer realm=\"" + std::string(100000, 'x') + "\n";
  absl::StatusOr<std::vector<Challenge>> got = ParseWwwAuthenticate(header);
  ASSERT_FALSE(got.ok());
  EXPECT_LT(got.status().message().size(), 500u);
  EXPECT_THAT(got.status().message(), testing::HasSubstr("bytes in all"));
  EXPECT_THAT(got.status().message(), testing::Not(testing::HasSubstr("\n")));
}

TEST(ParseWwwAuthenticateTest, NeverCrashesOnPrefixesOfValidHeaders) {
  const std::string header =
      R"(Bearer realm="https://a/t\"x",service="s, t",scope="repository:x:pull", Basic realm=y)";
  for (std::size_t n = 0; n <= header.size(); ++n) {
    (void)ParseWwwAuthenticate(std::string_view(header).substr(0, n));
  }
  for (int b = 0; b < 256; ++b) {
    std::string mutated = header;
    mutated[static_cast<std::size_t>(b) % mutated.size()] = static_cast<char>(b);
    (void)ParseWwwAuthenticate(mutated);
  }
}

TEST(ParseWwwAuthenticateValuesTest, SkipsBrokenValuesAndKeepsGoodOnes) {
  std::vector<Challenge> got = ParseWwwAuthenticateValues(
      {R"(Bearer realm="broken)", R"(Basic realm="ok")", "Bearer realm=r"});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].scheme, AuthScheme::kBasic);
  EXPECT_EQ(got[1].Param("realm"), "r");
  EXPECT_EQ(got[1].Param("missing"), "");
}

}  // namespace
}  // namespace crimirror::auth
