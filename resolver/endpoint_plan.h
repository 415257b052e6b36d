// The endpoint plan: the ordered list of registries to try for one reference,
// produced by Resolve() (resolver/resolve.h). Pure data: the relay walks it,
// the CLI prints it. What an endpoint is trusted to serve is data here, not
// scattered ifs.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "config/config.h"
#include "resolver/reference.h"

namespace crimirror::resolver {

enum class EndpointKind { kMirror, kUpstream };

struct Endpoint {
  // Scheme and authority only: "https://127.0.0.1:5000". The relay requests
  // `<base_url>/v2/<repository>/...`.
  std::string base_url;
  // "127.0.0.1:5000" (port always explicit: 443/80 filled in), the key for
  // [host] settings and for endpoint health.
  std::string host;
  // Repository to request on this endpoint after path prefix and rewrites:
  // "dockerhub/library/nginx".
  std::string repository;
  EndpointKind kind = EndpointKind::kMirror;
  // Whether this endpoint may answer manifest requests by tag / by digest.
  // Blobs are content-addressed and may come from any endpoint.
  bool serves_tags = true;
  bool serves_digests = true;
  // May resolve tags for resolve_tags "upstream"/"upstream-or-mirror": the
  // upstream, or a host whose [host] table says trusted = true.
  bool trusted = false;
  // Copy of the [host] table for `host`, if any.
  std::optional<config::HostSettings> host_settings;
};

struct EndpointPlan {
  Reference reference;
  // registry of the matched rule ("docker.io/bitnami", "*"); empty = no rule.
  std::string matched_rule;
  // Where the matched rule was written: "config.toml:12" for a native rule,
  // or the imported file and line ("/etc/rancher/k3s/registries.yaml:4").
  std::string rule_origin;
  // The matched rule's `namespaces` (empty: a rule for every namespace), and
  // the pod namespace the plan was resolved for ("" = no sandbox config).
  std::vector<std::string> rule_namespaces;
  std::string pod_namespace;
  // The matched rule is `blocked`: the pull must be refused with
  // PERMISSION_DENIED naming the rule before any backend call; `endpoints` is
  // empty.
  bool blocked = false;
  // How a tag reference's digest is chosen (config::ResolveTags; issue 14).
  // Anything but kMirror, or last_known, makes the relay resolve the tag
  // once per pull (relay/tag_resolution.h) and serve it by that digest.
  // The defaults are the pre-issue-14 behaviour, for hand-built plans.
  config::ResolveTags resolve_tags = config::ResolveTags::kMirror;
  absl::Duration resolve_timeout = absl::Seconds(3);
  bool last_known = false;
  std::vector<Endpoint> endpoints;
  // Human-readable reasons for endpoints left out ("https://m:5000: digest-only
  // mirror skipped for tag reference").
  std::vector<std::string> skipped;
  // The config snapshot the plan was resolved from (CompiledConfig::Resolve;
  // null from Resolve(reference, config)). The relay looks up the [host]
  // tables of redirect targets and token realms in it, so a pull uses one
  // snapshot throughout.
  config::ConfigPtr config;

  bool Matched() const { return !matched_rule.empty(); }
  // Whether the relay resolves this plan's tag before serving it.
  bool ResolvesTag() const {
    return !reference.IsDigest() && (resolve_tags != config::ResolveTags::kMirror || last_known);
  }
};

}  // namespace crimirror::resolver
