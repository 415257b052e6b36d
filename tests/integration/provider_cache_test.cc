// The kubelet's caching of credential provider answers, end to end (issue
// 12 source 4, pkg/credentialprovider/plugin/plugin.go): a real containerd,
// the cri-mirror binary and two htpasswd docker-registries with different
// users, A holding team/app and team/tool, B holding team/app, both with no
// [host] credentials. The plugin is a shell script that appends each
// CredentialProviderRequest to a file, one line each, and answers with one
// `auth` entry per registry: A under a `*.` wildcard with A's port, B under
// a path prefix with B's port (plus a decoy for B's bare host:port with a
// wrong password, which the path prefix must beat). The registries listen on
// 127.0.0.1, so the wildcard is "*.0.0.1:PORT": the kubelet globs an IP's
// dot-separated parts like a name's labels, and no other name resolves to
// loopback here. The number of lines is
// how often cri-mirror ran the plugin, which the kubelet's rules fix:
//  - Image key: once per repository;
//  - Registry key: once per registry host:port;
//  - Global key: once for every image the provider matches;
//  - cacheDuration "0s": every pull; no cacheDuration: the provider's
//    defaultCacheDuration (0 = not cached), expiring on time.
// cri-mirror asks at most once per endpoint per pull, so each pull is one
// request when nothing is cached. Everything captured is grepped for the
// passwords.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/integration/testbed/gtest_util.h"
#include "tests/integration/testbed/testbed.h"

