// Foreign registry configs imported live (issue 13): the configurations of
// the seeds' guides (MicroK8s containerd template, k3s registries.yaml, a
// containerd certs.d directory, a registries.conf), adapted to loopback, are
// named by [import] in cri-mirror's config and used for real pulls through
// cri-mirror with a real containerd (whose own config stays untouched) and
// real docker-registry instances. Also: a blocked registry never reaches
// containerd, and a change to an imported file applies without restart.

#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/integration/testbed/gtest_util.h"
#include "tests/integration/testbed/testbed.h"

namespace crimirror::testbed {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class ForeignConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TESTBED_SKIP_UNLESS_PREREQUISITES();
    TESTBED_ASSERT_OK_AND_ASSIGN(dir_, TempDir::Create("crimirror-import"));
    TESTBED_ASSERT_OK_AND_ASSIGN(containerd_, Containerd::Create(dir_->path()));
    TESTBED_ASSERT_OK_AND_ASSIGN(builder_, ImageBuilder::Create(dir_->Join("oci")));
    TESTBED_ASSERT_OK_AND_ASSIGN(relay_port_, FreeLoopbackPort());
    TESTBED_ASSERT_OK_AND_ASSIGN(containerd_config_, ReadFile(containerd_->config_path()));
  }

  void TearDown() override {
    if (containerd_ != nullptr) {
      EXPECT_EQ(ReadFile(containerd_->config_path()).value_or(""), containerd_config_)
          << "containerd's config was changed";
    }
  }

  // Starts cri-mirror whose config holds only [server] and `import_toml`.
  void StartMirror(const std::string& import_toml) {
    CriMirrorOptions options;
    options.binary = CRI_MIRROR_BINARY;
    options.backend = containerd_->Endpoint();
    options.config_toml = absl::StrCat("[server]\nrelay = \"127.0.0.1:", relay_port_,
                                       "\"\n\n[import]\n", import_toml);
    TESTBED_ASSERT_OK_AND_ASSIGN(mirror_, CriMirror::Create(dir_->path(), options));
    TESTBED_ASSERT_OK_AND_ASSIGN(cri_, CriImageClient::Create(mirror_->Endpoint()));
  }

  std::string Logs() const {
    return absl::StrCat("\n--- cri-mirror log:\n", mirror_ ? mirror_->LogTail() : "",
                        "\n--- containerd log:\n", containerd_->LogTail(3000));
  }

  // A registry with `options` holding `repo_tag` (image built from `seed`).
  std::unique_ptr<Registry> RegistryWith(const RegistryOptions& options, const PushOptions& push,
                                         const std::string& repo_tag, uint64_t seed,
                                         BuiltImage* built) {
    auto registry = Registry::Create(dir_->path(), options);
    EXPECT_TRUE(registry.ok()) << registry.status();
    if (!registry.ok()) return nullptr;
    ImageOptions image;
    image.seed = seed;
    const std::string layout_tag = absl::StrCat("img", seed);
    auto image_built = builder_->BuildImage(layout_tag, image);
    EXPECT_TRUE(image_built.ok()) << image_built.status();
    if (!image_built.ok()) return nullptr;
    *built = *image_built;
    auto pushed = builder_->Push(layout_tag, (*registry)->HostPort() + "/" + repo_tag, push);
    EXPECT_TRUE(pushed.ok()) << pushed.status();
    return *std::move(registry);
  }

  std::unique_ptr<Registry> HttpRegistryWith(const std::string& name, const std::string& repo_tag,
                                             uint64_t seed, BuiltImage* built) {
    RegistryOptions options;
    options.name = name;
    return RegistryWith(options, PushOptions(), repo_tag, seed, built);
  }

  // `cri-mirror convert --from format path --output F` succeeds and F passes
  // `cri-mirror check-config` (the one-off path of the same seed config).
  void ExpectConverts(const std::string& format, const std::string& path) {
    const std::string out = dir_->Join("converted-" + format + ".toml");
    TESTBED_ASSERT_OK(RunCommandOk({CRI_MIRROR_BINARY, "convert", "--from", format, path,
                                    "--output", out},
                                   dir_->Join("convert-" + format))
                          .status());
    TESTBED_ASSERT_OK_AND_ASSIGN(
        CommandResult checked,
        RunCommand({CRI_MIRROR_BINARY, "check-config", "--config", out},
                   dir_->Join("check-" + format)));
    EXPECT_EQ(checked.exit_code, 0) << checked.stderr_text;
    EXPECT_THAT(checked.stderr_text + checked.stdout_text, Not(HasSubstr("s3cret-pw")));
    // Without --output the TOML goes to stdout, never with a secret.
    TESTBED_ASSERT_OK_AND_ASSIGN(
        CommandResult printed, RunCommand({CRI_MIRROR_BINARY, "convert", "--from", format, path},
                                          dir_->Join("print-" + format)));
    EXPECT_EQ(printed.exit_code, 0) << printed.stderr_text;
    EXPECT_THAT(printed.stderr_text + printed.stdout_text, Not(HasSubstr("s3cret-pw")));
  }

  // The one-off path (ExpectConverts), then cri-mirror importing `path`
  // live under the [import] key of `format`.
  void ConvertThenImport(const std::string& format, const std::string& path) {
    ExpectConverts(format, path);
    const std::map<std::string, std::string> keys = {
        {"containerd-config", "containerd_config"},
        {"containerd-hosts", "containerd_hosts_dir"},
        {"k3s", "k3s_registries"},
        {"registries-conf", "registries_conf"}};
    StartMirror(absl::StrCat(keys.at(format), " = \"", path, "\"\n"));
  }

  void ExpectPulled(const std::string& image, const BuiltImage& built) {
    auto pulled = cri_->Pull(image);
    ASSERT_TRUE(pulled.ok()) << image << ": " << pulled.status.error_message() << Logs();
    EXPECT_EQ(pulled.response.image_ref(), built.config_digest);
    EXPECT_TRUE(cri_->HasImage(image));
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Containerd> containerd_;
  std::unique_ptr<ImageBuilder> builder_;
  std::unique_ptr<CriMirror> mirror_;
  std::unique_ptr<CriImageClient> cri_;
  std::string containerd_config_;
  int relay_port_ = 0;
};

