// Copyright cri-mirror authors.
//
// Containerd runs a private containerd 1.6 for one test: its own config.toml
// (version 2), root, state, opt and CNI dirs and gRPC socket under a test
// directory, the CRI plugin with snapshotter "native" (works on any file
// system, no mounts) and the AppArmor / OOM-score / cgroup features a
// sandboxed CI machine lacks turned off. Besides the image service, the
// CRI RuntimeService runs pods with runc (pod_test: a host-network sandbox
// and a container); the destructor then also ends the shims this
// containerd started (see StopShims()). The config has no registry section
// at all (no config_path, no mirrors): cri-mirror never needs one.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/integration/testbed/process.h"

namespace crimirror::testbed {

// How to run containerd.
struct ContainerdOptions {
  std::string binary = "/usr/bin/containerd";
  // "info" or "debug" (debug logs every registry request containerd makes).
  std::string log_level = "debug";
  // CRI sandbox_image. The default names a loopback port nothing listens
  // on, so cri-mirror's start-up ensure of the sandbox image (on by default)
  // fails at once without traffic off the machine.
  std::string sandbox_image = "127.0.0.1:1/testbed/pause:unreachable";
  // TOML appended verbatim to the generated config (tables only).
  std::string extra_config;
  // How long Start() waits for the socket and the CRI plugin.
  absl::Duration start_timeout = absl::Seconds(30);
};

// One containerd daemon. Not thread-safe. The destructor stops it; the
// directory is removed with the owning TempDir.
class Containerd {
 public:
  // Creates <parent_dir>/containerd/{config.toml,root,state,...} and starts
  // containerd (see Start()), after ending the shims an earlier test's
  // containerd left when that test was killed (KillOrphanShims()). Errors
  // of Start(), or Internal for file I/O.
  static absl::StatusOr<std::unique_ptr<Containerd>> Create(
      const std::string& parent_dir, ContainerdOptions options = {});

  ~Containerd();
  Containerd(const Containerd&) = delete;
  Containerd& operator=(const Containerd&) = delete;

  // Starts containerd if it is not running and waits until the socket
  // accepts connections and CRI ListImages answers OK. FailedPrecondition
  // (with the log tail) if it exits during start-up, DeadlineExceeded if it
  // is not ready within start_timeout.
  absl::Status Start();

  // SIGTERM, bounded wait, SIGKILL. Keeps root/state and the shims of
  // running pods (as a real containerd restart does); idempotent.
  void Stop();

  // Kills every containerd-shim this containerd started (found by its
  // socket path, see leftovers.h) with the container processes under it,
  // and unmounts what is still mounted below its directory. Returns how
  // many processes it killed (0 after a test that removed its pods). The
  // destructor calls Stop() and then this.
  int StopShims();

  // Kills containerd with SIGKILL (a crash). Keeps root/state.
  void Kill();

  // Stop() then Start(), same dirs and socket path.
  absl::Status Restart();

  bool Running();

  // Absolute path of the gRPC socket (same across restarts).
  const std::string& socket_path() const { return socket_path_; }
  // "unix://" + socket_path().
  std::string Endpoint() const;
  // The generated config.toml (tests may hash it to prove nobody wrote it).
  const std::string& config_path() const { return config_path_; }
  // containerd's log file (appended across restarts).
  const std::string& log_path() const { return log_path_; }
  // Tail of the log for failure messages.
  std::string LogTail(size_t max_bytes = 4096) const;

 private:
  Containerd(std::string dir, ContainerdOptions options);
  absl::Status WriteConfig() const;

  std::string dir_;
  ContainerdOptions options_;
  std::string socket_path_;
  std::string config_path_;
  std::string log_path_;
  std::unique_ptr<Process> process_;
};

}  // namespace crimirror::testbed
