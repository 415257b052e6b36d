// PullRecord: what one finished pull through a mirror rule did (issue 11),
// for the one log line per pull (--log-format text|json) and the recent
// pulls of `cri-mirror status`. Holds no secret: endpoints come from the
// config, reasons from HTTP statuses and Upstream messages (relay/
// session_store.h's Attempt contract), the error from the pull's own
// secret-free message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "relay/session_store.h"

namespace crimirror::plugin {

struct PullRecord {
  std::string reference;  // the original reference, canonical
  std::string rule;       // the mirror rule that matched
  absl::Time started;
  absl::Duration duration;
  absl::Status result;    // OK, or the error the kubelet got
  std::string image_ref;  // containerd's image ID when OK
  // What each endpoint served, over every try of the pull.
  std::vector<relay::ServedBy> served;
  // Endpoint requests that failed before another endpoint (or nothing)
  // answered: the fallbacks, with their reasons.
  std::vector<relay::Attempt> fallbacks;
  bool retried = false;   // tried again without endpoints that sent bad bytes
  // The digest the tag was resolved to before serving it (resolve_tags,
  // relay/tag_resolution.h), the endpoint that named it and whether that
  // endpoint is trusted; empty when the tag was not resolved first.
  std::string tag_digest;
  std::string tag_source;
  bool tag_trusted = false;

  std::uint64_t bytes() const;
  // Adds what `state` recorded (served and failed attempts) to this record.
  void AddSession(const relay::SessionState& state);
};

// At most this many fallbacks go into a log line or status entry; the rest
// are counted in "fallbacks_dropped".
inline constexpr std::size_t kMaxRecordedFallbacks = 16;

// The record as fields: ref, rule, result (lower-case gRPC code name),
// error (when not OK), image_ref, duration_seconds, bytes, manifest_from
// (endpoints that answered manifest requests), blobs_from ([{endpoint,
// blobs, bytes}]), fallbacks ([{endpoint, request, reason}]), retried,
// tag_digest, tag_source and tag_trusted (when the tag was resolved first),
// started (RFC 3339).
nlohmann::ordered_json PullRecordFields(const PullRecord& record);

// Writes the record's line: "pull finished" with PullRecordFields, at info
// when OK, warning otherwise.
void LogPullRecord(const PullRecord& record);

}  // namespace crimirror::plugin