// MicroK8s' containerd-template.toml: an insecure (http) registry reached
// under a name by a CRI registry.mirrors entry.
TEST_F(ForeignConfigTest, MicroK8sTemplateMirrorForInsecureRegistry) {
  BuiltImage image;
  auto registry = HttpRegistryWith("microk8s", "app:v1", 1, &image);
  ASSERT_NE(registry, nullptr);
  const std::string tmpl = dir_->Join("containerd-template.toml");
  TESTBED_ASSERT_OK(WriteFile(
      tmpl,
      absl::StrCat("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n"
                   "  config_path = \"\"\n"
                   "[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors."
                   "\"myregistry.local:32000\"]\n  endpoint = [\"",
                   registry->Url(), "\"]\n"),
      0644));
  ConvertThenImport("containerd-config", tmpl);
  ExpectPulled("myregistry.local:32000/app:v1", image);
}

// k3s' private-registry guide: a TLS registry with a CA file and
// username/password (htpasswd), reached through a mirror name.
TEST_F(ForeignConfigTest, K3sRegistriesYamlWithTlsCaAndPassword) {
  TESTBED_ASSERT_OK_AND_ASSIGN(
      auto ca, TestCa::Create(dir_->Join("pki"), TestCaOptions{"docker-registry", {"IP:127.0.0.1"}}));
  RegistryOptions options;
  options.name = "k3s-private";
  options.tls = RegistryTls{ca->server_cert_path(), ca->server_key_path(), ""};
  options.htpasswd = RegistryCredentials{"puller", "s3cret-pw"};
  PushOptions push;
  push.credentials = options.htpasswd;
  BuiltImage image;
  auto registry = RegistryWith(options, push, "team/app:v1", 2, &image);
  ASSERT_NE(registry, nullptr);
  const std::string yaml = dir_->Join("registries.yaml");
  TESTBED_ASSERT_OK(WriteFile(
      yaml,
      absl::StrCat("mirrors:\n  registry.k3s.example:\n    endpoint:\n      - \"",
                   registry->Url(), "\"\nconfigs:\n  \"", registry->HostPort(),
                   "\":\n    auth:\n      username: puller\n      password: s3cret-pw\n"
                   "    tls:\n      ca_file: ", ca->ca_cert_path(), "\n"),
      0600));
  ConvertThenImport("k3s", yaml);
  ExpectPulled("registry.k3s.example/team/app:v1", image);
  EXPECT_THAT(mirror_->LogTail(100000), Not(HasSubstr("s3cret-pw")));
}

