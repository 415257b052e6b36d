// The frozen, validated cri-mirror configuration.
//
// A Config is produced by ParseConfig() (pure: text in, Config or every error
// out) or LoadConfigFile() (reads the file, then ParseConfig(), then checks the
// files the config names and reads secret files). Once built a Config is never
// mutated: consumers hold `std::shared_ptr<const Config>` snapshots that a
// reload swaps atomically (see config/config_store.h).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "config/secret.h"

namespace crimirror::credentials {
class CredentialSource;  // credentials/credential_source.h
}  // namespace crimirror::credentials

namespace crimirror::config {

// Which references a rule's mirror endpoints may serve. Upstream endpoints
// always serve everything.
enum class PullFromMirror {
  kAll,         // tags and digests
  kDigestOnly,  // only digest references (mirror not trusted to resolve tags)
  kTagOnly,     // only tag references
};

// `resolve_tags`: who decides which digest a tag names (issue 14).
enum class ResolveTags {
  // A HEAD of the tag's manifest at a trusted endpoint (the upstream, or a
  // [host] with `trusted = true`); no answer within `resolve_timeout`
  // fails the pull. The manifest and blobs then come by that digest,
  // mirrors first, so digest-only mirrors serve tag pulls too.
  kUpstream,
  // As kUpstream, but when no trusted endpoint answers in time the mirrors'
  // answer is used, with a warning and a count in
  // cri_mirror_tag_resolutions_total{result="mirror_fallback"}.
  kUpstreamOrMirror,
  // The first endpoint of the plan that answers the tag decides (before
  // issue 14; the only choice without a trusted endpoint).
  kMirror,
};

// `rewrite = [{ match = "^library/(.*)$", replace = "dockerhub/$1" }]`: an RE2
// applied to the repository path on mirror endpoints only; the first rule
// whose `match` matches (partial match, use anchors) is applied with
// RE2::Replace semantics ($1..$9 are groups).
struct RewriteRule {
  std::string match;
  std::string replace;
};

// One `[[mirror]]` table.
struct MirrorRule {
  // "docker.io", "host:5000", "docker.io/bitnami" (path-aware prefix) or "*".
  std::string registry;
  // Endpoint URLs in order, e.g. "https://mirror:5000", "http://127.0.0.1:5001/dockerhub".
  std::vector<std::string> endpoints;
  bool fallback_to_upstream = true;
  PullFromMirror pull_from_mirror = PullFromMirror::kAll;
  std::vector<RewriteRule> rewrite;
  // `blocked = true`: every pull of this registry is refused with
  // PERMISSION_DENIED naming the rule, before any backend call (registries.conf
  // `blocked`, issue 14). A blocked rule needs no endpoints.
  bool blocked = false;
  // `namespaces = ["team-a", ...]`: the rule applies only to pulls whose
  // PullImageRequest.sandbox_config.metadata.namespace is listed (issue 14);
  // empty: every pull, including those without a sandbox config. Valid
  // Kubernetes namespace names in file order, none twice (ParseConfig).
  std::vector<std::string> namespaces;
  // `resolve_tags`; nullopt: kUpstreamOrMirror when the rule keeps its
  // upstream (fallback_to_upstream), else kMirror (EffectiveResolveTags).
  std::optional<ResolveTags> resolve_tags;
  // `resolve_timeout`: how long the trusted endpoints may take to answer
  // the tag's HEAD (each request's connect and response together).
  absl::Duration resolve_timeout = absl::Seconds(3);
  // `last_known = true`: the digest a trusted endpoint gave for each tag is
  // kept in [server] state_dir; a tag answered by a mirror alone (no
  // trusted endpoint reachable, or resolve_tags = "mirror") is accepted only
  // when it names that same digest.
  bool last_known = false;
  // 1-based line of the `[[mirror]]` header, for messages.
  int line = 0;
  // Where the rule was written, "file:line": the native config
  // ("config.toml:12", set by ParseConfig) or an imported file
  // ("/etc/containerd/certs.d/docker.io/hosts.toml:3").
  std::string origin;
};

// The resolve_tags mode `rule` runs with (its own, or the default).
inline ResolveTags EffectiveResolveTags(const MirrorRule& rule) {
  if (rule.resolve_tags) return *rule.resolve_tags;
  return rule.fallback_to_upstream ? ResolveTags::kUpstreamOrMirror : ResolveTags::kMirror;
}

// One `[host."h:p"]` table: settings for every endpoint whose authority is
// this host:port, whichever rule lists it.
struct HostSettings {
  std::string host;  // the table key, "mirror.corp.example:5000"
  // `ca_file`: one absolute path or a list of them, in file order. Every
  // certificate in every file is trusted besides the system CAs (containerd
  // appends each hosts.toml `ca` file to one pool the same way).
  std::vector<std::string> ca_files;
  std::string client_cert;
  std::string client_key;
  bool insecure_skip_verify = false;
  std::string tls_server_name;
  std::string username;
  Secret password;        // from `password` or the contents of `password_file`
  std::string password_file;
  Secret auth;            // base64 "user:pass"
  Secret identity_token;
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration response_timeout = absl::Seconds(15);
  // `hedge_after` for this host's endpoints; nullopt: [server] hedge_after.
  std::optional<absl::Duration> hedge_after;
  // The kubelet's AuthConfig of a pull goes to this host too, not only to
  // the image's own registry: for a mirror that is the same registry under
  // another address (issue 12). Default false: never to any other host.
  bool forward_kubelet_credentials = false;
  // `headers`: sent with every request to this host's endpoints (not to
  // redirect targets or token services), sorted by name; a name may repeat.
  // Never logged (a value may be a tenant key).
  std::vector<std::pair<std::string, std::string>> headers;
  // `trusted = true`: this host may resolve tags for rules with
  // resolve_tags "upstream"/"upstream-or-mirror", like the upstream (a
  // registry's own replica, a pull-through cache the operator runs).
  bool trusted = false;
};

// What a pull does with the kubelet's credentials for a rule whose
// upstream is in the plan (KEP-2535): check them first at the upstream with
// a HEAD of the manifest.
enum class VerifyKubeletCredentials {
  kRequire,        // unreachable upstream: the pull fails
  kWhenReachable,  // unreachable upstream: logged, counted, served anyway
  kOff,            // no check
};

// `[credentials]`: where credentials come from besides [host] tables and the
// kubelet (credentials/ library).
struct CredentialsSettings {
  // docker config.json files, asked in order (auths, credHelpers,
  // credsStore). A missing file is skipped without an error.
  std::vector<std::string> docker_config;
  // Time a docker-credential-* helper may take.
  absl::Duration helper_timeout = absl::Seconds(5);
  // The kubelet's --image-credential-provider-config file (YAML or JSON)
  // and --image-credential-provider-bin-dir. Both or neither.
  std::string provider_config;
  std::string provider_bin_dir;
  // Time a provider plugin may take.
  absl::Duration provider_timeout = absl::Minutes(1);  // the kubelet allows 1m
  VerifyKubeletCredentials verify_kubelet_credentials = VerifyKubeletCredentials::kWhenReachable;
  // Deadline of that HEAD at the upstream.
  absl::Duration verify_timeout = absl::Seconds(5);
};

// `[import]`: foreign registry configs read at load and on every change,
// merged under the native rules (see import/load.h). Empty = not imported.
struct ImportSettings {
  std::string containerd_hosts_dir;  // a certs.d directory
  std::string containerd_config;     // containerd config.toml (CRI registry)
  std::string k3s_registries;        // k3s/RKE2 registries.yaml
  std::string registries_conf;       // containers registries.conf (v2)

