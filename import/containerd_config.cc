#include "import/containerd_config.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "import/foreign_toml.h"

namespace crimirror::importer {
namespace {

const toml::table* RegistryTable(const toml::table& root) {
  const toml::table* plugins = root["plugins"].as_table();
  if (plugins == nullptr) return nullptr;
  for (const char* name : {"io.containerd.grpc.v1.cri", "cri",
                           "io.containerd.cri.v1.images"}) {
    if (const toml::table* t = (*plugins)[name]["registry"].as_table()) {
      return t;
    }
  }
  return nullptr;
}

// The authority of a URL as written ("127.0.0.1:5000").
std::string Authority(std::string_view url) {
  absl::string_view rest = A(url);
  if (size_t at = rest.find("://"); at != absl::string_view::npos) {
    rest.remove_prefix(at + 3);
  }
  return absl::AsciiStrToLower(rest.substr(0, rest.find('/')));
}

class CriRegistry {
 public:
  explicit CriRegistry(std::string_view file) : f_(file) {}

  absl::StatusOr<Imported> Parse(const toml::table& registry) {
    for (const char* key : {"config_path", "headers", "auths"}) {
      if (const toml::node* n = registry.get(key)) {
        f_.Note(*n, absl::StrCat(
                        "registry.", key, " dropped",
                        std::string_view(key) == "config_path"
                            ? ": import the certs.d directory with "
                              "[import] containerd_hosts_dir instead"
                            : ": cri-mirror does not support it"));
      }
    }
    if (const toml::table* mirrors = registry["mirrors"].as_table()) {
      for (auto&& [name, value] : *mirrors) Mirror(std::string(name.str()), value);
    }
    if (const toml::table* configs = registry["configs"].as_table()) {
      for (auto&& [host, value] : *configs) Configs(std::string(host.str()), value);
    }
    absl::Status status = f_.Finish(&out_);
    if (!status.ok()) return status;
    return std::move(out_);
  }

 private:
  void Mirror(const std::string& name, const toml::node& value) {
    std::string key = absl::StrCat("registry.mirrors.\"", name, "\"");
    config::MirrorRule rule;
    rule.registry = absl::AsciiStrToLower(name);
    rule.line = static_cast<int>(value.source().begin.line);
    rule.origin = f_.Where(value);
    std::string default_host = rule.registry == "docker.io"
                                   ? "registry-1.docker.io"
                                   : rule.registry;
    bool has_default = false;
    const toml::node* endpoints = value.as_table() != nullptr
                                      ? value.as_table()->get("endpoint")
                                      : nullptr;
    if (endpoints == nullptr) {
      f_.Error(value, key + ".endpoint", "missing; list the mirror URLs");
      return;
    }
    for (const std::string& e : f_.Strings(*endpoints, key + ".endpoint")) {
      if (Authority(e) == default_host) has_default = true;
      absl::StatusOr<std::string> url =
          NativeEndpoint(e, "https", PathStyle::kContainerdCri);
      if (!url.ok()) {
        f_.Note(*endpoints, absl::StrCat("endpoint \"", e, "\" dropped: ",
                                         url.status().message()));
        continue;
      }
      rule.endpoints.push_back(*url);
      urls_.push_back(*url);
    }
    if (has_default || rule.registry == "*") {
      rule.fallback_to_upstream = rule.registry == "*";
    } else if (IsLocalhost(rule.registry)) {
      // containerd reaches localhost registries over http.
      rule.endpoints.push_back(absl::StrCat("http://", rule.registry));
      rule.fallback_to_upstream = false;
      f_.Note(value, absl::StrCat("the registry itself is appended as http://",
                                  rule.registry, " as containerd does for "
                                  "localhost"));
    }
    if (has_default && rule.registry != "*" && !rule.endpoints.empty() &&
        IsUpstreamOf(rule.endpoints.back(), rule.registry)) {
      rule.endpoints.pop_back();
      rule.fallback_to_upstream = true;
    }
    if (rule.endpoints.empty()) {
      f_.Note(value, absl::StrCat("no usable endpoint for \"", name,
                                  "\"; no rule written"));
      return;
    }
    out_.mirrors.push_back(std::move(rule));
  }

  void Configs(const std::string& host, const toml::node& value) {
    std::string key = absl::StrCat("registry.configs.\"", host, "\"");
    const toml::table* table = value.as_table();
    if (table == nullptr) {
      f_.Error(value, key, "expected a table");
      return;
    }
    ForeignHostConfig from;
    from.where = f_.Where(value);
    auto str = [&](const toml::table* t, const char* k, std::string* out) {
      if (t == nullptr) return;
      if (const toml::node* n = t->get(k)) {
        std::string_view sub = t == (*table)["tls"].as_table() ? "tls" : "auth";
        *out = f_.String(*n, absl::StrCat(key, ".", A(sub), ".", k)).value_or("");
      }
    };
    const toml::table* auth = (*table)["auth"].as_table();
    const toml::table* tls = (*table)["tls"].as_table();
    str(auth, "username", &from.username);
    str(auth, "password", &from.password);
    str(auth, "auth", &from.auth);
    str(auth, "identitytoken", &from.identity_token);
    str(tls, "ca_file", &from.ca_file);
    str(tls, "cert_file", &from.cert_file);
    str(tls, "key_file", &from.key_file);
    if (tls != nullptr) {
      if (const toml::node* n = tls->get("insecure_skip_verify")) {
        from.insecure_skip_verify =
            f_.Bool(*n, key + ".tls.insecure_skip_verify").value_or(false);
      }
    }
    for (const std::string& host_key : HostKeysFor(host, urls_)) {
      ApplyHostConfig(from, &HostFor(&out_, host_key), &out_.notes);
    }
  }

  ForeignFile f_;
  Imported out_;
  std::vector<std::string> urls_;
};

}  // namespace

absl::StatusOr<Imported> ParseContainerdConfig(std::string_view text,
                                               std::string_view file_name) {
  absl::StatusOr<toml::table> root = ParseToml(text, file_name);
  if (!root.ok()) return root.status();
  const toml::table* registry = RegistryTable(*root);
  if (registry == nullptr) {
    Imported none;
    none.notes.push_back(
        {Where(file_name, 1), "no CRI registry tables in this file"});
    return none;
  }
  return CriRegistry(file_name).Parse(*registry);
}

}  // namespace crimirror::importer