// containerd's certs.d: the first host is dead (nothing listens), the second
// serves; the registry itself (server) is never needed.
TEST_F(ForeignConfigTest, CertsDirWhoseFirstHostIsDead) {
  BuiltImage image;
  auto registry = HttpRegistryWith("certsd", "app:v1", 3, &image);
  ASSERT_NE(registry, nullptr);
  TESTBED_ASSERT_OK_AND_ASSIGN(int dead_port, FreeLoopbackPort());
  const std::string certs = dir_->Join("certs.d");
  ASSERT_EQ(::mkdir(certs.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((certs + "/hosts.example:5000").c_str(), 0755), 0);
  TESTBED_ASSERT_OK(WriteFile(
      certs + "/hosts.example:5000/hosts.toml",
      absl::StrCat("server = \"https://hosts.example:5000\"\n\n"
                   "[host.\"http://127.0.0.1:", dead_port,
                   "\"]\n  capabilities = [\"pull\", \"resolve\"]\n\n[host.\"",
                   registry->Url(), "\"]\n  capabilities = [\"pull\", \"resolve\"]\n"),
      0644));
  ConvertThenImport("containerd-hosts", certs);
  ExpectPulled("hosts.example:5000/app:v1", image);
}

// certs.d hosts.toml `ca` as a list (issue 13): the TLS registry's CA is the
// second file, after an unrelated CA; every file is trusted, as containerd
// does, so the pull succeeds. The list is given relative to the host
// directory, as containerd resolves it.
TEST_F(ForeignConfigTest, CertsDirCaListWhoseSecondFileIsTheRegistryCa) {
  TESTBED_ASSERT_OK_AND_ASSIGN(
      auto other, TestCa::Create(dir_->Join("pki-other"), TestCaOptions{"other-registry", {}}));
  TESTBED_ASSERT_OK_AND_ASSIGN(
      auto ca, TestCa::Create(dir_->Join("pki"), TestCaOptions{"docker-registry", {"IP:127.0.0.1"}}));
  RegistryOptions options;
  options.name = "certsd-tls";
  options.tls = RegistryTls{ca->server_cert_path(), ca->server_key_path(), ""};
  BuiltImage image;
  auto registry = RegistryWith(options, PushOptions(), "app:v1", 6, &image);
  ASSERT_NE(registry, nullptr);
  const std::string certs = dir_->Join("certs.d");
  const std::string host_dir = certs + "/tls.example:5000";
  ASSERT_EQ(::mkdir(certs.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(host_dir.c_str(), 0755), 0);
  TESTBED_ASSERT_OK_AND_ASSIGN(std::string registry_ca, ReadFile(ca->ca_cert_path()));
  TESTBED_ASSERT_OK(WriteFile(host_dir + "/registry-ca.pem", registry_ca, 0644));
  TESTBED_ASSERT_OK(WriteFile(
      host_dir + "/hosts.toml",
      absl::StrCat("server = \"https://tls.example:5000\"\n\n[host.\"", registry->Url(),
                   "\"]\n  capabilities = [\"pull\", \"resolve\"]\n  ca = [\"",
                   other->ca_cert_path(), "\", \"registry-ca.pem\"]\n"),
      0644));
  ConvertThenImport("containerd-hosts", certs);
  ExpectPulled("tls.example:5000/app:v1", image);
}

// registries.conf: a prefix mapped to a location with a path, a blocked
// registry refused before containerd sees it, and an edit of the file that
// applies without restarting cri-mirror.
TEST_F(ForeignConfigTest, RegistriesConfPrefixLocationBlockedAndLiveChange) {
  BuiltImage image;
  auto registry = HttpRegistryWith("conf", "mirror/team/app:v1", 4, &image);
  ASSERT_NE(registry, nullptr);
  const std::string conf = dir_->Join("registries.conf");
  const std::string body = absl::StrCat(
      "unqualified-search-registries = [\"docker.io\"]\n\n"
      "[[registry]]\nprefix = \"corp.example/team\"\nlocation = \"",
      registry->HostPort(), "/mirror/team\"\ninsecure = true\n\n");
  TESTBED_ASSERT_OK(WriteFile(
      conf, body + "[[registry]]\nprefix = \"blocked.example\"\nblocked = true\n", 0644));
  ConvertThenImport("registries-conf", conf);
  ExpectPulled("corp.example/team/app:v1", image);

  auto refused = cri_->Pull("blocked.example/evil/app:v1");
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(refused.status.error_message(), HasSubstr("blocked.example"));
  EXPECT_THAT(refused.status.error_message(), HasSubstr(conf + ":"));
  EXPECT_THAT(containerd_->LogTail(1 << 20), Not(HasSubstr("blocked.example")));

  // Block the prefix too; no restart.
  const std::string edited = conf + ".new";
  TESTBED_ASSERT_OK(WriteFile(
      edited,
      "[[registry]]\nprefix = \"corp.example/team\"\nblocked = true\n", 0644));
  ASSERT_EQ(::rename(edited.c_str(), conf.c_str()), 0);
  absl::Status applied = WaitFor(
      [&] {
        return cri_->Pull("corp.example/team/app:v1").status.error_code() ==
               grpc::StatusCode::PERMISSION_DENIED;
      },
      absl::Seconds(20), "the edited registries.conf to apply");
  EXPECT_TRUE(applied.ok()) << applied << Logs();
}

// registries.conf `*.domain` prefixes (issue 13): a mirror for every
// registry below corp.example, and every registry below evil.example
// blocked; the images' own registries do not exist.
TEST_F(ForeignConfigTest, RegistriesConfWildcardPrefixes) {
  BuiltImage image;
  auto registry = HttpRegistryWith("wildcard", "cache/team/app:v1", 7, &image);
  ASSERT_NE(registry, nullptr);
  const std::string conf = dir_->Join("registries.conf");
  TESTBED_ASSERT_OK(WriteFile(
      conf,
      absl::StrCat("[[registry]]\nprefix = \"*.corp.example\"\n[[registry.mirror]]\n"
                   "location = \"", registry->HostPort(), "/cache\"\ninsecure = true\n\n"
                   "[[registry]]\nprefix = \"*.evil.example\"\nblocked = true\n"),
      0644));
  ConvertThenImport("registries-conf", conf);
  ExpectPulled("a.b.corp.example/team/app:v1", image);
  auto refused = cri_->Pull("x.evil.example/app:v1");
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(refused.status.error_message(), HasSubstr("*.evil.example"));
}

// A native `[[mirror]] blocked = true` (issues 13 and 14): the pull of an
// image a real registry holds is refused, and neither containerd nor the
// registry ever sees a request for it.
TEST_F(ForeignConfigTest, NativeBlockedRuleRefusesBeforeAnyBackendCall) {
  BuiltImage image;
  auto registry = HttpRegistryWith("blocked", "app:v1", 5, &image);
  ASSERT_NE(registry, nullptr);
  const std::string before = registry->LogTail(1 << 20);
  StartMirror(absl::StrCat("\n[[mirror]]\nregistry = \"", registry->HostPort(),
                           "\"\nblocked = true\n"));
  auto refused = cri_->Pull(registry->HostPort() + "/app:v1");
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(refused.status.error_message(), HasSubstr("config.toml:"));
  EXPECT_FALSE(cri_->HasImage(registry->HostPort() + "/app:v1"));
  EXPECT_THAT(containerd_->LogTail(1 << 20), Not(HasSubstr(registry->HostPort() + "/v2/app")));
  const std::string after = registry->LogTail(1 << 20);
  EXPECT_THAT(after.substr(std::min(before.size(), after.size())), Not(HasSubstr("/v2/app/")))
      << "the registry was contacted";
}

}  // namespace
}  // namespace crimirror::testbed
