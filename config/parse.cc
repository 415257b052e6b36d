// ParseConfig(): one pass over the toml++ tree that records every problem
// instead of stopping at the first, so an operator fixes a config in one edit.
#include "config/parse.h"
#include "config/plain_http.h"
#include "config/toml_text_guard.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "config/endpoint_url.h"
#include "config/http_header.h"
#include "config/namespace_name.h"
#include "config/rewrite.h"
#include "config/toml_internal.h"
#include "re2/re2.h"

namespace crimirror::config {
namespace {

using KeyList = std::vector<absl::string_view>;

// Debian's Abseil has its own absl::string_view
// (ABSL_OPTION_USE_STD_STRING_VIEW is 0) while toml++ speaks std::string_view;
// convert at that seam.
absl::string_view A(std::string_view s) { return {s.data(), s.size()}; }
std::string_view S(absl::string_view s) { return {s.data(), s.size()}; }

const KeyList kTopKeys = {"server", "mirror", "host", "import", "credentials"};
const KeyList kServerKeys = {"listen",
                             "backend",
                             "namespace",
                             "relay",
                             "pull_timeout",
                             "stall_timeout",
                             "hedge_after",
                             "endpoint_backoff_initial",
                             "endpoint_backoff_max",
                             "ensure_sandbox_image",
                             "ensure_images",
                             "ensure_interval",
                             "ensure_timeout",
                             "metrics",
                             "status",
                             "state_dir"};
const KeyList kMirrorKeys = {"registry", "endpoints", "fallback_to_upstream",
                             "pull_from_mirror", "rewrite", "blocked",
                             "namespaces", "resolve_tags", "resolve_timeout",
                             "last_known"};
const KeyList kImportKeys = {"containerd_hosts_dir", "containerd_config",
                             "k3s_registries", "registries_conf"};
const KeyList kCredentialsKeys = {"docker_config",    "helper_timeout",
                                  "provider_config",  "provider_bin_dir",
                                  "provider_timeout", "verify_kubelet_credentials",
                                  "verify_timeout"};
const KeyList kRewriteKeys = {"match", "replace"};
const KeyList kHostKeys = {"ca_file",
                           "client_cert",
                           "client_key",
                           "insecure_skip_verify",
                           "tls_server_name",
                           "username",
                           "password",
                           "password_file",
                           "auth",
                           "identity_token",
                           "connect_timeout",
                           "response_timeout",
                           "hedge_after",
                           "forward_kubelet_credentials",
                           "headers",
                           "trusted"};

absl::string_view TypeName(toml::node_type type) {
  switch (type) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    default:
      return "nothing";
  }
}

size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                         diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string Quote(absl::string_view s) { return absl::StrCat("\"", s, "\""); }

bool IsLoopbackHost(absl::string_view host) {
  if (host == "localhost" || host == "[::1]") return true;
  if (!absl::StartsWith(host, "127.")) return false;
  int parts = 0;
  for (absl::string_view octet : absl::StrSplit(host, '.')) {
    int value = 0;
    if (octet.empty() || octet.size() > 3 || !absl::SimpleAtoi(octet, &value) ||
        value > 255) {
      return false;
    }
    ++parts;
  }
  return parts == 4;
}

class Validator {
 public:
  explicit Validator(absl::string_view file_name) : file_(file_name) {}

  void Error(const toml::source_region& at, absl::string_view key,
             absl::string_view message) {
    errors_.push_back(
        {{at.begin.line, at.begin.column}, Format(at, key, message)});
  }
  void Warn(const toml::source_region& at, absl::string_view key,
            absl::string_view message) {
    parsed_.warnings.push_back({Format(at, key, message)});
  }
  void Remember(const std::string& key, const toml::node& node) {
    parsed_.locations[key] = {static_cast<int>(node.source().begin.line),
                              static_cast<int>(node.source().begin.column)};
  }

  void CheckKeys(const toml::table& table, absl::string_view path,
                 const KeyList& allowed);
  std::optional<std::string> String(const toml::node& node,
                                    absl::string_view key);
  std::optional<bool> Bool(const toml::node& node, absl::string_view key);
  // A duration string above zero; with `allow_zero`, "0s" too (a switch
  // that turns the feature off).
  std::optional<absl::Duration> Duration(const toml::node& node,
                                         absl::string_view key,
                                         bool allow_zero = false);
  const toml::table* Table(const toml::node& node, absl::string_view key,
                           absl::string_view how);

  void ParseDocument(const toml::table& root);
  // Warns about [host] tables no endpoint of any rule can use (typos).
  void WarnUnusedHosts();
  // A rule with resolve_tags "upstream"/"upstream-or-mirror" must have a
  // trusted endpoint: its upstream or a [host] with trusted = true.
  void CheckTagTrust();
  absl::StatusOr<ParsedConfig> Finish();

 private:
  std::string Format(const toml::source_region& at, absl::string_view key,
                     absl::string_view message) const {
    return absl::StrCat(file_, ":", at.begin.line, ":", at.begin.column, ": ",
                        key, ": ", message);
  }

