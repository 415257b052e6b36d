// A real pod (issue 11, "The sandbox (pause) image"): a real containerd
// with runc, the cri-mirror binary in front of its ImageService, a real
// docker-registry that only cri-mirror's [[mirror]] rules reach. The pause
// image containerd names as sandbox_image (pause.k8s.example/...) is ensured
// by cri-mirror at start-up; the app image (apps.example/...) is pulled
// through cri-mirror's socket as the kubelet would. Then, on containerd's
// RuntimeService as the kubelet calls it: a host-network pod sandbox, a
// container of the app image (a static busybox httpd serving a page the test
// wrote into the image) on a loopback port; the test reads the page, stops
// and removes container and sandbox, and checks that no sandbox, container,
// process or shim is left. Both images are built here from /bin/busybox.
//
// Skips (with the reason) where runc cannot start a container at all (see
// MissingPodPrerequisites); containerd's config has restrict_oom_score_adj
// and disable_cgroup set for machines like CI's.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/integration/testbed/gtest_util.h"
#include "tests/integration/testbed/testbed.h"

namespace crimirror::testbed {
namespace {

using ::testing::HasSubstr;
namespace v1 = runtime::v1;

constexpr char kSandboxImage[] = "pause.k8s.example/k8s/pause:3.9";
constexpr char kAppImage[] = "apps.example/team/web:v1";

class PodTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TESTBED_SKIP_UNLESS_PREREQUISITES();
    TESTBED_ASSERT_OK_AND_ASSIGN(dir_, TempDir::Create("crimirror-pod"));
    if (auto missing = MissingPodPrerequisites(dir_->path()); missing.has_value()) {
      GTEST_SKIP() << *missing;
    }
    TESTBED_ASSERT_OK_AND_ASSIGN(busybox_, ReadFile("/bin/busybox"));
    TESTBED_ASSERT_OK_AND_ASSIGN(builder_, ImageBuilder::Create(dir_->Join("oci")));
    RegistryOptions options;
    options.name = "mirror";
    TESTBED_ASSERT_OK_AND_ASSIGN(registry_, Registry::Create(dir_->path(), options));
    TESTBED_ASSERT_OK_AND_ASSIGN(port_, FreeLoopbackPort());
    page_ = absl::StrCat("<p>served from a pod through cri-mirror, port ", port_, ", test pid ",
                         getpid(), "</p>\n");
    // The pause: sleeps as the sandbox's pid 1 (StopPodSandbox SIGKILLs it).
    ASSERT_NE(Push("pause", {"/bin/busybox", "sleep", "86400"}, {}, "k8s/pause:3.9"), "");
    // The app: httpd in the foreground; the container's args add the port.
    app_digest_ = Push("web", {"/bin/busybox", "httpd", "-f", "-v", "-h", "/www"},
         {TarDirectory("www"), TarFile("www/index.html", page_)}, "team/web:v1");
    ASSERT_NE(app_digest_, "");
  }

  // Builds busybox + `extra` with `entrypoint`, pushes it as `repo_tag` and
  // returns its manifest digest ("" after a failure, which is recorded).
  std::string Push(const std::string& tag, std::vector<std::string> entrypoint,
                   std::vector<TarEntry> extra, const std::string& repo_tag) {
    ImageOptions image;
    image.files = {TarDirectory("bin"), TarFile("bin/busybox", busybox_, 0755)};
    for (TarEntry& entry : extra) image.files.push_back(std::move(entry));
    image.entrypoint = std::move(entrypoint);
    absl::StatusOr<BuiltImage> built = builder_->BuildImage(tag, image);
    EXPECT_TRUE(built.ok()) << built.status();
    if (!built.ok()) return "";
    absl::StatusOr<std::string> pushed =
        builder_->Push(tag, registry_->HostPort() + "/" + repo_tag);
    EXPECT_TRUE(pushed.ok()) << pushed.status();
    return pushed.value_or("");
  }

  void StartNode() {
    ContainerdOptions containerd;
    containerd.sandbox_image = kSandboxImage;
    containerd.log_level = "info";
    TESTBED_ASSERT_OK_AND_ASSIGN(containerd_, Containerd::Create(dir_->path(), containerd));
    TESTBED_ASSERT_OK_AND_ASSIGN(runtime_, CriRuntimeClient::Create(containerd_->Endpoint()));
    TESTBED_ASSERT_OK_AND_ASSIGN(direct_, CriImageClient::Create(containerd_->Endpoint()));
    ASSERT_FALSE(direct_->HasImage(kSandboxImage));

    TESTBED_ASSERT_OK_AND_ASSIGN(int relay_port, FreeLoopbackPort());
    std::string config = absl::StrCat("[server]\nrelay = \"127.0.0.1:", relay_port, "\"\n\n");
    for (const char* registry : {"pause.k8s.example", "apps.example"}) {
      absl::StrAppend(&config, "[[mirror]]\nregistry = \"", registry, "\"\nendpoints = [\"",
                      registry_->Url(), "\"]\nfallback_to_upstream = false\n\n");
    }
    CriMirrorOptions mirror;
    mirror.binary = CRI_MIRROR_BINARY;
    mirror.backend = containerd_->Endpoint();
    mirror.config_toml = config;
    TESTBED_ASSERT_OK_AND_ASSIGN(mirror_, CriMirror::Create(dir_->path(), mirror));
    TESTBED_ASSERT_OK_AND_ASSIGN(images_, CriImageClient::Create(mirror_->Endpoint()));
  }

