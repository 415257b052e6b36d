// Copyright cri-mirror authors.
//
// The byte formats of an image layer, built in memory for ImageBuilder:
// deterministic ustar archives (uid/gid 0, mtime 0, entries in the given
// order) and gzip streams of stored deflate blocks (valid gzip that any
// reader accepts, without a compressor). Layers of random payload and
// layers with real programs (a static busybox with mode 0755, directories,
// symlinks) both come from here.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace crimirror::testbed {

// One member of a layer tar.
struct TarEntry {
  enum class Type { kFile, kDirectory, kSymlink };
  // Path inside the image, relative ("bin/busybox", "www"); no leading
  // slash, at most 100 bytes (plain ustar names).
  std::string path;
  Type type = Type::kFile;
  // Bytes of a file; ignored for directories and symlinks.
  std::string content;
  // Permission bits (0755 for a program, 0644 for data, 0755 for a
  // directory).
  uint32_t mode = 0644;
  // Target of a symlink ("/bin/busybox"); ignored otherwise.
  std::string link_target;
};

// A regular file entry with `mode`.
TarEntry TarFile(std::string path, std::string content, uint32_t mode = 0644);
// A directory entry, mode 0755.
TarEntry TarDirectory(std::string path);

// Deterministic tar (ustar) of `entries` in order, closed by the two zero
// blocks. Paths longer than 100 bytes are cut (callers keep them short).
std::string MakeTar(const std::vector<TarEntry>& entries);

// Tar of `files` (path -> content), mode 0644, in map order. Exposed for
// unit tests of layer handling.
std::string MakeTar(const std::map<std::string, std::string>& files);

// Wraps `data` in a gzip stream of stored deflate blocks (no compression;
// header mtime 0). Readable by any gzip implementation.
std::string GzipStored(absl::string_view data);

}  // namespace crimirror::testbed