  bool empty() const {
    return containerd_hosts_dir.empty() && containerd_config.empty() &&
           k3s_registries.empty() && registries_conf.empty();
  }
};

// `[server]`.
struct ServerSettings {
  std::string listen = "unix:///run/cri-mirror/cri-mirror.sock";
  std::string backend = "unix:///run/containerd/containerd.sock";
  std::string namespace_ = "k8s.io";  // key `namespace`
  std::string relay = "127.0.0.1:5098";
  absl::Duration pull_timeout = absl::Minutes(30);
  absl::Duration stall_timeout = absl::Seconds(30);
  // A manifest or HEAD request that an endpoint has not answered within this
  // long also goes to the next endpoint (relay/hedged_fetch.h). Zero: off.
  absl::Duration hedge_after = absl::Milliseconds(500);
  // Back-off for endpoints that failed at the connection level.
  absl::Duration endpoint_backoff_initial = absl::Seconds(5);
  absl::Duration endpoint_backoff_max = absl::Minutes(5);
  // Images every node must hold (node/image_ensurer.h): containerd's own
  // sandbox image when `ensure_sandbox_image`, plus `ensure_images`, pulled
  // through the mirror rules when missing. Checked every `ensure_interval`;
  // readiness waits up to `ensure_timeout` for them at start-up.
  bool ensure_sandbox_image = true;
  std::vector<std::string> ensure_images;
  absl::Duration ensure_interval = absl::Minutes(1);
  absl::Duration ensure_timeout = absl::Minutes(1);
  // Prometheus /metrics listener ("127.0.0.1:9098"); empty: off. Read at
  // start-up only.
  std::string metrics;
  // `cri-mirror status`'s socket: JSON of the daemon's state over HTTP on a
  // unix socket of mode 0600 (root only); empty: off. Read at start-up only.
  std::string status = "unix:///run/cri-mirror/status.sock";
  // `state_dir`: where state that outlives a restart is kept (the
  // last_known tag digests, tags.json). Created 0700 when first needed.
  std::string state_dir = "/var/lib/cri-mirror";
};

struct Config {
  ServerSettings server;
  std::vector<MirrorRule> mirrors;
  std::map<std::string, HostSettings, std::less<>> hosts;  // by "host:port"
  ImportSettings imports;
  CredentialsSettings credentials;
  // Files the loaded config was built from besides the main file (imported
  // files and directories); the watcher reloads when one of them changes.
  std::vector<std::string> watched_paths;
  // The credential sources built from `credentials` when the config was
  // loaded (credentials::BuildSources; the daemon's loader sets it), kept
  // with the snapshot so a reload rebuilds them and one pull sees one set.
  // Null: none (a parsed-only config, tests).
  std::shared_ptr<const credentials::CredentialSource> credential_sources;

  // The settings for `host_port`, or nullptr when there is no [host] table.
  const HostSettings* FindHost(std::string_view host_port) const;
};

using ConfigPtr = std::shared_ptr<const Config>;

// A non-fatal finding (e.g. a world-readable secret file).
struct Warning {
  std::string message;  // "config.toml:14:3: [host.\"m:5000\"].password_file: ..."
};

}  // namespace crimirror::config
