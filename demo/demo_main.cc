// cri-mirror-demo: the self-contained demonstration run by scripts/demo.sh.
//
// On loopback only, in a temporary directory, it starts a real containerd
// (its config has no registry section at all), a real docker-registry with
// TLS from a freshly made self-signed CA (name "docker-registry") and
// htpasswd auth, pushes a small image there as docker-registry:5000/mynginx:v1,
// starts cri-mirror with one mirror rule, and pulls the image through
// cri-mirror's CRI socket as a kubelet would. Then it shows that containerd
// knows the image under its original name, and cleans everything up.
#include <unistd.h>

#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/integration/testbed/testbed.h"

namespace tb = crimirror::testbed;

namespace {

void Step(const std::string& text) { std::cout << "==> " << text << std::endl; }

int Fail(const std::string& what, const std::string& detail) {
  std::cerr << "demo FAILED: " << what << "\n" << detail << std::endl;
  return 1;
}

std::string MirrorConfig(const tb::Registry& registry, const tb::TestCa& ca,
                         const std::string& password_file) {
  return absl::StrCat(R"([server]
relay = "127.0.0.1:0"

[[mirror]]
registry = "docker-registry:5000"
endpoints = ["https://)", registry.HostPort(), R"("]
fallback_to_upstream = false

[host.")", registry.HostPort(), R"("]
ca_file = ")", ca.ca_cert_path(), R"("
tls_server_name = "docker-registry"
username = "puller"
password_file = ")", password_file, "\"\n");
}

int RunDemo() {
  if (::geteuid() != 0) return Fail("run as root", "containerd needs root");
  auto dir = tb::TempDir::Create("cri-mirror-demo");
  if (!dir.ok()) return Fail("temp dir", dir.status().ToString());
  const std::string root = (*dir)->path();

  Step("starting containerd (CRI plugin, native snapshotter, no registry config)");
  auto containerd = tb::Containerd::Create(root);
  if (!containerd.ok()) return Fail("containerd", containerd.status().ToString());

  Step("making a self-signed CA and a certificate for docker-registry");
  auto ca = tb::TestCa::Create((*dir)->Join("ca"));
  if (!ca.ok()) return Fail("CA", ca.status().ToString());

  Step("starting docker-registry with TLS and htpasswd auth on 127.0.0.1");
  tb::RegistryOptions options;
  options.tls = tb::RegistryTls{(*ca)->server_cert_path(), (*ca)->server_key_path(), ""};
  options.htpasswd = tb::RegistryCredentials{"puller", "s3cret-demo"};
  auto registry = tb::Registry::Create(root, options);
  if (!registry.ok()) return Fail("registry", registry.status().ToString());

  Step("building a small OCI image and pushing it with skopeo");
  auto builder = tb::ImageBuilder::Create((*dir)->Join("oci"));
  if (!builder.ok()) return Fail("image builder", builder.status().ToString());
  tb::ImageOptions image;
  image.layer_sizes = {256 * 1024};
  if (auto built = (*builder)->BuildImage("v1", image); !built.ok()) {
    return Fail("build image", built.status().ToString());
  }
  tb::PushOptions push;
  push.credentials = options.htpasswd;
  auto digest = (*builder)->Push("v1", absl::StrCat((*registry)->HostPort(), "/mynginx:v1"), push);
  if (!digest.ok()) return Fail("push", digest.status().ToString());

  const std::string password_file = (*dir)->Join("mirror.pw");
  if (auto s = tb::WriteFile(password_file, "s3cret-demo\n", 0600); !s.ok()) {
    return Fail("password file", s.ToString());
  }
  auto containerd_config_before = tb::ReadFile((*containerd)->config_path());

  Step("starting cri-mirror with one [[mirror]] rule for docker-registry:5000");
  tb::CriMirrorOptions mirror_options;
  mirror_options.binary = CRI_MIRROR_BINARY;
  mirror_options.backend = (*containerd)->Endpoint();
  mirror_options.config_toml = MirrorConfig(**registry, **ca, password_file);
  auto mirror = tb::CriMirror::Create(root, mirror_options);
  if (!mirror.ok()) return Fail("cri-mirror", mirror.status().ToString());
  std::cout << "    config:\n" << mirror_options.config_toml;

  auto cri = tb::CriImageClient::Create((*mirror)->Endpoint());
  if (!cri.ok()) return Fail("CRI client", cri.status().ToString());
  const std::string ref = "docker-registry:5000/mynginx:v1";
  Step(absl::StrCat("PullImage(\"", ref, "\") through ", (*mirror)->Endpoint()));
  auto pulled = (*cri)->Pull(ref);
  if (!pulled.ok()) {
    return Fail("pull", absl::StrCat(pulled.status.error_message(), "\n", (*mirror)->LogTail()));
  }
  std::cout << "    image_ref: " << pulled.response.image_ref() << "\n";

  auto status = (*cri)->Status(ref);
  if (!status.ok() || !status.response.has_image()) return Fail("ImageStatus", ref);
  std::cout << "    ImageStatus repo_tags: "
            << absl::StrJoin(status.response.image().repo_tags(), ", ") << "\n"
            << "    ImageStatus repo_digests: "
            << absl::StrJoin(status.response.image().repo_digests(), ", ") << "\n";
  auto list = (*cri)->List();
  if (!list.ok()) return Fail("ListImages", list.status.error_message());
  std::cout << "    ListImages through cri-mirror:\n";
  for (const auto& listed : list.response.images()) {
    std::cout << "      " << absl::StrJoin(listed.repo_tags(), ", ") << "  ("
              << listed.id().substr(0, 19) << "...)\n";
  }
  auto config_after = tb::ReadFile((*containerd)->config_path());
  bool untouched = containerd_config_before.ok() && config_after.ok() &&
                   *containerd_config_before == *config_after;
  std::cout << "    containerd config untouched: " << (untouched ? "yes" : "NO") << "\n";

  Step("RemoveImage through cri-mirror");
  if (auto removed = (*cri)->Remove(ref); !removed.ok()) {
    return Fail("remove", removed.status.error_message());
  }
  std::cout << "demo OK: pulled " << ref << " (" << *digest
            << ") over TLS with auth through cri-mirror" << std::endl;
  return untouched ? 0 : 1;
}

}  // namespace

int main() { return RunDemo(); }
