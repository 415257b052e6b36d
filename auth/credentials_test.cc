#include "auth/credentials.h"

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace crimirror::auth {
namespace {

config::HostSettings Host() {
  config::HostSettings host;
  host.host = "mirror:5000";
  return host;
}

TEST(CredentialsFromHostTest, NoCredentialsIsAnonymous) {
  absl::StatusOr<Credentials> got = CredentialsFromHost(Host());
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->empty());
}

TEST(CredentialsFromHostTest, UsernamePasswordGiveBasicPair) {
  config::HostSettings host = Host();
  host.username = "alice";
  host.password = config::Secret("s3cret");
  absl::StatusOr<Credentials> got = CredentialsFromHost(host);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->username, "alice");
  EXPECT_EQ(got->password.Reveal(), "s3cret");
  EXPECT_TRUE(got->has_basic());
}

TEST(CredentialsFromHostTest, AuthIsDecodedAtFirstColon) {
  config::HostSettings host = Host();
  host.auth = config::Secret(absl::Base64Escape("bob:pa:ss"));
  absl::StatusOr<Credentials> got = CredentialsFromHost(host);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->username, "bob");
  EXPECT_EQ(got->password.Reveal(), "pa:ss");
}

TEST(CredentialsFromHostTest, IdentityTokenWins) {
  config::HostSettings host = Host();
  host.username = "u";
  host.password = config::Secret("p");
  host.identity_token = config::Secret("refresh");
  absl::StatusOr<Credentials> got = CredentialsFromHost(host);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->identity_token.Reveal(), "refresh");
  EXPECT_TRUE(got->password.empty());
}

struct BadAuthCase {
  std::string name;
  std::string auth;
};

class BadAuthTest : public testing::TestWithParam<BadAuthCase> {};

TEST_P(BadAuthTest, RejectedWithoutLeakingTheSecret) {
  config::HostSettings host = Host();
  host.auth = config::Secret(GetParam().auth);
  absl::StatusOr<Credentials> got = CredentialsFromHost(host);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(got.status().message(), testing::HasSubstr("[host.\"mirror:5000\"].auth"));
  EXPECT_THAT(got.status().message(), testing::Not(testing::HasSubstr(GetParam().auth)));
}

INSTANTIATE_TEST_SUITE_P(Table, BadAuthTest,
                         testing::Values(BadAuthCase{"NotBase64", "!!!not-base64!!!"},
                                         BadAuthCase{"NoColon", absl::Base64Escape("nocolonhere")}),
                         [](const auto& p) { return p.param.name; });

TEST(AuthorizationTest, BasicAndBearerValues) {
  Credentials c = BasicCredentials("aladdin", config::Secret("opensesame"));
  EXPECT_EQ(BasicAuthorization(c).Reveal(), "Basic YWxhZGRpbjpvcGVuc2VzYW1l");
  EXPECT_EQ(BearerAuthorization(config::Secret("t")).Reveal(), "Bearer t");
}

TEST(FingerprintTest, DiffersPerIdentityAndHidesSecret) {
  Credentials a = BasicCredentials("ab", config::Secret("c"));
  Credentials b = BasicCredentials("a", config::Secret("bc"));
  EXPECT_NE(a.Fingerprint(), b.Fingerprint());
  Credentials token_a;
  token_a.registry_token = config::Secret("t1");
  Credentials token_b;
  token_b.registry_token = config::Secret("t2");
  EXPECT_NE(token_a.Fingerprint(), token_b.Fingerprint());
  EXPECT_FALSE(token_a.empty());
  EXPECT_FALSE(token_a.has_basic());
  EXPECT_EQ(a.Fingerprint(), Credentials(a).Fingerprint());
  EXPECT_EQ(a.Fingerprint().size(), 64u);
  EXPECT_EQ(Credentials{}.Fingerprint(), Credentials{}.Fingerprint());
}

}  // namespace
}  // namespace crimirror::auth
