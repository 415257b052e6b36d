#include "credentials/docker_config_source.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "credentials/credential_helper.h"
#include "credentials/docker_config.h"
#include "log/log.h"

namespace crimirror::credentials {
namespace {

// docker config files are small; a larger one is a mistake, not a config.
constexpr std::size_t kMaxFileBytes = 4 << 20;

struct FileStamp {
  bool exists = false;
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  struct timespec mtime = {};

  bool operator==(const FileStamp& o) const {
    return exists == o.exists && dev == o.dev && ino == o.ino && size == o.size &&
           mtime.tv_sec == o.mtime.tv_sec && mtime.tv_nsec == o.mtime.tv_nsec;
  }
};

FileStamp Stamp(const std::string& path) {
  struct stat st;
  FileStamp stamp;
  if (stat(path.c_str(), &st) != 0) return stamp;
  stamp.exists = true;
  stamp.dev = st.st_dev;
  stamp.ino = st.st_ino;
  stamp.size = st.st_size;
  stamp.mtime = st.st_mtim;
  return stamp;
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": cannot read: ", std::strerror(errno)));
  }
  std::string text(kMaxFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxFileBytes) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": larger than ", kMaxFileBytes, " bytes; not a docker config"));
  }
  return text;
}

class DockerConfigFileSource : public CredentialSource {
 public:
  DockerConfigFileSource(std::string path, absl::Duration helper_timeout)
      : path_(std::move(path)), helper_timeout_(helper_timeout) {}

  std::optional<FoundCredentials> Lookup(const CredentialQuery& query) const override {
    std::shared_ptr<const DockerConfig> config = Current();
    if (config == nullptr) return std::nullopt;
    absl::StatusOr<RegistryKey> image = ParseRegistryKey(query.Image());
    if (!image.ok()) return std::nullopt;
    if (const DockerAuthEntry* entry = MatchAuth(*config, *image)) {
      return FoundCredentials{entry->credentials,
                              absl::StrCat("docker config ", path_, " auths \"", entry->key, "\"")};
    }
    const std::string server = HelperServer(query.registry);
    if (const DockerHelperEntry* entry = MatchHelper(*config, *image)) {
      std::shared_ptr<const CredentialHelper> helper = Helper(entry->helper);
      if (std::optional<auth::Credentials> found = helper->Get(server)) {
        return FoundCredentials{*std::move(found),
                                absl::StrCat("docker config ", path_, " credHelpers \"", entry->key,
                                             "\" (", helper->program(), ")")};
      }
      return std::nullopt;  // Docker: a credHelpers entry wins over the store
    }
    if (!config->creds_store.empty()) {
      std::shared_ptr<const CredentialHelper> helper = Helper(config->creds_store);
      if (std::optional<auth::Credentials> found = helper->Get(server)) {
        return FoundCredentials{*std::move(found), absl::StrCat("docker config ", path_,
                                                                " credsStore (", helper->program(),
                                                                ")")};
      }
    }
    return std::nullopt;
  }

 private:
  // The parsed file as it is now (re-read when its stamp changed); null when
  // missing or unusable.
  std::shared_ptr<const DockerConfig> Current() const {
    const FileStamp stamp = Stamp(path_);
    absl::MutexLock lock(&mu_);
    if (loaded_ && stamp == stamp_) return config_;
    loaded_ = true;
    stamp_ = stamp;
    config_ = nullptr;
    if (!stamp.exists) return nullptr;
    absl::StatusOr<std::string> text = ReadSmallFile(path_);
    absl::StatusOr<DockerConfig> parsed =
        text.ok() ? ParseDockerConfig(*text, path_) : absl::StatusOr<DockerConfig>(text.status());
    if (!parsed.ok()) {
      log::Warning("credentials: docker config ", parsed.status().message(),
                   "; it supplies no credentials until it is fixed");
      return nullptr;
    }
    for (const std::string& problem : parsed->problems) {
      log::Warning("credentials: docker config ", problem, "; entry skipped");
    }
    config_ = std::make_shared<const DockerConfig>(*std::move(parsed));
    return config_;
  }

  std::shared_ptr<const CredentialHelper> Helper(const std::string& name) const {
    absl::MutexLock lock(&mu_);
    std::shared_ptr<const CredentialHelper>& helper = helpers_[name];
    if (helper == nullptr) helper = std::make_shared<const CredentialHelper>(name, helper_timeout_);
    return helper;
  }

  const std::string path_;
  const absl::Duration helper_timeout_;
  mutable absl::Mutex mu_;
  mutable bool loaded_ ABSL_GUARDED_BY(mu_) = false;
  mutable FileStamp stamp_ ABSL_GUARDED_BY(mu_);
  mutable std::shared_ptr<const DockerConfig> config_ ABSL_GUARDED_BY(mu_);
  // Kept across re-reads so their answer caches survive a `docker login`.
  mutable std::map<std::string, std::shared_ptr<const CredentialHelper>> helpers_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::vector<std::shared_ptr<const CredentialSource>> DockerConfigSources(
    const config::CredentialsSettings& settings) {
  std::vector<std::shared_ptr<const CredentialSource>> sources;
  for (const std::string& path : settings.docker_config) {
    sources.push_back(std::make_shared<const DockerConfigFileSource>(path, settings.helper_timeout));
  }
  return sources;
}

}  // namespace crimirror::credentials
