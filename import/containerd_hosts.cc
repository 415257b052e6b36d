// hosts.toml -> native rule. toml++ tables iterate sorted by key, so the
// `[host."..."]` order containerd honours is recovered from source lines.
#include "import/containerd_hosts.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "config/endpoint_url.h"
#include "config/http_header.h"
#include "import/files.h"
#include "import/foreign_toml.h"

namespace crimirror::importer {
namespace {

constexpr int kPull = 1, kResolve = 2, kPush = 4;

// ca_file refuses a path listed twice; containerd would just load it twice.
void AddCaFile(std::string path, config::HostSettings* host) {
  if (std::find(host->ca_files.begin(), host->ca_files.end(), path) ==
      host->ca_files.end()) {
    host->ca_files.push_back(std::move(path));
  }
}

struct HostEntry {
  std::string url;  // native URL; empty = not expressible (noted)
  int capabilities = kPull | kResolve | kPush;
  int line = 0;
};

class HostsFile {
 public:
  HostsFile(std::string_view file, std::string_view registry,
            std::string_view base_dir)
      : f_(file), registry_(A(registry)), base_dir_(A(base_dir)) {}

  absl::StatusOr<Imported> Parse(const toml::table& root);

 private:
  HostEntry Entry(const toml::table& table, std::string_view server,
                  std::string_view key);
  int Capabilities(const toml::table& table, std::string_view key);
  void Settings(const toml::table& table, std::string_view key,
                const std::string& host_key);
  void Client(const toml::node& node, std::string_view key,
              config::HostSettings* host);
  void Headers(const toml::node& node, std::string_view key,
               config::HostSettings* host);
  void AddRule(const std::vector<HostEntry>& hosts, const HostEntry* server,
               int line);

