#include "relay/tag_resolution.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "log/echo.h"
#include "log/log.h"
#include "metrics/metrics.h"
#include "relay/http_headers.h"
#include "relay/route.h"
#include "resolver/plan_format.h"

namespace crimirror::relay {
namespace {

using config::ResolveTags;

// cri_mirror_tag_resolutions_total{rule, result}: trusted, mirror_fallback,
// last_known (a mirror's answer matching the history), refused.
void Count(const resolver::EndpointPlan& plan, const char* result) {
  static metrics::Family& family = metrics::Registry::Default().Counter(
      "cri_mirror_tag_resolutions_total",
      "Tags resolved to a digest before serving them (resolve_tags, last_known), by rule and "
      "result: trusted (a trusted endpoint answered), mirror_fallback (no trusted endpoint "
      "answered; the mirrors' answer was used), last_known (a mirror's answer matched the last "
      "trusted one), refused (the pull failed).",
      {"rule", "result"});
  family.Add({plan.matched_rule, result});
}

// The digest `fetched` announces for the tag: the one the walk computed
// from a body, else a well-formed Docker-Content-Digest.
std::optional<std::string> DigestOf(const Fetched& fetched) {
  if (fetched.computed_digest) return fetched.computed_digest;
  std::optional<std::string> header =
      FirstHeaderValue(fetched.response->headers(), "Docker-Content-Digest");
  if (header && IsSupportedDigest(*header)) return header;
  return std::nullopt;
}

// HEAD of the tag by `request`'s endpoint filter; a winner without a usable
// digest is asked again with a GET (its body hashed).
absl::StatusOr<PinnedTag> Ask(const TagResolutionEnv& env, SessionState& session,
                              FetchRequest request) {
  request.head = true;
  absl::StatusOr<Fetched> fetched = env.walk->Fetch(session, request);
  if (!fetched.ok()) return fetched.status();
  std::optional<std::string> digest = DigestOf(*fetched);
  if (!digest) {
    request.head = false;
    const resolver::Endpoint endpoint = fetched->endpoint;
    fetched = env.walk->FetchFrom(session, request, endpoint);
    if (!fetched.ok()) {
      return absl::Status(fetched.status().code(),
                          absl::StrCat(endpoint.base_url, ": ", fetched.status().message()));
    }
    digest = DigestOf(*fetched);
    if (!digest) {
      return absl::UnavailableError(absl::StrCat(
          endpoint.base_url, ": the manifest's digest could not be determined"));
    }
  }
  return PinnedTag{*digest, fetched->endpoint.base_url, fetched->endpoint.trusted, ""};
}

bool AllTrustedBackedOff(const TagResolutionEnv& env, const resolver::EndpointPlan& plan) {
  bool any = false;
  for (const resolver::Endpoint& endpoint : plan.endpoints) {
    if (!endpoint.trusted) continue;
    any = true;
    if (!env.health->IsBackedOff(endpoint.host)) return false;
  }
  return any;
}

// The answer of an endpoint that is not trusted, checked against the
// history when the rule keeps it.
absl::StatusOr<PinnedTag> CheckLastKnown(const TagResolutionEnv& env,
                                         const resolver::EndpointPlan& plan, PinnedTag answer) {
  if (!plan.last_known || answer.trusted) return answer;
  const std::string ref = plan.reference.Canonical();
  std::optional<KnownTag> known = env.history ? env.history->Lookup(ref) : std::nullopt;
  if (!known) {
    Count(plan, "refused");
    return absl::FailedPreconditionError(absl::StrCat(
        "tag ", plan.reference.tag, " of ", ref, ": ", answer.source, " names ", answer.digest,
        ", but no trusted endpoint has named a digest for this tag yet, and rule ",
        plan.matched_rule, " (", plan.rule_origin, ") has last_known = true; pull it once while "
        "the registry is reachable, or set last_known = false"));
  }
  if (known->digest != answer.digest) {
    Count(plan, "refused");
    return absl::FailedPreconditionError(absl::StrCat(
        "tag ", plan.reference.tag, " of ", ref, ": ", answer.source, " names ", answer.digest,
        ", but the last trusted answer (", absl::FormatTime(absl::RFC3339_sec, known->seen,
                                                          absl::UTCTimeZone()),
        ") was ", known->digest, "; rule ", plan.matched_rule, " (", plan.rule_origin,
        ") has last_known = true, so the mirror's tag is refused; update the mirror or make the "
        "registry reachable"));
  }
  Count(plan, "last_known");
  return answer;
}

}  // namespace

absl::StatusOr<PinnedTag> ResolveTag(const TagResolutionEnv& env, SessionState& session,
                                     const FetchRequest& request) {
  const resolver::EndpointPlan& plan = session.plan();
  const std::string ref = plan.reference.Canonical();
  std::string trusted_failure;
  if (plan.resolve_tags != ResolveTags::kMirror) {
    if (plan.resolve_tags == ResolveTags::kUpstreamOrMirror && AllTrustedBackedOff(env, plan)) {
      trusted_failure = "every trusted endpoint is in back-off after a connection failure";
    } else {
      FetchRequest trusted = request;
      trusted.trust = FetchRequest::Trust::kTrustedOnly;
      trusted.deadline = absl::Now() + plan.resolve_timeout;
      absl::StatusOr<PinnedTag> answer = Ask(env, session, trusted);
      if (answer.ok()) {
        if (plan.last_known && env.history != nullptr) env.history->Record(ref, answer->digest);
        Count(plan, "trusted");
        log::Debug("relay: session ", session.id(), ": tag ", plan.reference.tag, " of ", ref,
                   " is ", answer->digest, " at ", answer->source);
        return answer;
      }
      if (absl::IsNotFound(answer.status())) return answer.status();
      trusted_failure = std::string(answer.status().message());
    }
    if (plan.resolve_tags == ResolveTags::kUpstream) {
      Count(plan, "refused");
      return absl::UnavailableError(absl::StrCat(
          "tag ", plan.reference.tag, " of ", ref, " could not be resolved at a trusted endpoint "
          "within ", absl::FormatDuration(plan.resolve_timeout), " (", trusted_failure,
          "); rule ", plan.matched_rule, " (", plan.rule_origin, ") has resolve_tags = "
          "\"upstream\"; make the registry reachable, or allow the mirrors' answer with "
          "resolve_tags = \"upstream-or-mirror\""));
    }
  }
  FetchRequest others = request;
  if (plan.resolve_tags != ResolveTags::kMirror) others.trust = FetchRequest::Trust::kUntrustedOnly;
  absl::StatusOr<PinnedTag> answer = Ask(env, session, others);
  if (!answer.ok()) return answer.status();
  if (answer->trusted) {  // resolve_tags = "mirror" reached the upstream
    if (plan.last_known && env.history != nullptr) env.history->Record(ref, answer->digest);
    return answer;
  }
  answer->note = trusted_failure;
  absl::StatusOr<PinnedTag> checked = CheckLastKnown(env, plan, *std::move(answer));
  if (!checked.ok()) {
    log::Warning("relay: session ", session.id(), ": ", checked.status().message());
    return checked.status();
  }
  if (plan.resolve_tags != ResolveTags::kMirror) {
    Count(plan, "mirror_fallback");
    log::Warning("pull ", ref, ": no trusted endpoint resolved tag ", plan.reference.tag, " (",
                 log::Shorten(trusted_failure, 512), "); using ", checked->source, "'s answer ",
                 checked->digest, " as resolve_tags = \"", resolver::ResolveTagsName(plan.resolve_tags),
                 "\" allows (rule ", plan.matched_rule, ")");
  }
  return checked;
}

absl::Status PinRequestToDigest(const TagResolutionEnv& env, SessionState& session,
                                FetchRequest& request) {
  if (request.route.kind != RouteKind::kManifest || request.route.ref_is_digest) {
    return absl::OkStatus();
  }
  const TagPinPtr& pin = session.tag_pin();
  if (pin == nullptr) return absl::OkStatus();
  absl::StatusOr<PinnedTag> pinned =
      pin->Get([&]() { return ResolveTag(env, session, request); });
  if (!pinned.ok()) return pinned.status();
  request.route.ref = pinned->digest;
  request.route.ref_is_digest = true;
  return absl::OkStatus();
}

}  // namespace crimirror::relay
