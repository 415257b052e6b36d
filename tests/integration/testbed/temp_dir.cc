// Copyright cri-mirror authors.
#include "tests/integration/testbed/temp_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"

namespace crimirror::testbed {

bool KeepTestDirs() {
  const char* keep = std::getenv("CRI_MIRROR_KEEP_TESTDIRS");
  return keep != nullptr && absl::string_view(keep) == "1";
}

absl::StatusOr<std::unique_ptr<TempDir>> TempDir::Create(
    absl::string_view prefix) {
  std::string templ = absl::StrCat("/tmp/", prefix, "-XXXXXX");
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp(", templ,
                                            ") failed: ", strerror(errno),
                                            "; is /tmp writable?"));
  }
  std::string path(buf.data());
  // mkdtemp makes 0700; containerd shims and registries run as root anyway,
  // but 0755 lets a developer read logs without sudo when kept.
  chmod(path.c_str(), 0755);
  return std::unique_ptr<TempDir>(new TempDir(std::move(path)));
}

TempDir::~TempDir() {
  if (KeepTestDirs()) {
    std::cerr << "[testbed] keeping test dir " << path_
              << " (CRI_MIRROR_KEEP_TESTDIRS=1)\n";
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
  if (ec) {
    std::cerr << "[testbed] could not remove " << path_ << ": " << ec.message()
              << "\n";
  }
}

std::string TempDir::Join(absl::string_view name) const {
  return absl::StrCat(path_, "/", name);
}

absl::StatusOr<std::string> TempDir::MakeSubdir(absl::string_view name) const {
  std::string dir = Join(name);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create directory ", dir, ": ", ec.message()));
  }
  return dir;
}

absl::Status WriteFile(const std::string& path, absl::string_view content,
                       int mode) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("cannot create ", path, ": ", strerror(errno)));
  }
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return absl::InternalError(
          absl::StrCat("cannot write ", path, ": ", strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  fchmod(fd, static_cast<mode_t>(mode));
  close(fd);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat("no such file: ", path));
    }
    return absl::InternalError(
        absl::StrCat("cannot read ", path, ": ", strerror(errno)));
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace crimirror::testbed