  ForeignFile f_;
  std::string registry_;
  std::string base_dir_;
  Imported out_;
};

int HostsFile::Capabilities(const toml::table& table, std::string_view key) {
  const toml::node* node = table.get("capabilities");
  if (node == nullptr) return kPull | kResolve | kPush;
  int bits = 0;
  for (const std::string& c :
       f_.Strings(*node, absl::StrCat(A(key), "capabilities"))) {
    std::string lower = absl::AsciiStrToLower(c);
    if (lower == "pull") {
      bits |= kPull;
    } else if (lower == "resolve") {
      bits |= kResolve;
    } else if (lower == "push") {
      bits |= kPush;
    } else {
      f_.Error(*node, absl::StrCat(A(key), "capabilities"),
               absl::StrCat("unknown capability \"", c,
                            "\"; use pull, resolve or push"));
    }
  }
  return bits;
}

void HostsFile::Client(const toml::node& node, std::string_view key,
                       config::HostSettings* host) {
  std::vector<std::pair<std::string, std::string>> pairs;
  if (const toml::array* array = node.as_array()) {
    for (const toml::node& element : *array) {
      if (const toml::array* pair = element.as_array()) {
        std::vector<std::string> both = f_.Strings(*pair, key);
        if (both.size() != 2) {
          f_.Error(element, key, "a client pair is [\"cert\", \"key\"]");
          continue;
        }
        pairs.emplace_back(both[0], both[1]);
      } else if (auto s = f_.String(element, key)) {
        pairs.emplace_back(*s, *s);
      }
    }
  } else if (auto s = f_.String(node, key)) {
    pairs.emplace_back(*s, *s);
  }
  if (pairs.empty()) return;
  if (pairs.size() > 1) {
    f_.Note(node, "only the first client certificate is used; cri-mirror "
                  "takes one client_cert/client_key pair per host");
  }
  host->client_cert = AbsolutePath(pairs[0].first, base_dir_);
  host->client_key = AbsolutePath(pairs[0].second, base_dir_);
  if (pairs[0].first == pairs[0].second) {
    f_.Note(node, "a single client file holds both certificate and key; it "
                  "is used as client_cert and client_key");
  }
}

// [header]: name = "value" or ["v1", "v2"], as containerd sends them; names
// and values cri-mirror refuses (config/http_header.h) are errors.
void HostsFile::Headers(const toml::node& node, std::string_view key,
                        config::HostSettings* host) {
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    f_.Error(node, key, "must be a table of header names to strings");
    return;
  }
  for (auto&& [name, value] : *table) {
    const std::string header(name.str());
    const std::string where = absl::StrCat(A(key), ".", header);
    for (const std::string& v : f_.Strings(value, where)) {
      absl::Status ok = config::CheckRegistryHeader(header, v);
      if (!ok.ok()) {
        f_.Error(value, where, std::string(ok.message()));
        break;
      }
      host->headers.emplace_back(header, v);
    }
  }
}

void HostsFile::Settings(const toml::table& table, std::string_view key,
                         const std::string& host_key) {
  bool any = table.contains("ca") || table.contains("client") ||
             table.contains("skip_verify") || table.contains("dial_timeout") ||
             table.contains("header");
  for (auto&& [k, v] : table) {
    static const std::vector<std::string_view> kKnown = {
        "capabilities", "ca",     "client", "skip_verify", "header",
        "override_path", "dial_timeout", "server", "host"};
    if (std::find(kKnown.begin(), kKnown.end(), k.str()) == kKnown.end()) {
      f_.Note(v, absl::StrCat(A(key), A(k.str()),
                              " ignored: containerd does not know it either"));
    }
  }
  if (!any) return;
  if (host_key.empty()) {
    f_.Note(table, "TLS settings of the _default server dropped: they would "
                   "apply to every registry, which a [host] table cannot say");
    return;
  }
  config::HostSettings& host = HostFor(&out_, host_key);
  if (const toml::node* n = table.get("ca")) {
    // containerd appends every `ca` file to the host's pool; so does ca_file.
    host.ca_files.clear();
    for (const std::string& ca : f_.Strings(*n, absl::StrCat(A(key), "ca"))) {
      AddCaFile(AbsolutePath(ca, base_dir_), &host);
    }
  }
  if (const toml::node* n = table.get("client")) {
    Client(*n, absl::StrCat(A(key), "client"), &host);
  }
  if (const toml::node* n = table.get("skip_verify")) {
    if (auto b = f_.Bool(*n, absl::StrCat(A(key), "skip_verify"))) {
      host.insecure_skip_verify = *b;
    }
  }
  if (const toml::node* n = table.get("header")) {
    Headers(*n, absl::StrCat(A(key), "header"), &host);
  }
  if (const toml::node* n = table.get("dial_timeout")) {
    absl::Duration d;
    auto text = f_.String(*n, absl::StrCat(A(key), "dial_timeout"));
    if (text && absl::ParseDuration(*text, &d) && d > absl::ZeroDuration()) {
      host.connect_timeout = d;
    } else if (text) {
      f_.Error(*n, absl::StrCat(A(key), "dial_timeout"),
               "is not a duration; write e.g. \"5s\"");
    }
  }
}

HostEntry HostsFile::Entry(const toml::table& table, std::string_view server,
                           std::string_view key) {
  HostEntry entry;
  entry.line = static_cast<int>(table.source().begin.line);
  entry.capabilities = Capabilities(table, key);
  bool override_path = false;
  if (const toml::node* n = table.get("override_path")) {
    override_path = f_.Bool(*n, absl::StrCat(A(key), "override_path"))
                        .value_or(false);
  }
  std::string host_key;
  if (!server.empty()) {
    absl::StatusOr<std::string> url = NativeEndpoint(
        server, "https",
        override_path ? PathStyle::kContainerdHostsOverride
                      : PathStyle::kContainerdHosts);
    if (url.ok()) {
      entry.url = *url;
      host_key = HostKey(*url);
    } else {
      f_.Note(table, absl::StrCat("host \"", A(server), "\" dropped: ",
                                  url.status().message()));
    }
  } else if (registry_ != "*") {
    host_key = config::UpstreamFor(registry_).host_port;
  }
  if (server.empty() || !entry.url.empty()) Settings(table, key, host_key);
  return entry;
}

void HostsFile::AddRule(const std::vector<HostEntry>& hosts,
                        const HostEntry* server, int line) {
  config::MirrorRule rule;
  rule.registry = registry_;
  rule.line = line;
  rule.origin = Where(f_.file(), line);
  rule.fallback_to_upstream = server == nullptr;
  std::vector<config::PullFromMirror> modes;
  auto add = [&](const HostEntry& e) {
    if (e.url.empty()) return;
    if ((e.capabilities & kPull) == 0) {
      out_.notes.push_back({Where(f_.file(), e.line),
                            absl::StrCat("host ", e.url,
                                         " dropped: it lacks the pull "
                                         "capability")});
      return;
    }
    rule.endpoints.push_back(e.url);
    modes.push_back((e.capabilities & kResolve) != 0
                        ? config::PullFromMirror::kAll
                        : config::PullFromMirror::kDigestOnly);
  };
  for (const HostEntry& e : hosts) add(e);
  if (server != nullptr) {
    if (!server->url.empty() && IsUpstreamOf(server->url, registry_) &&
        server->capabilities == (kPull | kResolve | kPush)) {
      rule.fallback_to_upstream = true;
    } else {
      add(*server);
    }
  }
  rule.pull_from_mirror = CombineModes(modes, rule.origin, &out_.notes);
  if (rule.endpoints.empty()) {
    if (!rule.fallback_to_upstream) {
      out_.notes.push_back({rule.origin,
                            absl::StrCat("no host of \"", registry_,
                                         "\" can pull; no rule written")});
    }
    return;  // the registry itself, as with no rule; [host] settings stay
  }
  out_.mirrors.push_back(std::move(rule));
}

absl::StatusOr<Imported> HostsFile::Parse(const toml::table& root) {
  std::vector<HostEntry> hosts;
  int first_line = 1;
  if (const toml::node* node = root.get("host")) {
    if (const toml::table* table = node->as_table()) {
      std::vector<std::pair<toml::source_position, std::string>> order;
      for (auto&& [key, value] : *table) {
        order.emplace_back(value.source().begin, std::string(key.str()));
      }
      std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
        return a.first.line < b.first.line ||
               (a.first.line == b.first.line && a.first.column < b.first.column);
      });
      for (const auto& [pos, key] : order) {
        const toml::table* host = table->get(key)->as_table();
        std::string path = absl::StrCat("[host.\"", key, "\"].");
        if (host == nullptr) {
          f_.Error(*table->get(key), path, "expected a table");
          continue;
        }
        hosts.push_back(Entry(*host, key, path));
      }
      if (!order.empty()) first_line = static_cast<int>(order[0].first.line);
    } else {
      f_.Error(*node, "host", "expected [host.\"url\"] tables");
    }
  }
  std::string server;
  if (const toml::node* n = root.get("server")) {
    server = f_.String(*n, "server").value_or("");
  }
  HostEntry root_entry = Entry(root, server, "");
  AddRule(hosts, server.empty() ? nullptr : &root_entry, first_line);
  absl::Status status = f_.Finish(&out_);
  if (!status.ok()) return status;
  return std::move(out_);
}

}  // namespace

