#include "credentials/provider_response.h"

#include <gtest/gtest.h>

#include "nlohmann/json.hpp"

namespace crimirror::credentials {
namespace {

constexpr char kV1[] = "credentialprovider.kubelet.k8s.io/v1";

TEST(ProviderResponseTest, EncodesTheRequest) {
  const nlohmann::json request =
      nlohmann::json::parse(EncodeProviderRequest(kV1, "registry.io:5000/team/app"));
  EXPECT_EQ(request, nlohmann::json({{"apiVersion", kV1},
                                     {"kind", "CredentialProviderRequest"},
                                     {"image", "registry.io:5000/team/app"}}));
}

TEST(ProviderResponseTest, ParsesAResponse) {
  absl::StatusOr<ProviderResponse> r = ParseProviderResponse(
      R"({"apiVersion": "credentialprovider.kubelet.k8s.io/v1",
          "kind": "CredentialProviderResponse", "cacheKeyType": "Registry",
          "cacheDuration": "1h2m3s", "extra": true,
          "auth": {"https://*.registry.io:5000/v2/": {"username": "u", "password": "p"},
                   "registry.io/team": {"username": "t"},
                   "bad key:port": {"username": "x", "password": "y"}}})",
      kV1);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->cache_key_type, CacheKeyType::kRegistry);
  EXPECT_EQ(r->cache_duration, absl::Hours(1) + absl::Minutes(2) + absl::Seconds(3));
  ASSERT_EQ(r->auth.size(), 2u);  // the unparsable key is dropped, as the kubelet does
  EXPECT_EQ(r->auth[0].pattern, "*.registry.io:5000");
  EXPECT_EQ(r->auth[0].credentials.username, "u");
  EXPECT_EQ(r->auth[0].credentials.password.Reveal(), "p");
  EXPECT_EQ(r->auth[1].pattern, "registry.io/team");
  EXPECT_TRUE(r->auth[1].credentials.password.empty());
}

TEST(ProviderResponseTest, CacheDurationAbsentZeroAndNumberZero) {
  const std::string head = std::string(R"({"apiVersion": ")") + kV1 +
                           R"(", "kind": "CredentialProviderResponse", "cacheKeyType": "Image")";
  absl::StatusOr<ProviderResponse> absent = ParseProviderResponse(head + "}", kV1);
  ASSERT_TRUE(absent.ok()) << absent.status();
  EXPECT_FALSE(absent->cache_duration.has_value());
  EXPECT_TRUE(absent->auth.empty());
  absl::StatusOr<ProviderResponse> zero =
      ParseProviderResponse(head + R"(, "cacheDuration": "0s"})", kV1);
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(zero->cache_duration, absl::ZeroDuration());
  absl::StatusOr<ProviderResponse> number =
      ParseProviderResponse(head + R"(, "cacheDuration": 0, "auth": null})", kV1);
  ASSERT_TRUE(number.ok());
  EXPECT_EQ(number->cache_duration, absl::ZeroDuration());
  absl::StatusOr<ProviderResponse> global = ParseProviderResponse(
      std::string(R"({"apiVersion": ")") + kV1 +
          R"(", "kind": "CredentialProviderResponse", "cacheKeyType": "Global"})",
      kV1);
  ASSERT_TRUE(global.ok());
  EXPECT_EQ(global->cache_key_type, CacheKeyType::kGlobal);
}

TEST(ProviderResponseTest, RejectsBadResponsesWithoutQuotingThem) {
  const std::string v1 = std::string(R"("apiVersion": ")") + kV1 + R"(")";
  const std::string kind = R"("kind": "CredentialProviderResponse")";
  const struct {
    std::string body;
    const char* error;
  } cases[] = {
      {"password=hunter2", "not JSON"},
      {"[\"hunter2\"]", "not a JSON object"},
      {R"({"apiVersion": "credentialprovider.kubelet.k8s.io/v1beta1", )" + kind +
           R"(, "cacheKeyType": "Image"})",
       "apiVersion \"credentialprovider.kubelet.k8s.io/v1beta1\" does not match the request's"},
      {"{" + kind + R"(, "cacheKeyType": "Image"})", "apiVersion missing does not match"},
      {"{" + v1 + R"(, "kind": "Other", "cacheKeyType": "Image"})", "kind \"Other\" is not"},
      {"{" + v1 + ", " + kind + "}", "cacheKeyType missing is not one of"},
      {"{" + v1 + ", " + kind + R"(, "cacheKeyType": "Pod"})", "cacheKeyType \"Pod\" is not one"},
      {"{" + v1 + ", " + kind + R"(, "cacheKeyType": "Image", "cacheDuration": "1d"})",
       "cacheDuration is not a Go duration"},
      {"{" + v1 + ", " + kind + R"(, "cacheKeyType": "Image", "cacheDuration": 60})",
       "cacheDuration must be a duration string"},
      {"{" + v1 + ", " + kind + R"(, "cacheKeyType": "Image", "auth": ["hunter2"]})",
       "auth must be a map"},
      {"{" + v1 + ", " + kind + R"(, "cacheKeyType": "Image", "auth": {"a.io": "hunter2"}})",
       "an auth entry is not a {username, password} map"},
      {"{" + v1 + ", " + kind +
           R"(, "cacheKeyType": "Image", "auth": {"a.io": {"password": ["hunter2"]}}})",
       "username or password is not a string"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<ProviderResponse> r = ParseProviderResponse(c.body, kV1);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_NE(r.status().message().find(c.error), std::string::npos)
        << "want: " << c.error << "\ngot: " << r.status().message();
    EXPECT_EQ(r.status().message().find("hunter2"), std::string::npos) << r.status().message();
  }
}

TEST(ProviderResponseTest, SelectAuthPicksTheMostSpecificMatch) {
  absl::StatusOr<ProviderResponse> r = ParseProviderResponse(
      std::string(R"({"apiVersion": ")") + kV1 + R"(", "kind": "CredentialProviderResponse",
          "cacheKeyType": "Global", "auth": {
            "*.registry.io": {"username": "wild", "password": "1"},
            "a.registry.io": {"username": "host", "password": "2"},
            "a.registry.io/team": {"username": "team", "password": "3"},
            "127.0.0.1:5000": {"username": "port", "password": "4"}}})",
      kV1);
  ASSERT_TRUE(r.ok()) << r.status();
  auto user = [&](const char* image) -> std::string {
    const ProviderAuthEntry* e = SelectAuth(*r, image);
    return e == nullptr ? "none" : e->credentials.username;
  };
  EXPECT_EQ(user("a.registry.io/team/app"), "team");
  EXPECT_EQ(user("a.registry.io/other/app"), "host");
  EXPECT_EQ(user("b.registry.io/team/app"), "wild");
  EXPECT_EQ(user("registry.io/team/app"), "none");
  EXPECT_EQ(user("127.0.0.1:5000/app"), "port");
  EXPECT_EQ(user("127.0.0.1:5001/app"), "none");
}

}  // namespace
}  // namespace crimirror::credentials
