// One kubelet credential provider plugin as the daemon runs it: the image
// checked against matchImages, the cache asked, else the binary executed
// (provider_bin_dir/NAME, args, env, the CredentialProviderRequest on
// stdin, [credentials].provider_timeout) once per image at a time however
// many pulls ask together, the response cached by its cacheKeyType and
// cacheDuration, and the `auth` entry for the image picked as the kubelet
// picks it. Failures are logged (once per distinct cause, never a secret,
// stderr only as an excerpt) and give no credentials. Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "credentials/credential_source.h"
#include "credentials/provider_cache.h"
#include "credentials/provider_config.h"

namespace crimirror::credentials {

class ProviderPlugin {
 public:
  using Clock = std::function<absl::Time()>;

  // `source` is the FoundCredentials::source of its answers; `clock` gives
  // the time cache entries are stamped and checked with.
  ProviderPlugin(ProviderSpec spec, std::string bin_dir, absl::Duration timeout,
                 std::string source, Clock clock);

  // True when `image` ("registry/repository") matches one of matchImages.
  bool Matches(const std::string& image) const;

  // The credentials for `query`, or nullopt (no match, no auth entry for
  // the image, or the plugin failed).
  std::optional<FoundCredentials> Lookup(const CredentialQuery& query) const;

  const ProviderSpec& spec() const { return spec_; }

 private:
  struct Flight {
    bool done = false;
    std::shared_ptr<const ProviderResponse> response;
  };

  // The response for `image`: cached, joined with a running exec, or run.
  std::shared_ptr<const ProviderResponse> Response(const std::string& image) const;
  // Runs the binary once; nullptr (logged) on failure.
  std::shared_ptr<const ProviderResponse> Exec(const std::string& image) const;
  void Remember(const std::string& image, std::shared_ptr<const ProviderResponse> response) const;
  void Failed(const std::string& image, const std::string& why) const;

  const ProviderSpec spec_;
  const std::string binary_;
  const absl::Duration timeout_;
  const std::string source_;
  const Clock clock_;
  mutable ProviderCache cache_;
  mutable absl::Mutex mu_;
  mutable std::map<std::string, std::shared_ptr<Flight>> flights_ ABSL_GUARDED_BY(mu_);
  mutable std::string last_failure_ ABSL_GUARDED_BY(mu_);
};

}  // namespace crimirror::credentials
