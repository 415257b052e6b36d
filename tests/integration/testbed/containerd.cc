// Copyright cri-mirror authors.
#include "tests/integration/testbed/containerd.h"

#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tests/integration/testbed/cri_client.h"
#include "tests/integration/testbed/leftovers.h"
#include "tests/integration/testbed/temp_dir.h"
#include "tests/integration/testbed/wait.h"

namespace crimirror::testbed {
namespace {

// Snapshotters that fail or probe the host on a CI machine (no btrfs/zfs
// file system, no devmapper pool, no aufs module); "native" needs nothing.
constexpr char kConfigTemplate[] = R"(version = 2
root = "%1$s/root"
state = "%1$s/state"
oom_score = 0
disabled_plugins = [
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs",
]

[grpc]
  address = "%2$s"

[ttrpc]
  address = "%2$s.ttrpc"

[debug]
  address = ""
  level = "%3$s"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "%1$s/opt"

[plugins."io.containerd.grpc.v1.cri"]
  disable_apparmor = true
  restrict_oom_score_adj = true
  disable_cgroup = true
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  sandbox_image = "%4$s"

[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "native"

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "%1$s/cni/bin"
  conf_dir = "%1$s/cni/conf"
)";

}  // namespace

Containerd::Containerd(std::string dir, ContainerdOptions options)
    : dir_(std::move(dir)),
      options_(std::move(options)),
      socket_path_(dir_ + "/containerd.sock"),
      config_path_(dir_ + "/config.toml"),
      log_path_(dir_ + "/containerd.log") {}

absl::StatusOr<std::unique_ptr<Containerd>> Containerd::Create(
    const std::string& parent_dir, ContainerdOptions options) {
  std::string dir = parent_dir + "/containerd";
  std::error_code ec;
  std::filesystem::create_directories(dir + "/cni/bin", ec);
  std::filesystem::create_directories(dir + "/cni/conf", ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create ", dir, ": ", ec.message()));
  }
  if (int orphans = KillOrphanShims(); orphans > 0) {
    std::cerr << "[testbed] killed " << orphans
              << " shim/container process(es) of a dead earlier containerd\n";
  }
  auto containerd =
      std::unique_ptr<Containerd>(new Containerd(dir, std::move(options)));
  absl::Status status = containerd->WriteConfig();
  if (status.ok()) status = containerd->Start();
  if (!status.ok()) return status;
  return containerd;
}

Containerd::~Containerd() {
  Stop();
  int killed = StopShims();
  if (killed > 0) {
    std::cerr << "[testbed] killed " << killed
              << " leftover shim/container process(es) of " << socket_path_
              << "\n";
  }
}

int Containerd::StopShims() {
  int killed = 0;
  for (pid_t shim : ShimPids(socket_path_)) killed += KillProcessTree(shim);
  UnmountBelow(dir_);
  return killed;
}

absl::Status Containerd::WriteConfig() const {
  std::string config =
      absl::StrFormat(kConfigTemplate, dir_, socket_path_, options_.log_level,
                      options_.sandbox_image);
  if (!options_.extra_config.empty()) {
    absl::StrAppend(&config, "\n", options_.extra_config, "\n");
  }
  return WriteFile(config_path_, config);
}

absl::Status Containerd::Start() {
  if (process_ != nullptr && process_->Running()) return absl::OkStatus();
  ProcessOptions p;
  p.argv = {options_.binary, "--config", config_path_};
  p.log_path = log_path_;
  absl::StatusOr<std::unique_ptr<Process>> started = Process::Start(p);
  if (!started.ok()) return started.status();
  process_ = *std::move(started);

  // The socket serves before the CRI plugin finished initializing (calls
  // then fail with "server is not initialized yet"), so wait for a real
  // CRI answer, not just a connectable socket.
  auto client = CriImageClient::Create(socket_path_);
  if (!client.ok()) return client.status();
  bool died = false;
  absl::Status waited = WaitFor(
      [&] {
        if (!process_->Running()) return died = true;
        return UnixSocketConnectable(socket_path_) &&
               (*client)->List(absl::Seconds(2)).ok();
      },
      options_.start_timeout, absl::StrCat("containerd CRI on ", socket_path_));
  if (died) {
    return absl::FailedPreconditionError(
        absl::StrCat("containerd exited during start-up (config ", config_path_,
                     "); log tail:\n", LogTail()));
  }
  if (!waited.ok()) {
    return absl::DeadlineExceededError(
        absl::StrCat(waited.message(), "; log tail:\n", LogTail()));
  }
  return absl::OkStatus();
}

void Containerd::Stop() {
  if (process_ != nullptr) process_->Stop(absl::Seconds(10));
}

void Containerd::Kill() {
  if (process_ != nullptr) process_->Kill();
}

absl::Status Containerd::Restart() {
  Stop();
  return Start();
}

bool Containerd::Running() {
  return process_ != nullptr && process_->Running();
}

std::string Containerd::Endpoint() const {
  return absl::StrCat("unix://", socket_path_);
}

std::string Containerd::LogTail(size_t max_bytes) const {
  return process_ != nullptr ? process_->LogTail(max_bytes) : "(never started)";
}

}  // namespace crimirror::testbed
