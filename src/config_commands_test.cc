#include "src/config_commands.h"

#include <fstream>
#include <iterator>
#include <sstream>
#include <sys/stat.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "config/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace crimirror::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

class ConfigCommandsTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text,
                    mode_t mode = 0600) {
    return dir_.Write(name, text, mode);
  }

  config::testing::TempDir dir_;
  std::ostringstream out_;
  std::ostringstream err_;
};

constexpr char kGood[] = R"(
[[mirror]]
registry = "docker.io"
endpoints = ["https://mirror:5000", "http://127.0.0.1:5001/hub"]

[[mirror]]
registry = "ghcr.io"
endpoints = ["https://g"]

[host."mirror:5000"]
username = "u"
password = "hunter2"
)";

TEST_F(ConfigCommandsTest, CheckConfigPrintsSummary) {
  std::string path = Write("config.toml", kGood);
  EXPECT_EQ(RunCheckConfig(path, out_, err_), 0);
  EXPECT_EQ(out_.str(), path + ": OK: 2 mirror rules, 1 host\n");
  EXPECT_THAT(err_.str(), IsEmpty());
}

TEST_F(ConfigCommandsTest, CheckConfigPrintsEveryError) {
  std::string path =
      Write("config.toml",
            "[server]\nlisten = 1\n[[mirror]]\nregistry = \"x\"\n"
            "endpoints = [\"ftp://m\"]\n");
  EXPECT_EQ(RunCheckConfig(path, out_, err_), 1);
  EXPECT_THAT(out_.str(), IsEmpty());
  EXPECT_THAT(err_.str(), HasSubstr(path + ":2:10: [server].listen"));
  EXPECT_THAT(err_.str(),
              HasSubstr(path + ":5:14: [[mirror]][0].endpoints[0]"));
}

TEST_F(ConfigCommandsTest, CheckConfigWarningsGoToErr) {
  std::string pw = Write("pw", "hunter2\n", 0644);
  std::string path = Write("config.toml",
                           "[host.\"m:1\"]\nusername = \"u\"\n"
                           "password_file = \"" +
                               pw + "\"\n");
  EXPECT_EQ(RunCheckConfig(path, out_, err_), 0);
  EXPECT_THAT(out_.str(), HasSubstr("OK: 0 mirror rules, 1 host"));
  EXPECT_THAT(err_.str(), StartsWith("warning: "));
  EXPECT_THAT(err_.str(), Not(HasSubstr("hunter2")));
}

// Issue 10 defect 12: a password for a plain-http mirror is not silent.
TEST_F(ConfigCommandsTest, CheckConfigWarnsAboutCredentialsOverPlainHttp) {
  std::string path = Write("config.toml",
                           "[[mirror]]\nregistry = \"docker.io\"\n"
                           "endpoints = [\"http://mirror.corp:5000\"]\n\n"
                           "[host.\"mirror.corp:5000\"]\nusername = \"u\"\n"
                           "password = \"hunter2\"\n");
  EXPECT_EQ(RunCheckConfig(path, out_, err_), 0);
  EXPECT_THAT(out_.str(), HasSubstr("OK: 1 mirror rule"));
  EXPECT_THAT(err_.str(), HasSubstr("warning: " + path +
                                    ":5:1: [host.\"mirror.corp:5000\"]: username/password go "
                                    "in clear text to http://mirror.corp:5000"));
  EXPECT_THAT(err_.str(), HasSubstr("make the endpoint https://mirror.corp:5000"));
  EXPECT_THAT(err_.str(), Not(HasSubstr("hunter2")));
}

TEST_F(ConfigCommandsTest, CheckConfigMissingFileFails) {
  EXPECT_EQ(RunCheckConfig(dir_.File("none.toml"), out_, err_), 1);
  EXPECT_THAT(err_.str(), HasSubstr("none.toml"));
}

