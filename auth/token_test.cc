#include "auth/token.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace crimirror::auth {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);

struct TokenCase {
  std::string name;
  std::string body;
  std::string want_token;
  absl::Time want_expires;
};

class ParseTokenResponseTest : public testing::TestWithParam<TokenCase> {};

TEST_P(ParseTokenResponseTest, Parses) {
  absl::StatusOr<Token> got = ParseTokenResponse(GetParam().body, kNow, "http://realm/token");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->token.Reveal(), GetParam().want_token);
  EXPECT_EQ(got->expires, GetParam().want_expires);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseTokenResponseTest,
    testing::Values(
        TokenCase{"TokenWithExpiry", R"({"token":"abc","expires_in":300})", "abc",
                  kNow + absl::Seconds(300)},
        TokenCase{"AccessTokenOnly", R"({"access_token":"xyz"})", "xyz", kNow + absl::Seconds(60)},
        TokenCase{"EmptyTokenFallsBackToAccessToken", R"({"token":"","access_token":"xyz"})",
                  "xyz", kNow + absl::Seconds(60)},
        TokenCase{"ZeroExpiryMeansDefault", R"({"token":"a","expires_in":0})", "a",
                  kNow + absl::Seconds(60)},
        TokenCase{"NonNumericExpiryMeansDefault", R"({"token":"a","expires_in":"300"})", "a",
                  kNow + absl::Seconds(60)},
        TokenCase{"IssuedAtInThePast", R"({"token":"a","expires_in":300,"issued_at":"2023-11-14T22:12:20Z"})",
                  "a", kNow - absl::Seconds(60) + absl::Seconds(300)},
        TokenCase{"IssuedAtInTheFutureIgnored", R"({"token":"a","expires_in":300,"issued_at":"2099-01-01T00:00:00Z"})",
                  "a", kNow + absl::Seconds(300)},
        TokenCase{"BadIssuedAtIgnored", R"({"token":"a","issued_at":"yesterday"})", "a",
                  kNow + absl::Seconds(60)}),
    [](const auto& p) { return p.param.name; });

class RejectTokenResponseTest : public testing::TestWithParam<std::string> {};

TEST_P(RejectTokenResponseTest, ReturnsInvalidArgumentNamingRealm) {
  absl::StatusOr<Token> got = ParseTokenResponse(GetParam(), kNow, "http://realm/token");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(got.status().message(), testing::HasSubstr("http://realm/token"));
}

INSTANTIATE_TEST_SUITE_P(Table, RejectTokenResponseTest,
                         testing::Values("", "not json", "[1,2]", "\"token\"", "{}",
                                         R"({"token":42})", R"({"token":"a")",
                                         std::string("{\"token\":\"\xff\xfe\"}"),
                                         R"({"token":"a\r\nX-Injected: 1"})",
                                         R"({"access_token":"a\nb"})",
                                         R"({"token":"a\u0000b"})", R"({"token":"a\tb"})",
                                         R"({"token":"a\u007fb"})",
                                         std::string(10000, '[')));

TEST(HasControlBytesTest, FlagsControlBytesOnly) {
  EXPECT_FALSE(HasControlBytes("eyJhbGciOi.JIUzI1NiJ9-_~+/="));
  EXPECT_TRUE(HasControlBytes("a\rb"));
  EXPECT_TRUE(HasControlBytes("a\nb"));
  EXPECT_TRUE(HasControlBytes(std::string_view("a\0b", 3)));
  EXPECT_TRUE(HasControlBytes("a\x7f"));
}

TEST(TokenRequestTest, GetUrlEncodesServiceAndScopes) {
  EXPECT_EQ(TokenGetUrl("https://auth.example/token", "reg istry",
                        {"repository:a/b:pull", "repository:c:pull"}),
            "https://auth.example/token?service=reg%20istry&scope=repository%3Aa%2Fb%3Apull"
            "&scope=repository%3Ac%3Apull");
  EXPECT_EQ(TokenGetUrl("https://a/t?x=1", "", {}), "https://a/t?x=1");
  EXPECT_EQ(TokenGetUrl("https://a/t?x=1", "s", {}), "https://a/t?x=1&service=s");
}

TEST(TokenRequestTest, PostFormCarriesRefreshToken) {
  config::Secret form =
      TokenPostForm("svc", {"repository:a:pull", "repository:b:pull"}, config::Secret("r&t"), "cri-mirror");
  EXPECT_EQ(form.Reveal(),
            "grant_type=refresh_token&refresh_token=r%26t&service=svc"
            "&scope=repository%3Aa%3Apull%20repository%3Ab%3Apull&client_id=cri-mirror");
}

TEST(TokenRequestTest, ScopesHelpers) {
  EXPECT_THAT(SplitScopes(" repository:a:pull  repository:b:pull "),
              testing::ElementsAre("repository:a:pull", "repository:b:pull"));
  EXPECT_EQ(PullScope("library/nginx"), "repository:library/nginx:pull");
}

}  // namespace
}  // namespace crimirror::auth
