// Real plugins: shell scripts written to a temp bin dir that behave like
// the kubelet's plugins (JSON request on stdin, JSON answer on stdout), run
// through the provider source as the relay would ask it.
#include "credentials/provider_source.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/time/clock.h"

namespace crimirror::credentials {
namespace {

constexpr char kSecret[] = "pr0vider-s3cret";

// Reads the request, records the image in NAME.runs, then runs `answer`.
std::string Script(const std::string& answer) {
  return "#!/bin/sh\nreq=$(cat)\n"
         "image=$(printf '%s' \"$req\" | sed -n 's/.*\"image\":\"\\([^\"]*\\)\".*/\\1/p')\n"
         "echo \"$image\" >> \"$0.runs\"\n" +
         answer + "\n";
}

// A v1 response printed by the script.
std::string Answer(const std::string& key_type, const std::string& duration,
                   const std::string& auth) {
  std::string body = "{\"apiVersion\":\"credentialprovider.kubelet.k8s.io/v1\","
                     "\"kind\":\"CredentialProviderResponse\",\"cacheKeyType\":\"" +
                     key_type + "\"";
  if (!duration.empty()) body += ",\"cacheDuration\":\"" + duration + "\"";
  body += ",\"auth\":{" + auth + "}}";
  return "cat <<EOF\n" + body + "\nEOF";
}

std::string Entry(const std::string& pattern, const std::string& user) {
  return "\"" + pattern + "\":{\"username\":\"" + user + "\",\"password\":\"" + kSecret + "\"}";
}

std::string Provider(const std::string& name, const std::string& match_images,
                     const std::string& extra = "", const std::string& cache = "1h") {
  return "  - name: " + name + "\n    matchImages: " + match_images +
         "\n    defaultCacheDuration: \"" + cache +
         "\"\n    apiVersion: credentialprovider.kubelet.k8s.io/v1\n" + extra;
}

class ProviderSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/provider-test-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    std::filesystem::create_directory(dir_ + "/bin");
    settings_.provider_config = dir_ + "/providers.yaml";
    settings_.provider_bin_dir = dir_ + "/bin";
    settings_.provider_timeout = absl::Seconds(20);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& path, const std::string& text, int mode) {
    std::ofstream(path, std::ios::trunc) << text;
    ::chmod(path.c_str(), mode);
  }
  void Plugin(const std::string& name, const std::string& answer) {
    Write(dir_ + "/bin/" + name, Script(answer), 0755);
  }
  void Config(const std::string& providers) {
    Write(settings_.provider_config,
          "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n" +
              providers,
          0644);
  }
  std::shared_ptr<const CredentialSource> Source() {
    absl::StatusOr<std::shared_ptr<const CredentialSource>> source =
        NewProviderSource(settings_, [this] { return now_.load(); });
    EXPECT_TRUE(source.ok()) << source.status();
    return source.ok() ? *source : nullptr;
  }
  // The images the plugin was run for, in order.
  std::vector<std::string> Runs(const std::string& name) {
    std::ifstream in(dir_ + "/bin/" + name + ".runs");
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
  static std::string User(const std::shared_ptr<const CredentialSource>& source,
                          const std::string& registry, const std::string& repository) {
    std::optional<FoundCredentials> found = source->Lookup({registry, repository});
    if (!found) return "none";
    EXPECT_EQ(found->credentials.password.Reveal(), kSecret);
    return found->credentials.username;
  }
  void Advance(absl::Duration d) { now_.store(now_.load() + d); }

  std::string dir_;
  config::CredentialsSettings settings_;
  std::atomic<absl::Time> now_{absl::FromUnixSeconds(1'800'000'000)};
};

TEST_F(ProviderSourceTest, NoProviderConfigNoSources) {
  config::CredentialsSettings none;
  absl::StatusOr<std::vector<std::shared_ptr<const CredentialSource>>> sources =
      ProviderSources(none);
  ASSERT_TRUE(sources.ok());
  EXPECT_TRUE(sources->empty());
}

TEST_F(ProviderSourceTest, ImageCacheKeyCachesPerImageAndPassesArgsAndEnv) {
  Plugin("img", Answer("Image", "", Entry("registry.test", "$1-$PLUGIN_USER-$image")));
  Config(Provider("img", "[registry.test]",
                  "    args: [arg]\n    env: [{name: PLUGIN_USER, value: from-env}]\n"));
  auto source = Source();
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(User(source, "registry.test", "team/app"), "arg-from-env-registry.test/team/app");
  EXPECT_EQ(User(source, "registry.test", "team/app"), "arg-from-env-registry.test/team/app");
  EXPECT_EQ(User(source, "registry.test", "team/other"), "arg-from-env-registry.test/team/other");
  EXPECT_EQ(Runs("img"), (std::vector<std::string>{"registry.test/team/app", "registry.test/team/other"}));
  std::optional<FoundCredentials> found = source->Lookup({"registry.test", "team/app"});
  ASSERT_TRUE(found);
  EXPECT_EQ(found->source,
            "credential provider img (provider_config " + settings_.provider_config + ")");
}

TEST_F(ProviderSourceTest, RegistryCacheKeyCachesPerRegistry) {
  Plugin("reg", Answer("Registry", "1h", Entry("*.test", "reg")));
  Config(Provider("reg", "[\"*.test\"]"));
  auto source = Source();
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(User(source, "a.test", "x"), "reg");
  EXPECT_EQ(User(source, "a.test", "y"), "reg");
  EXPECT_EQ(User(source, "b.test", "x"), "reg");
  EXPECT_EQ(Runs("reg"), (std::vector<std::string>{"a.test/x", "b.test/x"}));
}

TEST_F(ProviderSourceTest, GlobalCacheKeyCachesForEveryImage) {
  Plugin("glob", Answer("Global", "1h", Entry("*.test", "g") + "," + Entry("*.other", "o")));
  Config(Provider("glob", "[\"*.test\", \"*.other\"]"));
  auto source = Source();
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(User(source, "a.test", "x"), "g");
  EXPECT_EQ(User(source, "b.other", "y"), "o");
  EXPECT_EQ(User(source, "c.test", "z"), "g");
  EXPECT_EQ(Runs("glob"), std::vector<std::string>{"a.test/x"});
}

TEST_F(ProviderSourceTest, PerPatternAnswersWildcardsAndAPort) {
  Plugin("pat", Answer("Global", "1h",
                       Entry("127.0.0.1:5000", "port") + "," + Entry("*.corp.test", "wild") + "," +
                           Entry("a.corp.test/team", "team") + "," +
                           Entry("https://b.corp.test/v2/", "url")));
  Config(Provider("pat", "[\"127.0.0.1:5000\", \"*.corp.test\"]"));
  auto source = Source();
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(User(source, "127.0.0.1:5000", "app"), "port");
  EXPECT_EQ(User(source, "a.corp.test", "team/app"), "team");
  EXPECT_EQ(User(source, "a.corp.test", "other/app"), "wild");
  EXPECT_EQ(User(source, "b.corp.test", "x"), "url");
  // matchImages does not match: the plugin is not even run.
  EXPECT_EQ(User(source, "127.0.0.1:5001", "app"), "none");
  EXPECT_EQ(User(source, "127.0.0.1", "app"), "none");
  EXPECT_EQ(User(source, "corp.test", "app"), "none");
  EXPECT_EQ(User(source, "x.y.corp.test", "app"), "none");
  EXPECT_EQ(Runs("pat"), std::vector<std::string>{"127.0.0.1:5000/app"});
}

TEST_F(ProviderSourceTest, AnswerWithoutAMatchingEntryGivesNothing) {
  Plugin("miss", Answer("Image", "1h", Entry("elsewhere.test", "x")));
  Config(Provider("miss", "[registry.test]"));
  auto source = Source();
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(User(source, "registry.test", "app"), "none");
}

TEST_F(ProviderSourceTest, FirstProviderWithAnAnswerWins) {
  Plugin("empty", Answer("Image", "1h", ""));
  Plugin("second", Answer("Image", "1h", Entry("registry.test", "second")));
  Config(Provider("empty", "[registry.test]") + Provider("second", "[registry.test]"));
  auto source = Source();
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(User(source, "registry.test", "app"), "second");
}

TEST_F(ProviderSourceTest, CacheExpiresAndDefaultDurationApplies) {
  Plugin("exp", Answer("Image", "10m", Entry("a.test", "u")));
  Plugin("def", Answer("Image", "", Entry("b.test", "u")));
  Config(Provider("exp", "[a.test]") + Provider("def", "[b.test]", "", "30m"));
  auto source = Source();
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(User(source, "a.test", "x"), "u");
  EXPECT_EQ(User(source, "b.test", "x"), "u");
  Advance(absl::Minutes(9));
  EXPECT_EQ(User(source, "a.test", "x"), "u");
  EXPECT_EQ(Runs("exp").size(), 1u);
  Advance(absl::Minutes(2));  // 11m: past the response's 10m
  EXPECT_EQ(User(source, "a.test", "x"), "u");
  EXPECT_EQ(User(source, "b.test", "x"), "u");  // 30m default still holds
  EXPECT_EQ(Runs("exp").size(), 2u);
  EXPECT_EQ(Runs("def").size(), 1u);
  Advance(absl::Minutes(20));
  EXPECT_EQ(User(source, "b.test", "x"), "u");
  EXPECT_EQ(Runs("def").size(), 2u);
}

TEST_F(ProviderSourceTest, CacheDurationZeroRunsThePluginEveryTime) {
  Plugin("zero", Answer("Global", "0s", Entry("a.test", "u")));
  Plugin("nodefault", Answer("Global", "", Entry("b.test", "u")));
  Config(Provider("zero", "[a.test]") + Provider("nodefault", "[b.test]", "", "0s"));
  auto source = Source();
  ASSERT_NE(source, nullptr);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(User(source, "a.test", "x"), "u");
    EXPECT_EQ(User(source, "b.test", "x"), "u");
  }
  EXPECT_EQ(Runs("zero").size(), 3u);
  EXPECT_EQ(Runs("nodefault").size(), 3u);
}

TEST_F(ProviderSourceTest, HangingPluginIsKilledAtTheTimeoutWithOneLogLine) {
  Plugin("hang", "sleep 30");
  Config(Provider("hang", "[a.test]"));
  settings_.provider_timeout = absl::Milliseconds(300);
  auto source = Source();
  ASSERT_NE(source, nullptr);
  testing::internal::CaptureStderr();
  const absl::Time start = absl::Now();
  EXPECT_EQ(User(source, "a.test", "x"), "none");
  EXPECT_EQ(User(source, "a.test", "y"), "none");
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
  const std::string logs = testing::internal::GetCapturedStderr();
  EXPECT_NE(logs.find("credential provider hang (provider_config " + settings_.provider_config +
                      ") for a.test/x: no answer within provider_timeout 300ms (killed)"),
            std::string::npos)
      << logs;
  // The same cause again is not repeated at warning level.
  EXPECT_EQ(logs.find("a.test/y"), std::string::npos) << logs;
}

TEST_F(ProviderSourceTest, GarbageWrongVersionAndFailingPluginsGiveNothingAndNoSecret) {
  Plugin("garbage", std::string("echo 'token ") + kSecret + " oops'");
  Plugin("version", "cat <<EOF\n{\"apiVersion\":\"credentialprovider.kubelet.k8s.io/v1beta1\","
                    "\"kind\":\"CredentialProviderResponse\",\"cacheKeyType\":\"Image\",\"auth\":{" +
                        Entry("b.test", "u") + "}}\nEOF");
  Plugin("fail", "echo 'cannot reach the metadata service' >&2; exit 3");
  Config(Provider("garbage", "[a.test]") + Provider("version", "[b.test]") +
         Provider("fail", "[c.test]"));
  auto source = Source();
  ASSERT_NE(source, nullptr);
  testing::internal::CaptureStderr();
  EXPECT_EQ(User(source, "a.test", "x"), "none");
  EXPECT_EQ(User(source, "b.test", "x"), "none");
  EXPECT_EQ(User(source, "c.test", "x"), "none");
  const std::string logs = testing::internal::GetCapturedStderr();
  EXPECT_NE(logs.find("credential provider garbage (provider_config " + settings_.provider_config +
                      ") for a.test/x: credential provider response: not JSON"),
            std::string::npos)
      << logs;
  EXPECT_NE(logs.find("for b.test/x: credential provider response: apiVersion "
                      "\"credentialprovider.kubelet.k8s.io/v1beta1\" does not match"),
            std::string::npos)
      << logs;
  EXPECT_NE(logs.find("for c.test/x: exited with status 3; stderr: cannot reach the metadata "
                      "service"),
            std::string::npos)
      << logs;
  EXPECT_EQ(logs.find(kSecret), std::string::npos) << logs;
}

TEST_F(ProviderSourceTest, RequireServiceAccountProvidersAreSkippedWithOneLogLine) {
  Plugin("sa", Answer("Image", "1h", Entry("a.test", "sa")));
  Plugin("nosa", Answer("Image", "1h", Entry("a.test", "nosa")));
  const std::string attrs = "    tokenAttributes:\n      serviceAccountTokenAudience: aud\n"
                            "      cacheType: Token\n      requireServiceAccount: ";
  Config(Provider("sa", "[a.test]", attrs + "true\n") +
         Provider("nosa", "[a.test]", attrs + "false\n"));
  testing::internal::CaptureStderr();
  auto source = Source();
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(User(source, "a.test", "x"), "nosa");
  EXPECT_EQ(User(source, "a.test", "y"), "nosa");
  const std::string logs = testing::internal::GetCapturedStderr();
  const std::string line = "credential provider sa (provider_config " + settings_.provider_config +
                           ") skipped: tokenAttributes.requireServiceAccount is true";
  ASSERT_NE(logs.find(line), std::string::npos) << logs;
  EXPECT_EQ(logs.find(line, logs.find(line) + 1), std::string::npos) << logs;
  EXPECT_TRUE(Runs("sa").empty());
}

TEST_F(ProviderSourceTest, MissingBinaryIsAnErrorNamingIt) {
  Config(Provider("absent", "[a.test]"));
  absl::StatusOr<std::vector<std::shared_ptr<const CredentialSource>>> sources =
      ProviderSources(settings_);
  ASSERT_FALSE(sources.ok());
  EXPECT_EQ(sources.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(sources.status().message().find(settings_.provider_config + ":4:5: provider \"absent\": "
                                            "plugin binary " + dir_ + "/bin/absent is missing"),
            std::string::npos)
      << sources.status();
  settings_.provider_config = dir_ + "/nope.yaml";
  sources = ProviderSources(settings_);
  ASSERT_FALSE(sources.ok());
  EXPECT_NE(sources.status().message().find("nope.yaml"), std::string::npos);
}

TEST_F(ProviderSourceTest, ConfigDirectoryIsMergedInNameOrder) {
  std::filesystem::create_directory(dir_ + "/conf.d");
  Plugin("one", Answer("Image", "1h", Entry("a.test", "one")));
  Plugin("two", Answer("Image", "1h", Entry("a.test", "two")));
  const std::string head =
      "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n";
  Write(dir_ + "/conf.d/20-two.yaml", head + Provider("two", "[a.test]"), 0644);
  Write(dir_ + "/conf.d/10-one.json",
        "{\"apiVersion\": \"kubelet.config.k8s.io/v1\", \"kind\": \"CredentialProviderConfig\", "
        "\"providers\": [{\"name\": \"one\", \"matchImages\": [\"a.test\"], "
        "\"defaultCacheDuration\": \"1h\", "
        "\"apiVersion\": \"credentialprovider.kubelet.k8s.io/v1\"}]}",
        0644);
  Write(dir_ + "/conf.d/README", "not a config", 0644);
  settings_.provider_config = dir_ + "/conf.d";
  auto source = Source();
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(User(source, "a.test", "x"), "one");
}

TEST_F(ProviderSourceTest, RewrittenConfigIsReadAgainAndABadOneIsIgnored) {
  Plugin("one", Answer("Image", "1h", Entry("a.test", "one")));
  Plugin("two", Answer("Image", "1h", Entry("a.test", "two")));
  Config(Provider("one", "[a.test]"));
  auto source = Source();
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(User(source, "a.test", "x"), "one");
  Config(Provider("two", "[a.test]"));
  Advance(absl::Seconds(2));
  EXPECT_EQ(User(source, "a.test", "x"), "two");
  testing::internal::CaptureStderr();
  Config(Provider("two", "[a.test]") + "    bogus: 1\n");
  Advance(absl::Seconds(2));
  EXPECT_EQ(User(source, "a.test", "x"), "two");  // the last good providers stay
  Advance(absl::Seconds(2));
  EXPECT_EQ(User(source, "a.test", "x"), "two");
  const std::string logs = testing::internal::GetCapturedStderr();
  const std::string line = "changed but is not used (the last good providers stay)";
  ASSERT_NE(logs.find(line), std::string::npos) << logs;
  EXPECT_EQ(logs.find(line, logs.find(line) + 1), std::string::npos) << logs;
}

TEST_F(ProviderSourceTest, ConcurrentLookupsForOneImageRunThePluginOnce) {
  Plugin("slow", "sleep 1\n" + Answer("Image", "1h", Entry("a.test", "slow")));
  Config(Provider("slow", "[a.test]"));
  auto source = Source();
  ASSERT_NE(source, nullptr);
  std::vector<std::thread> threads;
  std::atomic<int> answered{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      if (source->Lookup({"a.test", "x"})) ++answered;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(answered.load(), 8);
  EXPECT_EQ(Runs("slow").size(), 1u);
}

}  // namespace
}  // namespace crimirror::credentials