TEST_F(ConfigCommandsTest, ResolvePrintsPlanText) {
  std::string path = Write("config.toml", kGood);
  EXPECT_EQ(RunResolve("nginx:1.25", path, false, out_, err_), 0);
  EXPECT_EQ(out_.str(),
            "reference: docker.io/library/nginx:1.25\n"
            "rule: docker.io (from " + path + ":2)\n"
            "tags: resolved at trusted endpoints within 3s (resolve_tags = "
            "\"upstream-or-mirror\"), then fetched by digest\n"
            "1. mirror https://mirror:5000 repository=library/nginx "
            "serves=tags,digests host=mirror:5000 credentials=password\n"
            "   credentials from: [host] table\n"
            "2. mirror http://127.0.0.1:5001 repository=hub/library/nginx "
            "serves=tags,digests host=127.0.0.1:5001\n"
            "   credentials from: anonymous\n"
            "3. upstream https://registry-1.docker.io repository=library/nginx "
            "serves=tags,digests host=registry-1.docker.io:443 trusted\n"
            "   credentials from: kubelet AuthConfig (when sent), else anonymous\n");
}

TEST_F(ConfigCommandsTest, ResolvePrintsJson) {
  std::string path = Write("config.toml", kGood);
  EXPECT_EQ(RunResolve("ghcr.io/a/b:1", path, true, out_, err_), 0);
  nlohmann::json j = nlohmann::json::parse(out_.str());
  EXPECT_EQ(j["reference"], "ghcr.io/a/b:1");
  EXPECT_EQ(j["endpoints"].size(), 2u);
  EXPECT_THAT(out_.str(), Not(HasSubstr("hunter2")));
}

// Issue 12: resolve names the source of each endpoint's credentials, never
// the secret.
TEST_F(ConfigCommandsTest, ResolveShowsCredentialSourcesWithoutSecrets) {
  const std::string docker = Write(
      "docker.json",
      R"({"auths": {"mirror:5000": {"username": "du", "password": "docker-secret-1"},
                    "https://index.docker.io/v1/": {"auth": "aHViOmh1Yi1zZWNyZXQtMg=="}}})");
  const std::string path = Write("config.toml", absl::StrCat(R"(
[[mirror]]
registry = "docker.io"
endpoints = ["https://mirror:5000", "https://other:5000", "https://fwd:5000"]

[host."fwd:5000"]
forward_kubelet_credentials = true

[credentials]
docker_config = [")", docker, R"(", "/nonexistent/config.json"]
)"));
  ASSERT_EQ(RunResolve("nginx:1.25", path, false, out_, err_), 0) << err_.str();
  const std::string text = out_.str();
  EXPECT_THAT(text, HasSubstr(absl::StrCat("1. mirror https://mirror:5000 repository=library/nginx "
                                           "serves=tags,digests host=mirror:5000\n"
                                           "   credentials from: docker config ", docker,
                                           " auths \"mirror:5000\"\n")));
  EXPECT_THAT(text, HasSubstr("host=other:5000\n   credentials from: anonymous\n"));
  EXPECT_THAT(text, HasSubstr("credentials=none\n   credentials from: kubelet AuthConfig (when "
                              "sent), else anonymous\n"));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("credentials from: kubelet AuthConfig (when sent), "
                                           "else docker config ", docker,
                                           " auths \"https://index.docker.io/v1/\"\n")));
  out_.str("");
  ASSERT_EQ(RunResolve("nginx:1.25", path, true, out_, err_), 0) << err_.str();
  nlohmann::json j = nlohmann::json::parse(out_.str());
  ASSERT_EQ(j["endpoints"].size(), 4u);
  EXPECT_EQ(j["endpoints"][0]["credential_source"],
            absl::StrCat("docker config ", docker, " auths \"mirror:5000\""));
  EXPECT_EQ(j["endpoints"][1]["credential_source"], "anonymous");
  for (const std::string& captured : {text, out_.str(), err_.str()}) {
    for (const char* secret : {"docker-secret-1", "hub-secret-2", "aHViOmh1Yi1zZWNyZXQtMg"}) {
      EXPECT_THAT(captured, Not(HasSubstr(secret)));
    }
  }
}

