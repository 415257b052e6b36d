#include "import/load.h"

#include <sys/stat.h>

#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "config/config_store.h"
#include "config/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "import/to_toml.h"

namespace crimirror::importer {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using config::testing::TempDir;

TEST(LoadTest, FormatNames) {
  EXPECT_EQ(*ParseFormat("k3s"), Format::kK3s);
  EXPECT_FALSE(ParseFormat("yaml").ok());
}

TEST(LoadTest, NativeRuleWinsOverImported) {
  TempDir dir;
  std::string k3s = dir.Write("registries.yaml",
                              "mirrors:\n  docker.io:\n    endpoint: [\"https://a\"]\n"
                              "  ghcr.io:\n    endpoint: [\"https://b\"]\n");
  std::string path = dir.Write("config.toml",
                               "[[mirror]]\nregistry = \"docker.io\"\n"
                               "endpoints = [\"https://native\"]\n"
                               "[import]\nk3s_registries = \"" + k3s + "\"\n");
  auto got = LoadConfigWithImports(path);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->config.mirrors.size(), 2u);
  EXPECT_EQ(got->config.mirrors[0].endpoints[0], "https://native");
  EXPECT_EQ(got->config.mirrors[1].registry, "ghcr.io");
  EXPECT_EQ(got->config.mirrors[1].origin, k3s + ":4");
  bool said = false;
  for (const auto& w : got->warnings) said |= absl::StrContains(w.message, "wins over");
  EXPECT_TRUE(said);
  EXPECT_EQ(got->config.watched_paths.size(), 1u);
}

TEST(LoadTest, BadImportFailsTheLoad) {
  TempDir dir;
  std::string k3s = dir.Write("registries.yaml", "mirrors: [\n");
  std::string path =
      dir.Write("config.toml", "[import]\nk3s_registries = \"" + k3s + "\"\n");
  auto got = LoadConfigWithImports(path);
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(std::string(got.status().message()),
              HasSubstr("[import].k3s_registries: " + k3s + ":"));
}

TEST(LoadTest, ImportedUnreadableCaFileIsAnError) {
  TempDir dir;
  std::string k3s = dir.Write(
      "registries.yaml",
      "configs:\n  m:5000:\n    tls:\n      ca_file: /nonexistent/ca.pem\n");
  std::string path =
      dir.Write("config.toml", "[import]\nk3s_registries = \"" + k3s + "\"\n");
  auto got = LoadConfigWithImports(path);
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(std::string(got.status().message()), HasSubstr("/nonexistent/ca.pem"));
}

