// Copyright cri-mirror authors.
#include "bench/bed.h"

#include <unistd.h>

#include <algorithm>
#include <functional>

#include "absl/strings/str_cat.h"

namespace crimirror::bench {

absl::StatusOr<std::unique_ptr<Bed>> Bed::Create(const BenchOptions& options) {
  auto bed = std::unique_ptr<Bed>(new Bed(options));
  auto dir = testbed::TempDir::Create("crimirror-bench");
  if (!dir.ok()) return dir.status();
  bed->dir_ = *std::move(dir);
  testbed::ContainerdOptions containerd_options;
  // Debug logging writes a line per registry request: keep it out of the
  // figures.
  containerd_options.log_level = "info";
  auto containerd = testbed::Containerd::Create(bed->dir_->path(), containerd_options);
  if (!containerd.ok()) return containerd.status();
  bed->containerd_ = *std::move(containerd);
  auto registry = testbed::Registry::Create(bed->dir_->path());
  if (!registry.ok()) return registry.status();
  bed->registry_ = *std::move(registry);
  auto builder = testbed::ImageBuilder::Create(bed->dir_->Join("oci"));
  if (!builder.ok()) return builder.status();
  bed->builder_ = *std::move(builder);
  auto direct = testbed::CriImageClient::Create(bed->containerd_->Endpoint());
  if (!direct.ok()) return direct.status();
  bed->direct_ = *std::move(direct);
  return bed;
}

std::string Bed::ContainerdRoot() const { return dir_->Join("containerd/root"); }

absl::StatusOr<testbed::BuiltImage> Bed::PushImage(const std::string& repo_tag,
                                                   const testbed::ImageOptions& image) {
  const std::string layout_tag = absl::StrCat("t", image.seed, "-", repo_tag.size(),
                                              "-", std::hash<std::string>{}(repo_tag));
  auto built = builder_->BuildImage(layout_tag, image);
  if (!built.ok()) return built.status();
  auto pushed = builder_->Push(layout_tag, absl::StrCat(registry_->HostPort(), "/", repo_tag));
  if (!pushed.ok()) return pushed.status();
  // The layout keeps every blob; the registry has its own copy now.
  for (const std::string& digest : built->layer_digests) {
    ::unlink(builder_->BlobPath(digest).c_str());
  }
  return built;
}

absl::StatusOr<testbed::BuiltImage> Bed::BigImage() {
  if (!big_image_.has_value()) {
    auto built = PushImage(BigRepoTag(), ImageOfSize(BigImageMiB(), 8, 7));
    if (!built.ok()) return built.status();
    big_image_ = *std::move(built);
  }
  return *big_image_;
}

absl::StatusOr<std::unique_ptr<testbed::CriMirror>> Bed::StartMirror(
    const std::string& rules, const std::string& backend) {
  return StartMirror(rules, backend, Launch{});
}

absl::StatusOr<std::unique_ptr<testbed::CriMirror>> Bed::StartMirror(
    const std::string& rules, const std::string& backend, const Launch& launch) {
  if (options_.cri_mirror_binary.empty()) {
    return absl::FailedPreconditionError(
        "no cri-mirror binary: build target cri-mirror or pass --cri-mirror PATH");
  }
  auto relay_port = testbed::FreeLoopbackPort();
  if (!relay_port.ok()) return relay_port.status();
  testbed::CriMirrorOptions mirror;
  mirror.binary = launch.binary.empty() ? options_.cri_mirror_binary : launch.binary;
  mirror.start_timeout = launch.start_timeout;
  mirror.backend = backend.empty() ? containerd_->Endpoint() : backend;
  mirror.name = absl::StrCat("cri-mirror-", ++mirrors_started_);
  // Each instance its own status socket and state dir: the defaults under
  // /run and /var/lib would make a second live instance refuse to start.
  const std::string own = absl::StrCat(dir_->path(), "/", mirror.name);
  mirror.config_toml = absl::StrCat("[server]\nrelay = \"127.0.0.1:", *relay_port,
                                    "\"\npull_timeout = \"10m\"\nstatus = \"unix://", own,
                                    "-status.sock\"\nstate_dir = \"", own, "-state\"\n",
                                    launch.server_keys, "\n", rules);
  return testbed::CriMirror::Create(dir_->path(), mirror);
}

absl::StatusOr<std::unique_ptr<testbed::CriMirror>> Bed::StartMirrorToRegistry() {
  return StartMirror(MirrorToRegistryRules());
}

std::string Bed::MirrorToRegistryRules() const {
  return absl::StrCat("[[mirror]]\nregistry = \"", kMirroredRegistry, "\"\nendpoints = [\"",
                      registry_->Url(), "\"]\nfallback_to_upstream = false\n");
}

absl::StatusOr<std::vector<testbed::BuiltImage>> Bed::PushImages(
    const std::vector<std::string>& repo_tags, uint64_t mib, uint64_t seed) {
  std::vector<testbed::BuiltImage> built;
  for (const std::string& repo_tag : repo_tags) {
    auto image = PushImage(repo_tag, ImageOfSize(mib, 2, seed++));
    if (!image.ok()) return image.status();
    built.push_back(*std::move(image));
  }
  return built;
}

absl::StatusOr<absl::Duration> TimeFreshMirrorPull(Bed& bed, const std::string& rules,
                                                   const std::string& image,
                                                   const testbed::BuiltImage& built,
                                                   absl::Duration deadline) {
  auto mirror = bed.StartMirror(rules);
  if (!mirror.ok()) return mirror.status();
  auto client = testbed::CriImageClient::Create((*mirror)->Endpoint());
  if (!client.ok()) return client.status();
  auto took = TimePull(**client, image, deadline);
  absl::Status removed = RemoveAndCollect(bed.direct(), image, built, bed.ContainerdRoot());
  if (!took.ok()) return took.status();
  if (!removed.ok()) return removed;
  return *took;
}

absl::StatusOr<absl::Duration> TimePull(testbed::CriImageClient& client,
                                        const std::string& image,
                                        absl::Duration deadline) {
  absl::Time start = absl::Now();
  auto pulled = client.Pull(image, deadline);
  absl::Duration took = absl::Now() - start;
  if (!pulled.ok()) {
    auto code = static_cast<absl::StatusCode>(pulled.status.error_code());
    return absl::Status(code, absl::StrCat("pull of ", image, " failed after ",
                                           absl::FormatDuration(took), ": ",
                                           pulled.status.error_message()));
  }
  return took;
}

absl::Status RemoveAndCollect(testbed::CriImageClient& client, const std::string& image,
                              const testbed::BuiltImage& built,
                              const std::string& containerd_root) {
  auto removed = client.Remove(image);
  if (!removed.ok()) {
    return absl::InternalError(absl::StrCat("RemoveImage ", image, ": ",
                                            removed.status.error_message()));
  }
  const std::string blobs = containerd_root + "/io.containerd.content.v1.content/blobs/sha256/";
  absl::Status collected = testbed::WaitFor(
      [&] {
        return std::none_of(built.layer_digests.begin(), built.layer_digests.end(),
                            [&](const std::string& digest) {
                              std::string path = blobs + digest.substr(digest.find(':') + 1);
                              return ::access(path.c_str(), F_OK) == 0;
                            });
      },
      absl::Seconds(30), absl::StrCat("containerd GC of the layers of ", image));
  if (!collected.ok()) return collected;
  // The pull and the delete leave about twice the image size of dirty pages;
  // written back during the next timed pull they would be charged to it, and
  // whichever leg runs second would pay for the first.
  ::sync();
  return absl::OkStatus();
}

testbed::ImageOptions ImageOfSize(uint64_t mib, int layers, uint64_t seed) {
  testbed::ImageOptions image;
  image.seed = seed;
  image.layer_sizes.clear();
  uint64_t count = std::clamp<uint64_t>(mib, 1, static_cast<uint64_t>(std::max(layers, 1)));
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t share = mib / count + (i < mib % count ? 1 : 0);
    image.layer_sizes.push_back(share * testbed::kMiB);
  }
  return image;
}

}  // namespace crimirror::bench
