// Test support: a temporary directory put first on $PATH, holding
// docker-credential-* shell scripts written by the test, and files written
// there. Removed (and $PATH restored) on destruction. Tests only.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace crimirror::credentials::testing {

class HelperDir {
 public:
  HelperDir() {
    char tmpl[] = "/tmp/cri-mirror-cred-XXXXXX";
    dir_ = mkdtemp(tmpl);
    const char* path = std::getenv("PATH");
    old_path_ = path == nullptr ? "" : path;
    setenv("PATH", (dir_ + ":" + old_path_).c_str(), 1);
  }
  ~HelperDir() {
    setenv("PATH", old_path_.c_str(), 1);
    std::filesystem::remove_all(dir_);
  }
  HelperDir(const HelperDir&) = delete;
  HelperDir& operator=(const HelperDir&) = delete;

  // Writes docker-credential-<name> with `body` after "#!/bin/sh".
  void AddHelper(const std::string& name, const std::string& body) const {
    const std::string path = dir_ + "/docker-credential-" + name;
    Write(path, "#!/bin/sh\n" + body + "\n");
    chmod(path.c_str(), 0755);
  }
  // Writes `text` to <dir>/<name> and returns its path.
  std::string Write(const std::string& name_or_path, const std::string& text) const {
    const std::string path = name_or_path.front() == '/' ? name_or_path : dir_ + "/" + name_or_path;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    return path;
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::string old_path_;
};

}  // namespace crimirror::credentials::testing
