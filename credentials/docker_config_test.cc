#include "credentials/docker_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/escaping.h"

namespace crimirror::credentials {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kFile[] = "/etc/config.json";

RegistryKey Image(const std::string& image) { return *ParseRegistryKey(image); }

TEST(ParseDockerConfigTest, ReadsEveryKindOfAuthsEntry) {
  const std::string text = R"({
    "auths": {
      "https://index.docker.io/v1/": {"auth": ")" + absl::Base64Escape("hub:hub-pw") + R"("},
      "registry.example:5000": {"username": "u", "password": "p"},
      "oauth.example": {"username": "o", "identitytoken": "refresh", "auth": ")" +
                           absl::Base64Escape("x:y") + R"("},
      "bearer.example": {"registrytoken": "bearer"},
      "placeholder.example": {},
      "email.example": {"auth": ")" + absl::Base64Escape("e:f") + R"(", "email": "a@b"}
    },
    "credHelpers": {"gcr.io": "gcloud", "https://ecr.example": "ecr-login"},
    "credsStore": "desktop"
  })";
  absl::StatusOr<DockerConfig> config = ParseDockerConfig(text, kFile);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->problems.empty());
  EXPECT_EQ(config->auths.size(), 5u);
  EXPECT_EQ(config->creds_store, "desktop");

  const DockerAuthEntry* hub = MatchAuth(*config, Image("docker.io/library/nginx"));
  ASSERT_NE(hub, nullptr);
  EXPECT_EQ(hub->key, "https://index.docker.io/v1/");
  EXPECT_EQ(hub->credentials.username, "hub");
  EXPECT_EQ(hub->credentials.password.Reveal(), "hub-pw");

  const DockerAuthEntry* basic = MatchAuth(*config, Image("registry.example:5000/a/b"));
  ASSERT_NE(basic, nullptr);
  EXPECT_EQ(basic->credentials.username, "u");
  EXPECT_EQ(basic->credentials.password.Reveal(), "p");
  EXPECT_EQ(MatchAuth(*config, Image("registry.example/a/b")), nullptr);

  const DockerAuthEntry* oauth = MatchAuth(*config, Image("oauth.example/a"));
  ASSERT_NE(oauth, nullptr);
  EXPECT_EQ(oauth->credentials.username, "o");
  EXPECT_EQ(oauth->credentials.identity_token.Reveal(), "refresh");
  EXPECT_TRUE(oauth->credentials.password.empty());

  const DockerAuthEntry* bearer = MatchAuth(*config, Image("bearer.example/a"));
  ASSERT_NE(bearer, nullptr);
  EXPECT_EQ(bearer->credentials.registry_token.Reveal(), "bearer");

  EXPECT_EQ(MatchAuth(*config, Image("placeholder.example/a")), nullptr);

  const DockerHelperEntry* gcr = MatchHelper(*config, Image("gcr.io/p/app"));
  ASSERT_NE(gcr, nullptr);
  EXPECT_EQ(gcr->helper, "gcloud");
  const DockerHelperEntry* ecr = MatchHelper(*config, Image("ecr.example/app"));
  ASSERT_NE(ecr, nullptr);
  EXPECT_EQ(ecr->helper, "ecr-login");
  EXPECT_EQ(MatchHelper(*config, Image("quay.io/app")), nullptr);
}

TEST(ParseDockerConfigTest, MostSpecificKeyWins) {
  absl::StatusOr<DockerConfig> config = ParseDockerConfig(R"({"auths": {
      "registry.example": {"username": "host", "password": "1"},
      "registry.example/team": {"username": "team", "password": "2"},
      "registry.example/team/app": {"username": "app", "password": "3"}}})",
                                                          kFile);
  ASSERT_TRUE(config.ok());
  struct Case {
    std::string image, user;
  } cases[] = {{"registry.example/team/app", "app"},
               {"registry.example/team/app/sub", "app"},
               {"registry.example/team/other", "team"},
               {"registry.example/teamx", "host"},
               {"registry.example/x", "host"}};
  for (const Case& c : cases) {
    const DockerAuthEntry* entry = MatchAuth(*config, Image(c.image));
    ASSERT_NE(entry, nullptr) << c.image;
    EXPECT_EQ(entry->credentials.username, c.user) << c.image;
  }
}

