// Copyright cri-mirror authors.
//
// TempDir owns one scratch directory for an integration test: every process
// of the test bed keeps its config, sockets, logs and data below it, so one
// recursive removal cleans up a whole test. Also small file helpers used by
// the rest of the bed (write a file, read a file).
//
// Environment: CRI_MIRROR_KEEP_TESTDIRS=1 keeps the directory after the test
// (its path is printed to stderr) so logs can be inspected after a failure.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace crimirror::testbed {

// A directory created with mkdtemp(3) under /tmp, removed recursively when
// the object is destroyed (unless CRI_MIRROR_KEEP_TESTDIRS=1). Not
// thread-safe; owned by one test.
class TempDir {
 public:
  // Creates /tmp/<prefix>-XXXXXX (mode 0755). The prefix is kept short
  // because unix socket paths below it must stay under 108 bytes.
  // Returns Internal with errno text when mkdtemp fails.
  static absl::StatusOr<std::unique_ptr<TempDir>> Create(
      absl::string_view prefix = "crimirror-it");

  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Absolute path of the directory, without a trailing slash.
  const std::string& path() const { return path_; }

  // Returns path()/name after creating it (and parents) as a directory.
  // Returns Internal naming the path when creation fails.
  absl::StatusOr<std::string> MakeSubdir(absl::string_view name) const;

  // Returns path()/name without touching the file system.
  std::string Join(absl::string_view name) const;

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// True when CRI_MIRROR_KEEP_TESTDIRS=1 is set in the environment.
bool KeepTestDirs();

// Writes `content` to `path` (truncating) and sets its mode. Returns
// Internal naming the path and errno text on failure.
absl::Status WriteFile(const std::string& path, absl::string_view content,
                       int mode = 0644);

// Reads the whole file. Returns NotFound / Internal naming the path.
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace crimirror::testbed
