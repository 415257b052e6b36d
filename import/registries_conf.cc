#include "import/registries_conf.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "config/endpoint_url.h"
#include "import/files.h"
#include "import/foreign_toml.h"

namespace crimirror::importer {
namespace {

struct Location {
  std::string host;  // "internal.example.com:5000", docker.io kept
  std::string path;  // "bar" or ""
};

Location SplitLocation(const std::string& location) {
  size_t slash = location.find('/');
  Location out{location.substr(0, slash), ""};
  if (slash != std::string::npos) out.path = location.substr(slash + 1);
  while (!out.path.empty() && out.path.back() == '/') out.path.pop_back();
  return out;
}

class RegistriesConf {
 public:
  explicit RegistriesConf(std::string_view file) : f_(file) {}

  absl::StatusOr<Imported> Parse(const toml::table& root) {
    if (root.contains("registries")) {
      f_.Error(*root.get("registries"), "registries",
               "the v1 format ([registries.search] etc.) is not supported; "
               "write [[registry]] tables (version 2)");
    }
    for (const char* key : {"unqualified-search-registries", "aliases",
                            "short-name-mode", "credential-helpers"}) {
      if (const toml::node* n = root.get(key)) {
        f_.Note(*n, absl::StrCat(key, " dropped: the kubelet always pulls by "
                                      "a fully qualified name, so short-name "
                                      "resolution and credential helpers do "
                                      "not apply to CRI"));
      }
    }
    if (const toml::node* n = root.get("registry")) {
      const toml::array* array = n->as_array();
      if (array == nullptr || !array->is_array_of_tables()) {
        f_.Error(*n, "registry", "write each entry as a [[registry]] table");
      } else {
        for (size_t i = 0; i < array->size(); ++i) {
          Registry(*array->get(i)->as_table(),
                   absl::StrCat("[[registry]][", i, "]"));
        }
      }
    }
    absl::Status status = f_.Finish(&out_);
    if (!status.ok()) return status;
    return std::move(out_);
  }

 private:
  std::string Str(const toml::table& t, const char* k, const std::string& key) {
    const toml::node* n = t.get(k);
    return n == nullptr ? "" : f_.String(*n, absl::StrCat(key, ".", k)).value_or("");
  }
  bool Flag(const toml::table& t, const char* k, const std::string& key) {
    const toml::node* n = t.get(k);
    return n != nullptr &&
           f_.Bool(*n, absl::StrCat(key, ".", k)).value_or(false);
  }

  // Appends the endpoints of `location` (https, plus http when insecure).
  void AddLocation(const toml::node& at, const std::string& location,
                   bool insecure, config::MirrorRule* rule,
                   std::vector<config::PullFromMirror>* modes,
                   config::PullFromMirror mode) {
    Location loc = SplitLocation(location);
    std::string host = loc.host == "docker.io" ? "registry-1.docker.io" : loc.host;
    std::vector<std::string> urls = {absl::StrCat("https://", host)};
    if (insecure) urls.push_back(absl::StrCat("http://", host));
    for (std::string url : urls) {
      if (!loc.path.empty()) absl::StrAppend(&url, "/", loc.path);
      absl::StatusOr<config::EndpointUrl> parsed = config::ParseEndpointUrl(url);
      if (!parsed.ok()) {
        f_.Note(at, absl::StrCat("location \"", location, "\" dropped: ",
                                 parsed.status().message()));
        return;
      }
      rule->endpoints.push_back(url);
      modes->push_back(mode);
    }
    if (insecure) {
      HostFor(&out_, HostKey(urls[0])).insecure_skip_verify = true;
      f_.Note(at, absl::StrCat("insecure location ", location,
                               ": tried over https without certificate "
                               "verification, then over http"));
    }
  }

  config::PullFromMirror Mode(const toml::table& t, const std::string& key) {
    std::string mode = Str(t, "pull-from-mirror", key);
    if (mode.empty() || mode == "all") return config::PullFromMirror::kAll;
    if (mode == "digest-only") return config::PullFromMirror::kDigestOnly;
    if (mode == "tag-only") return config::PullFromMirror::kTagOnly;
    f_.Error(*t.get("pull-from-mirror"), key + ".pull-from-mirror",
             "use \"all\", \"digest-only\" or \"tag-only\"");
    return config::PullFromMirror::kAll;
  }

