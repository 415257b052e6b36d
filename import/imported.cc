#include "import/imported.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "config/endpoint_url.h"

namespace crimirror::importer {
namespace {

absl::string_view A(std::string_view s) { return {s.data(), s.size()}; }

// path.Clean for the absolute URL paths these formats use.
std::string CleanPath(absl::string_view path) {
  std::vector<std::string> parts;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    if (part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.emplace_back(part);
  }
  return absl::StrCat("/", absl::StrJoin(parts, "/"));
}

std::string ApiRoot(absl::string_view path, PathStyle style) {
  std::string clean = path.empty() ? "" : CleanPath(path);
  switch (style) {
    case PathStyle::kContainerdHosts:
      if (clean.empty() || clean == "/") return "/v2";
      return absl::EndsWith(clean, "/v2") ? clean : absl::StrCat(clean, "/v2");
    case PathStyle::kContainerdHostsOverride:
      return clean.empty() ? "/" : clean;
    case PathStyle::kContainerdCri:
      return clean.empty() ? "/v2" : clean;
    case PathStyle::kK3s:
      if (clean.empty() || clean == "/" || clean == "/v2") return "/v2";
      return clean;
  }
  return "/v2";
}

}  // namespace

void Merge(Imported from, Imported* into) {
  for (config::MirrorRule& rule : from.mirrors) {
    bool duplicate = false;
    for (const config::MirrorRule& existing : into->mirrors) {
      if (existing.registry != rule.registry) continue;
      into->notes.push_back(
          {rule.origin, absl::StrCat("rule for \"", rule.registry,
                                     "\" dropped: ", existing.origin,
                                     " already defines it")});
      duplicate = true;
      break;
    }
    if (!duplicate) into->mirrors.push_back(std::move(rule));
  }
  for (auto& [key, host] : from.hosts) {
    if (into->hosts.count(key) != 0) {
      into->notes.push_back(
          {"", absl::StrCat("[host.\"", key,
                            "\"] settings dropped: an earlier import already "
                            "sets them")});
      continue;
    }
    into->hosts.emplace(key, std::move(host));
  }
  for (Note& note : from.notes) into->notes.push_back(std::move(note));
}

absl::StatusOr<std::string> NativeEndpoint(std::string_view raw_std,
                                           std::string_view default_scheme,
                                           PathStyle style) {
  absl::string_view raw = A(raw_std);
  std::string scheme(A(default_scheme));
  absl::string_view rest = raw;
  if (size_t at = raw.find("://"); at != absl::string_view::npos) {
    scheme = absl::AsciiStrToLower(raw.substr(0, at));
    rest = raw.substr(at + 3);
  }
  if (scheme != "http" && scheme != "https") {
    return absl::InvalidArgumentError(
        absl::StrCat("scheme \"", scheme, "\" is not http or https"));
  }
  size_t slash = rest.find('/');
  std::string authority(rest.substr(0, slash));
  absl::string_view path =
      slash == absl::string_view::npos ? "" : rest.substr(slash);
  if (absl::AsciiStrToLower(authority) == "docker.io") {
    authority = "registry-1.docker.io";
  }
  std::string root = ApiRoot(path, style);
  std::string prefix;
  if (root != "/v2") {
    if (!absl::StartsWith(root, "/v2/")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "its API root is \"", root,
          "\", not /v2 or a path under it; cri-mirror always requests "
          "<host>/v2/<path prefix>/<repository>"));
    }
    prefix = root.substr(4);
  }
  std::string url = absl::StrCat(scheme, "://", authority,
                                 prefix.empty() ? "" : "/", prefix);
  absl::StatusOr<config::EndpointUrl> parsed = config::ParseEndpointUrl(url);
  if (!parsed.ok()) return parsed.status();
  return url;
}

std::string HostKey(std::string_view native_url) {
  absl::StatusOr<config::EndpointUrl> parsed =
      config::ParseEndpointUrl(native_url);
  return parsed.ok() ? parsed->HostPort() : std::string(A(native_url));
}

bool IsUpstreamOf(std::string_view native_url, std::string_view registry) {
  if (registry == "*") return false;
  std::string host(A(registry).substr(0, A(registry).find('/')));
  config::Upstream upstream = config::UpstreamFor(host);
  absl::StatusOr<config::EndpointUrl> a = config::ParseEndpointUrl(native_url);
  absl::StatusOr<config::EndpointUrl> b =
      config::ParseEndpointUrl(upstream.base_url);
  return a.ok() && b.ok() && a->scheme == b->scheme &&
         a->HostPort() == b->HostPort() && a->path_prefix.empty();
}

