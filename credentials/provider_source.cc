#include "credentials/provider_source.h"

#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "credentials/provider_config_file.h"
#include "log/log.h"

namespace crimirror::credentials {
namespace {

// How often Lookup() stats the config file for a rewrite.
constexpr absl::Duration kRecheck = absl::Seconds(1);

struct Providers {
  std::string fingerprint;
  std::vector<std::shared_ptr<const ProviderPlugin>> plugins;
};

class ProviderSetSource : public CredentialSource {
 public:
  ProviderSetSource(config::CredentialsSettings settings, ProviderPlugin::Clock clock,
                    std::shared_ptr<const Providers> providers)
      : settings_(std::move(settings)),
        clock_(std::move(clock)),
        providers_(std::move(providers)),
        checked_(clock_()) {}

  // Reads the config and builds the plugins (logging the skipped ones).
  static absl::StatusOr<std::shared_ptr<const Providers>> Build(
      const config::CredentialsSettings& settings, const ProviderPlugin::Clock& clock) {
    absl::StatusOr<LoadedProviderConfig> loaded =
        LoadProviderConfig(settings.provider_config, settings.provider_bin_dir);
    if (!loaded.ok()) return loaded.status();
    auto out = std::make_shared<Providers>();
    out->fingerprint = loaded->fingerprint;
    std::vector<std::string> names;
    for (ProviderSpec& spec : loaded->config.providers) {
      const std::string source = absl::StrCat("credential provider ", spec.name,
                                              " (provider_config ", settings.provider_config, ")");
      if (spec.require_service_account) {
        log::Warning(source, " skipped: tokenAttributes.requireServiceAccount is true and a node "
                             "daemon has no pod service-account token to give it");
        continue;
      }
      names.push_back(spec.name);
      out->plugins.push_back(std::make_shared<const ProviderPlugin>(
          std::move(spec), settings.provider_bin_dir, settings.provider_timeout, source, clock));
    }
    log::Info("credential providers from ", settings.provider_config, ": ",
              names.empty() ? "none usable" : absl::StrJoin(names, ", "));
    return std::shared_ptr<const Providers>(std::move(out));
  }

  std::optional<FoundCredentials> Lookup(const CredentialQuery& query) const override {
    std::shared_ptr<const Providers> providers = Current();
    for (const auto& plugin : providers->plugins) {
      if (std::optional<FoundCredentials> found = plugin->Lookup(query)) return found;
    }
    return std::nullopt;
  }

 private:
  // The providers to use now, re-read first when the file was rewritten.
  std::shared_ptr<const Providers> Current() const {
    std::shared_ptr<const Providers> current;
    {
      absl::MutexLock lock(&mu_);
      current = providers_;
      const absl::Time now = clock_();
      if (now - checked_ < kRecheck || reloading_) return current;
      checked_ = now;
      reloading_ = true;
    }
    std::shared_ptr<const Providers> next = Reload(*current);
    absl::MutexLock lock(&mu_);
    reloading_ = false;
    if (next != nullptr) providers_ = next;
    return providers_;
  }

  // New providers when the file changed and validates; else nullptr.
  std::shared_ptr<const Providers> Reload(const Providers& current) const {
    const std::string fingerprint = ProviderConfigFingerprint(settings_.provider_config);
    if (fingerprint == current.fingerprint || fingerprint == failed_fingerprint_) return nullptr;
    absl::StatusOr<std::shared_ptr<const Providers>> next = Build(settings_, clock_);
    if (!next.ok()) {
      failed_fingerprint_ = fingerprint;
      log::Warning("provider_config ", settings_.provider_config,
                   " changed but is not used (the last good providers stay): ",
                   next.status().message());
      return nullptr;
    }
    log::Info("provider_config ", settings_.provider_config, " changed: re-read");
    return *next;
  }

  const config::CredentialsSettings settings_;
  const ProviderPlugin::Clock clock_;
  mutable absl::Mutex mu_;
  mutable std::shared_ptr<const Providers> providers_ ABSL_GUARDED_BY(mu_);
  mutable absl::Time checked_ ABSL_GUARDED_BY(mu_);
  mutable bool reloading_ ABSL_GUARDED_BY(mu_) = false;
  // Only the one thread with reloading_ set touches it.
  mutable std::string failed_fingerprint_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<const CredentialSource>> NewProviderSource(
    const config::CredentialsSettings& settings, ProviderPlugin::Clock clock) {
  absl::StatusOr<std::shared_ptr<const Providers>> providers =
      ProviderSetSource::Build(settings, clock);
  if (!providers.ok()) return providers.status();
  return std::shared_ptr<const CredentialSource>(
      std::make_shared<const ProviderSetSource>(settings, std::move(clock), *std::move(providers)));
}

absl::StatusOr<std::vector<std::shared_ptr<const CredentialSource>>> ProviderSources(
    const config::CredentialsSettings& settings) {
  std::vector<std::shared_ptr<const CredentialSource>> out;
  if (settings.provider_config.empty()) return out;
  absl::StatusOr<std::shared_ptr<const CredentialSource>> source =
      NewProviderSource(settings, [] { return absl::Now(); });
  if (!source.ok()) return source.status();
  out.push_back(*std::move(source));
  return out;
}

}  // namespace crimirror::credentials
