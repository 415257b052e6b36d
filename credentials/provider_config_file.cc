#include "credentials/provider_config_file.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace crimirror::credentials {
namespace {

absl::string_view A(std::string_view s) { return {s.data(), s.size()}; }

absl::Status ErrnoStatus(int err, absl::string_view what) {
  const std::string message = absl::StrCat(what, ": ", std::strerror(err));
  if (err == ENOENT || err == ENOTDIR) return absl::NotFoundError(message);
  return absl::FailedPreconditionError(message);
}

bool IsConfigName(absl::string_view name) {
  return absl::EndsWith(name, ".json") || absl::EndsWith(name, ".yaml") ||
         absl::EndsWith(name, ".yml");
}

// The files the kubelet reads for `path`: itself, or the config files of
// the directory in name order.
absl::StatusOr<std::vector<std::string>> ConfigFiles(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return ErrnoStatus(errno, absl::StrCat("[credentials].provider_config ", path));
  }
  if (!S_ISDIR(st.st_mode)) return std::vector<std::string>{path};
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return ErrnoStatus(errno, absl::StrCat("[credentials].provider_config ", path));
  std::vector<std::string> files;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    const std::string full = absl::StrCat(path, "/", name);
    struct stat fst;
    if (IsConfigName(name) && ::stat(full.c_str(), &fst) == 0 && !S_ISDIR(fst.st_mode)) {
      files.push_back(full);
    }
  }
  ::closedir(dir);
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    return absl::NotFoundError(absl::StrCat("[credentials].provider_config ", path,
                                            ": no *.json, *.yaml or *.yml file in the directory"));
  }
  return files;
}

absl::StatusOr<std::string> ReadConfigFile(const std::string& path) {
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoStatus(errno != 0 ? errno : EIO, absl::StrCat("cannot read ", path));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return ErrnoStatus(errno != 0 ? errno : EIO, absl::StrCat("cannot read ", path));
  return buffer.str();
}

absl::Status CheckBinaries(const ProviderConfig& config, const std::string& bin_dir) {
  struct stat st;
  if (::stat(bin_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::NotFoundError(absl::StrCat(
        "[credentials].provider_bin_dir ", bin_dir,
        " is not a directory; give the kubelet's --image-credential-provider-bin-dir"));
  }
  for (const ProviderSpec& p : config.providers) {
    const std::string bin = absl::StrCat(bin_dir, "/", p.name);
    if (::stat(bin.c_str(), &st) != 0 || S_ISDIR(st.st_mode) || ::access(bin.c_str(), X_OK) != 0) {
      return absl::NotFoundError(absl::StrCat(
          p.where, ": provider \"", p.name, "\": plugin binary ", bin,
          " is missing or not executable; install it there or remove the provider"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LoadedProviderConfig> LoadProviderConfig(const std::string& path,
                                                        const std::string& bin_dir) {
  LoadedProviderConfig out;
  out.fingerprint = ProviderConfigFingerprint(path);
  absl::StatusOr<std::vector<std::string>> files = ConfigFiles(path);
  if (!files.ok()) return files.status();
  std::set<std::string> names;
  for (const std::string& file : *files) {
    absl::StatusOr<std::string> text = ReadConfigFile(file);
    if (!text.ok()) return text.status();
    absl::StatusOr<ProviderConfig> config = ParseProviderConfig(*text, file);
    if (!config.ok()) return config.status();
    for (ProviderSpec& p : config->providers) {
      if (!names.insert(p.name).second) {
        return absl::InvalidArgumentError(absl::StrCat(
            p.where, ": provider \"", p.name,
            "\" is also defined in an earlier file of the directory; each name once"));
      }
      out.config.providers.push_back(std::move(p));
    }
  }
  if (absl::Status s = CheckBinaries(out.config, bin_dir); !s.ok()) return s;
  return out;
}

std::string ProviderConfigFingerprint(const std::string& path) {
  auto stamp = [](const std::string& p) {
    struct stat st;
    if (::stat(p.c_str(), &st) != 0) return absl::StrCat(p, ":missing;");
    return absl::StrCat(p, ":", st.st_dev, ":", st.st_ino, ":", st.st_size, ":",
                        st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec, ":", st.st_ctim.tv_sec, ".",
                        st.st_ctim.tv_nsec, ";");
  };
  std::string out = stamp(path);
  absl::StatusOr<std::vector<std::string>> files = ConfigFiles(path);
  if (files.ok() && !(files->size() == 1 && (*files)[0] == path)) {
    for (const std::string& f : *files) out += stamp(f);
  }
  return out;
}

}  // namespace crimirror::credentials