TEST(ToTomlTest, ConvertedTextParsesAsNativeConfig) {
  Imported imported;
  config::MirrorRule rule;
  rule.registry = "docker.io";
  rule.endpoints = {"https://m:5000/x"};
  rule.fallback_to_upstream = false;
  rule.pull_from_mirror = config::PullFromMirror::kDigestOnly;
  rule.rewrite = {{"^a\\\\\"(.*)$", "$1"}};
  rule.origin = "f:1";
  imported.mirrors.push_back(rule);
  config::MirrorRule blocked;
  blocked.registry = "bad.io";
  blocked.blocked = true;
  blocked.origin = "f:9";
  imported.mirrors.push_back(blocked);
  imported.hosts["m:5000"].host = "m:5000";
  imported.hosts["m:5000"].username = "u";
  imported.hosts["m:5000"].password = config::Secret("p\"w");
  imported.notes.push_back({"f:3", "header dropped\nsecond line"});
  std::string text = ToNativeToml(imported, "converted", Secrets::kInclude);
  auto parsed = config::ParseConfig(text, "out.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << text;
  EXPECT_EQ(parsed->config.mirrors[0].rewrite[0].match, "^a\\\\\"(.*)$");
  EXPECT_TRUE(parsed->config.mirrors[1].blocked);
  EXPECT_EQ(parsed->config.hosts.at("m:5000").password.Reveal(), "p\"w");
  EXPECT_THAT(text, HasSubstr("# f:3: header dropped\n# second line\n"));
}

TEST(ToNativeTomlTest, RedactedTextNamesEverySecretKeyButNoValue) {
  Imported imported;
  for (const char* key : {"a:1", "b:1", "c:1"}) imported.hosts[key].host = key;
  imported.hosts["a:1"].username = "u";
  imported.hosts["a:1"].password = config::Secret("hunter2");
  imported.hosts["b:1"].auth = config::Secret("dTpzM2NyZXQ=");
  imported.hosts["c:1"].identity_token = config::Secret("tok-secret");
  imported.hosts["c:1"].ca_files = {"/etc/a.pem", "/etc/b.pem"};
  std::string text = ToNativeToml(imported, "converted", Secrets::kRedact);
  for (const char* secret : {"hunter2", "dTpzM2NyZXQ=", "tok-secret"}) {
    EXPECT_THAT(text, Not(HasSubstr(secret))) << text;
  }
  EXPECT_THAT(text, HasSubstr("--output FILE"));
  EXPECT_THAT(text, HasSubstr("mode 0600"));
  for (const char* key : {"password", "auth", "identity_token"}) {
    EXPECT_THAT(text, HasSubstr(absl::StrCat("\n# ", key, " = (redacted"))) << key;
  }
  EXPECT_THAT(text, HasSubstr("ca_file = [\"/etc/a.pem\", \"/etc/b.pem\"]\n"));
  // Still a config: the secrets are comments.
  auto parsed = config::ParseConfig(text, "out.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << text;
  EXPECT_TRUE(parsed->config.hosts.at("a:1").password.empty());
  EXPECT_EQ(parsed->config.hosts.at("c:1").ca_files, imported.hosts["c:1"].ca_files);
  // No secrets: no hint.
  Imported plain;
  plain.hosts["a:1"].host = "a:1";
  EXPECT_THAT(ToNativeToml(plain, "", Secrets::kRedact), Not(HasSubstr("--output")));
}

template <typename F>
bool WaitFor(F condition) {
  for (int i = 0; i < 500; ++i) {  // 10 s
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

TEST(ImportWatchTest, ChangedImportAppliesAndBadImportKeepsLastGood) {
  TempDir dir;
  TempDir k3s_dir;  // another directory: its own watch
  std::string k3s = k3s_dir.Write(
      "registries.yaml", "mirrors:\n  ghcr.io:\n    endpoint: [\"https://a\"]\n");
  std::string path =
      dir.Write("config.toml", "[import]\nk3s_registries = \"" + k3s + "\"\n");
  auto store = config::ConfigStore::Create(path, false, LoadConfigWithImports);
  ASSERT_TRUE(store.ok()) << store.status();
  auto watcher = config::ConfigWatcher::Create(store->get(), nullptr,
                                               absl::Milliseconds(20));
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  auto first_endpoint = [&] {
    config::ConfigPtr c = (*store)->Current();
    return c->mirrors.empty() ? std::string() : c->mirrors[0].endpoints[0];
  };
  EXPECT_EQ(first_endpoint(), "https://a");
  k3s_dir.ReplaceByRename("registries.yaml",
                          "mirrors:\n  ghcr.io:\n    endpoint: [\"https://b\"]\n");
  EXPECT_TRUE(WaitFor([&] { return first_endpoint() == "https://b"; }));
  k3s_dir.ReplaceByRename("registries.yaml", "mirrors: [\n");
  EXPECT_FALSE((*store)->Reload().ok());
  EXPECT_EQ(first_endpoint(), "https://b");
}

TEST(ImportWatchTest, CertsDirHostsTomlChangeApplies) {
  TempDir dir;
  TempDir certs;
  ::mkdir(certs.File("ghcr.io").c_str(), 0700);
  certs.Write("ghcr.io/hosts.toml", "[host.\"https://a\"]\n");
  std::string path = dir.Write(
      "config.toml", "[import]\ncontainerd_hosts_dir = \"" + certs.path() + "\"\n");
  auto store = config::ConfigStore::Create(path, false, LoadConfigWithImports);
  ASSERT_TRUE(store.ok()) << store.status();
  auto watcher = config::ConfigWatcher::Create(store->get(), nullptr,
                                               absl::Milliseconds(20));
  ASSERT_TRUE(watcher.ok());
  certs.ReplaceByRename("ghcr.io/hosts.toml", "[host.\"https://c\"]\n");
  EXPECT_TRUE(WaitFor([&] {
    config::ConfigPtr c = (*store)->Current();
    return !c->mirrors.empty() && c->mirrors[0].endpoints[0] == "https://c";
  }));
}

}  // namespace
}  // namespace crimirror::importer
