#include "src/daemon_status.h"

#include <unistd.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "config/endpoint_url.h"
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
                     {"namespaces", rule.namespaces},
                     {"endpoints", rule.endpoints},
                     {"fallback_to_upstream", rule.fallback_to_upstream},
                     {"blocked", rule.blocked}});
  }
  return rules;
}

// Every endpoint host of the rules (and the upstreams that failed), with
// its health: usable, or backed off after connection failures.
Json EndpointsPart(const config::Config* config, const relay::EndpointHealth& health) {
  std::vector<std::string> hosts;
  auto add = [&hosts](const std::string& host) {
    if (std::find(hosts.begin(), hosts.end(), host) == hosts.end()) hosts.push_back(host);
  };
  if (config != nullptr) {
    for (const config::MirrorRule& rule : config->mirrors) {
      for (const std::string& url : rule.endpoints) {
        absl::StatusOr<config::EndpointUrl> parsed = config::ParseEndpointUrl(url);
        if (parsed.ok()) add(parsed->HostPort());
      }
    }
  }
  std::map<std::string, relay::EndpointHealth::HostState> states;
  for (const relay::EndpointHealth::HostState& state : health.Snapshot()) {
    add(state.host);
    states[state.host] = state;
  }
  Json endpoints = Json::array();
  const absl::Time now = absl::Now();
  for (const std::string& host : hosts) {
    auto it = states.find(host);
    const int failures = it == states.end() ? 0 : it->second.consecutive_failures;
    const bool backed_off = it != states.end() && it->second.until > now;
    endpoints.push_back({{"host", host},
                         {"state", backed_off ? "backed-off" : "usable"},
                         {"consecutive_failures", failures},
                         {"backed_off", backed_off},
                         {"backoff_seconds_left",
                          backed_off ? absl::ToDoubleSeconds(it->second.until - now) : 0.0}});
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
  if (parts.health != nullptr) {
    config::ConfigPtr config =
        parts.config_store != nullptr ? parts.config_store->Current() : nullptr;
    doc["endpoints"] = EndpointsPart(config.get(), *parts.health);
  }
  if (parts.journal != nullptr) doc["pulls"] = PullsPart(*parts.journal);
  if (parts.ensurer != nullptr) doc["ensured_images"] = EnsuredPart(*parts.ensurer);
  return doc.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace crimirror::cli