TEST(ParseDockerConfigTest, AnEmptyOrMinimalFileIsFine) {
  for (const char* text : {"{}", R"({"auths": {}})", R"({"auths": null, "credsStore": ""})",
                           R"({"HttpHeaders": {"User-Agent": "x"}, "psFormat": "t"})"}) {
    absl::StatusOr<DockerConfig> config = ParseDockerConfig(text, kFile);
    ASSERT_TRUE(config.ok()) << text << ": " << config.status();
    EXPECT_TRUE(config->auths.empty());
    EXPECT_TRUE(config->creds_store.empty());
  }
}

TEST(ParseDockerConfigTest, RejectsFilesThatAreNotADockerConfig) {
  struct Case {
    std::string text, message;
  } cases[] = {
      {R"({"auths": {"r": {"auth": "c2VjcmV0LXZhbHVl")", "not valid JSON"},
      {"[1, 2]", "not a JSON object"},
      {R"({"auths": ["secret-value"]})", "auths must be an object"},
      {R"({"credHelpers": "secret-value"})", "credHelpers must be an object"},
      {R"({"credsStore": 5})", "credsStore must be a string"},
      {"", "not valid JSON"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<DockerConfig> config = ParseDockerConfig(c.text, kFile);
    ASSERT_FALSE(config.ok()) << c.text;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(config.status().message(), HasSubstr(kFile));
    EXPECT_THAT(config.status().message(), HasSubstr(c.message));
    EXPECT_THAT(config.status().message(), Not(HasSubstr("secret-value")));
    EXPECT_THAT(config.status().message(), Not(HasSubstr("c2VjcmV0LXZhbHVl")));
  }
}

TEST(ParseDockerConfigTest, BadEntriesAreSkippedNamingFileAndKey) {
  struct Case {
    std::string text, message;
  } cases[] = {
      {R"({"auths": {"bad.example": {"auth": "!!secret-value!!"}}})",
       R"(/etc/config.json: auths "bad.example": auth is not base64)"},
      {R"({"auths": {"bad.example": {"auth": ")" + absl::Base64Escape("secret-value") + R"("}}})",
       R"(auths "bad.example": auth does not decode to "username:password")"},
      {R"({"auths": {"bad.example": {"password": 5}}})", "is not a string"},
      {R"({"auths": {"bad.example": "secret-value"}})", "is not an object"},
      {R"({"auths": {"ftp://bad.example": {"username": "u", "password": "secret-value"}}})",
       R"(auths "ftp://bad.example": registry key)"},
      {R"({"credHelpers": {"bad.example": "../../bin/sh"}})",
       R"(credHelpers "bad.example": the helper must be a plain name)"},
      {R"({"credHelpers": {"bad.example": "-rf"}})", "plain name"},
      {R"({"credsStore": "/bin/sh"})", "credsStore must be a plain name"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<DockerConfig> config = ParseDockerConfig(c.text, kFile);
    ASSERT_TRUE(config.ok()) << c.text << ": " << config.status();
    ASSERT_EQ(config->problems.size(), 1u) << c.text;
    EXPECT_THAT(config->problems[0], HasSubstr(c.message));
    EXPECT_THAT(config->problems[0], Not(HasSubstr("secret-value")));
    EXPECT_TRUE(config->auths.empty());
    EXPECT_TRUE(config->cred_helpers.empty());
    EXPECT_TRUE(config->creds_store.empty());
  }
}

TEST(IsValidHelperNameTest, AllowsPlainNamesOnly) {
  for (const char* name : {"desktop", "ecr-login", "gcloud", "osxkeychain", "a.b_c-1"}) {
    EXPECT_TRUE(IsValidHelperName(name)) << name;
  }
  for (const char* name : {"", "-x", "a/b", "a b", "a;b", "$(x)"}) {
    EXPECT_FALSE(IsValidHelperName(name)) << name;
  }
}

}  // namespace
}  // namespace crimirror::credentials