namespace crimirror::testbed {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kUserA[] = "cache-user-a";
constexpr char kPasswordA[] = "cache-pw-a-5521";
constexpr char kUserB[] = "cache-user-b";
constexpr char kPasswordB[] = "cache-pw-b-9034";
constexpr char kDecoyPassword[] = "cache-decoy-pw-7781";

std::string Port(const Registry& registry) {
  const std::string host_port = registry.HostPort();
  return host_port.substr(host_port.rfind(':') + 1);
}

class ProviderCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TESTBED_SKIP_UNLESS_PREREQUISITES();
    TESTBED_ASSERT_OK_AND_ASSIGN(dir_, TempDir::Create("crimirror-provider-cache"));
    TESTBED_ASSERT_OK_AND_ASSIGN(containerd_, Containerd::Create(dir_->path()));
    TESTBED_ASSERT_OK_AND_ASSIGN(builder_, ImageBuilder::Create(dir_->Join("oci")));
    TESTBED_ASSERT_OK_AND_ASSIGN(relay_port_, FreeLoopbackPort());
    TESTBED_ASSERT_OK_AND_ASSIGN(image_, builder_->BuildImage("img1", ImageOptions{}));
    RegistryOptions a;
    a.name = "registry-a";
    a.htpasswd = RegistryCredentials{kUserA, kPasswordA};
    TESTBED_ASSERT_OK_AND_ASSIGN(
        registry_a_, StartRegistryWithImage(dir_->path(), a, *builder_, "img1", "team/app:v1"));
    PushOptions push;
    push.credentials = a.htpasswd;
    TESTBED_ASSERT_OK(
        builder_->Push("img1", registry_a_->HostPort() + "/team/tool:v1", push).status());
    RegistryOptions b;
    b.name = "registry-b";
    b.htpasswd = RegistryCredentials{kUserB, kPasswordB};
    TESTBED_ASSERT_OK_AND_ASSIGN(
        registry_b_, StartRegistryWithImage(dir_->path(), b, *builder_, "img1", "team/app:v1"));
    TESTBED_ASSERT_OK_AND_ASSIGN(bin_dir_, dir_->MakeSubdir("plugins"));
  }

  // The matchImages (and auth keys) of registry A and of B's team/ path.
  std::string PatternA() const { return "*.0.0.1:" + Port(*registry_a_); }
  std::string PatternB() const { return absl::StrCat("127.0.0.1:", Port(*registry_b_), "/team"); }

  // A plugin NAME answering with `cache_key_type` and `cache_duration`
  // (a Go duration; "" leaves cacheDuration out: nil).
  void Plugin(const std::string& name, const std::string& cache_key_type,
              const std::string& cache_duration) {
    const std::string duration =
        cache_duration.empty() ? "" : absl::StrCat("\"cacheDuration\":\"", cache_duration, "\",");
    const std::string answer = absl::StrCat(
        "{\"apiVersion\":\"credentialprovider.kubelet.k8s.io/v1\",\"kind\":"
        "\"CredentialProviderResponse\",\"cacheKeyType\":\"",
        cache_key_type, "\",", duration, "\"auth\":{\"", PatternA(), "\":{\"username\":\"", kUserA,
        "\",\"password\":\"", kPasswordA, "\"},\"127.0.0.1:", Port(*registry_b_),
        "\":{\"username\":\"", kUserB, "\",\"password\":\"", kDecoyPassword, "\"},\"", PatternB(),
        "\":{\"username\":\"", kUserB, "\",\"password\":\"", kPasswordB, "\"}}}");
    TESTBED_ASSERT_OK(WriteFile(bin_dir_ + "/" + name,
                                absl::StrCat("#!/bin/sh\nrequest=$(cat)\n"
                                             "echo \"$request\" >> \"$0.requests\"\n"
                                             "cat <<'EOF'\n",
                                             answer, "\nEOF\n"),
                                0755));
  }

  // One providers: entry.
  static std::string Provider(const std::string& name, const std::string& match_images,
                              const std::string& default_cache_duration) {
    return absl::StrCat("  - name: ", name, "\n    matchImages: [", match_images,
                        "]\n    defaultCacheDuration: \"", default_cache_duration,
                        "\"\n    apiVersion: credentialprovider.kubelet.k8s.io/v1\n");
  }
  // A provider matching both registries.
  std::string BothRegistries(const std::string& name) const {
    return Provider(name, absl::StrCat("\"", PatternA(), "\", \"", PatternB(), "\""), "10m");
  }

  // Rules a.test -> registry A and b.test -> registry B, no [host]
  // credentials, `providers` in the provider config.
  void StartMirror(const std::string& providers) {
    const std::string provider_config = dir_->Join("credential-provider.yaml");
    TESTBED_ASSERT_OK(WriteFile(
        provider_config,
        "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n" +
            providers));
    CriMirrorOptions options;
    options.binary = CRI_MIRROR_BINARY;
    options.backend = containerd_->Endpoint();
    std::string rules;
    for (const auto& [name, registry] :
         {std::pair{"a.test", registry_a_.get()}, std::pair{"b.test", registry_b_.get()}}) {
      absl::StrAppend(&rules, "[[mirror]]\nregistry = \"", name, "\"\nendpoints = [\"",
                      registry->Url(), "\"]\nfallback_to_upstream = false\n\n");
    }
    options.config_toml =
        absl::StrCat("[server]\nrelay = \"127.0.0.1:", relay_port_, "\"\npull_timeout = \"1m\"\n\n",
                     rules, "[credentials]\nprovider_config = \"", provider_config,
                     "\"\nprovider_bin_dir = \"", bin_dir_, "\"\nprovider_timeout = \"10s\"\n");
    TESTBED_ASSERT_OK_AND_ASSIGN(mirror_, CriMirror::Create(dir_->path(), options));
    TESTBED_ASSERT_OK_AND_ASSIGN(cri_, CriImageClient::Create(mirror_->Endpoint()));
  }

  // Pulls `name` (which must succeed with the plugin's credentials), then
  // removes it.
  void PullAndRemove(const std::string& name) {
    auto pulled = cri_->Pull(name);
    captured_ += pulled.status.error_message();
    ASSERT_TRUE(pulled.ok()) << name << ": " << pulled.status.error_message() << "\n--- log:\n"
                             << mirror_->LogTail(1 << 20);
    EXPECT_EQ(pulled.response.image_ref(), image_.config_digest);
    auto removed = cri_->Remove(name);
    EXPECT_TRUE(removed.ok()) << removed.status.error_message();
  }

  // The requests plugin NAME received, one line each.
  std::string Requests(const std::string& name) const {
    return ReadFile(bin_dir_ + "/" + name + ".requests").value_or("");
  }
  int RequestCount(const std::string& name) const { return CountOf(Requests(name), "\n"); }
  // How the request for `repository` of `registry` reads.
  static std::string RequestFor(const Registry& registry, const std::string& repository) {
    return absl::StrCat("\"image\":\"", registry.HostPort(), "/", repository, "\"");
  }

  void TearDown() override {
    if (mirror_ == nullptr) return;
    captured_ += mirror_->LogTail(1 << 22);
    for (const char* secret : {kPasswordA, kPasswordB, kDecoyPassword}) {
      EXPECT_THAT(captured_, Not(HasSubstr(secret)));
    }
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Containerd> containerd_;
  std::unique_ptr<ImageBuilder> builder_;
  int relay_port_ = 0;
  BuiltImage image_;
  std::unique_ptr<Registry> registry_a_;
  std::unique_ptr<Registry> registry_b_;
  std::string bin_dir_;
  std::unique_ptr<CriMirror> mirror_;
  std::unique_ptr<CriImageClient> cri_;
  std::string captured_;
};

