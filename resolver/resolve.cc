// Resolve(): rule choice, then one helper per endpoint kind. The rewrite step
// is a callback so the compiled (CompiledConfig) and uncompiled (free
// Resolve) paths share everything else.
#include "resolver/resolve.h"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "config/endpoint_url.h"
#include "config/rewrite.h"
#include "re2/re2.h"

namespace crimirror::resolver {
namespace {

using config::Config;
using config::MirrorRule;
using config::PullFromMirror;

// Applies the first matching rewrite of rule `rule_index` to `repository`.
using RewriteFn = std::function<std::string(size_t rule_index,
                                            const std::string& repository)>;

// Whether `rule` may serve a pull from `pod_namespace`, and how strongly:
// 2 its namespaces list the pod's namespace, 1 it has none (generic), 0 not
// at all (namespaced, and the pod's namespace is not listed or the pull has
// no sandbox config).
int NamespaceClass(const MirrorRule& rule, const std::string& pod_namespace) {
  if (rule.namespaces.empty()) return 1;
  if (pod_namespace.empty()) return 0;
  for (const std::string& name : rule.namespaces) {
    if (name == pod_namespace) return 2;
  }
  return 0;
}

// How specifically `key` matches `ref`, compared as a pair: {0, 0} no
// match; tier 1 "*"; tier 2 "*.domain" (a longer domain is more specific);
// tier 3 the registry itself, then by path length. So an exact host beats
// every subdomain wildcard (registries.conf's longest-match), which beats
// "*".
std::pair<int, size_t> PrefixScore(const config::RegistryKey& key, const Reference& ref,
                                   const std::string& registry) {
  if (key.wildcard) return {1, 0};
  if (!key.subdomains_of.empty()) {
    // Any depth, any port; never the domain itself.
    const std::string name = registry.substr(0, registry.rfind(':'));
    return absl::EndsWith(name, absl::StrCat(".", key.subdomains_of))
               ? std::pair<int, size_t>{2, key.subdomains_of.size()}
               : std::pair<int, size_t>{0, 0};
  }
  if (key.host != registry) return {0, 0};
  if (!key.path.empty() && ref.repository != key.path &&
      !absl::StartsWith(ref.repository, absl::StrCat(key.path, "/"))) {
    return {0, 0};
  }
  return {3, key.path.size()};
}

// Index of the chosen rule, or -1: the best (namespace class, prefix score),
// the first in file order on a tie (ParseConfig forbids real ties).
int FindRule(const Reference& ref, const Config& config,
             const std::string& pod_namespace) {
  int best = -1;
  std::tuple<int, int, size_t> best_rank = {0, 0, 0};
  std::string registry = absl::AsciiStrToLower(ref.registry);
  for (size_t i = 0; i < config.mirrors.size(); ++i) {
    const MirrorRule& rule = config.mirrors[i];
    int ns_class = NamespaceClass(rule, pod_namespace);
    if (ns_class == 0) continue;
    absl::StatusOr<config::RegistryKey> key = config::ParseRegistryKey(rule.registry);
    if (!key.ok()) continue;
    const auto [tier, length] = PrefixScore(*key, ref, registry);
    if (tier == 0) continue;
    std::tuple<int, int, size_t> rank = {ns_class, tier, length};
    if (best < 0 || rank > best_rank) {
      best = static_cast<int>(i);
      best_rank = rank;
    }
  }
  return best;
}

bool IsValidRepository(const std::string& repository) {
  if (repository.empty() || repository.size() > 255) return false;
  for (absl::string_view part : absl::StrSplit(repository, '/')) {
    if (!config::IsValidPathComponent(
            std::string_view(part.data(), part.size()))) {
      return false;
    }
  }
  return true;
}

void CopyHostSettings(const Config& config, Endpoint* endpoint) {
  if (const config::HostSettings* host = config.FindHost(endpoint->host)) {
    endpoint->host_settings = *host;
    endpoint->trusted = endpoint->trusted || host->trusted;
  }
}

std::optional<Endpoint> MirrorEndpoint(const std::string& url,
                                       size_t rule_index, const Reference& ref,
                                       const Config& config,
                                       const RewriteFn& rewrite,
                                       std::vector<std::string>* skipped) {
  const MirrorRule& rule = config.mirrors[rule_index];
  absl::StatusOr<config::EndpointUrl> parsed = config::ParseEndpointUrl(url);
  if (!parsed.ok()) {
    // Hand-built configs only (ParseConfig rejects these); a URL with user
    // info may hold a password, so it is not echoed.
    skipped->push_back(absl::StrCat(
        url.find('@') == std::string::npos ? url : "(URL with user info)",
        ": invalid endpoint URL: ", parsed.status().message()));
    return std::nullopt;
  }
  Endpoint endpoint;
  endpoint.kind = EndpointKind::kMirror;
  endpoint.base_url = parsed->BaseUrl();
  endpoint.host = parsed->HostPort();
  endpoint.serves_tags = rule.pull_from_mirror != PullFromMirror::kDigestOnly;
  endpoint.serves_digests = rule.pull_from_mirror != PullFromMirror::kTagOnly;
  if (ref.IsDigest() && !endpoint.serves_digests) {
    skipped->push_back(absl::StrCat(
        endpoint.base_url, ": tag-only mirror skipped for digest reference"));
    return std::nullopt;
  }
  // A tag resolved at a trusted endpoint is then fetched by digest: a
  // digest-only mirror serves it (issue 14).
  if (!ref.IsDigest() && !endpoint.serves_tags &&
      config::EffectiveResolveTags(rule) == config::ResolveTags::kMirror) {
    skipped->push_back(absl::StrCat(
        endpoint.base_url, ": digest-only mirror skipped for tag reference"));
    return std::nullopt;
  }
  std::string repository = rewrite(rule_index, ref.repository);
  if (!parsed->path_prefix.empty()) {
    repository = absl::StrCat(parsed->path_prefix, "/", repository);
  }
  if (!IsValidRepository(repository)) {
    skipped->push_back(absl::StrCat(endpoint.base_url,
                                    ": rewritten repository \"", repository,
                                    "\" is not a valid name"));
    return std::nullopt;
  }
  endpoint.repository = std::move(repository);
  CopyHostSettings(config, &endpoint);
  return endpoint;
}

Endpoint UpstreamEndpoint(const Reference& ref, const Config& config) {
  config::Upstream upstream = config::UpstreamFor(ref.registry);
  Endpoint endpoint;
  endpoint.kind = EndpointKind::kUpstream;
  endpoint.trusted = true;
  endpoint.repository = ref.repository;
  endpoint.base_url = std::move(upstream.base_url);
  endpoint.host = std::move(upstream.host_port);
  CopyHostSettings(config, &endpoint);
  return endpoint;
}

EndpointPlan ResolveWith(const Reference& ref, const Config& config,
                         const std::string& pod_namespace, const RewriteFn& rewrite) {
  EndpointPlan plan;
  plan.reference = ref;
  plan.pod_namespace = pod_namespace;
  int index = FindRule(ref, config, pod_namespace);
  if (index < 0) return plan;
  const MirrorRule& rule = config.mirrors[static_cast<size_t>(index)];
  plan.matched_rule = rule.registry;
  plan.rule_origin = rule.origin;
  plan.rule_namespaces = rule.namespaces;
  if (rule.blocked) {
    plan.blocked = true;
    return plan;
  }
  plan.resolve_tags = config::EffectiveResolveTags(rule);
  plan.resolve_timeout = rule.resolve_timeout;
  plan.last_known = rule.last_known;
  for (const std::string& url : rule.endpoints) {
    std::optional<Endpoint> endpoint = MirrorEndpoint(
        url, static_cast<size_t>(index), ref, config, rewrite, &plan.skipped);
    if (endpoint) plan.endpoints.push_back(*std::move(endpoint));
  }
  if (rule.fallback_to_upstream) {
    plan.endpoints.push_back(UpstreamEndpoint(ref, config));
  }
  return plan;
}

using CompiledRewrites =
    std::vector<std::pair<std::unique_ptr<RE2>, std::string>>;

CompiledRewrites CompileRewrites(const MirrorRule& rule) {
  CompiledRewrites compiled;
  for (const config::RewriteRule& r : rule.rewrite) {
    compiled.emplace_back(std::make_unique<RE2>(r.match, RE2::Quiet),
                          config::ToRe2Rewrite(r.replace));
  }
  return compiled;
}

// RE2::Replace on the first matching rule; the repository unchanged if none.
std::string ApplyRewrites(const CompiledRewrites& rules,
                          const std::string& repository) {
  for (const auto& [re, replace] : rules) {
    if (!re->ok() || !RE2::PartialMatch(repository, *re)) continue;
    std::string out = repository;
    RE2::Replace(&out, *re, replace);
    return out;
  }
  return repository;
}

}  // namespace

struct CompiledConfig::Rewrites {
  CompiledRewrites rules;
};

EndpointPlan Resolve(const Reference& reference, const Config& config,
                     const std::string& pod_namespace) {
  return ResolveWith(
      reference, config, pod_namespace,
      [&config](size_t rule_index, const std::string& repository) {
        return ApplyRewrites(CompileRewrites(config.mirrors[rule_index]),
                             repository);
      });
}

CompiledConfig::CompiledConfig(config::ConfigPtr config)
    : config_(std::move(config)) {
  for (const MirrorRule& rule : config_->mirrors) {
    rewrites_.push_back(
        std::make_unique<Rewrites>(Rewrites{CompileRewrites(rule)}));
  }
}

CompiledConfig::~CompiledConfig() = default;

std::shared_ptr<const CompiledConfig> CompiledConfig::Compile(
    config::ConfigPtr config) {
  return std::shared_ptr<const CompiledConfig>(
      new CompiledConfig(std::move(config)));
}

EndpointPlan CompiledConfig::Resolve(const Reference& reference,
                                     const std::string& pod_namespace) const {
  EndpointPlan plan = ResolveWith(reference, *config_, pod_namespace,
                                  [this](size_t rule_index, const std::string& repository) {
                                    return ApplyRewrites(rewrites_[rule_index]->rules,
                                                         repository);
                                  });
  plan.config = config_;
  return plan;
}

}  // namespace crimirror::resolver
