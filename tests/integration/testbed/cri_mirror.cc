// Copyright cri-mirror authors.
#include "tests/integration/testbed/cri_mirror.h"

#include <csignal>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "tests/integration/testbed/temp_dir.h"
#include "tests/integration/testbed/wait.h"

namespace crimirror::testbed {

CriMirror::CriMirror(std::string dir, CriMirrorOptions options)
    : dir_(std::move(dir)),
      options_(std::move(options)),
      socket_path_(dir_ + "/cri-mirror.sock"),
      config_path_(dir_ + "/config.toml"),
      log_path_(dir_ + "/cri-mirror.log") {}

absl::StatusOr<std::unique_ptr<CriMirror>> CriMirror::Create(
    const std::string& parent_dir, CriMirrorOptions options) {
  if (options.binary.empty() || options.backend.empty()) {
    return absl::InvalidArgumentError(
        "CriMirrorOptions needs binary (CRI_MIRROR_BINARY) and backend");
  }
  std::string dir = absl::StrCat(parent_dir, "/", options.name);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create ", dir, ": ", ec.message()));
  }
  auto mirror =
      std::unique_ptr<CriMirror>(new CriMirror(dir, std::move(options)));
  if (!mirror->options_.config_toml.empty()) {
    absl::Status s = mirror->WriteConfig(mirror->options_.config_toml);
    if (!s.ok()) return s;
  }
  absl::Status s = mirror->Start();
  if (!s.ok()) return s;
  return mirror;
}

CriMirror::~CriMirror() { Stop(); }

absl::Status CriMirror::WriteConfig(const std::string& toml) {
  options_.config_toml = toml;
  return WriteFile(config_path_, toml, 0600);
}

namespace {
std::size_t Count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}
}  // namespace

absl::Status CriMirror::Reload(const std::string& toml, absl::Duration timeout) {
  constexpr char kReloaded[] = "config reloaded";
  const std::size_t before = Count(LogTail(1 << 20), kReloaded);
  if (absl::Status written = WriteConfig(toml); !written.ok()) return written;
  if (process_ == nullptr) return absl::FailedPreconditionError("cri-mirror is not running");
  if (absl::Status sent = process_->Signal(SIGHUP); !sent.ok()) return sent;
  return WaitFor([&] { return Count(LogTail(1 << 20), kReloaded) > before; }, timeout,
                 "cri-mirror to reload its config");
}

absl::Status CriMirror::Start() {
  if (process_ != nullptr && process_->Running()) return absl::OkStatus();
  ProcessOptions p;
  p.argv = {options_.binary, "--listen", Endpoint(), "--backend",
            options_.backend};
  if (!options_.config_toml.empty()) {
    p.argv.push_back("--config");
    p.argv.push_back(config_path_);
  }
  p.argv.insert(p.argv.end(), options_.extra_args.begin(),
                options_.extra_args.end());
  p.env = options_.env;
  p.log_path = log_path_;
  absl::StatusOr<std::unique_ptr<Process>> started = Process::Start(p);
  if (!started.ok()) return started.status();
  process_ = *std::move(started);
  bool died = false;
  absl::Status waited = WaitFor(
      [&] {
        if (!process_->Running()) return died = true;
        return UnixSocketConnectable(socket_path_);
      },
      options_.start_timeout, absl::StrCat("cri-mirror socket ", socket_path_));
  if (died) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cri-mirror exited with ", process_->exit_code().value_or(-1),
        " during start-up; log tail:\n", LogTail()));
  }
  if (!waited.ok()) {
    return absl::DeadlineExceededError(
        absl::StrCat(waited.message(), "; log tail:\n", LogTail()));
  }
  return absl::OkStatus();
}

int CriMirror::Stop(absl::Duration grace) {
  return process_ != nullptr ? process_->Stop(grace) : 0;
}

void CriMirror::Kill() {
  if (process_ != nullptr) process_->Kill();
}

bool CriMirror::Running() { return process_ != nullptr && process_->Running(); }

std::string CriMirror::Endpoint() const {
  return absl::StrCat("unix://", socket_path_);
}

std::string CriMirror::LogTail(size_t max_bytes) const {
  return process_ != nullptr ? process_->LogTail(max_bytes) : "(never started)";
}

}  // namespace crimirror::testbed
