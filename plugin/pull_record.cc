#include "plugin/pull_record.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "log/log.h"

namespace crimirror::plugin {

std::uint64_t PullRecord::bytes() const {
  std::uint64_t total = 0;
  for (const relay::ServedBy& served_by : served) total += served_by.bytes;
  return total;
}

void PullRecord::AddSession(const relay::SessionState& state) {
  for (relay::ServedBy& add : state.Served()) {
    bool merged = false;
    for (relay::ServedBy& have : served) {
      if (have.base_url != add.base_url) continue;
      have.manifests += add.manifests;
      have.blobs += add.blobs;
      have.bytes += add.bytes;
      merged = true;
    }
    if (!merged) served.push_back(std::move(add));
  }
  for (relay::Attempt& attempt : state.Attempts()) fallbacks.push_back(std::move(attempt));
  if (state.tag_pin() != nullptr) {
    if (std::optional<relay::PinnedTag> pinned = state.tag_pin()->pinned()) {
      tag_digest = pinned->digest;
      tag_source = pinned->source;
      tag_trusted = pinned->trusted;
    }
  }
}

nlohmann::ordered_json PullRecordFields(const PullRecord& record) {
  nlohmann::ordered_json fields;
  fields["ref"] = record.reference;
  fields["rule"] = record.rule;
  fields["result"] = absl::AsciiStrToLower(absl::StatusCodeToString(record.result.code()));
  if (!record.result.ok()) fields["error"] = std::string(record.result.message());
  if (!record.image_ref.empty()) fields["image_ref"] = record.image_ref;
  fields["duration_seconds"] = absl::ToDoubleSeconds(record.duration);
  fields["bytes"] = record.bytes();
  nlohmann::ordered_json manifests = nlohmann::ordered_json::array();
  nlohmann::ordered_json blobs = nlohmann::ordered_json::array();
  for (const relay::ServedBy& served : record.served) {
    if (served.manifests > 0) manifests.push_back(served.base_url);
    if (served.blobs > 0 || served.bytes > 0) {
      blobs.push_back({{"endpoint", served.base_url},
                       {"blobs", served.blobs},
                       {"bytes", served.bytes}});
    }
  }
  fields["manifest_from"] = std::move(manifests);
  fields["blobs_from"] = std::move(blobs);
  nlohmann::ordered_json fallbacks = nlohmann::ordered_json::array();
  for (std::size_t i = 0; i < record.fallbacks.size() && i < kMaxRecordedFallbacks; ++i) {
    const relay::Attempt& attempt = record.fallbacks[i];
    fallbacks.push_back({{"endpoint", attempt.base_url},
                         {"request", attempt.request},
                         {"reason", attempt.reason}});
  }
  fields["fallbacks"] = std::move(fallbacks);
  if (record.fallbacks.size() > kMaxRecordedFallbacks) {
    fields["fallbacks_dropped"] = record.fallbacks.size() - kMaxRecordedFallbacks;
  }
  fields["retried"] = record.retried;
  if (!record.tag_digest.empty()) {
    fields["tag_digest"] = record.tag_digest;
    fields["tag_source"] = record.tag_source;
    fields["tag_trusted"] = record.tag_trusted;
  }
  fields["started"] =
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", record.started, absl::UTCTimeZone());
  return fields;
}

void LogPullRecord(const PullRecord& record) {
  log::WriteEvent(record.result.ok() ? log::Severity::kInfo : log::Severity::kWarning,
                  "pull finished", PullRecordFields(record));
}

}  // namespace crimirror::plugin