  void Registry(const toml::table& t, const std::string& key) {
    std::string prefix = Str(t, "prefix", key);
    std::string location = Str(t, "location", key);
    if (prefix.empty()) prefix = location;
    if (prefix.empty()) {
      f_.Error(t, key, "needs a prefix or a location");
      return;
    }
    absl::StatusOr<config::RegistryKey> parsed = config::ParseRegistryKey(prefix);
    if (!parsed.ok() || parsed->wildcard) {
      f_.Error(t, key + ".prefix",
               absl::StrCat("\"", prefix, "\" is not host[:port][/path] or *.domain"));
      return;
    }
    const bool subdomains = !parsed->subdomains_of.empty();
    config::MirrorRule rule;
    rule.registry = subdomains             ? absl::StrCat("*.", parsed->subdomains_of)
                    : parsed->path.empty() ? parsed->host
                                           : absl::StrCat(parsed->host, "/", parsed->path);
    rule.line = static_cast<int>(t.source().begin.line);
    rule.origin = f_.Where(t);
    rule.blocked = Flag(t, "blocked", key);
    if (rule.blocked) {
      out_.mirrors.push_back(std::move(rule));
      return;
    }
    bool digest_only = Flag(t, "mirror-by-digest-only", key);
    std::vector<config::PullFromMirror> modes;
    if (const toml::array* mirrors = t["mirror"].as_array()) {
      for (size_t i = 0; i < mirrors->size(); ++i) {
        const toml::table* m = mirrors->get(i)->as_table();
        std::string mkey = absl::StrCat(key, ".mirror[", i, "]");
        if (m == nullptr) {
          f_.Error(*mirrors->get(i), mkey, "expected a [[registry.mirror]] table");
          continue;
        }
        config::PullFromMirror mode =
            digest_only ? config::PullFromMirror::kDigestOnly : Mode(*m, mkey);
        AddLocation(*m, Str(*m, "location", mkey), Flag(*m, "insecure", mkey),
                    &rule, &modes, mode);
      }
    }
    bool insecure = Flag(t, "insecure", key);
    if (subdomains && (location.empty() || location == prefix)) {
      // The image's own registry is the primary: no one host to name.
      if (insecure) {
        f_.Note(t, absl::StrCat("insecure of \"", prefix,
                                "\" dropped: it would apply to every registry "
                                "below it, which a [host] table (one host:port) "
                                "cannot say; add a [[registry]] per registry"));
      }
    } else if (location.empty() || location == prefix) {
      if (insecure) {
        AddLocation(t, prefix, true, &rule, &modes, config::PullFromMirror::kAll);
        rule.fallback_to_upstream = false;
      }
    } else {
      AddLocation(t, location, insecure, &rule, &modes,
                  config::PullFromMirror::kAll);
      rule.fallback_to_upstream = false;
    }
    rule.pull_from_mirror = CombineModes(modes, rule.origin, &out_.notes);
    if (!parsed->path.empty()) {
      // Each location replaces the prefix: strip the prefix's path.
      rule.rewrite.push_back(
          {absl::StrCat("^", RE2Quote(parsed->path), "/(.*)$"), "$1"});
      f_.Note(t, absl::StrCat("the prefix path \"", parsed->path,
                              "/\" is removed by a rewrite; an image named "
                              "exactly \"", prefix, "\" keeps it"));
    }
    if (rule.endpoints.empty()) return;  // the registry itself: no rule needed
    out_.mirrors.push_back(std::move(rule));
  }

  static std::string RE2Quote(const std::string& s) {
    std::string out;
    for (char c : s) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '/') {
        out.push_back('\\');
      }
      out.push_back(c);
    }
    return out;
  }

  ForeignFile f_;
  Imported out_;
};

}  // namespace

absl::StatusOr<Imported> ParseRegistriesConf(std::string_view text,
                                             std::string_view file_name) {
  absl::StatusOr<toml::table> root = ParseToml(text, file_name);
  if (!root.ok()) return root.status();
  return RegistriesConf(file_name).Parse(*root);
}

void MergeRegistriesConf(Imported later, Imported* into) {
  for (config::MirrorRule& rule : later.mirrors) {
    for (auto it = into->mirrors.begin(); it != into->mirrors.end(); ++it) {
      if (it->registry != rule.registry) continue;
      into->notes.push_back({rule.origin, absl::StrCat("replaces the entry for \"",
                                                       rule.registry, "\" at ",
                                                       it->origin)});
      into->mirrors.erase(it);
      break;
    }
  }
  for (auto& [key, host] : later.hosts) into->hosts.insert_or_assign(key, host);
  Imported rest;
  rest.mirrors = std::move(later.mirrors);
  rest.notes = std::move(later.notes);
  Merge(std::move(rest), into);
}

absl::StatusOr<Imported> LoadRegistriesConf(const std::string& path) {
  Imported all;
  absl::StatusOr<std::string> text = ReadWholeFile(path);
  bool main_missing = !text.ok() && absl::IsNotFound(text.status());
  if (!text.ok() && !main_missing) return text.status();
  if (text.ok()) {
    absl::StatusOr<Imported> main = ParseRegistriesConf(*text, path);
    if (!main.ok()) return main.status();
    all = *std::move(main);
  }
  std::string dropins = path + ".d";
  absl::StatusOr<std::vector<DirEntry>> entries = ListDirectory(dropins);
  if (!entries.ok()) {
    if (main_missing) return text.status();
    if (absl::IsNotFound(entries.status())) return all;
    return entries.status();
  }
  for (const DirEntry& entry : *entries) {
    if (entry.is_dir || !absl::EndsWith(entry.name, ".conf")) continue;
    std::string file = absl::StrCat(dropins, "/", entry.name);
    absl::StatusOr<std::string> drop = ReadWholeFile(file);
    if (!drop.ok()) return drop.status();
    absl::StatusOr<Imported> parsed = ParseRegistriesConf(*drop, file);
    if (!parsed.ok()) return parsed.status();
    MergeRegistriesConf(*std::move(parsed), &all);
  }
  return all;
}

}  // namespace crimirror::importer
