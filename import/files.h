// Private to crimirror_import: the small blocking file reads the loaders
// share, with errno mapped to a Status that names the path.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace crimirror::importer {

struct DirEntry {
  std::string name;
  bool is_dir = false;
};

// The whole file. NotFound / PermissionDenied / FailedPrecondition naming
// `path` and the errno text.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path);

// The entries of `dir` (no "." or ".."), sorted by name; symlinks are
// followed to decide is_dir. Same errors as ReadWholeFile.
absl::StatusOr<std::vector<DirEntry>> ListDirectory(const std::string& dir);

}  // namespace crimirror::importer
