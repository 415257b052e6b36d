// A docker credential helper (docker-credential-NAME, found on $PATH) asked
// for one server's credentials, as docker and containerd's CRI do: `get`
// with the server on stdin, {"ServerURL","Username","Secret"} on stdout
// (github.com/docker/docker-credential-helpers, client/client.go). A
// non-zero exit is "credentials not found" (helpers print that and exit 1),
// never an error; `Username: "<token>"` means Secret is an identity token.
// Answers are cached briefly per server so the many requests of one pull
// exec the helper once.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "auth/credentials.h"

namespace crimirror::credentials {

// Parses a helper's `get` answer. InvalidArgument (naming the helper,
// never quoting the output) for output that is not that JSON object or
// whose Secret is empty.
absl::StatusOr<auth::Credentials> ParseHelperAnswer(std::string_view output,
                                                    std::string_view helper);

// The server string docker passes to helpers for `registry` (a
// CredentialQuery::registry): "https://index.docker.io/v1/" for Docker Hub,
// else the registry as is ("registry.example:5000").
std::string HelperServer(std::string_view registry);

class CredentialHelper {
 public:
  using Clock = std::function<absl::Time()>;

  // `name` must satisfy IsValidHelperName (docker_config.h). `timeout`
  // bounds each run; answers (found or not) are kept `cache_for`.
  CredentialHelper(std::string name, absl::Duration timeout,
                   absl::Duration cache_for = absl::Minutes(1), Clock now = absl::Now);

  // The credentials the helper has for `server`, or nullopt: not found
  // (non-zero exit), or a failure (missing program, timeout, garbage), which
  // is logged on one line naming the helper (never the secret, never its
  // output). Thread-safe; concurrent calls for one server may each run it.
  std::optional<auth::Credentials> Get(const std::string& server) const;

  // "docker-credential-NAME".
  const std::string& program() const { return program_; }

 private:
  struct Answer {
    absl::Time expires;
    std::optional<auth::Credentials> credentials;
  };
  std::optional<auth::Credentials> Run(const std::string& server) const;

  const std::string program_;
  const absl::Duration timeout_;
  const absl::Duration cache_for_;
  const Clock now_;
  mutable absl::Mutex mu_;
  mutable std::map<std::string, Answer, std::less<>> cache_ ABSL_GUARDED_BY(mu_);
};

}  // namespace crimirror::credentials
