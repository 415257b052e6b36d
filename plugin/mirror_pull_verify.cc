#include "plugin/mirror_pull_verify.h"

#include <atomic>

#include "absl/strings/str_cat.h"
#include "metrics/metrics.h"
#include "log/log.h"

namespace crimirror::plugin::mirror_pull_internal {
namespace {

std::atomic<std::uint64_t> unverified_pulls{0};

}  // namespace

std::uint64_t UnverifiedKubeletPulls() { return unverified_pulls.load(); }

absl::Status VerifyKubeletCredentials(const relay::KubeletCredentialCheck* check,
                                      const PullInput& input, const relay::KubeletAuth& kubelet) {
  if (check == nullptr || input.verify_mode == config::VerifyKubeletCredentials::kOff) {
    return absl::OkStatus();
  }
  const std::string ref = input.plan.reference.Canonical();
  const relay::CheckResult result = check->Check(input.plan, kubelet, input.verify_timeout);
  static metrics::Family& checks = metrics::Registry::Default().Counter(
      "cri_mirror_kubelet_credential_checks_total",
      "Checks of the kubelet's credentials at the image's registry (KEP-2535), by verdict.",
      {"verdict"});
  static constexpr const char* kVerdicts[] = {"accepted", "refused", "unverified", "no_upstream"};
  checks.Add({kVerdicts[static_cast<int>(result.verdict)]});
  switch (result.verdict) {
    case relay::CheckVerdict::kNoUpstream:
      return absl::OkStatus();
    case relay::CheckVerdict::kAccepted:
      log::Debug("pull ", ref, ": the kubelet's credentials were accepted by ", result.detail);
      return absl::OkStatus();
    case relay::CheckVerdict::kRefused: {
      const std::string message = absl::StrCat(
          "cri-mirror: pull of ", ref, " refused: the image's registry does not accept the "
          "kubelet's credentials (", result.detail, "); check the pod's image pull secret or "
          "the credential provider (cri-mirror checks them upstream before serving from a "
          "mirror, [credentials] verify_kubelet_credentials)");
      log::Warning(message);
      return result.http_status == 401 ? absl::UnauthenticatedError(message)
                                       : absl::PermissionDeniedError(message);
    }
    case relay::CheckVerdict::kUnverified:
      break;
  }
  if (input.verify_mode == config::VerifyKubeletCredentials::kRequire) {
    const std::string message = absl::StrCat(
        "cri-mirror: pull of ", ref, " refused: the kubelet's credentials could not be checked "
        "at the image's registry (", result.detail, ") and [credentials] "
        "verify_kubelet_credentials = \"require\"; restore access to the registry or set "
        "\"when-reachable\"");
    log::Warning(message);
    return absl::UnavailableError(message);
  }
  const std::uint64_t count = ++unverified_pulls;
  log::Warning("pull ", ref, ": the kubelet's credentials could not be checked at the image's "
               "registry (", result.detail, "); serving from mirrors as "
               "verify_kubelet_credentials = \"when-reachable\" allows (", count,
               " such pull(s) since start-up)");
  return absl::OkStatus();
}

}  // namespace crimirror::plugin::mirror_pull_internal