absl::StatusOr<Imported> ParseHostsToml(std::string_view text,
                                        std::string_view file_name,
                                        std::string_view registry,
                                        std::string_view base_dir) {
  absl::StatusOr<toml::table> root = ParseToml(text, file_name);
  if (!root.ok()) return root.status();
  return HostsFile(file_name, registry, base_dir).Parse(*root);
}

Imported FromCertFiles(std::string_view registry, std::string_view dir,
                       std::vector<std::string> file_names) {
  Imported out;
  std::sort(file_names.begin(), file_names.end());
  std::string where = absl::StrCat(A(dir), ":0");
  std::vector<std::string> cas, certs;
  for (const std::string& name : file_names) {
    if (absl::EndsWith(name, ".crt")) cas.push_back(name);
    if (absl::EndsWith(name, ".cert")) certs.push_back(name);
  }
  if (cas.empty() && certs.empty()) return out;
  if (registry == "*") {
    out.notes.push_back({where, "certificate files of _default dropped: they "
                                "would apply to every registry"});
    return out;
  }
  config::HostSettings& host =
      HostFor(&out, config::UpstreamFor(registry).host_port);
  // Every *.crt is trusted, in name order, as docker and containerd do.
  for (const std::string& ca : cas) AddCaFile(AbsolutePath(ca, dir), &host);
  if (!certs.empty()) {
    const std::string& cert = certs[0];
    std::string key = cert.substr(0, cert.size() - 5) + ".key";
    bool has_key = std::find(file_names.begin(), file_names.end(), key) !=
                   file_names.end();
    host.client_cert = AbsolutePath(cert, dir);
    host.client_key = AbsolutePath(has_key ? key : cert, dir);
    if (!has_key) {
      out.notes.push_back({where, absl::StrCat(cert, " has no ", key,
                                               "; the .cert file is used as "
                                               "the key too")});
    }
  }
  return out;
}