TEST_F(ProviderCacheTest, ImageKeyAsksOncePerRepository) {
  Plugin("image-key", "Image", "10m");
  StartMirror(BothRegistries("image-key"));
  ASSERT_FALSE(HasFatalFailure());
  PullAndRemove("a.test/team/app:v1");
  PullAndRemove("a.test/team/tool:v1");
  PullAndRemove("a.test/team/app:v1");  // cached under a.test's team/app
  EXPECT_EQ(RequestCount("image-key"), 2) << Requests("image-key");
  EXPECT_THAT(Requests("image-key"), HasSubstr(RequestFor(*registry_a_, "team/app")));
  EXPECT_THAT(Requests("image-key"), HasSubstr(RequestFor(*registry_a_, "team/tool")));
  EXPECT_THAT(mirror_->LogTail(1 << 20),
              HasSubstr(absl::StrCat("credentials for ", registry_a_->Url(),
                                     ": credential provider image-key (provider_config ")));
}

TEST_F(ProviderCacheTest, RegistryKeyAsksOncePerRegistry) {
  Plugin("registry-key", "Registry", "10m");
  StartMirror(BothRegistries("registry-key"));
  ASSERT_FALSE(HasFatalFailure());
  PullAndRemove("a.test/team/app:v1");
  PullAndRemove("a.test/team/tool:v1");
  EXPECT_EQ(RequestCount("registry-key"), 1) << Requests("registry-key");
  // Another registry is another key; B's path-prefix entry beats its bare
  // host:port (the decoy, whose password the registry would refuse).
  PullAndRemove("b.test/team/app:v1");
  EXPECT_EQ(RequestCount("registry-key"), 2) << Requests("registry-key");
  EXPECT_THAT(Requests("registry-key"), HasSubstr(RequestFor(*registry_b_, "team/app")));
}

TEST_F(ProviderCacheTest, GlobalKeyAsksOnceForEveryRegistry) {
  Plugin("global-key", "Global", "10m");
  StartMirror(BothRegistries("global-key"));
  ASSERT_FALSE(HasFatalFailure());
  PullAndRemove("a.test/team/app:v1");
  PullAndRemove("a.test/team/tool:v1");
  // Registry B is served from the one cached answer, by its own entry.
  PullAndRemove("b.test/team/app:v1");
  EXPECT_EQ(RequestCount("global-key"), 1) << Requests("global-key");
  EXPECT_THAT(mirror_->LogTail(1 << 20),
              HasSubstr(absl::StrCat("credentials for ", registry_b_->Url(),
                                     ": credential provider global-key (provider_config ")));
}

TEST_F(ProviderCacheTest, ZeroCacheDurationAsksOnEveryPull) {
  Plugin("no-cache", "Registry", "0s");
  StartMirror(BothRegistries("no-cache"));
  ASSERT_FALSE(HasFatalFailure());
  PullAndRemove("a.test/team/app:v1");
  PullAndRemove("a.test/team/tool:v1");
  PullAndRemove("a.test/team/app:v1");
  EXPECT_EQ(RequestCount("no-cache"), 3) << Requests("no-cache");
}

// No cacheDuration in the answer: the provider's defaultCacheDuration
// rules, "0s" meaning not cached, and a short default expires on time.
TEST_F(ProviderCacheTest, NilCacheDurationTakesTheProvidersDefault) {
  Plugin("default-3s", "Registry", "");
  Plugin("default-0s", "Registry", "");
  StartMirror(Provider("default-3s", "\"" + PatternA() + "\"", "3s") +
              Provider("default-0s", "\"" + PatternB() + "\"", "0s"));
  ASSERT_FALSE(HasFatalFailure());
  PullAndRemove("b.test/team/app:v1");
  PullAndRemove("b.test/team/app:v1");
  EXPECT_EQ(RequestCount("default-0s"), 2) << Requests("default-0s");

  const absl::Time before = absl::Now();
  PullAndRemove("a.test/team/app:v1");
  PullAndRemove("a.test/team/tool:v1");
  const absl::Time after = absl::Now();
  const int asked = RequestCount("default-3s");
  // The answer was stored after `before`: a second request before
  // before+3s is certainly a cache hit (pulls this small take well under).
  if (after - before < absl::Seconds(3)) {
    EXPECT_EQ(asked, 1) << Requests("default-3s");
  }
  // It was stored before `after`: past after+3s it has expired.
  absl::SleepFor(absl::Seconds(3) + absl::Milliseconds(200));
  PullAndRemove("a.test/team/app:v1");
  EXPECT_EQ(RequestCount("default-3s"), asked + 1) << Requests("default-3s");
  EXPECT_EQ(RequestCount("default-0s"), 2) << "the other provider was asked";
}

}  // namespace
}  // namespace crimirror::testbed
