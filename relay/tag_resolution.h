// Tag resolution (issue 14): which digest a tag reference names, decided by
// the rule's resolve_tags (config::ResolveTags) before the relay serves the
// tag's manifest, so a stale or hostile mirror cannot choose the image.
//
//   upstream            HEAD manifests/<tag> at the plan's trusted endpoints
//                       (the upstream, [host] trusted = true) with every
//                       request bounded by resolve_timeout; no answer fails
//                       the request (HTTP 502; the pull fails UNAVAILABLE).
//   upstream-or-mirror  the same, but when no trusted endpoint answers (or
//                       all are in back-off), the other endpoints' answer is
//                       taken, with a warning and
//                       cri_mirror_tag_resolutions_total{result=
//                       "mirror_fallback"}.
//   mirror              the first endpoint that answers (only resolved here
//                       with last_known).
//   last_known = true   a trusted answer is recorded in the TagHistory; an
//                       answer from any other endpoint is accepted only when
//                       it matches the recorded digest (else the request
//                       fails; the pull fails FAILED_PRECONDITION).
// A 404 from the trusted endpoints is an answer: the tag does not exist
// (NotFound, no fallback). A HEAD without a usable Docker-Content-Digest is
// followed by a GET at the same endpoint, whose body is hashed.
//
// The resolved digest is pinned for the session's TagPin (relay/tag_pin.h);
// the tag's manifest requests are then served as requests for that digest,
// walking the whole plan in order (mirrors first; digest-only mirrors too).
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "relay/endpoint_health.h"
#include "relay/endpoint_walk.h"
#include "relay/session_store.h"
#include "relay/tag_history.h"
#include "relay/tag_pin.h"

namespace crimirror::relay {

struct TagResolutionEnv {
  const EndpointWalk* walk = nullptr;
  const EndpointHealth* health = nullptr;
  // Null: last_known is not kept (the daemon opens it when a rule asks).
  TagHistory* history = nullptr;
};

// Resolves the session's tag for `request` (a manifest request by the tag;
// its Accept headers go to the endpoints). Errors name the rule, the
// endpoints' reasons and the setting that decides.
absl::StatusOr<PinnedTag> ResolveTag(const TagResolutionEnv& env, SessionState& session,
                                     const FetchRequest& request);

// For a manifest request by tag in a session with a TagPin: resolves (or
// reuses) the pin and turns `request` into a request for the digest. Other
// requests are left alone. The error is ResolveTag's.
absl::Status PinRequestToDigest(const TagResolutionEnv& env, SessionState& session,
                                FetchRequest& request);

}  // namespace crimirror::relay