  void ParseServer(const toml::node& node);
  void ParseServerAddress(const toml::node& node, absl::string_view name,
                          std::string* out);
  void ParseRelay(const toml::node& node);
  void ParseEnsureImages(const toml::node& node);
  void ParseMetrics(const toml::node& node);
  void ParseMirrors(const toml::node& node);
  void ParseMirror(const toml::table& table, size_t index);
  void ParseRegistry(const toml::table& table, const std::string& path,
                     MirrorRule* rule);
  // `namespaces` (issue 14), then the duplicate-rule check, which needs them.
  void ParseNamespaces(const toml::table& table, const std::string& path,
                       MirrorRule* rule);
  void CheckDuplicate(const toml::table& table, const std::string& path,
                      const MirrorRule& rule);
  void ParseEndpoints(const toml::node& node, const std::string& path,
                      MirrorRule* rule);
  void ParseRewrites(const toml::node& node, const std::string& path,
                     MirrorRule* rule);
  void ParseRewrite(const toml::node& node, const std::string& path,
                    MirrorRule* rule);
  void ParseHosts(const toml::node& node);
  // [import] and `blocked`: kept apart from the other keys (issue 13).
  void ParseImport(const toml::node& node);
  void ParseBlocked(const toml::table& table, const std::string& path,
                    MirrorRule* rule);
  // resolve_tags, resolve_timeout, last_known (issue 14).
  void ParseTagTrust(const toml::table& table, const std::string& path, MirrorRule* rule);
  // [credentials] (issue 12).
  void ParseCredentials(const toml::node& node);
  bool AbsolutePath(const toml::node& node, const std::string& key,
                    const std::string& value, absl::string_view example);
  void ParseHost(const toml::table& table, const toml::key& key);
  void ParseHostFields(const toml::table& table, const std::string& path,
                       HostSettings* host);
  void CheckHostPairs(const toml::table& table, const std::string& path);
  void ParseHeaders(const toml::node& node, const std::string& path, HostSettings* host);
  void ParseFileKey(const toml::table& table, const std::string& path,
                    absl::string_view key, std::string* out);
  // `ca_file`: one path or a list of paths (issue 13: hosts.toml `ca` lists).
  void ParseCaFiles(const toml::table& table, const std::string& path,
                    std::vector<std::string>* out);
  // An absolute path string at `where`, remembered there; else an error.
  std::optional<std::string> AbsoluteFile(const toml::node& node,
                                          const std::string& where,
                                          absl::string_view key);
  void ParseSecretKey(const toml::table& table, const std::string& path,
                      absl::string_view key, Secret* out);