TEST_F(ConfigCommandsTest, ResolveRejectsBadImage) {
  std::string path = Write("config.toml", kGood);
  EXPECT_EQ(RunResolve("Nginx", path, false, out_, err_), 1);
  EXPECT_THAT(err_.str(), HasSubstr("must be lowercase"));
  EXPECT_THAT(out_.str(), IsEmpty());
}

TEST_F(ConfigCommandsTest, ResolveWithBrokenConfigFails) {
  std::string path = Write("config.toml", "[[mirror]]\nregistry = 1\n");
  EXPECT_EQ(RunResolve("nginx", path, false, out_, err_), 1);
  EXPECT_THAT(err_.str(), HasSubstr("[[mirror]][0].registry"));
}

TEST_F(ConfigCommandsTest, ResolveWithMissingExplicitConfigFails) {
  EXPECT_EQ(RunResolve("nginx", dir_.File("none.toml"), false, out_, err_), 1);
}

TEST_F(ConfigCommandsTest, ConvertOutputPassesCheckConfig) {
  std::string ca = Write("ca.pem", "not checked for PEM here\n");
  std::string k3s = Write("registries.yaml",
                          "mirrors:\n  docker.io:\n    endpoint: [\"https://m:5000\"]\n"
                          "    rewrite: {\"^library/(.*)\": \"hub/$1\"}\n"
                          "configs:\n  m:5000:\n    auth: {username: u, password: hunter2}\n"
                          "    tls: {ca_file: " + ca + "}\n");
  std::string out_file = dir_.File("out.toml");
  ASSERT_EQ(RunConvert("k3s", k3s, out_file, out_, err_), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("1 mirror rule, 1 host"));
  EXPECT_THAT(out_.str(), Not(HasSubstr("hunter2")));
  EXPECT_EQ(RunCheckConfig(out_file, out_, err_), 0) << err_.str();
  struct stat st;
  ASSERT_EQ(::stat(out_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// Issue 13: stdout is a terminal or a CI log; only --output gets secrets.
TEST_F(ConfigCommandsTest, ConvertKeepsSecretsOffStdout) {
  std::string k3s = Write("registries.yaml",
                          "mirrors:\n  docker.io:\n    endpoint: [\"https://m:5000\"]\n"
                          "configs:\n  m:5000:\n    auth: {username: u, password: hunter2}\n"
                          "  n:5000:\n    auth: {identity_token: tok-s3cret}\n");
  ASSERT_EQ(RunConvert("k3s", k3s, "", out_, err_), 0) << err_.str();
  EXPECT_THAT(out_.str(), Not(HasSubstr("hunter2")));
  EXPECT_THAT(out_.str(), Not(HasSubstr("tok-s3cret")));
  EXPECT_THAT(err_.str(), Not(HasSubstr("hunter2")));
  EXPECT_THAT(out_.str(), HasSubstr("username = \"u\"\n# password = (redacted; use --output FILE)"));
  EXPECT_THAT(out_.str(), HasSubstr("# identity_token = (redacted"));
  EXPECT_THAT(out_.str(), HasSubstr("--output FILE\n# to write them (the file is created mode 0600)"));
  std::string out_file = dir_.File("secret.toml");
  out_.str("");
  ASSERT_EQ(RunConvert("k3s", k3s, out_file, out_, err_), 0) << err_.str();
  EXPECT_THAT(out_.str(), Not(HasSubstr("hunter2")));
  std::ifstream in(out_file);
  std::string written((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(written, HasSubstr("password = \"hunter2\""));
  EXPECT_THAT(written, HasSubstr("identity_token = \"tok-s3cret\""));
  EXPECT_THAT(written, Not(HasSubstr("redacted")));
  struct stat st;
  ASSERT_EQ(::stat(out_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(ConfigCommandsTest, ConvertPrintsNotesAsComments) {
  std::string conf = Write("registries.conf",
                           "unqualified-search-registries = [\"docker.io\"]\n"
                           "[[registry]]\nprefix = \"bad.io\"\nblocked = true\n");
  ASSERT_EQ(RunConvert("registries-conf", conf, "", out_, err_), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("# " + conf + ":1: unqualified-search-registries dropped"));
  EXPECT_THAT(out_.str(), HasSubstr("# from " + conf + ":2\nregistry = \"bad.io\"\nblocked = true"));
  std::string native = Write("native.toml", out_.str());
  EXPECT_EQ(RunCheckConfig(native, out_, err_), 0) << err_.str();
}

TEST_F(ConfigCommandsTest, ConvertFailsWithFileLine) {
  std::string dir = dir_.File("certs.d");
  ::mkdir(dir.c_str(), 0700);
  ::mkdir((dir + "/docker.io").c_str(), 0700);
  Write("certs.d/docker.io/hosts.toml", "[host.\"https://m\"]\ncapabilities = [\"fly\"]\n");
  EXPECT_EQ(RunConvert("containerd-hosts", dir, "", out_, err_), 1);
  EXPECT_THAT(err_.str(), HasSubstr(dir + "/docker.io/hosts.toml:2:16: "));
  EXPECT_EQ(RunConvert("k3s", dir_.File("missing.yaml"), "", out_, err_), 1);
  EXPECT_THAT(err_.str(), HasSubstr("missing.yaml"));
  EXPECT_EQ(RunConvert("yaml", dir, "", out_, err_), 1);
  EXPECT_THAT(err_.str(), HasSubstr("unknown format"));
}

TEST_F(ConfigCommandsTest, ResolveShowsImportedRuleOrigin) {
  std::string k3s = Write("registries.yaml",
                          "mirrors:\n  ghcr.io:\n    endpoint: [\"https://m\"]\n");
  std::string path = Write("config.toml", "[import]\nk3s_registries = \"" + k3s + "\"\n");
  EXPECT_EQ(RunResolve("ghcr.io/a/b:1", path, false, out_, err_), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("rule: ghcr.io (from " + k3s + ":2)"));
}

// A native namespaced rule leaves the imported rule for the same registry in
// force for every other pull (issue 14).
TEST_F(ConfigCommandsTest, ResolveNamespaceShowsTheNamespacedRule) {
  std::string k3s = Write("registries.yaml",
                          "mirrors:\n  ghcr.io:\n    endpoint: [\"https://m\"]\n");
  std::string path = Write("config.toml", "[import]\nk3s_registries = \"" + k3s + "\"\n"
                                          "[[mirror]]\nregistry = \"ghcr.io\"\n"
                                          "namespaces = [\"team-a\"]\n"
                                          "endpoints = [\"https://a\"]\n");
  EXPECT_EQ(RunResolve("ghcr.io/a/b:1", path, false, out_, err_, "team-a"), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("namespace: team-a\nrule: ghcr.io (from " + path +
                                    ":3) namespaces=team-a\n"));
  EXPECT_THAT(out_.str(), HasSubstr("\n1. mirror https://a "));
  out_.str("");
  EXPECT_EQ(RunResolve("ghcr.io/a/b:1", path, false, out_, err_, "team-b"), 0) << err_.str();
  // The imported rule keeps k3s's tag semantics (the first host answers).
  EXPECT_THAT(out_.str(), HasSubstr("rule: ghcr.io (from " + k3s + ":2)\ntags: the first endpoint "
                                    "that answers decides (resolve_tags = \"mirror\")\n"
                                    "1. mirror https://m "));
  out_.str("");
  EXPECT_EQ(RunResolve("ghcr.io/a/b:1", path, true, out_, err_), 0) << err_.str();
  nlohmann::json j = nlohmann::json::parse(out_.str());
  EXPECT_EQ(j["rule_origin"], k3s + ":2");
  EXPECT_TRUE(j["rule_namespaces"].empty());
}

}  // namespace
}  // namespace crimirror::cli
