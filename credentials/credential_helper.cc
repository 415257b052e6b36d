#include "credentials/credential_helper.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "credentials/run_program.h"
#include "log/log.h"
#include "nlohmann/json.hpp"

namespace crimirror::credentials {
namespace {

// Bounds the cache: one entry per server a node pulls from is small.
constexpr std::size_t kMaxCached = 256;

absl::Status BadAnswer(std::string_view helper, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "docker-credential-", std::string(helper), " answered ", std::string(why),
      " (expected {\"ServerURL\",\"Username\",\"Secret\"})"));
}

}  // namespace

absl::StatusOr<auth::Credentials> ParseHelperAnswer(std::string_view output,
                                                    std::string_view helper) {
  nlohmann::json json =
      nlohmann::json::parse(output.begin(), output.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) return BadAnswer(helper, "something not JSON");
  auto field = [&json](const char* name) -> std::optional<std::string> {
    auto it = json.find(name);
    if (it == json.end() || it->is_null()) return std::string();
    if (!it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  std::optional<std::string> username = field("Username");
  std::optional<std::string> secret = field("Secret");
  if (!username || !secret) return BadAnswer(helper, "a Username or Secret that is not a string");
  if (secret->empty()) return BadAnswer(helper, "an empty Secret");
  auth::Credentials credentials;
  if (*username == "<token>") {
    credentials.identity_token = config::Secret(*std::move(secret));
  } else {
    credentials.username = *std::move(username);
    credentials.password = config::Secret(*std::move(secret));
  }
  return credentials;
}

std::string HelperServer(std::string_view registry) {
  if (registry == "docker.io") return "https://index.docker.io/v1/";
  return std::string(registry);
}

CredentialHelper::CredentialHelper(std::string name, absl::Duration timeout,
                                   absl::Duration cache_for, Clock now)
    : program_(absl::StrCat("docker-credential-", name)),
      timeout_(timeout),
      cache_for_(cache_for),
      now_(std::move(now)) {}

std::optional<auth::Credentials> CredentialHelper::Get(const std::string& server) const {
  {
    absl::MutexLock lock(&mu_);
    auto it = cache_.find(server);
    if (it != cache_.end() && now_() < it->second.expires) return it->second.credentials;
  }
  std::optional<auth::Credentials> answer = Run(server);
  absl::MutexLock lock(&mu_);
  if (cache_.size() >= kMaxCached) cache_.clear();
  cache_[server] = Answer{now_() + cache_for_, answer};
  return answer;
}

std::optional<auth::Credentials> CredentialHelper::Run(const std::string& server) const {
  ProgramSpec spec;
  spec.path = program_;
  spec.args = {"get"};
  spec.stdin_data = server;
  spec.timeout = timeout_;
  spec.max_output = 64 * 1024;
  absl::StatusOr<ProgramResult> result = RunProgram(spec);
  if (!result.ok()) {
    log::Warning("credentials: ", program_, " get for ", server,
                 " failed, using the next source: ", result.status().message());
    return std::nullopt;
  }
  if (result->exit_code != 0) {
    // The helpers' "credentials not found in native keychain".
    log::Debug("credentials: ", program_, " has no credentials for ", server, " (exit ",
               result->exit_code, ")");
    return std::nullopt;
  }
  absl::StatusOr<auth::Credentials> parsed =
      ParseHelperAnswer(result->stdout_data, program_.substr(sizeof("docker-credential-") - 1));
  if (!parsed.ok()) {
    log::Warning("credentials: ", parsed.status().message(), " for ", server,
                 "; using the next source");
    return std::nullopt;
  }
  return *std::move(parsed);
}

}  // namespace crimirror::credentials
