// Copyright cri-mirror authors.
//
// CriMirror runs the cri-mirror binary under test between a CRI client and
// the test's containerd: `<binary> --listen unix://<dir>/cri-mirror.sock
// --backend <backend> [--config <dir>/config.toml] <extra args>`, log in
// <dir>/cri-mirror.log. The binary path comes from the test (the
// CRI_MIRROR_BINARY define that tests/integration/CMakeLists.txt sets when
// the cri-mirror target exists).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/integration/testbed/process.h"

namespace crimirror::testbed {

// How to run cri-mirror.
struct CriMirrorOptions {
  // Absolute path of the cri-mirror executable (CRI_MIRROR_BINARY).
  std::string binary;
  // Backend CRI endpoint, e.g. Containerd::Endpoint().
  std::string backend;
  // Non-empty: written to <dir>/config.toml and passed with --config.
  // --listen/--backend flags still override [server] listen/backend.
  std::string config_toml;
  // Appended after the generated flags.
  std::vector<std::string> extra_args;
  // Extra environment (the child otherwise gets only PATH).
  std::map<std::string, std::string> env;
  // Subdirectory name under the parent dir (unique per instance).
  std::string name = "cri-mirror";
  absl::Duration start_timeout = absl::Seconds(20);
};

// One cri-mirror process. Not thread-safe; the destructor stops it.
class CriMirror {
 public:
  // Creates <parent_dir>/<name>/ and starts cri-mirror (see Start()).
  static absl::StatusOr<std::unique_ptr<CriMirror>> Create(
      const std::string& parent_dir, CriMirrorOptions options);

  ~CriMirror();
  CriMirror(const CriMirror&) = delete;
  CriMirror& operator=(const CriMirror&) = delete;

  // Starts it if not running and waits until its socket accepts
  // connections. FailedPrecondition with the log tail if it exits first;
  // DeadlineExceeded after start_timeout.
  absl::Status Start();
  // SIGTERM, wait up to `grace`, SIGKILL. Returns the exit code (0 after a
  // graceful shutdown), as Process::Stop.
  int Stop(absl::Duration grace = absl::Seconds(10));
  // SIGKILL (leaves a stale socket file behind, as a crash would).
  void Kill();
  bool Running();

  // The listening socket path and "unix://" endpoint.
  const std::string& socket_path() const { return socket_path_; }
  std::string Endpoint() const;
  const std::string& dir() const { return dir_; }
  const std::string& config_path() const { return config_path_; }
  // Rewrites config.toml (e.g. before a restart or a reload test).
  absl::Status WriteConfig(const std::string& toml);
  // WriteConfig(), SIGHUP, then waits until the log says "config reloaded"
  // once more than before (DeadlineExceeded after `timeout`). A rejected
  // reload is not waited for: the call then times out.
  absl::Status Reload(const std::string& toml, absl::Duration timeout = absl::Seconds(15));
  std::string LogTail(size_t max_bytes = 8192) const;
  // The underlying process (for Signal(), pid()); null before Start().
  Process* process() { return process_.get(); }

 private:
  CriMirror(std::string dir, CriMirrorOptions options);

  std::string dir_;
  CriMirrorOptions options_;
  std::string socket_path_;
  std::string config_path_;
  std::string log_path_;
  std::unique_ptr<Process> process_;
};

}  // namespace crimirror::testbed
