// yaml-cpp reports malformed YAML and bad conversions by throwing; this file
// is the one seam where those exceptions are caught and turned into Status.
#include "import/k3s.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "re2/re2.h"
#include "yaml-cpp/yaml.h"

namespace crimirror::importer {
namespace {

class K3sFile {
 public:
  K3sFile(std::string_view file, K3sOptions options)
      : file_(file), options_(options) {}

  absl::StatusOr<Imported> Parse(const YAML::Node& root) {
    if (!root.IsMap() && !root.IsNull()) {
      Error(root, "", "expected a map with mirrors: and configs:");
    }
    if (root.IsMap()) {
      for (const auto& top : root) {
        std::string key = top.first.as<std::string>();
        if (key != "mirrors" && key != "configs") {
          Note(top.first, absl::StrCat(key, " ignored: k3s does not know it"));
        }
      }
      if (const YAML::Node mirrors = root["mirrors"]; mirrors && mirrors.IsMap()) {
        for (const auto& m : mirrors) Mirror(m.first, m.second);
      }
      if (const YAML::Node configs = root["configs"]; configs && configs.IsMap()) {
        for (const auto& c : configs) Configs(c.first, c.second);
      }
    }
    if (!errors_.empty()) {
      return absl::InvalidArgumentError(absl::StrJoin(errors_, "\n"));
    }
    return std::move(out_);
  }

 private:
  std::string At(const YAML::Node& node) const {
    return Where(file_, node.Mark().line + 1);
  }
  void Error(const YAML::Node& node, std::string_view key,
             std::string_view message) {
    errors_.push_back(absl::StrCat(file_, ":", node.Mark().line + 1, ":",
                                   node.Mark().column + 1, ": ",
                                   std::string(key), ": ", std::string(message)));
  }
  void Note(const YAML::Node& node, std::string message) {
    out_.notes.push_back({At(node), std::move(message)});
  }

  absl::StatusOr<std::string> Endpoint(const std::string& raw) {
    bool has_scheme = raw.find("://") != std::string::npos;
    std::string authority =
        has_scheme ? "" : raw.substr(0, raw.find('/'));
    std::string scheme = "https";
    if (!has_scheme && IsLocalhost(authority) &&
        authority.find(':') != std::string::npos &&
        !absl::EndsWith(authority, ":443")) {
      scheme = "http";
    }
    return NativeEndpoint(raw, scheme, PathStyle::kK3s);
  }

  void Mirror(const YAML::Node& name_node, const YAML::Node& value) {
    std::string name = absl::AsciiStrToLower(name_node.as<std::string>());
    std::string key = absl::StrCat("mirrors.", name);
    config::MirrorRule rule;
    rule.registry = name;
    rule.line = name_node.Mark().line + 1;
    rule.origin = At(name_node);
    rule.fallback_to_upstream = !options_.disable_default_endpoint;
    if (!value.IsMap()) {
      Error(value, key, "expected a map with endpoint:");
      return;
    }
    const YAML::Node endpoints = value["endpoint"];
    if (endpoints && !endpoints.IsSequence()) {
      Error(endpoints, key + ".endpoint", "expected a list of URLs");
      return;
    }
    for (const auto& e : endpoints) {
      std::string raw = e.as<std::string>();
      absl::StatusOr<std::string> parsed = Endpoint(raw);
      if (!parsed.ok()) {
        Note(e, absl::StrCat("endpoint \"", raw, "\" skipped: ",
                             parsed.status().message()));
        continue;
      }
      const std::string& url = *parsed;
      if (IsUpstreamOf(url, name)) {
        rule.fallback_to_upstream = true;  // the default endpoint, written out
        continue;
      }
      bool seen = false;
      for (const std::string& have : rule.endpoints) seen |= have == url;
      if (seen) {
        Note(e, absl::StrCat("duplicate endpoint ", url, " dropped"));
        continue;
      }
      rule.endpoints.push_back(url);
      urls_.push_back(url);
    }
    const YAML::Node rewrites = value["rewrite"];
    Rewrites(rewrites, key, &rule);
    if (rule.endpoints.empty()) {
      if (!rule.rewrite.empty()) {
        Note(name_node, "rewrite dropped: cri-mirror rewrites only on mirror "
                        "endpoints and this mirror has none");
      }
      return;  // the registry itself: the same as no rule
    }
    if (!rule.rewrite.empty() && rule.fallback_to_upstream) {
      Note(rewrites, "rewrites apply to the mirror endpoints only, not "
                             "to the registry itself");
    }
    out_.mirrors.push_back(std::move(rule));
  }

