#include "relay/tag_history.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "log/log.h"
#include "nlohmann/json.hpp"
#include "relay/route.h"

namespace crimirror::relay {
namespace {

constexpr int kVersion = 1;

std::string Directory(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos || slash == 0 ? "/" : path.substr(0, slash);
}

// Writes `text` to `path` whole or not at all.
bool WriteAtomically(const std::string& path, const std::string& text, std::string* error) {
  const std::string dir = Directory(path);
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    *error = absl::StrCat("cannot create ", dir, ": ", std::strerror(errno));
    return false;
  }
  const std::string tmp = absl::StrCat(path, ".tmp");
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = absl::StrCat("cannot write ", tmp, ": ", std::strerror(errno));
    return false;
  }
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *error = absl::StrCat("cannot write ", tmp, ": ", std::strerror(errno));
      close(fd);
      unlink(tmp.c_str());
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  const bool synced = fsync(fd) == 0;
  close(fd);
  if (!synced || rename(tmp.c_str(), path.c_str()) != 0) {
    *error = absl::StrCat("cannot replace ", path, ": ", std::strerror(errno));
    unlink(tmp.c_str());
    return false;
  }
  return true;
}

}  // namespace

std::unique_ptr<FileTagHistory> FileTagHistory::Open(std::string path) {
  std::unique_ptr<FileTagHistory> history(new FileTagHistory(std::move(path)));
  std::ifstream in(history->path_);
  if (!in) {
    if (errno != ENOENT) {
      log::Warning("tag history ", history->path_, " cannot be read (", std::strerror(errno),
                   "); starting empty, the file is rewritten at the next trusted tag resolution");
    }
    return history;
  }
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || j.value("version", 0) != kVersion ||
      !j.contains("tags") || !j["tags"].is_object()) {
    log::Warning("tag history ", history->path_, " is not a cri-mirror tags file (version ",
                 kVersion, "); starting empty, the file is rewritten at the next trusted tag "
                 "resolution");
    return history;
  }
  absl::MutexLock lock(&history->mu_);
  for (const auto& [reference, entry] : j["tags"].items()) {
    if (!entry.is_object() || !entry.contains("digest") || !entry["digest"].is_string() ||
        !entry.contains("seen") || !entry["seen"].is_string()) {
      continue;
    }
    KnownTag known;
    known.digest = entry["digest"].get<std::string>();
    std::string error;
    if (!IsSupportedDigest(known.digest) ||
        !absl::ParseTime(absl::RFC3339_full, entry["seen"].get<std::string>(), &known.seen,
                         &error)) {
      continue;
    }
    history->tags_[reference] = std::move(known);
  }
  return history;
}

std::optional<KnownTag> FileTagHistory::Lookup(const std::string& reference) const {
  absl::MutexLock lock(&mu_);
  auto it = tags_.find(reference);
  if (it == tags_.end()) return std::nullopt;
  return it->second;
}

void FileTagHistory::Record(const std::string& reference, const std::string& digest) {
  absl::MutexLock lock(&mu_);
  auto it = tags_.find(reference);
  if (it != tags_.end() && it->second.digest == digest &&
      absl::Now() - it->second.seen < absl::Minutes(1)) {
    return;  // no news: spare the disk
  }
  tags_[reference] = KnownTag{digest, absl::Now()};
  while (tags_.size() > kMaxTags) {
    auto oldest = tags_.begin();
    for (auto i = tags_.begin(); i != tags_.end(); ++i) {
      if (i->second.seen < oldest->second.seen) oldest = i;
    }
    tags_.erase(oldest);
  }
  WriteLocked();
}

void FileTagHistory::WriteLocked() const {
  nlohmann::json tags = nlohmann::json::object();
  for (const auto& [reference, known] : tags_) {
    tags[reference] = {{"digest", known.digest},
                       {"seen", absl::FormatTime(absl::RFC3339_sec, known.seen,
                                                 absl::UTCTimeZone())}};
  }
  const nlohmann::json doc = {{"version", kVersion}, {"tags", std::move(tags)}};
  std::string error;
  if (!WriteAtomically(path_, doc.dump(1, ' ', false, nlohmann::json::error_handler_t::replace),
                       &error)) {
    log::Warning("tag history: ", error, "; the digest is kept in memory until restart");
  }
}

}  // namespace crimirror::relay
