#include "credentials/provider_plugin.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "credentials/match_images.h"
#include "credentials/provider_response.h"
#include "credentials/run_program.h"
#include "log/echo.h"
#include "log/log.h"

namespace crimirror::credentials {

ProviderPlugin::ProviderPlugin(ProviderSpec spec, std::string bin_dir, absl::Duration timeout,
                               std::string source, Clock clock)
    : spec_(std::move(spec)),
      binary_(absl::StrCat(bin_dir, "/", spec_.name)),
      timeout_(timeout),
      source_(std::move(source)),
      clock_(std::move(clock)) {}

bool ProviderPlugin::Matches(const std::string& image) const {
  for (const std::string& glob : spec_.match_images) {
    if (UrlsMatch(glob, image)) return true;
  }
  return false;
}

std::optional<FoundCredentials> ProviderPlugin::Lookup(const CredentialQuery& query) const {
  const std::string image = query.Image();
  if (!Matches(image)) return std::nullopt;
  std::shared_ptr<const ProviderResponse> response = Response(image);
  if (response == nullptr) return std::nullopt;
  const ProviderAuthEntry* entry = SelectAuth(*response, image);
  if (entry == nullptr) {
    log::Debug(source_, ": no auth entry of the answer matches ", image);
    return std::nullopt;
  }
  return FoundCredentials{entry->credentials, source_};
}

std::shared_ptr<const ProviderResponse> ProviderPlugin::Response(const std::string& image) const {
  if (auto cached = cache_.Find(image, clock_())) return cached;
  std::shared_ptr<Flight> flight;
  bool leader = false;
  {
    absl::MutexLock lock(&mu_);
    auto [it, inserted] = flights_.try_emplace(image);
    if (inserted) it->second = std::make_shared<Flight>();
    flight = it->second;
    leader = inserted;
    if (!leader) {
      // Another pull runs the plugin for this image: wait for its answer
      // (bounded by the plugin's timeout) instead of running it twice.
      mu_.Await(absl::Condition(&flight->done));
      return flight->response;
    }
  }
  // A racing leader may have filled the cache between Find and the map.
  std::shared_ptr<const ProviderResponse> response = cache_.Find(image, clock_());
  if (response == nullptr) response = Exec(image);
  absl::MutexLock lock(&mu_);
  flight->response = response;
  flight->done = true;
  flights_.erase(image);
  return response;
}

std::shared_ptr<const ProviderResponse> ProviderPlugin::Exec(const std::string& image) const {
  ProgramSpec program;
  program.path = binary_;
  program.args = spec_.args;
  program.env = spec_.env;
  program.stdin_data = EncodeProviderRequest(spec_.api_version, image);
  program.timeout = timeout_;
  absl::StatusOr<ProgramResult> result = RunProgram(program);
  if (!result.ok()) {
    if (result.status().code() == absl::StatusCode::kDeadlineExceeded) {
      Failed(image, absl::StrCat("no answer within provider_timeout ",
                                 absl::FormatDuration(timeout_), " (killed)"));
    } else {
      Failed(image, std::string(result.status().message()));
    }
    return nullptr;
  }
  if (result->exit_code != 0) {
    Failed(image, absl::StrCat("exited with status ", result->exit_code, "; stderr: ",
                               log::Excerpt(result->stderr_head)));
    return nullptr;
  }
  absl::StatusOr<ProviderResponse> response =
      ParseProviderResponse(result->stdout_data, spec_.api_version);
  if (!response.ok()) {
    Failed(image, std::string(response.status().message()));
    return nullptr;
  }
  auto shared = std::make_shared<const ProviderResponse>(*std::move(response));
  Remember(image, shared);
  {
    absl::MutexLock lock(&mu_);
    last_failure_.clear();
  }
  return shared;
}

void ProviderPlugin::Remember(const std::string& image,
                              std::shared_ptr<const ProviderResponse> response) const {
  const absl::Duration lifetime = response->cache_duration.value_or(spec_.default_cache_duration);
  if (lifetime <= absl::ZeroDuration()) return;  // "0s" (or a zero default): not cached
  const absl::Time now = clock_();
  cache_.Store(image, std::move(response), now, now + lifetime);
}

void ProviderPlugin::Failed(const std::string& image, const std::string& why) const {
  bool repeated = false;
  {
    absl::MutexLock lock(&mu_);
    repeated = last_failure_ == why;
    last_failure_ = why;
  }
  // One warning per distinct cause; the same failure again only at debug.
  if (repeated) {
    log::Debug(source_, " for ", image, ": ", why, "; no credentials from it");
  } else {
    log::Warning(source_, " for ", image, ": ", why, "; no credentials from it");
  }
}

}  // namespace crimirror::credentials
