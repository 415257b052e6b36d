// Tag history: the last digest a trusted endpoint gave for each tag, kept
// across restarts for rules with `last_known = true` (issue 14), so that a
// node cut off from the registry accepts a mirror's answer for a tag only
// when it names the digest the registry named last time.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace crimirror::relay {

struct KnownTag {
  std::string digest;  // "sha256:..."
  absl::Time seen;     // when a trusted endpoint last named it
};

// Thread-safe.
class TagHistory {
 public:
  virtual ~TagHistory() = default;
  // What a trusted endpoint last said `reference` ("registry/repo:tag",
  // Reference::Canonical) names, if it was ever asked.
  virtual std::optional<KnownTag> Lookup(const std::string& reference) const = 0;
  // Keeps `digest` as what `reference` names as of now.
  virtual void Record(const std::string& reference, const std::string& digest) = 0;
};

// A TagHistory in one JSON file, `<state_dir>/tags.json`:
//   {"version": 1, "tags": {"docker.io/library/nginx:1.25":
//       {"digest": "sha256:...", "seen": "2026-12-02T10:00:00Z"}}}
// Each Record() rewrites the file (a temporary file, fsync, rename; mode
// 0600, the directory made 0700 if missing). A failed write is a warning
// naming the file; the digest is still kept in memory.
class FileTagHistory : public TagHistory {
 public:
  // At most this many tags are kept (the least recently seen go first).
  static constexpr std::size_t kMaxTags = 10000;

  // Reads `path`. A missing file is an empty history; one that cannot be
  // read or parsed is a warning naming it (the history starts empty and the
  // file is rewritten at the next Record), never a start-up failure.
  static std::unique_ptr<FileTagHistory> Open(std::string path);

  std::optional<KnownTag> Lookup(const std::string& reference) const override;
  void Record(const std::string& reference, const std::string& digest) override;
  const std::string& path() const { return path_; }

 private:
  explicit FileTagHistory(std::string path) : path_(std::move(path)) {}
  void WriteLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  mutable absl::Mutex mu_;
  std::map<std::string, KnownTag> tags_ ABSL_GUARDED_BY(mu_);
};

}  // namespace crimirror::relay