  // The sandbox config as the kubelet sends it for a hostNetwork pod.
  v1::PodSandboxConfig SandboxConfig() const {
    v1::PodSandboxConfig config;
    v1::PodSandboxMetadata* metadata = config.mutable_metadata();
    metadata->set_name("web");
    metadata->set_namespace_("default");
    metadata->set_uid(absl::StrCat("pod-test-", getpid()));
    config.set_log_directory(dir_->Join("pods/default_web"));
    config.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(
        v1::NODE);
    return config;
  }

  v1::ContainerConfig AppConfig(const std::string& image_ref) const {
    v1::ContainerConfig config;
    config.mutable_metadata()->set_name("web");
    config.mutable_image()->set_image(image_ref);
    config.mutable_image()->set_user_specified_image(kAppImage);
    config.add_args("-p");
    config.add_args(absl::StrCat("127.0.0.1:", port_));
    config.set_log_path("web/0.log");
    return config;
  }

  std::string PageUrl() const { return absl::StrCat("http://127.0.0.1:", port_, "/"); }

  absl::StatusOr<HttpResponse> GetPage() const {
    HttpRequest request;
    request.url = PageUrl();
    request.timeout = absl::Seconds(2);
    return HttpGet(request);
  }

  std::string Logs() const {
    std::string container_log;
    if (dir_ != nullptr) {
      container_log = ReadFile(dir_->Join("pods/default_web/web/0.log")).value_or("(none)");
    }
    return absl::StrCat("\n--- container log:\n", container_log, "\n--- cri-mirror log:\n",
                        mirror_ ? mirror_->LogTail() : "", "\n--- containerd log:\n",
                        containerd_ ? containerd_->LogTail(6000) : "");
  }


  // What RunPod() started.
  struct Pod {
    v1::PodSandboxConfig sandbox_config;
    std::string sandbox_id;
    std::string container_id;
    pid_t sandbox_pid = 0;
    pid_t container_pid = 0;
  };

  // The sandbox image ensured by cri-mirror, the app image pulled through
  // it as the kubelet would; returns the pulled image_ref.
  void PullThroughMirror(std::string* image_ref) {
    absl::Status ensured = WaitFor([&] { return direct_->HasImage(kSandboxImage); },
                                   absl::Seconds(60), "the sandbox image ensured by cri-mirror");
    ASSERT_TRUE(ensured.ok()) << ensured << Logs();
    CriResult<v1::PullImageResponse> pulled = images_->Pull(kAppImage);
    ASSERT_TRUE(pulled.ok()) << pulled.status.error_message() << Logs();
    *image_ref = pulled.response.image_ref();
    ASSERT_THAT(*image_ref, ::testing::StartsWith("sha256:"));
  }

  // RunPodSandbox, then CreateContainer and StartContainer of `image_ref`
  // in it, on containerd's RuntimeService.
  void RunPod(const std::string& image_ref, Pod* pod) {
    pod->sandbox_config = SandboxConfig();
    auto sandbox = runtime_->RunPodSandbox(pod->sandbox_config);
    ASSERT_TRUE(sandbox.ok()) << sandbox.status.error_message() << Logs();
    pod->sandbox_id = sandbox.response.pod_sandbox_id();
    auto sandbox_status = runtime_->PodSandboxStatus(pod->sandbox_id, /*verbose=*/true);
    ASSERT_TRUE(sandbox_status.ok()) << sandbox_status.status.error_message();
    EXPECT_EQ(sandbox_status.response.status().state(), v1::SANDBOX_READY);
    std::optional<pid_t> sandbox_pid = InfoPid(sandbox_status.response.info());
    ASSERT_TRUE(sandbox_pid.has_value()) << "no pid in PodSandboxStatus verbose info";
    pod->sandbox_pid = *sandbox_pid;

    auto created =
        runtime_->CreateContainer(pod->sandbox_id, AppConfig(image_ref), pod->sandbox_config);
    ASSERT_TRUE(created.ok()) << created.status.error_message() << Logs();
    pod->container_id = created.response.container_id();
    auto started = runtime_->StartContainer(pod->container_id);
    ASSERT_TRUE(started.ok()) << started.status.error_message() << Logs();
    auto status = runtime_->ContainerStatus(pod->container_id, /*verbose=*/true);
    ASSERT_TRUE(status.ok()) << status.status.error_message();
    EXPECT_EQ(status.response.status().state(), v1::CONTAINER_RUNNING) << Logs();
    // containerd runs the mirrored image under its original name.
    EXPECT_EQ(status.response.status().image_ref(),
              absl::StrCat("apps.example/team/web@", app_digest_));
    std::optional<pid_t> container_pid = InfoPid(status.response.info());
    ASSERT_TRUE(container_pid.has_value()) << "no pid in ContainerStatus verbose info";
    pod->container_pid = *container_pid;
  }

