#include "resolver/plan_format.h"

#include <string>

#include "config/parse.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "resolver/resolve.h"

namespace crimirror::resolver {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kConfig[] = R"(
[[mirror]]
registry = "docker.io"
endpoints = ["https://mirror.corp:5000", "http://127.0.0.1:5001/dockerhub", "https://digests"]

[[mirror]]
registry = "ghcr.io"
endpoints = ["https://g"]
pull_from_mirror = "digest-only"
resolve_tags = "mirror"

[host."mirror.corp:5000"]
ca_file = "/etc/ca.pem"
tls_server_name = "docker-registry"
username = "puller"
password = "hunter2"

[host."127.0.0.1:5001"]
auth = "dXNlcjpodW50ZXIy"
ca_file = ["/etc/a.pem", "/etc/b.pem"]

[host."registry-1.docker.io:443"]
identity_token = "hunter2-token"
)";

EndpointPlan Plan(const std::string& image) {
  auto parsed = config::ParseConfig(kConfig, "t.toml");
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return Resolve(*ParseReference(image), parsed->config);
}

TEST(FormatPlanTextTest, OneLinePerEndpoint) {
  std::string text = FormatPlanText(Plan("nginx:1.25"));
  EXPECT_EQ(
      text,
      "reference: docker.io/library/nginx:1.25\n"
      "rule: docker.io (from t.toml:2)\n"
      "tags: resolved at trusted endpoints within 3s (resolve_tags = \"upstream-or-mirror\"), "
      "then fetched by digest\n"
      "1. mirror https://mirror.corp:5000 repository=library/nginx "
      "serves=tags,digests host=mirror.corp:5000 "
      "tls=ca_file,server_name=docker-registry credentials=password\n"
      "2. mirror http://127.0.0.1:5001 repository=dockerhub/library/nginx "
      "serves=tags,digests host=127.0.0.1:5001 tls=ca_file credentials=auth\n"
      "3. mirror https://digests repository=library/nginx "
      "serves=tags,digests host=digests:443\n"
      "4. upstream https://registry-1.docker.io repository=library/nginx "
      "serves=tags,digests host=registry-1.docker.io:443 trusted "
      "credentials=identity_token\n");
}

TEST(FormatPlanTextTest, NoRuleAndSkipped) {
  EXPECT_EQ(FormatPlanText(Plan("quay.io/a/b")),
            "reference: quay.io/a/b:latest\nrule: none (pulled directly from "
            "quay.io)\n");
  std::string text = FormatPlanText(Plan("ghcr.io/a/b:1"));
  EXPECT_THAT(text, HasSubstr("tags: the first endpoint that answers decides"));
  EXPECT_THAT(text, HasSubstr("1. upstream https://ghcr.io repository=a/b"));
  EXPECT_THAT(text, HasSubstr("skipped: https://g: digest-only mirror skipped "
                              "for tag reference\n"));
}

TEST(FormatPlanJsonTest, StructuredAndSecretFree) {
  std::string text = FormatPlanJson(Plan("nginx"));
  EXPECT_THAT(text, Not(HasSubstr("hunter2")));
  EXPECT_THAT(text, Not(HasSubstr("dXNlcjpodW50ZXIy")));
  nlohmann::json j = nlohmann::json::parse(text);
  EXPECT_EQ(j["reference"], "docker.io/library/nginx:latest");
  EXPECT_EQ(j["matched_rule"], "docker.io");
  ASSERT_EQ(j["endpoints"].size(), 4u);
  EXPECT_EQ(j["endpoints"][0]["kind"], "mirror");
  EXPECT_EQ(j["endpoints"][0]["credentials"], "password");
  EXPECT_EQ(j["endpoints"][0]["username"], "puller");
  EXPECT_EQ(j["endpoints"][0]["tls"]["tls_server_name"], "docker-registry");
  EXPECT_EQ(j["endpoints"][0]["tls"]["ca_file"], "/etc/ca.pem");  // one: a string
  EXPECT_EQ(j["endpoints"][1]["repository"], "dockerhub/library/nginx");
  // Several: a list, as in the config.
  EXPECT_EQ(j["endpoints"][1]["tls"]["ca_file"],
            nlohmann::json::array({"/etc/a.pem", "/etc/b.pem"}));
  EXPECT_EQ(j["endpoints"][2]["credentials"], "none");
  EXPECT_EQ(j["endpoints"][3]["kind"], "upstream");
  EXPECT_TRUE(j["skipped"].empty());
}

TEST(FormatPlanJsonTest, NoRuleHasNullRule) {
  nlohmann::json j = nlohmann::json::parse(FormatPlanJson(Plan("quay.io/a/b")));
  EXPECT_TRUE(j["matched_rule"].is_null());
  EXPECT_TRUE(j["endpoints"].empty());
}

}  // namespace
}  // namespace crimirror::resolver