  void Rewrites(const YAML::Node& rewrites, const std::string& key,
                config::MirrorRule* rule) {
    if (!rewrites) return;
    if (!rewrites.IsMap()) {
      Error(rewrites, key + ".rewrite", "expected a map of regex: replacement");
      return;
    }
    for (const auto& r : rewrites) {
      std::string match = r.first.as<std::string>();
      std::string replace = r.second.as<std::string>();
      RE2 re(match, RE2::Quiet);
      if (!re.ok()) {
        Error(r.first, key + ".rewrite",
              absl::StrCat("invalid regular expression: ", re.error()));
        continue;
      }
      rule->rewrite.push_back({match, replace});
    }
  }

  void Configs(const YAML::Node& host_node, const YAML::Node& value) {
    std::string host = host_node.as<std::string>();
    std::string key = absl::StrCat("configs.", host);
    if (!value.IsMap()) {
      Error(value, key, "expected a map with auth: and tls:");
      return;
    }
    ForeignHostConfig from;
    from.where = At(host_node);
    auto str = [&](const YAML::Node& parent, const char* k, std::string* out) {
      if (parent && parent.IsMap() && parent[k]) {
        *out = parent[k].as<std::string>();
      }
    };
    const YAML::Node auth = value["auth"];
    const YAML::Node tls = value["tls"];
    str(auth, "username", &from.username);
    str(auth, "password", &from.password);
    str(auth, "auth", &from.auth);
    str(auth, "identity_token", &from.identity_token);
    for (auto [k, out] : {std::pair{"ca_file", &from.ca_file},
                          std::pair{"cert_file", &from.cert_file},
                          std::pair{"key_file", &from.key_file}}) {
      str(tls, k, out);
      if (!out->empty() && out->front() != '/') {
        RelativeTlsFile(tls[k], absl::StrCat(key, ".tls.", k), *out);
        out->clear();
      }
    }
    if (tls && tls.IsMap() && tls["insecure_skip_verify"]) {
      from.insecure_skip_verify = tls["insecure_skip_verify"].as<bool>();
    }
    if (host == "*") {
      Note(host_node, "configs.\"*\" dropped: a [host] table names one "
                      "host:port; write the settings per registry");
      return;
    }
    std::string lookup = host;
    if (size_t at = lookup.find("://"); at != std::string::npos) {
      lookup = lookup.substr(at + 3);
    }
    for (const std::string& host_key : HostKeysFor(lookup, urls_)) {
      ApplyHostConfig(from, &HostFor(&out_, host_key), &out_.notes);
    }
  }

  // k3s copies tls paths unchanged into the hosts.toml it generates under
  // its own certs.d (pkg/agent/templates HostsTomlTemplate), where containerd
  // resolves a relative one against that generated directory, which k3s
  // deletes and rewrites on start: never this file's directory. No base
  // cri-mirror could pick would be the one k3s uses, so it is an error.
  void RelativeTlsFile(const YAML::Node& node, const std::string& key,
                       const std::string& path) {
    Error(node, key,
          absl::StrCat("\"", path, "\" is a relative path; k3s passes it to "
                       "containerd unchanged, which reads it relative to the "
                       "hosts.toml k3s generates, not to this file; write an "
                       "absolute path (e.g. /etc/rancher/k3s/",
                       path.substr(path.rfind('/') + 1), ")"));
  }

  std::string file_;
  K3sOptions options_;
  Imported out_;
  std::vector<std::string> errors_;
  std::vector<std::string> urls_;
};

}  // namespace

absl::StatusOr<Imported> ParseK3sRegistries(std::string_view text,
                                            std::string_view file_name,
                                            K3sOptions options) {
  std::string file(file_name);
  try {
    YAML::Node root = YAML::Load(std::string(text));
    return K3sFile(file_name, options).Parse(root);
  } catch (const YAML::Exception& e) {
    // Never echo the message's snippet of the file: it may hold a password.
    return absl::InvalidArgumentError(
        absl::StrCat(file, ":", e.mark.line + 1, ":", e.mark.column + 1,
                     ": YAML: ", e.msg));
  }
}

}  // namespace crimirror::importer
