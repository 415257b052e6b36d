// The kubelet's credential check (KEP-2535, issue 12): before a pull that
// carries kubelet credentials is served from mirrors, those credentials are
// checked at the image's own registry with a HEAD of the manifest (cheap,
// and not counted against registry pull limits), so a mirror that serves
// the bytes with the node's own credentials, or anonymously, never lets a
// pod's wrong secret pass the kubelet's "may this pod use the image already
// on the node" check.
//
// Exactly the kubelet's credentials are presented: the upstream's [host]
// table keeps its TLS settings (CA, client certificate, server name) but
// not its own credentials, and no other source is asked. Only the plan's
// upstream endpoint is asked; a plan without one (an air-gapped rule) has
// nothing to check against.
#pragma once

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "relay/session_store.h"
#include "relay/upstream.h"
#include "resolver/endpoint_plan.h"

namespace crimirror::relay {

// What the upstream said of the kubelet's credentials.
enum class CheckVerdict {
  kAccepted,    // 2xx: the registry serves the manifest with them
  kRefused,     // 401 / 403: they do not give access
  kUnverified,  // unreachable, timed out, 404, 429, 5xx: no verdict
  kNoUpstream,  // the plan has no upstream endpoint: nothing to check
};

struct CheckResult {
  CheckVerdict verdict = CheckVerdict::kNoUpstream;
  // The HTTP status when there was an answer, else 0.
  int http_status = 0;
  // For logs and errors: "https://registry.example:5000 answered HTTP 401"
  // or the transport error. Never a secret.
  std::string detail;
};

class KubeletCredentialCheck {
 public:
  // `upstream` must outlive the check.
  explicit KubeletCredentialCheck(Upstream* upstream) : upstream_(upstream) {}

  // HEADs `plan.reference` (its digest, else its tag) at the plan's
  // upstream endpoint with `kubelet` alone, bounded by `timeout` (connect
  // and response). Thread-safe.
  CheckResult Check(const resolver::EndpointPlan& plan, const KubeletAuth& kubelet,
                    absl::Duration timeout) const;

 private:
  Upstream* const upstream_;
};

}  // namespace crimirror::relay