  // Stops and removes container and sandbox as the kubelet does.
  void RemovePod(const Pod& pod) {
    auto stopped = runtime_->StopContainer(pod.container_id, /*timeout_seconds=*/2);
    ASSERT_TRUE(stopped.ok()) << stopped.status.error_message() << Logs();
    auto status = runtime_->ContainerStatus(pod.container_id);
    EXPECT_EQ(status.response.status().state(), v1::CONTAINER_EXITED);
    EXPECT_TRUE(runtime_->RemoveContainer(pod.container_id).ok());
    auto sandbox_stopped = runtime_->StopPodSandbox(pod.sandbox_id);
    ASSERT_TRUE(sandbox_stopped.ok()) << sandbox_stopped.status.error_message() << Logs();
    auto removed = runtime_->RemovePodSandbox(pod.sandbox_id);
    ASSERT_TRUE(removed.ok()) << removed.status.error_message() << Logs();
  }

  // No sandbox, container, container process, shim or page is left.
  void ExpectNothingLeft(const Pod& pod) {
    auto containers = runtime_->ListContainers();
    ASSERT_TRUE(containers.ok());
    EXPECT_EQ(containers.response.containers_size(), 0);
    auto sandboxes = runtime_->ListPodSandbox();
    ASSERT_TRUE(sandboxes.ok());
    EXPECT_EQ(sandboxes.response.items_size(), 0);
    EXPECT_FALSE(ProcessAlive(pod.container_pid)) << "httpd pid " << pod.container_pid;
    EXPECT_FALSE(ProcessAlive(pod.sandbox_pid)) << "pause pid " << pod.sandbox_pid;
    absl::Status shims_gone =
        WaitFor([&] { return ShimPids(containerd_->socket_path()).empty(); },
                absl::Seconds(15), "containerd to end the pod's shim");
    EXPECT_TRUE(shims_gone.ok()) << shims_gone;
    EXPECT_FALSE(GetPage().ok()) << "the page is still served";
    EXPECT_EQ(containerd_->StopShims(), 0);
  }

  std::unique_ptr<TempDir> dir_;
  std::string busybox_;
  std::string page_;
  std::string app_digest_;
  int port_ = 0;
  std::unique_ptr<ImageBuilder> builder_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<Containerd> containerd_;
  std::unique_ptr<CriMirror> mirror_;
  std::unique_ptr<CriRuntimeClient> runtime_;
  std::unique_ptr<CriImageClient> direct_;
  std::unique_ptr<CriImageClient> images_;
};

TEST_F(PodTest, HostNetworkPodFromMirroredImagesServesItsPageAndLeavesNothingBehind) {
  absl::Time start = absl::Now();
  ASSERT_NO_FATAL_FAILURE(StartNode());
  std::string image_ref;
  ASSERT_NO_FATAL_FAILURE(PullThroughMirror(&image_ref));
  Pod pod;
  ASSERT_NO_FATAL_FAILURE(RunPod(image_ref, &pod));

  // The container serves the page the test wrote into its image.
  absl::StatusOr<HttpResponse> page;
  absl::Status served = WaitFor(
      [&] {
        page = GetPage();
        return page.ok();
      },
      absl::Seconds(20), absl::StrCat("the container's httpd on ", PageUrl()));
  ASSERT_TRUE(served.ok()) << served << Logs();
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->body, page_);
  absl::Duration to_page = absl::Now() - start;

  ASSERT_NO_FATAL_FAILURE(RemovePod(pod));
  ExpectNothingLeft(pod);
  EXPECT_THAT(mirror_->LogTail(), HasSubstr(absl::StrCat("ensure: pulled ", kSandboxImage)));
  std::cout << "[pod_test] images ensured and pulled, pod running, page read in "
            << absl::FormatDuration(to_page) << "; whole pod cycle "
            << absl::FormatDuration(absl::Now() - start) << "\n";
}

}  // namespace
}  // namespace crimirror::testbed
