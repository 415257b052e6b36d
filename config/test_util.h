// Test helpers for config_test: a temporary directory removed on
// destruction, small file writers, and a rejection check.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/parse.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace crimirror::config::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "/cfgtest.XXXXXX";
    char* made = ::mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

  // Writes `contents` to `name` with `mode`; returns the full path.
  std::string Write(const std::string& name, const std::string& contents,
                    mode_t mode = 0600) const {
    std::string full = File(name);
    std::ofstream(full, std::ios::binary | std::ios::trunc) << contents;
    ::chmod(full.c_str(), mode);
    return full;
  }

  // Writes to a temporary name and renames it over `name`, as editors and
  // config managers do.
  void ReplaceByRename(const std::string& name,
                       const std::string& contents) const {
    std::string tmp = Write(name + ".tmp~", contents);
    ASSERT_EQ(::rename(tmp.c_str(), File(name).c_str()), 0);
  }

 private:
  std::string path_;
};

// Expects ParseConfig(toml, "c.toml") to fail with a message holding `error`.
inline void ExpectRejected(const std::string& toml, const std::string& error) {
  absl::StatusOr<ParsedConfig> parsed = ParseConfig(toml, "c.toml");
  ASSERT_FALSE(parsed.ok()) << toml;
  EXPECT_THAT(std::string(parsed.status().message()), ::testing::HasSubstr(error)) << toml;
}

}  // namespace crimirror::config::testing
