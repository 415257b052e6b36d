#include "src/daemon_status.h"

#include <unistd.h>

#include <string>

#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "src/daemon_metrics.h"

namespace crimirror::cli {
namespace {

using Json = nlohmann::ordered_json;

std::string Rfc3339(absl::Time time) {
  if (time == absl::InfinitePast()) return "";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone());
}

Json ConfigPart() {
  const ConfigLoadState load = LastConfigLoad();
  Json last = {{"time", Rfc3339(load.last_attempt)},
               {"result", load.last_result.ok() ? "ok" : "error"}};
  if (!load.last_result.ok()) last["error"] = std::string(load.last_result.message());
  return {{"file", load.file},
          {"hash", load.hash},
          {"in_force_since", Rfc3339(load.in_force_since)},
          {"last_load", std::move(last)},
          {"loads", load.loads},
          {"failures", load.failures}};
}

Json RulesPart(const config::Config& config) {
  Json rules = Json::array();
  for (const config::MirrorRule& rule : config.mirrors) {
    rules.push_back({{"registry", rule.registry},
                     {"origin", rule.origin},
                     {"endpoints", rule.endpoints},
                     {"fallback_to_upstream", rule.fallback_to_upstream},
                     {"blocked", rule.blocked}});
  }
  return rules;
}

Json EndpointsPart(const relay::EndpointHealth& health) {
  Json endpoints = Json::array();
  const absl::Time now = absl::Now();
  for (const relay::EndpointHealth::HostState& state : health.Snapshot()) {
    const bool backed_off = state.until > now;
    endpoints.push_back({{"host", state.host},
                         {"consecutive_failures", state.consecutive_failures},
                         {"backed_off", backed_off},
                         {"backoff_seconds_left",
                          backed_off ? absl::ToDoubleSeconds(state.until - now) : 0.0}});
  }
  return endpoints;
}

Json PullsPart(const plugin::PullJournal& journal) {
  Json active = Json::array();
  const absl::Time now = absl::Now();
  for (const plugin::ActivePull& pull : journal.Active()) {
    active.push_back({{"ref", pull.reference},
                      {"rule", pull.rule},
                      {"started", Rfc3339(pull.started)},
                      {"seconds", absl::ToDoubleSeconds(now - pull.started)},
                      {"bytes", pull.bytes}});
  }
  Json recent = Json::array();
  for (const plugin::PullRecord& record : journal.Recent()) {
    recent.push_back(plugin::PullRecordFields(record));
  }
  return {{"active", std::move(active)}, {"recent", std::move(recent)}};
}

Json EnsuredPart(const node::ImageEnsurer& ensurer) {
  Json images = Json::array();
  for (const node::EnsuredImage& image : ensurer.Snapshot()) {
    Json entry = {{"image", image.image}, {"sandbox", image.sandbox}, {"present", image.present}};
    if (!image.last_error.empty()) entry["error"] = image.last_error;
    images.push_back(std::move(entry));
  }
  return images;
}

}  // namespace

std::string RenderStatus(const StatusParts& parts) {
  Json doc = {{"version", parts.version},
              {"pid", static_cast<long>(::getpid())},
              {"started", Rfc3339(parts.started)},
              {"listen", parts.listen},
              {"backend", parts.backend},
              {"relay", parts.relay}};
  doc["config"] = ConfigPart();
  if (parts.config_store != nullptr) doc["rules"] = RulesPart(*parts.config_store->Current());
  if (parts.health != nullptr) doc["endpoints"] = EndpointsPart(*parts.health);
  if (parts.journal != nullptr) doc["pulls"] = PullsPart(*parts.journal);
  if (parts.ensurer != nullptr) doc["ensured_images"] = EnsuredPart(*parts.ensurer);
  return doc.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace crimirror::cli