bool IsLocalhost(std::string_view host_port) {
  absl::StatusOr<config::HostAndPort> split =
      config::SplitHostPort(host_port);
  if (!split.ok()) return false;
  const std::string& host = split->host;
  return host == "localhost" || host == "[::1]" ||
         absl::StartsWith(host, "127.");
}

config::HostSettings& HostFor(Imported* imported, const std::string& key) {
  auto [it, inserted] = imported->hosts.try_emplace(key);
  if (inserted) it->second.host = key;
  return it->second;
}

std::string AbsolutePath(std::string_view path, std::string_view base_dir) {
  if (!path.empty() && path.front() == '/') return std::string(A(path));
  return absl::StrCat(A(base_dir), "/", A(path));
}

config::PullFromMirror CombineModes(
    const std::vector<config::PullFromMirror>& modes, const std::string& where,
    std::vector<Note>* notes) {
  if (modes.empty()) return config::PullFromMirror::kAll;
  for (config::PullFromMirror mode : modes) {
    if (mode == modes.front()) continue;
    notes->push_back(
        {where,
         "the mirrors differ in what they may serve (tags, digests); "
         "cri-mirror's pull_from_mirror is per rule, so every mirror of this "
         "rule is digest-only"});
    return config::PullFromMirror::kDigestOnly;
  }
  return modes.front();
}

void ApplyHostConfig(const ForeignHostConfig& from, config::HostSettings* host,
                     std::vector<Note>* notes) {
  std::vector<std::string> dropped;
  if (!from.username.empty() && !from.password.empty()) {
    host->username = from.username;
    host->password = config::Secret(from.password);
    if (!from.auth.empty()) dropped.push_back("auth");
    if (!from.identity_token.empty()) dropped.push_back("identity_token");
  } else if (!from.auth.empty()) {
    host->auth = config::Secret(from.auth);
    if (!from.identity_token.empty()) dropped.push_back("identity_token");
  } else if (!from.identity_token.empty()) {
    host->identity_token = config::Secret(from.identity_token);
    if (!from.username.empty()) host->username = from.username;
  } else if (!from.username.empty() || !from.password.empty()) {
    dropped.push_back(from.username.empty() ? "password (no username)"
                                            : "username (no password)");
  }
  if (!dropped.empty()) {
    notes->push_back({from.where, absl::StrCat(
                                      "dropped ", absl::StrJoin(dropped, ", "),
                                      ": cri-mirror takes one credential per "
                                      "host")});
  }
  if (!from.ca_file.empty()) host->ca_files = {from.ca_file};
  if (!from.cert_file.empty() && !from.key_file.empty()) {
    host->client_cert = from.cert_file;
    host->client_key = from.key_file;
  } else if (!from.cert_file.empty() || !from.key_file.empty()) {
    notes->push_back({from.where, "client certificate dropped: cert_file and "
                                  "key_file must both be set"});
  }
  if (from.insecure_skip_verify) host->insecure_skip_verify = true;
}

std::vector<std::string> HostKeysFor(
    std::string_view host_std, const std::vector<std::string>& native_urls) {
  std::string host = absl::AsciiStrToLower(A(host_std));
  if (host == "docker.io") host = "registry-1.docker.io";
  std::vector<std::string> keys;
  auto add = [&keys](std::string key) {
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      keys.push_back(std::move(key));
    }
  };
  for (const std::string& url : native_urls) {
    absl::string_view rest = url;
    if (size_t at = rest.find("://"); at != absl::string_view::npos) {
      rest.remove_prefix(at + 3);
    }
    if (absl::AsciiStrToLower(rest.substr(0, rest.find('/'))) == host) {
      add(HostKey(url));
    }
  }
  if (host == "*") return keys;  // no [host] table applies to every host
  add(config::UpstreamFor(host == "registry-1.docker.io" ? "docker.io" : host)
          .host_port);
  return keys;
}

std::string Where(std::string_view file, int line) {
  return absl::StrCat(A(file), ":", line);
}

}  // namespace crimirror::importer