  std::string file_;
  ParsedConfig parsed_;
  std::vector<std::pair<std::pair<uint32_t, uint32_t>, std::string>> errors_;
  // Normalized registry -> the rules seen for it so far: 1-based line and
  // namespaces (empty: the generic rule).
  std::map<std::string, std::vector<std::pair<int, std::vector<std::string>>>>
      registries_;
  std::map<std::string, toml::source_region> host_sources_;
  // Rules with an explicit resolve_tags, by index: where the key was written.
  std::map<size_t, toml::source_region> tag_trust_lines_;
};

void Validator::CheckKeys(const toml::table& table, absl::string_view path,
                          const KeyList& allowed) {
  for (auto&& [key, value] : table) {
    if (std::find(allowed.begin(), allowed.end(), A(key.str())) !=
        allowed.end()) {
      continue;
    }
    std::string fix = absl::StrCat("remove it; allowed keys are ",
                                   absl::StrJoin(allowed, ", "));
    for (absl::string_view candidate : allowed) {
      if (EditDistance(A(key.str()), candidate) <= 2) {
        fix = absl::StrCat("did you mean ", Quote(candidate), "?");
        break;
      }
    }
    std::string where = path.empty() ? std::string(A(key.str()))
                                     : absl::StrCat(path, ".", A(key.str()));
    Error(key.source(), where, absl::StrCat("unknown key; ", fix));
  }
}

std::optional<std::string> Validator::String(const toml::node& node,
                                             absl::string_view key) {
  if (const toml::value<std::string>* s = node.as_string()) return s->get();
  Error(node.source(), key,
        absl::StrCat("expected a string, got ", TypeName(node.type()),
                     "; put the value in double quotes"));
  return std::nullopt;
}

std::optional<bool> Validator::Bool(const toml::node& node,
                                    absl::string_view key) {
  if (const toml::value<bool>* b = node.as_boolean()) return b->get();
  Error(node.source(), key,
        absl::StrCat("expected a boolean, got ", TypeName(node.type()),
                     "; write true or false (no quotes)"));
  return std::nullopt;
}

std::optional<absl::Duration> Validator::Duration(const toml::node& node,
                                                  absl::string_view key,
                                                  bool allow_zero) {
  std::optional<std::string> text;
  if (node.is_string()) {
    text = String(node, key);
  } else {
    Error(
        node.source(), key,
        absl::StrCat("expected a duration string, got ", TypeName(node.type()),
                     "; write e.g. \"5s\", \"2m\" or \"1h30m\""));
    return std::nullopt;
  }
  absl::Duration d;
  if (!absl::ParseDuration(*text, &d)) {
    Error(node.source(), key,
          absl::StrCat(Quote(*text), " is not a duration; write e.g. \"5s\", ",
                       "\"2m\" or \"1h30m\""));
    return std::nullopt;
  }
  if (allow_zero && d == absl::ZeroDuration()) return d;
  if (d <= absl::ZeroDuration() || d == absl::InfiniteDuration()) {
    Error(node.source(), key,
          absl::StrCat(Quote(*text), allow_zero
                                         ? " must be a finite duration, or \"0s\" for off"
                                         : " must be a finite duration above zero"));
    return std::nullopt;
  }
  return d;
}

const toml::table* Validator::Table(const toml::node& node,
                                    absl::string_view key,
                                    absl::string_view how) {
  if (const toml::table* t = node.as_table()) return t;
  Error(
      node.source(), key,
      absl::StrCat("expected a table, got ", TypeName(node.type()), "; ", how));
  return nullptr;
}

void Validator::ParseDocument(const toml::table& root) {
  CheckKeys(root, "", kTopKeys);
  if (const toml::node* n = root.get("server")) ParseServer(*n);
  if (const toml::node* n = root.get("mirror")) ParseMirrors(*n);
  if (const toml::node* n = root.get("host")) ParseHosts(*n);
  if (const toml::node* n = root.get("import")) ParseImport(*n);
  if (const toml::node* n = root.get("credentials")) ParseCredentials(*n);
}

// ---- [server] ---------------------------------------------------------------

void Validator::ParseServer(const toml::node& node) {
  const toml::table* table = Table(node, "server", "write a [server] section");
  if (table == nullptr) return;
  ServerSettings& s = parsed_.config.server;
  CheckKeys(*table, "[server]", kServerKeys);
  if (const toml::node* n = table->get("listen")) {
    ParseServerAddress(*n, "[server].listen", &s.listen);
  }
  if (const toml::node* n = table->get("backend")) {
    ParseServerAddress(*n, "[server].backend", &s.backend);
  }
  if (const toml::node* n = table->get("namespace")) {
    std::optional<std::string> ns = String(*n, "[server].namespace");
    static const RE2 kNamespace("[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*");
    if (ns && (ns->size() > 76 || !RE2::FullMatch(*ns, kNamespace))) {
      Error(n->source(), "[server].namespace",
            absl::StrCat(Quote(*ns),
                         " is not a containerd namespace; use "
                         "letters, digits and single '.', '_' or '-' "
                         "(e.g. \"k8s.io\")"));
    } else if (ns) {
      s.namespace_ = *ns;
    }
  }
  if (const toml::node* n = table->get("relay")) ParseRelay(*n);
  if (const toml::node* n = table->get("metrics")) ParseMetrics(*n);
  if (const toml::node* n = table->get("status")) {
    // "" turns the status socket off.
    if (n->is_string() && n->as_string()->get().empty()) {
      s.status.clear();
    } else {
      ParseServerAddress(*n, "[server].status", &s.status);
    }
  }
  struct {
    absl::string_view key;
    absl::Duration* out;
  } durations[] = {{"pull_timeout", &s.pull_timeout},
                   {"stall_timeout", &s.stall_timeout},
                   {"endpoint_backoff_initial", &s.endpoint_backoff_initial},
                   {"endpoint_backoff_max", &s.endpoint_backoff_max},
                   {"ensure_interval", &s.ensure_interval},
                   {"ensure_timeout", &s.ensure_timeout}};
  for (auto& d : durations) {
    if (const toml::node* n = table->get(S(d.key))) {
      if (auto v = Duration(*n, absl::StrCat("[server].", d.key))) *d.out = *v;
    }
  }
  if (const toml::node* n = table->get("hedge_after")) {
    if (auto v = Duration(*n, "[server].hedge_after", true)) s.hedge_after = *v;
  }
  if (const toml::node* n = table->get("ensure_sandbox_image")) {
    if (auto v = Bool(*n, "[server].ensure_sandbox_image")) s.ensure_sandbox_image = *v;
  }
  if (const toml::node* n = table->get("ensure_images")) ParseEnsureImages(*n);
  if (const toml::node* n = table->get("state_dir")) {
    std::optional<std::string> dir = String(*n, "[server].state_dir");
    if (dir && AbsolutePath(*n, "[server].state_dir", *dir, "/var/lib/cri-mirror")) {
      s.state_dir = *dir;
    }
  }
  if (s.endpoint_backoff_initial > s.endpoint_backoff_max) {
    Error(table->source(), "[server].endpoint_backoff_initial",
          "is larger than endpoint_backoff_max; lower it or raise the maximum");
  }
}

void Validator::ParseServerAddress(const toml::node& node,
                                   absl::string_view name, std::string* out) {
  std::optional<std::string> value = String(node, name);
  if (!value) return;
  absl::string_view path = *value;
  if (!absl::ConsumePrefix(&path, "unix://") || !absl::StartsWith(path, "/") ||
      path.size() < 2) {
    Error(node.source(), name,
          absl::StrCat(Quote(*value),
                       " is not a unix socket address; write "
                       "unix:// followed by an absolute path, e.g. "
                       "\"unix:///run/cri-mirror/cri-mirror.sock\""));
    return;
  }
  *out = *value;
}

void Validator::ParseRelay(const toml::node& node) {
  constexpr absl::string_view kKey = "[server].relay";
  std::optional<std::string> value = String(node, kKey);
  if (!value) return;
  absl::StatusOr<HostAndPort> split =
      SplitHostPort(*value, /*allow_zero_port=*/true);
  if (!split.ok() || !split->has_port || !IsLoopbackHost(split->host)) {
    Error(node.source(), kKey,
          absl::StrCat(Quote(*value),
                       " must be a loopback host:port (127.x.x.x, "
                       "[::1] or localhost; port 0 picks a free port), e.g. "
                       "\"127.0.0.1:5098\""));
    return;
  }
  parsed_.config.server.relay = *value;
}

// An IP literal (or localhost) and a port; "" turns metrics off. The bind
// itself is checked when the daemon starts.
void Validator::ParseMetrics(const toml::node& node) {
  constexpr absl::string_view kKey = "[server].metrics";
  std::optional<std::string> value = String(node, kKey);
  if (!value || value->empty()) return;
  absl::StatusOr<HostAndPort> split = SplitHostPort(*value, /*allow_zero_port=*/true);
  const bool ip_literal =
      split.ok() && (split->host == "localhost" || absl::StartsWith(split->host, "[") ||
                     split->host.find_first_not_of("0123456789.") == std::string::npos);
  if (!split.ok() || !split->has_port || !ip_literal) {
    Error(node.source(), kKey,
          absl::StrCat(Quote(*value),
                       " must be IP:PORT (an address of this machine, loopback unless "
                       "scraped from elsewhere), e.g. \"127.0.0.1:9098\"; \"\" turns metrics off"));
    return;
  }
  parsed_.config.server.metrics = *value;
}

// Only the shape: references are parsed (resolver/, above config/) when the
// ensurer uses them, and check-config reports those that do not parse.
void Validator::ParseEnsureImages(const toml::node& node) {
  constexpr absl::string_view kKey = "[server].ensure_images";
  const toml::array* array = node.as_array();
  if (array == nullptr) {
    Error(node.source(), kKey,
          absl::StrCat("expected an array of image references, got ", TypeName(node.type()),
                       "; write e.g. [\"registry.k8s.io/coredns/coredns:v1.10.1\"]"));
    return;
  }
  for (size_t i = 0; i < array->size(); ++i) {
    const toml::node& element = *array->get(i);
    std::string key = absl::StrCat(kKey, "[", i, "]");
    std::optional<std::string> image = String(element, key);
    if (!image) continue;
    if (image->empty() || absl::StrContains(*image, "://") ||
        std::any_of(image->begin(), image->end(), [](unsigned char c) { return c <= ' '; })) {
      Error(element.source(), key,
            absl::StrCat(Quote(*image), " is not an image reference; write it as the kubelet "
                         "would, e.g. \"registry.k8s.io/pause:3.9\""));
      continue;
    }
    parsed_.config.server.ensure_images.push_back(*image);
  }
}

// ---- [[mirror]] -------------------------------------------------------------

void Validator::ParseMirrors(const toml::node& node) {
  const toml::array* array = node.as_array();
  if (array == nullptr || !array->is_array_of_tables()) {
    Error(
        node.source(), "mirror",
        absl::StrCat("expected an array of tables, got ", TypeName(node.type()),
                     "; write each rule as a [[mirror]] section"));
    return;
  }
  for (size_t i = 0; i < array->size(); ++i) {
    ParseMirror(*array->get(i)->as_table(), i);
  }
}

void Validator::ParseMirror(const toml::table& table, size_t index) {
  std::string path = absl::StrCat("[[mirror]][", index, "]");
  CheckKeys(table, path, kMirrorKeys);
  MirrorRule rule;
  rule.line = static_cast<int>(table.source().begin.line);
  rule.origin = absl::StrCat(file_, ":", rule.line);
  ParseRegistry(table, path, &rule);
  ParseNamespaces(table, path, &rule);
  CheckDuplicate(table, path, rule);
  ParseBlocked(table, path, &rule);
  if (const toml::node* n = table.get("endpoints")) {
    ParseEndpoints(*n, path + ".endpoints", &rule);
  } else if (!rule.blocked) {
    Error(table.source(), path + ".endpoints",
          "missing; list the mirror URLs, e.g. endpoints = "
          "[\"https://mirror.example:5000\"]");
  }
  if (const toml::node* n = table.get("fallback_to_upstream")) {
    if (auto b = Bool(*n, path + ".fallback_to_upstream")) {
      rule.fallback_to_upstream = *b;
    }
  }
  if (const toml::node* n = table.get("pull_from_mirror")) {
    std::string key = path + ".pull_from_mirror";
    if (auto mode = String(*n, key)) {
      if (*mode == "all") {
        rule.pull_from_mirror = PullFromMirror::kAll;
      } else if (*mode == "digest-only") {
        rule.pull_from_mirror = PullFromMirror::kDigestOnly;
      } else if (*mode == "tag-only") {
        rule.pull_from_mirror = PullFromMirror::kTagOnly;
      } else {
        Error(n->source(), key,
              absl::StrCat(Quote(*mode),
                           " is not a mode; use \"all\", "
                           "\"digest-only\" or \"tag-only\""));
      }
    }
  }
  if (const toml::node* n = table.get("rewrite")) {
    ParseRewrites(*n, path + ".rewrite", &rule);
  }
  ParseTagTrust(table, path, &rule);
  parsed_.config.mirrors.push_back(std::move(rule));
}

void Validator::ParseRegistry(const toml::table& table, const std::string& path,
                              MirrorRule* rule) {
  std::string key = path + ".registry";
  const toml::node* node = table.get("registry");
  if (node == nullptr) {
    Error(table.source(), key,
          "missing; name the registry this rule applies to, e.g. registry = "
          "\"docker.io\" (or \"*\" for every registry)");
    return;
  }
  std::optional<std::string> value = String(*node, key);
  if (!value) return;
  absl::StatusOr<RegistryKey> parsed = ParseRegistryKey(*value);
  if (!parsed.ok()) {
    Error(node->source(), key,
          absl::StrCat(Quote(*value), ": ", parsed.status().message(),
                       "; write host[:port][/path], \"*.domain\" or \"*\""));
    return;
  }
  rule->registry = parsed->wildcard                 ? "*"
                   : !parsed->subdomains_of.empty() ? absl::StrCat("*.", parsed->subdomains_of)
                   : parsed->path.empty()
                       ? parsed->host
                       : absl::StrCat(parsed->host, "/", parsed->path);
}

void Validator::ParseNamespaces(const toml::table& table, const std::string& path,
                                MirrorRule* rule) {
  const toml::node* node = table.get("namespaces");
  if (node == nullptr) return;
  const std::string key = path + ".namespaces";
  const toml::array* array = node->as_array();
  if (array == nullptr || array->empty()) {
    Error(node->source(), key,
          absl::StrCat(array == nullptr ? absl::StrCat("expected an array of namespace names, got ",
                                                       TypeName(node->type()))
                                        : std::string("is empty"),
                       "; write e.g. namespaces = [\"team-a\"] (remove the key for every "
                       "namespace)"));
    return;
  }
  for (size_t i = 0; i < array->size(); ++i) {
    const toml::node& element = *array->get(i);
    const std::string item_key = absl::StrCat(key, "[", i, "]");
    std::optional<std::string> name = String(element, item_key);
    if (!name) continue;
    if (!IsValidNamespaceName(*name)) {
      Error(element.source(), item_key,
            absl::StrCat(Quote(*name),
                         " is not a Kubernetes namespace name; use 1 to 63 lower-case "
                         "letters, digits and '-', starting and ending with a letter or "
                         "digit (e.g. \"team-a\")"));
    } else if (std::find(rule->namespaces.begin(), rule->namespaces.end(), *name) !=
               rule->namespaces.end()) {
      Error(element.source(), item_key,
            absl::StrCat(Quote(*name), " is listed twice; remove one"));
    } else {
      rule->namespaces.push_back(*name);
    }
  }
}

// One generic rule per registry, and one rule per (registry, namespace):
// rules for one registry with disjoint namespace sets are fine (issue 14).
void Validator::CheckDuplicate(const toml::table& table, const std::string& path,
                               const MirrorRule& rule) {
  const toml::node* node = table.get("registry");
  if (rule.registry.empty() || node == nullptr) return;
  auto& seen = registries_[rule.registry];
  for (const auto& [line, namespaces] : seen) {
    if (rule.namespaces.empty() != namespaces.empty()) continue;
    if (rule.namespaces.empty()) {
      Error(node->source(), path + ".registry",
            absl::StrCat("duplicate rule for ", Quote(rule.registry),
                         " (first defined at line ", line,
                         "); merge the two [[mirror]] sections, or give one of them "
                         "namespaces = [...]"));
      return;
    }
    for (const std::string& name : rule.namespaces) {
      if (std::find(namespaces.begin(), namespaces.end(), name) == namespaces.end()) continue;
      Error(node->source(), path + ".registry",
            absl::StrCat("duplicate rule for ", Quote(rule.registry), " in namespace ",
                         Quote(name), " (first defined at line ", line,
                         "); list each namespace in one rule per registry"));
      return;
    }
  }
  seen.emplace_back(rule.line, rule.namespaces);
}

void Validator::ParseEndpoints(const toml::node& node, const std::string& path,
                               MirrorRule* rule) {
  const toml::array* array = node.as_array();
  if (array == nullptr) {
    Error(node.source(), path,
          absl::StrCat("expected an array of URL strings, got ",
                       TypeName(node.type()), "; write endpoints = [\"https://",
                       "mirror.example:5000\"]"));
    return;
  }
  if (array->empty()) {
    Error(node.source(), path,
          "is empty; list at least one endpoint URL (remove the rule to pull "
          "directly)");
  }
  for (size_t i = 0; i < array->size(); ++i) {
    const toml::node& element = *array->get(i);
    std::string key = absl::StrCat(path, "[", i, "]");
    std::optional<std::string> url = String(element, key);
    if (!url) continue;
    absl::StatusOr<EndpointUrl> parsed = ParseEndpointUrl(*url);
    if (!parsed.ok()) {
      // A URL with userinfo may carry a password: never echo it.
      std::string shown = url->find('@') == std::string::npos
                              ? Quote(*url)
                              : std::string("URL (redacted: it has user info)");
      Error(element.source(), key,
            absl::StrCat(shown, ": ", parsed.status().message()));
      continue;
    }
    rule->endpoints.push_back(*url);
  }
}

void Validator::ParseRewrites(const toml::node& node, const std::string& path,
                              MirrorRule* rule) {
  const toml::array* array = node.as_array();
  if (array == nullptr) {
    Error(
        node.source(), path,
        absl::StrCat("expected an array of tables, got ", TypeName(node.type()),
                     "; write rewrite = [{ match = \"^library/(.*)$\", "
                     "replace = \"dockerhub/$1\" }]"));
    return;
  }
  for (size_t i = 0; i < array->size(); ++i) {
    ParseRewrite(*array->get(i), absl::StrCat(path, "[", i, "]"), rule);
  }
}

void Validator::ParseRewrite(const toml::node& node, const std::string& path,
                             MirrorRule* rule) {
  const toml::table* table =
      Table(node, path, "write { match = \"...\", replace = \"...\" }");
  if (table == nullptr) return;
  CheckKeys(*table, path, kRewriteKeys);
  const toml::node* match = table->get("match");
  const toml::node* replace = table->get("replace");
  if (match == nullptr || replace == nullptr) {
    Error(node.source(), path,
          absl::StrCat("missing ", match == nullptr ? "match" : "replace",
                       "; a rewrite needs both match and replace"));
    return;
  }
  std::optional<std::string> m = String(*match, path + ".match");
  std::optional<std::string> r = String(*replace, path + ".replace");
  if (!m || !r) return;
  RE2 re(*m, RE2::Quiet);
  if (!re.ok()) {
    Error(match->source(), path + ".match",
          absl::StrCat("invalid RE2 regular expression: ", re.error(),
                       "; see https://github.com/google/re2/wiki/Syntax"));
    return;
  }
  std::string why;
  if (!re.CheckRewriteString(ToRe2Rewrite(*r), &why)) {
    Error(replace->source(), path + ".replace",
          absl::StrCat(why, re.NumberOfCapturingGroups() == 0
                                ? "; match has no (groups), so remove $N"
                                : absl::StrCat("; use $1..$",
                                               re.NumberOfCapturingGroups(),
                                               " for the groups of match")));
    return;
  }
  rule->rewrite.push_back({*m, *r});
}

// resolve_tags, resolve_timeout, last_known (issue 14). Whether a rule with
// resolve_tags = "upstream" has a trusted endpoint is checked in
// CheckTagTrust, once the [host] tables are known.
void Validator::ParseTagTrust(const toml::table& table, const std::string& path,
                              MirrorRule* rule) {
  if (const toml::node* n = table.get("resolve_tags")) {
    const std::string key = path + ".resolve_tags";
    if (auto mode = String(*n, key)) {
      if (*mode == "upstream") {
        rule->resolve_tags = ResolveTags::kUpstream;
      } else if (*mode == "upstream-or-mirror") {
        rule->resolve_tags = ResolveTags::kUpstreamOrMirror;
      } else if (*mode == "mirror") {
        rule->resolve_tags = ResolveTags::kMirror;
      } else {
        Error(n->source(), key,
              absl::StrCat(Quote(*mode), " is not a mode; use \"upstream\", "
                           "\"upstream-or-mirror\" or \"mirror\""));
      }
    }
  }
  if (const toml::node* n = table.get("resolve_timeout")) {
    if (auto d = Duration(*n, path + ".resolve_timeout")) rule->resolve_timeout = *d;
  }
  if (const toml::node* n = table.get("last_known")) {
    if (auto b = Bool(*n, path + ".last_known")) rule->last_known = *b;
  }
  if (const toml::node* n = table.get("resolve_tags"); n != nullptr && rule->resolve_tags) {
    tag_trust_lines_[parsed_.config.mirrors.size()] = n->source();
  }
}

void Validator::CheckTagTrust() {
  for (const auto& [index, source] : tag_trust_lines_) {
    const MirrorRule& rule = parsed_.config.mirrors[index];
    if (rule.resolve_tags == ResolveTags::kMirror || rule.fallback_to_upstream) continue;
    bool trusted = false;
    for (const std::string& url : rule.endpoints) {
      absl::StatusOr<EndpointUrl> parsed = ParseEndpointUrl(url);
      if (!parsed.ok()) continue;
      const HostSettings* host = parsed_.config.FindHost(parsed->HostPort());
      trusted = trusted || (host != nullptr && host->trusted);
    }
    if (trusted) continue;
    Error(source, absl::StrCat("[[mirror]][", index, "].resolve_tags"),
          "needs a trusted endpoint to resolve tags at, and this rule has none "
          "(fallback_to_upstream = false, no [host] with trusted = true); keep the "
          "upstream, mark a mirror's [host] trusted = true, or use \"mirror\"");
  }
}

void Validator::ParseBlocked(const toml::table& table, const std::string& path,
                             MirrorRule* rule) {
  const toml::node* n = table.get("blocked");
  if (n == nullptr) return;
  if (auto b = Bool(*n, path + ".blocked")) rule->blocked = *b;
}

// ---- [import] -----------------------------------------------------------------

void Validator::ParseImport(const toml::node& node) {
  const toml::table* table = Table(node, "import", "write an [import] section");
  if (table == nullptr) return;
  CheckKeys(*table, "[import]", kImportKeys);
  ImportSettings& imports = parsed_.config.imports;
  struct {
    absl::string_view key;
    std::string* out;
  } paths[] = {{"containerd_hosts_dir", &imports.containerd_hosts_dir},
               {"containerd_config", &imports.containerd_config},
               {"k3s_registries", &imports.k3s_registries},
               {"registries_conf", &imports.registries_conf}};
  for (auto& p : paths) {
    const toml::node* n = table->get(S(p.key));
    if (n == nullptr) continue;
    std::string key = absl::StrCat("[import].", p.key);
    std::optional<std::string> value = String(*n, key);
    if (!value || !AbsolutePath(*n, key, *value, "/etc/rancher/k3s/registries.yaml")) continue;
    Remember(key, *n);
    *p.out = *value;
  }
}

bool Validator::AbsolutePath(const toml::node& node, const std::string& key,
                             const std::string& value, absl::string_view example) {
  if (!value.empty() && value.front() == '/') return true;
  Error(node.source(), key,
        absl::StrCat(Quote(value), " must be an absolute path; write e.g. \"", example, "\""));
  return false;
}

// ---- [credentials] ------------------------------------------------------------

void Validator::ParseCredentials(const toml::node& node) {
  const toml::table* table = Table(node, "credentials", "write a [credentials] section");
  if (table == nullptr) return;
  CheckKeys(*table, "[credentials]", kCredentialsKeys);
  CredentialsSettings& c = parsed_.config.credentials;
  if (const toml::node* n = table->get("docker_config")) {
    const std::string key = "[credentials].docker_config";
    if (const toml::array* list = n->as_array()) {
      for (const toml::node& item : *list) {
        std::optional<std::string> path = String(item, key);
        if (path && AbsolutePath(item, key, *path, "/var/lib/kubelet/config.json")) {
          c.docker_config.push_back(*path);
        }
      }
    } else {
      Error(n->source(), key,
            absl::StrCat("expected an array of paths, got ", TypeName(n->type()),
                         "; write e.g. [\"/var/lib/kubelet/config.json\"]"));
    }
  }
  struct {
    absl::string_view key;
    std::string* out;
    absl::string_view example;
  } paths[] = {{"provider_config", &c.provider_config, "/etc/kubernetes/credential-provider.yaml"},
               {"provider_bin_dir", &c.provider_bin_dir, "/usr/libexec/kubernetes/kubelet-plugins/credential-provider/exec"}};
  for (auto& p : paths) {
    const toml::node* n = table->get(S(p.key));
    if (n == nullptr) continue;
    const std::string key = absl::StrCat("[credentials].", p.key);
    std::optional<std::string> value = String(*n, key);
    if (value && AbsolutePath(*n, key, *value, p.example)) *p.out = *value;
  }
  if (c.provider_config.empty() != c.provider_bin_dir.empty()) {
    Error(table->source(), "[credentials]",
          "provider_config and provider_bin_dir go together (the kubelet's "
          "--image-credential-provider-config and -bin-dir); set both or neither");
  }
  struct {
    absl::string_view key;
    absl::Duration* out;
  } durations[] = {{"helper_timeout", &c.helper_timeout},
                   {"provider_timeout", &c.provider_timeout},
                   {"verify_timeout", &c.verify_timeout}};
  for (auto& d : durations) {
    if (const toml::node* n = table->get(S(d.key))) {
      if (auto v = Duration(*n, absl::StrCat("[credentials].", d.key))) *d.out = *v;
    }
  }
  if (const toml::node* n = table->get("verify_kubelet_credentials")) {
    const std::string key = "[credentials].verify_kubelet_credentials";
    if (std::optional<std::string> mode = String(*n, key)) {
      if (*mode == "require") {
        c.verify_kubelet_credentials = VerifyKubeletCredentials::kRequire;
      } else if (*mode == "when-reachable") {
        c.verify_kubelet_credentials = VerifyKubeletCredentials::kWhenReachable;
      } else if (*mode == "off") {
        c.verify_kubelet_credentials = VerifyKubeletCredentials::kOff;
      } else {
        Error(n->source(), key,
              absl::StrCat(Quote(*mode),
                           " is not a mode; write \"require\", \"when-reachable\" or \"off\""));
      }
    }
  }
}

// ---- [host."h:p"] -----------------------------------------------------------

void Validator::ParseHosts(const toml::node& node) {
  const toml::table* table =
      Table(node, "host", "write [host.\"host:port\"] sections");
  if (table == nullptr) return;
  for (auto&& [key, value] : *table) {
    std::string path = absl::StrCat("[host.", Quote(A(key.str())), "]");
    const toml::table* host =
        Table(value, path, "write [host.\"host:port\"] followed by its keys");
    if (host != nullptr) ParseHost(*host, key);
  }
}

void Validator::ParseHost(const toml::table& table, const toml::key& key) {
  std::string path = absl::StrCat("[host.", Quote(A(key.str())), "]");
  absl::StatusOr<std::string> host_port = ParseHostPort(key.str(), true);
  if (!host_port.ok()) {
    Error(key.source(), path, host_port.status().message());
    return;
  }
  if (parsed_.config.hosts.count(*host_port) != 0) {
    Error(key.source(), path,
          absl::StrCat("duplicate [host] table for ", Quote(*host_port),
                       " (host names are case-insensitive); merge them"));
    return;
  }
  CheckKeys(table, path, kHostKeys);
  Remember(path, table);
  host_sources_.emplace(*host_port, key.source());
  HostSettings host;
  host.host = *host_port;
  ParseHostFields(table, path, &host);
  CheckHostPairs(table, path);
  parsed_.config.hosts.emplace(*host_port, std::move(host));
}

void Validator::ParseHostFields(const toml::table& table,
                                const std::string& path, HostSettings* host) {
  ParseCaFiles(table, path, &host->ca_files);
  ParseFileKey(table, path, "client_cert", &host->client_cert);
  ParseFileKey(table, path, "client_key", &host->client_key);
  ParseFileKey(table, path, "password_file", &host->password_file);
  ParseSecretKey(table, path, "password", &host->password);
  ParseSecretKey(table, path, "auth", &host->auth);
  ParseSecretKey(table, path, "identity_token", &host->identity_token);
  if (const toml::node* n = table.get("insecure_skip_verify")) {
    if (auto b = Bool(*n, path + ".insecure_skip_verify")) {
      host->insecure_skip_verify = *b;
    }
  }
  if (const toml::node* n = table.get("tls_server_name")) {
    std::string key = path + ".tls_server_name";
    if (auto name = String(*n, key)) {
      if (!IsValidHost(*name) || name->front() == '[') {
        Error(n->source(), key,
              absl::StrCat(Quote(*name),
                           " is not a DNS name; write the name "
                           "in the registry's certificate, e.g. "
                           "\"docker-registry\""));
      } else {
        host->tls_server_name = *name;
      }
    }
  }
  if (const toml::node* n = table.get("username")) {
    if (auto u = String(*n, path + ".username")) {
      if (u->empty() || u->find(':') != std::string::npos) {
        Error(n->source(), path + ".username",
              "must be non-empty and must not contain ':'");
      }
      host->username = *u;
    }
  }
  if (const toml::node* n = table.get("connect_timeout")) {
    if (auto d = Duration(*n, path + ".connect_timeout"))
      host->connect_timeout = *d;
  }
  if (const toml::node* n = table.get("response_timeout")) {
    if (auto d = Duration(*n, path + ".response_timeout"))
      host->response_timeout = *d;
  }
  if (const toml::node* n = table.get("hedge_after")) {
    if (auto d = Duration(*n, path + ".hedge_after", true)) host->hedge_after = *d;
  }
  if (const toml::node* n = table.get("forward_kubelet_credentials")) {
    if (auto b = Bool(*n, path + ".forward_kubelet_credentials")) {
      host->forward_kubelet_credentials = *b;
    }
  }
  if (const toml::node* n = table.get("trusted")) {
    if (auto b = Bool(*n, path + ".trusted")) host->trusted = *b;
  }
  if (const toml::node* n = table.get("headers")) ParseHeaders(*n, path + ".headers", host);
}

// headers = { "X-Name" = "value", "X-Multi" = ["a", "b"] }
void Validator::ParseHeaders(const toml::node& node, const std::string& path,
                             HostSettings* host) {
  const toml::table* headers = node.as_table();
  if (headers == nullptr) {
    Error(node.source(), path,
          absl::StrCat("expected a table of header names to strings, got ", TypeName(node.type()),
                       "; write headers = { \"X-Mirror-Tenant\" = \"team-a\" }"));
    return;
  }
  for (auto&& [name, value] : *headers) {
    const std::string key = absl::StrCat(path, ".", Quote(std::string(name.str())));
    std::vector<std::string> values;
    if (const toml::array* list = value.as_array()) {
      for (const toml::node& item : *list) {
        if (auto v = String(item, key)) values.push_back(*v);
      }
    } else if (auto v = String(value, key)) {
      values.push_back(*v);
    }
    for (const std::string& v : values) {
      absl::Status ok = CheckRegistryHeader(std::string(name.str()), v);
      if (!ok.ok()) {
        Error(value.source(), key, std::string(ok.message()));
        break;
      }
      host->headers.emplace_back(std::string(name.str()), v);
    }
  }
}

std::optional<std::string> Validator::AbsoluteFile(const toml::node& node,
                                                   const std::string& where,
                                                   absl::string_view key) {
  std::optional<std::string> value = String(node, where);
  if (!value) return std::nullopt;
  if (value->empty() || value->front() != '/') {
    Error(node.source(), where,
          absl::StrCat(Quote(*value),
                       " must be an absolute path; write e.g. "
                       "\"/etc/cri-mirror/certs/",
                       key, "\""));
    return std::nullopt;
  }
  Remember(where, node);
  return value;
}

void Validator::ParseFileKey(const toml::table& table, const std::string& path,
                             absl::string_view key, std::string* out) {
  const toml::node* n = table.get(S(key));
  if (n == nullptr) return;
  std::optional<std::string> value =
      AbsoluteFile(*n, absl::StrCat(path, ".", key), key);
  if (value) *out = *std::move(value);
}

void Validator::ParseCaFiles(const toml::table& table, const std::string& path,
                             std::vector<std::string>* out) {
  const toml::node* n = table.get("ca_file");
  if (n == nullptr) return;
  std::string where = absl::StrCat(path, ".ca_file");
  const toml::array* list = n->as_array();
  if (list == nullptr) {
    if (!n->is_string()) {
      Error(n->source(), where,
            absl::StrCat("expected a string or a list of strings, got ",
                         TypeName(n->type()),
                         "; write \"/etc/cri-mirror/certs/ca.pem\" or "
                         "[\"/etc/a.pem\", \"/etc/b.pem\"]"));
      return;
    }
    if (auto value = AbsoluteFile(*n, where, "ca_file")) out->push_back(*value);
    return;
  }
  if (list->empty()) {
    Error(n->source(), where, "is an empty list; remove the key or name a file");
    return;
  }
  Remember(where, *n);
  for (size_t i = 0; i < list->size(); ++i) {
    std::string item = absl::StrCat(where, "[", i, "]");
    std::optional<std::string> value = AbsoluteFile(*list->get(i), item, "ca_file");
    if (!value) continue;
    if (std::find(out->begin(), out->end(), *value) != out->end()) {
      Error(list->get(i)->source(), item,
            absl::StrCat(Quote(*value), " is listed twice; remove one"));
      continue;
    }
    out->push_back(*std::move(value));
  }
}

void Validator::ParseSecretKey(const toml::table& table,
                               const std::string& path, absl::string_view key,
                               Secret* out) {
  const toml::node* n = table.get(S(key));
  if (n == nullptr) return;
  std::string where = absl::StrCat(path, ".", key);
  std::optional<std::string> value = String(*n, where);
  if (!value) return;
  // Never echo the value: it is a secret.
  if (value->empty()) {
    Error(n->source(), where, "is empty; remove the key or set a value");
    return;
  }
  if (key == "auth") {
    std::string decoded;
    if (!absl::Base64Unescape(*value, &decoded) ||
        decoded.find(':') == std::string::npos) {
      Error(n->source(), where,
            "is not base64 of \"user:password\"; generate it with "
            "`printf '%s' 'user:password' | base64 -w0`");
      return;
    }
  }
  *out = Secret(*value);
}

void Validator::CheckHostPairs(const toml::table& table,
                               const std::string& path) {
  bool cert = table.contains("client_cert");
  bool key = table.contains("client_key");
  if (cert != key) {
    Error(table.source(), path,
          cert ? "client_cert is set without client_key; set both for mTLS"
               : "client_key is set without client_cert; set both for mTLS");
  }
  std::vector<absl::string_view> credentials;
  for (absl::string_view k :
       {"password", "password_file", "auth", "identity_token"}) {
    if (table.contains(S(k))) credentials.push_back(k);
  }
  if (credentials.size() > 1) {
    Error(table.source(), path,
          absl::StrCat("sets ", absl::StrJoin(credentials, " and "),
                       "; keep only one of password, password_file, auth, "
                       "identity_token"));
  }
  bool needs_user =
      table.contains("password") || table.contains("password_file");
  if (needs_user && !table.contains("username")) {
    Error(table.source(), path,
          "a password is set without username; add username = \"...\"");
  }
}

void Validator::WarnUnusedHosts() {
  std::set<std::string> used;
  std::vector<std::string> used_suffixes;  // ".example.com" of "*.example.com"
  for (const MirrorRule& rule : parsed_.config.mirrors) {
    for (const std::string& url : rule.endpoints) {
      if (auto parsed = ParseEndpointUrl(url); parsed.ok()) {
        used.insert(parsed->HostPort());
      }
    }
    if (!rule.fallback_to_upstream) continue;
    if (rule.registry == "*") return;  // any registry may be an upstream
    if (absl::StartsWith(rule.registry, "*.")) {  // any registry below it
      used_suffixes.push_back(rule.registry.substr(1));
      continue;
    }
    used.insert(UpstreamFor(rule.registry.substr(0, rule.registry.find('/')))
                    .host_port);
  }
  for (const auto& [host, source] : host_sources_) {
    if (used.count(host) != 0) continue;
    const std::string name = host.substr(0, host.rfind(':'));
    if (std::any_of(used_suffixes.begin(), used_suffixes.end(),
                    [&](const std::string& s) { return absl::EndsWith(name, s); })) {
      continue;
    }
    Warn(source, absl::StrCat("[host.", Quote(host), "]"),
         "no endpoint of any [[mirror]] rule uses this host:port, so these "
         "settings never apply; check the name and port against the endpoint "
         "URLs (docker.io's upstream is \"registry-1.docker.io:443\")");
  }
}

absl::StatusOr<ParsedConfig> Validator::Finish() {
  if (errors_.empty()) return std::move(parsed_);
  std::stable_sort(
      errors_.begin(), errors_.end(),
      [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> lines;
  for (auto& e : errors_) lines.push_back(std::move(e.second));
  return absl::InvalidArgumentError(absl::StrJoin(lines, "\n"));
}

}  // namespace

absl::StatusOr<ParsedConfig> ParseConfig(std::string_view text,
                                         std::string_view file_name_std) {
  absl::string_view file_name = A(file_name_std);
  if (absl::Status s = CheckTomlText(text, file_name_std); !s.ok()) return s;
  toml::parse_result result = toml::parse(text, file_name_std);
  if (!result) {
    const toml::parse_error& error = result.error();
    return absl::InvalidArgumentError(
        absl::StrCat(file_name, ":", error.source().begin.line, ":",
                     error.source().begin.column,
                     ": TOML syntax error: ", A(error.description())));
  }
  Validator validator(file_name);
  validator.ParseDocument(result.table());
  validator.WarnUnusedHosts();
  validator.CheckTagTrust();
  absl::StatusOr<ParsedConfig> parsed = validator.Finish();
  if (parsed.ok()) {
    for (Warning& warning : PlainHttpCredentialWarnings(parsed->config, parsed->locations,
                                                        file_name_std)) {
      parsed->warnings.push_back(std::move(warning));
    }
  }
  return parsed;
}

}  // namespace crimirror::config
