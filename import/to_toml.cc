#include "import/to_toml.h"

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"

namespace crimirror::importer {
namespace {

absl::string_view A(std::string_view s) { return {s.data(), s.size()}; }

std::string ModeName(config::PullFromMirror mode) {
  switch (mode) {
    case config::PullFromMirror::kDigestOnly:
      return "digest-only";
    case config::PullFromMirror::kTagOnly:
      return "tag-only";
    default:
      return "all";
  }
}

void Comment(std::string_view text, std::string* out) {
  for (absl::string_view line : absl::StrSplit(A(text), '\n')) {
    absl::StrAppend(out, "# ", line, "\n");
  }
}

void Rule(const config::MirrorRule& rule, std::string* out) {
  absl::StrAppend(out, "\n[[mirror]]\n# from ", rule.origin, "\n",
                  "registry = ", TomlString(rule.registry), "\n");
  if (rule.blocked) {
    absl::StrAppend(out, "blocked = true\n");
    return;
  }
  std::vector<std::string> endpoints;
  for (const std::string& e : rule.endpoints) endpoints.push_back(TomlString(e));
  absl::StrAppend(out, "endpoints = [", absl::StrJoin(endpoints, ", "), "]\n");
  if (!rule.fallback_to_upstream) {
    absl::StrAppend(out, "fallback_to_upstream = false\n");
  }
  if (rule.pull_from_mirror != config::PullFromMirror::kAll) {
    absl::StrAppend(out, "pull_from_mirror = \"", ModeName(rule.pull_from_mirror),
                    "\"\n");
  }
  // The imported systems let the first host that answers name a tag; the
  // import keeps that (cri-mirror's own default for a rule with an upstream
  // asks the registry first, issue 14).
  if (rule.fallback_to_upstream && !rule.resolve_tags) {
    absl::StrAppend(out, "# tags: the first endpoint that answers names them, as in the imported "
                         "file;\n# \"upstream-or-mirror\" would ask the registry first\n"
                         "resolve_tags = \"mirror\"\n");
  }
  if (!rule.rewrite.empty()) {
    std::vector<std::string> rewrites;
    for (const config::RewriteRule& r : rule.rewrite) {
      rewrites.push_back(absl::StrCat("{ match = ", TomlString(r.match),
                                      ", replace = ", TomlString(r.replace), " }"));
    }
    absl::StrAppend(out, "rewrite = [", absl::StrJoin(rewrites, ", "), "]\n");
  }
}

constexpr char kRedactedHint[] =
    "Secrets are not printed here: run `cri-mirror convert` with --output FILE\n"
    "to write them (the file is created mode 0600).";

bool HasSecrets(const config::HostSettings& h) {
  return !h.password.empty() || !h.auth.empty() || !h.identity_token.empty();
}

void Host(const config::HostSettings& h, Secrets secrets, std::string* out) {
  absl::StrAppend(out, "\n[host.", TomlString(h.host), "]\n");
  auto str = [out](const char* key, const std::string& value) {
    if (!value.empty()) absl::StrAppend(out, key, " = ", TomlString(value), "\n");
  };
  // Only the key is named: no part of the value reaches the terminal.
  auto secret = [&](const char* key, const config::Secret& value) {
    if (value.empty()) return;
    if (secrets == Secrets::kInclude) {
      str(key, std::string(value.Reveal()));
    } else {
      absl::StrAppend(out, "# ", key, " = (redacted; use --output FILE)\n");
    }
  };
  if (h.ca_files.size() == 1) {
    str("ca_file", h.ca_files[0]);
  } else if (!h.ca_files.empty()) {
    std::vector<std::string> files;
    for (const std::string& f : h.ca_files) files.push_back(TomlString(f));
    absl::StrAppend(out, "ca_file = [", absl::StrJoin(files, ", "), "]\n");
  }
  str("client_cert", h.client_cert);
  str("client_key", h.client_key);
  if (h.insecure_skip_verify) absl::StrAppend(out, "insecure_skip_verify = true\n");
  str("tls_server_name", h.tls_server_name);
  str("username", h.username);
  secret("password", h.password);
  str("password_file", h.password_file);
  secret("auth", h.auth);
  secret("identity_token", h.identity_token);
  config::HostSettings defaults;
  if (h.connect_timeout != defaults.connect_timeout) {
    str("connect_timeout", absl::FormatDuration(h.connect_timeout));
  }
  if (!h.headers.empty()) {
    // A name that repeats becomes one array.
    std::vector<std::pair<std::string, std::vector<std::string>>> grouped;
    for (const auto& [name, value] : h.headers) {
      if (grouped.empty() || grouped.back().first != name) grouped.push_back({name, {}});
      grouped.back().second.push_back(TomlString(value));
    }
    std::vector<std::string> entries;
    for (const auto& [name, values] : grouped) {
      entries.push_back(absl::StrCat(TomlString(name), " = ",
                                     values.size() == 1
                                         ? values[0]
                                         : absl::StrCat("[", absl::StrJoin(values, ", "), "]")));
    }
    absl::StrAppend(out, "headers = { ", absl::StrJoin(entries, ", "), " }\n");
  }
}

}  // namespace

std::string TomlString(std::string_view value) {
  std::string out = "\"";
  for (char c : value) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  return out + "\"";
}

std::string ToNativeToml(const Imported& imported, std::string_view header,
                         Secrets secrets) {
  std::string out;
  if (!header.empty()) Comment(header, &out);
  bool any_secret = false;
  for (const auto& [key, host] : imported.hosts) any_secret |= HasSecrets(host);
  if (secrets == Secrets::kRedact && any_secret) Comment(kRedactedHint, &out);
  if (!imported.notes.empty()) {
    absl::StrAppend(&out, "#\n# Dropped or changed settings:\n");
    for (const Note& note : imported.notes) {
      Comment(note.where.empty() ? note.message
                                 : absl::StrCat(note.where, ": ", note.message),
              &out);
    }
  }
  for (const config::MirrorRule& rule : imported.mirrors) Rule(rule, &out);
  for (const auto& [key, host] : imported.hosts) Host(host, secrets, &out);
  return out;
}

}  // namespace crimirror::importer
