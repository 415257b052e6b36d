// What every foreign-format importer produces: native mirror rules, native
// [host] settings and a note for every setting that was dropped or changed,
// plus the small conversions the formats share (endpoint URLs and their API
// root paths, [host] keys, per-rule pull_from_mirror). Pure: no file access.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace crimirror::importer {

// A setting that was dropped or changed, and why.
struct Note {
  std::string where;    // "file:line" of the foreign setting
  std::string message;  // "[header] dropped: cri-mirror sends no extra headers"
};

// The result of reading one foreign config (or one directory of them).
struct Imported {
  std::vector<config::MirrorRule> mirrors;  // origin = "file:line"
  std::map<std::string, config::HostSettings, std::less<>> hosts;
  std::vector<Note> notes;
};

// Appends `from` to `into`: a rule for a registry `into` already has, or a
// [host] key it already has, is dropped with a note (the first one wins).
void Merge(Imported from, Imported* into);

// How a foreign format turns an endpoint URL's path into the API root (the
// path requests are made under, "/v2" by default).
enum class PathStyle {
  // containerd hosts.toml: "/v2" appended unless the path ends in /v2, or
  // the path is used as is with override_path.
  kContainerdHosts,
  kContainerdHostsOverride,
  // containerd CRI registry.mirrors: an empty path means /v2, any other path
  // is used as is.
  kContainerdCri,
  // k3s: "", "/" and "/v2" mean /v2; any other path is used as is
  // (override_path).
  kK3s,
};

// Converts a foreign endpoint to a native endpoint URL. `raw` may lack a
// scheme; `default_scheme` is used then. docker.io becomes
// registry-1.docker.io as containerd's DefaultHost does. Returns the native
// URL ("https://m:5000" or "https://m:5000/prefix" for an API root
// /v2/prefix) or InvalidArgument saying why the endpoint cannot be
// expressed (cri-mirror always requests <url-root>/v2/<prefix>/...).
absl::StatusOr<std::string> NativeEndpoint(std::string_view raw,
                                           std::string_view default_scheme,
                                           PathStyle style);

// The [host] key ("m:5000", port explicit) of a native endpoint URL.
std::string HostKey(std::string_view native_url);

// True when `native_url` is exactly where the native config reaches
// `registry` upstream (config::UpstreamFor): fallback_to_upstream covers it.
bool IsUpstreamOf(std::string_view native_url, std::string_view registry);

// True for localhost, 127.0.0.0/8 and ::1 hosts (with or without a port), the
// hosts containerd and k3s reach over plain http by default.
bool IsLocalhost(std::string_view host_port);

// The [host] table for `key`, created empty when missing.
config::HostSettings& HostFor(Imported* imported, const std::string& key);

// Makes `path` absolute against `base_dir` (containerd's makeAbsPath).
std::string AbsolutePath(std::string_view path, std::string_view base_dir);

// One native pull_from_mirror for a rule whose foreign mirrors each had
// their own: the common mode, else digest-only (the safe choice: a mirror is
// never trusted with more than it was) with a note at `where`.
config::PullFromMirror CombineModes(
    const std::vector<config::PullFromMirror>& modes, const std::string& where,
    std::vector<Note>* notes);

// A registry's auth and TLS settings as containerd's CRI `registry.configs`
// and k3s `configs` write them.
struct ForeignHostConfig {
  std::string where;  // "file:line" for notes
  std::string username, password, auth, identity_token;
  std::string ca_file, cert_file, key_file;
  bool insecure_skip_verify = false;
};

// Copies `from` into `host`. cri-mirror takes one credential per host:
// username+password first, then auth, then identity_token; the others are
// dropped with a note, as is a cert_file without key_file (or the reverse).
void ApplyHostConfig(const ForeignHostConfig& from, config::HostSettings* host,
                     std::vector<Note>* notes);

// The [host] keys a `configs."<host>"` entry stands for: the host:port of
// every endpoint in `native_urls` written with that authority, plus where the
// registry `host` itself is reached (config::UpstreamFor). docker.io means
// registry-1.docker.io. None for "*".
std::vector<std::string> HostKeysFor(std::string_view host,
                                     const std::vector<std::string>& native_urls);

// "file:line".
std::string Where(std::string_view file, int line);

}  // namespace crimirror::importer
