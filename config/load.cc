#include "config/load.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace crimirror::config {
namespace {

// Reads a whole (small) file; the error carries errno text.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path, int* err) {
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *err = errno != 0 ? errno : EIO;
    return absl::UnknownError(std::strerror(*err));
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    *err = errno != 0 ? errno : EIO;
    return absl::UnknownError(std::strerror(*err));
  }
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    *err = EISDIR;
    return absl::UnknownError(std::strerror(EISDIR));
  }
  return buffer.str();
}

class FileChecker {
 public:
  FileChecker(const std::string& file_name, ParsedConfig* parsed)
      : file_name_(file_name), parsed_(parsed) {}

  // Checks that `path` (named by `key` in `table_path`) is readable; returns
  // its contents when `want_contents`.
  std::optional<std::string> Check(const std::string& table_path,
                                   absl::string_view key,
                                   const std::string& path, bool secret,
                                   bool want_contents) {
    if (path.empty()) return std::nullopt;
    std::string where = absl::StrCat(table_path, ".", key);
    int err = 0;
    absl::StatusOr<std::string> contents = ReadSmallFile(path, &err);
    if (!contents.ok()) {
      errors_.push_back(absl::StrCat(Prefix(where), "cannot read ", path, ": ",
                                     contents.status().message(),
                                     "; fix the path or its permissions"));
      return std::nullopt;
    }
    struct stat st;
    if (secret && ::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
      parsed_->warnings.push_back({absl::StrCat(
          Prefix(where), path,
          " is readable by group or others; run chmod 600 ", path)});
    }
    return want_contents ? *std::move(contents) : std::string();
  }

  void CheckHost(HostSettings& host) {
    std::string table = absl::StrCat("[host.\"", host.host, "\"]");
    for (size_t i = 0; i < host.ca_files.size(); ++i) {
      // A list's entries were remembered one by one (`ca_file[1]`).
      std::string key = absl::StrCat("ca_file[", i, "]");
      if (parsed_->locations.count(absl::StrCat(table, ".", key)) == 0) key = "ca_file";
      Check(table, key, host.ca_files[i], false, false);
    }
    Check(table, "client_cert", host.client_cert, false, false);
    Check(table, "client_key", host.client_key, true, false);
    if (host.password_file.empty()) return;
    std::optional<std::string> password =
        Check(table, "password_file", host.password_file, true, true);
    if (!password) return;
    absl::string_view trimmed = *password;
    absl::ConsumeSuffix(&trimmed, "\n");
    absl::ConsumeSuffix(&trimmed, "\r");
    if (trimmed.empty()) {
      errors_.push_back(absl::StrCat(Prefix(table + ".password_file"),
                                     host.password_file,
                                     " is empty; write the password into it"));
    }
    host.password = Secret(std::string(trimmed));
  }

  absl::Status Result() const {
    if (errors_.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrJoin(errors_, "\n"));
  }

 private:
  std::string Prefix(const std::string& where) const {
    auto it = parsed_->locations.find(where);
    if (it == parsed_->locations.end()) {
      return absl::StrCat(file_name_, ": ", where, ": ");
    }
    return absl::StrCat(file_name_, ":", it->second.line, ":",
                        it->second.column, ": ", where, ": ");
  }

  const std::string& file_name_;
  ParsedConfig* parsed_;
  std::vector<std::string> errors_;
};

}  // namespace

absl::StatusOr<ParsedConfig> LoadConfigFile(const std::string& path) {
  int err = 0;
  absl::StatusOr<std::string> text = ReadSmallFile(path, &err);
  if (!text.ok()) {
    std::string message = absl::StrCat("cannot read config file ", path, ": ",
                                       text.status().message());
    if (err == ENOENT) return absl::NotFoundError(message);
    if (err == EACCES) return absl::PermissionDeniedError(message);
    return absl::FailedPreconditionError(message);
  }
  absl::StatusOr<ParsedConfig> parsed = ParseConfig(*text, path);
  if (!parsed.ok()) return parsed.status();
  if (absl::Status s = CheckConfigFiles(path, &*parsed); !s.ok()) return s;
  return parsed;
}

absl::Status CheckConfigFiles(const std::string& file_name,
                              ParsedConfig* parsed) {
  FileChecker checker(file_name, parsed);
  for (auto& [name, host] : parsed->config.hosts) checker.CheckHost(host);
  return checker.Result();
}

}  // namespace crimirror::config
