// Resolve(): which endpoints serve a reference, in what order, under which
// repository name, with which host settings. Pure; table-tested.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "resolver/endpoint_plan.h"
#include "resolver/reference.h"

namespace crimirror::resolver {

// Rule choice: among the rules that apply to the pull's namespace, the
// most specific `registry` prefix wins, path-aware ("docker.io/bitnami" beats
// "docker.io"; "docker.io/bit" does not match "docker.io/bitnami/x"), then
// "*.domain" (every registry below domain, any depth and port, not domain
// itself; the longest domain first), and "*" only when nothing else matches. `pod_namespace` is the pod's Kubernetes
// namespace (PullImageRequest.sandbox_config.metadata.namespace; "" for a
// pull without a sandbox config: crictl, `cri-mirror pull`, ensured images).
// A rule with `namespaces` applies only when they list `pod_namespace`, and
// then beats every rule without `namespaces` (issue 14), so the order is:
//   1. a namespaced rule listing the namespace, most specific prefix first,
//   2. a namespaced "*" listing it,
//   3. a rule without namespaces, most specific prefix first,
//   4. a "*" without namespaces.
// A pull without a namespace never matches a namespaced rule. No rule -> a
// plan with Matched() == false and no endpoints (the caller passes the
// reference through untouched). Mirror endpoints come first in configured
// order, minus those whose pull_from_mirror excludes this reference; the
// upstream (docker.io -> https://registry-1.docker.io) is last when
// fallback_to_upstream. Endpoint URL paths are repository prefixes ("/" and
// "/v2" mean none); rewrites apply on mirror endpoints only.
//
// Details:
//  - A rule registry matches the reference's registry exactly (host names
//    case-insensitively): "host:5000" matches only port 5000 and "host" only
//    references written without a port.
//  - pull_from_mirror sets Endpoint::serves_tags/serves_digests; a mirror
//    that cannot serve this reference (digest-only for a tag reference,
//    tag-only for a digest reference, `name:tag@digest` counts as digest) is
//    left out and the reason recorded in EndpointPlan::skipped, as is an
//    endpoint whose rewrite yields an invalid repository name.
//  - The upstream endpoint is https://registry-1.docker.io for docker.io
//    (its [host] key is "registry-1.docker.io:443") and https://<registry>
//    otherwise (key "<registry>:443" unless the registry has a port); its
//    repository is the original one.
//  - Endpoint::host_settings is a copy of config.hosts[host:port].
//  - A `blocked` rule yields a plan with blocked == true and no endpoints.
//  - rule_origin is the rule's MirrorRule::origin ("file:line"),
//    rule_namespaces its `namespaces`; pod_namespace echoes the argument.
// This overload compiles the matched rule's rewrite RE2s on every call; hot
// paths should hold a CompiledConfig instead. Pure and thread-safe.
EndpointPlan Resolve(const Reference& reference, const config::Config& config,
                     const std::string& pod_namespace = "");

// A config snapshot with its rewrite RE2s compiled once. Built on each config
// swap (ConfigStore::Subscribe) and shared by concurrent pulls.
class CompiledConfig {
 public:
  // Never fails: ParseConfig() already rejected rewrites that do not compile;
  // a rewrite that still does not (a hand-built Config) never matches.
  static std::shared_ptr<const CompiledConfig> Compile(config::ConfigPtr config);
  ~CompiledConfig();

  // Same result as Resolve(reference, config(), pod_namespace). Pure and
  // thread-safe.
  EndpointPlan Resolve(const Reference& reference,
                       const std::string& pod_namespace = "") const;

  const config::Config& config() const { return *config_; }

 private:
  struct Rewrites;
  explicit CompiledConfig(config::ConfigPtr config);

  config::ConfigPtr config_;
  // rewrites_[i] holds the compiled rules of config_->mirrors[i].
  std::vector<std::unique_ptr<Rewrites>> rewrites_;
};

}  // namespace crimirror::resolver
