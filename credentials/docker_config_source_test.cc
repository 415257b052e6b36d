#include "credentials/docker_config_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "credentials/test_helper_dir.h"

namespace crimirror::credentials {
namespace {

using ::testing::HasSubstr;

std::shared_ptr<const CredentialSource> SourceFor(const std::string& path) {
  config::CredentialsSettings settings;
  settings.docker_config = {path};
  settings.helper_timeout = absl::Seconds(10);
  std::vector<std::shared_ptr<const CredentialSource>> sources = DockerConfigSources(settings);
  EXPECT_EQ(sources.size(), 1u);
  return sources.at(0);
}

std::string Auths(const std::string& key, const std::string& user, const std::string& pass) {
  return absl::StrCat(R"({"auths": {")", key, R"(": {"auth": ")",
                      absl::Base64Escape(user + ":" + pass), R"("}}})");
}

TEST(DockerConfigSourceTest, OneSourcePerFileInOrder) {
  config::CredentialsSettings settings;
  settings.docker_config = {"/a", "/b"};
  EXPECT_EQ(DockerConfigSources(settings).size(), 2u);
  EXPECT_TRUE(DockerConfigSources(config::CredentialsSettings{}).empty());
}

TEST(DockerConfigSourceTest, AuthsEntryAnswersWithItsKeyAsSource) {
  testing::HelperDir dir;
  const std::string path = dir.Write("config.json", Auths("https://index.docker.io/v1/", "u", "p"));
  auto source = SourceFor(path);
  std::optional<FoundCredentials> found = source->Lookup({"docker.io", "library/nginx"});
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->credentials.username, "u");
  EXPECT_EQ(found->credentials.password.Reveal(), "p");
  EXPECT_EQ(found->source, absl::StrCat("docker config ", path,
                                        " auths \"https://index.docker.io/v1/\""));
  EXPECT_FALSE(source->Lookup({"quay.io", "library/nginx"}).has_value());
}

TEST(DockerConfigSourceTest, MissingFileAnswersNoneAndIsReadOnceItAppears) {
  testing::HelperDir dir;
  const std::string path = dir.dir() + "/later.json";
  auto source = SourceFor(path);
  EXPECT_FALSE(source->Lookup({"r.example:5000", "a"}).has_value());
  dir.Write(path, Auths("r.example:5000", "u", "p"));
  EXPECT_TRUE(source->Lookup({"r.example:5000", "a"}).has_value());
}

TEST(DockerConfigSourceTest, ChangedFileIsReRead) {
  testing::HelperDir dir;
  const std::string path = dir.Write("config.json", Auths("r.example:5000", "old", "p"));
  auto source = SourceFor(path);
  ASSERT_EQ(source->Lookup({"r.example:5000", "a"})->credentials.username, "old");
  // A rename over the file (new inode), as config managers do.
  dir.Write(dir.dir() + "/next.json", Auths("r.example:5000", "newer", "p"));
  std::filesystem::rename(dir.dir() + "/next.json", path);
  ASSERT_EQ(source->Lookup({"r.example:5000", "a"})->credentials.username, "newer");
  // A bad edit: none (logged), then a fix applies again.
  dir.Write(path, "{ not json");
  EXPECT_FALSE(source->Lookup({"r.example:5000", "a"}).has_value());
  dir.Write(path, Auths("r.example:5000", "fixed-user", "p"));
  ASSERT_EQ(source->Lookup({"r.example:5000", "a"})->credentials.username, "fixed-user");
}

TEST(DockerConfigSourceTest, CredHelpersThenCredsStore) {
  testing::HelperDir dir;
  dir.AddHelper("per-host", R"(read s; printf '{"Username":"helper-user","Secret":"hs"}')");
  dir.AddHelper("store", R"(read s; [ "$s" = "https://index.docker.io/v1/" ] || exit 1
printf '{"Username":"<token>","Secret":"refresh"}')");
  const std::string path = dir.Write("config.json", R"({
      "auths": {"https://index.docker.io/v1/": {}},
      "credHelpers": {"r.example:5000": "per-host"},
      "credsStore": "store"})");
  auto source = SourceFor(path);
  std::optional<FoundCredentials> helper = source->Lookup({"r.example:5000", "a"});
  ASSERT_TRUE(helper.has_value());
  EXPECT_EQ(helper->credentials.username, "helper-user");
  EXPECT_EQ(helper->source, absl::StrCat("docker config ", path,
                                         " credHelpers \"r.example:5000\" (docker-credential-per-host)"));
  std::optional<FoundCredentials> store = source->Lookup({"docker.io", "library/nginx"});
  ASSERT_TRUE(store.has_value());
  EXPECT_EQ(store->credentials.identity_token.Reveal(), "refresh");
  EXPECT_EQ(store->source,
            absl::StrCat("docker config ", path, " credsStore (docker-credential-store)"));
  // The store has nothing for this one (exit 1): none.
  EXPECT_FALSE(source->Lookup({"quay.io", "a"}).has_value());
}

TEST(DockerConfigSourceTest, FailingHelperAnswersNone) {
  testing::HelperDir dir;
  dir.AddHelper("broken", "echo garbage");
  const std::string path = dir.Write("config.json", R"({"credHelpers": {"r.example": "broken"},
      "credsStore": "missing-store"})");
  auto source = SourceFor(path);
  EXPECT_FALSE(source->Lookup({"r.example", "a"}).has_value());
  EXPECT_FALSE(source->Lookup({"other.example", "a"}).has_value());
}

TEST(DockerConfigSourceTest, ConcurrentLookupsAreSafe) {
  testing::HelperDir dir;
  const std::string path = dir.Write("config.json", Auths("r.example", "u", "p"));
  auto source = SourceFor(path);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 50; ++j) EXPECT_TRUE(source->Lookup({"r.example", "a"}).has_value());
    });
  }
  for (std::thread& t : threads) t.join();
}

}  // namespace
}  // namespace crimirror::credentials