absl::StatusOr<std::string> RegistryForDirectory(std::string_view name_std) {
  absl::string_view name = A(name_std);
  if (name == "_default") return std::string("*");
  std::string registry(name);
  // containerd's hostDirectory: "host:port" may be written "host_port_".
  if (absl::EndsWith(name, "_") && name.size() > 2) {
    absl::string_view inner = name.substr(0, name.size() - 1);
    size_t underscore = inner.rfind('_');
    if (underscore != absl::string_view::npos) {
      registry = absl::StrCat(inner.substr(0, underscore), ":",
                              inner.substr(underscore + 1));
    }
  }
  absl::StatusOr<config::RegistryKey> key = config::ParseRegistryKey(registry);
  if (!key.ok() || !key->path.empty() || key->wildcard || !key->subdomains_of.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "directory name \"", name,
        "\" is not a registry host[:port] (or _default)"));
  }
  return key->host;
}

absl::StatusOr<Imported> LoadContainerdHostsDir(const std::string& dir) {
  absl::StatusOr<std::vector<DirEntry>> entries = ListDirectory(dir);
  if (!entries.ok()) return entries.status();
  Imported all;
  std::vector<std::string> errors;
  for (const DirEntry& entry : *entries) {
    if (!entry.is_dir) continue;
    std::string sub = absl::StrCat(dir, "/", entry.name);
    absl::StatusOr<std::string> registry = RegistryForDirectory(entry.name);
    if (!registry.ok()) {
      all.notes.push_back({sub, absl::StrCat(registry.status().message(),
                                             "; skipped")});
      continue;
    }
    std::string hosts_file = sub + "/hosts.toml";
    absl::StatusOr<std::string> text = ReadWholeFile(hosts_file);
    absl::StatusOr<Imported> one;
    if (text.ok() && !text->empty()) {
      one = ParseHostsToml(*text, hosts_file, *registry, sub);
    } else if (!text.ok() && !absl::IsNotFound(text.status())) {
      one = text.status();
    } else {
      absl::StatusOr<std::vector<DirEntry>> files = ListDirectory(sub);
      if (!files.ok()) return files.status();
      std::vector<std::string> names;
      for (const DirEntry& f : *files) {
        if (!f.is_dir) names.push_back(f.name);
      }
      one = FromCertFiles(*registry, sub, std::move(names));
    }
    if (!one.ok()) {
      errors.emplace_back(one.status().message());
      continue;
    }
    Merge(*std::move(one), &all);
  }
  if (!errors.empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
  }
  return all;
}

}  // namespace crimirror::importer
