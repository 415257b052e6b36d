// containers-registries.conf(5) version 2 (CRI-O, podman; containers/image
// pkg/sysregistriesv2), plus its registries.conf.d drop-ins:
//
//   [[registry]]
//   prefix = "example.com/foo"            # default: location
//   location = "internal.example.com/bar" # may carry a path
//   insecure = false                      # http and unverified TLS allowed
//   blocked = false                       # refuse every pull
//   mirror-by-digest-only = false
//   [[registry.mirror]]
//   location = "mirror.local/foo"
//   insecure = true
//   pull-from-mirror = "digest-only"      # all | digest-only | tag-only
//
// The prefix becomes the rule's registry (path-aware, as sysregistriesv2's
// longest-prefix match); each location replaces the prefix, which is written
// as an endpoint path plus a rewrite removing the prefix's path. A location
// other than the prefix is the last endpoint (no fallback to the prefix). An
// insecure location is tried over https without verification, then http.
// A `*.example.com` prefix becomes a "*.example.com" rule (every registry
// below example.com; an exact rule beats it); `insecure` without a location
// is dropped for it with a note (it names no one host). unqualified-search-
// registries, [aliases], short-name-mode and credential-helpers do not apply
// to CRI pulls by a fully qualified name and are dropped with a note.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "import/imported.h"

namespace crimirror::importer {

// Parses one registries.conf (or drop-in). InvalidArgument with
// "file:line:col: key: ..." errors (TOML syntax, wrong types, the v1
// format, an invalid pull-from-mirror). Pure; thread-safe.
absl::StatusOr<Imported> ParseRegistriesConf(std::string_view text,
                                             std::string_view file_name);

// Merges drop-ins as sysregistriesv2 does: a later file's [[registry]] with
// the same prefix replaces the earlier one (noted). Pure.
void MergeRegistriesConf(Imported later, Imported* into);

// Reads `path` (may be missing when `path`.d exists) and every *.conf in
// `path`.d in name order. Blocking file I/O.
absl::StatusOr<Imported> LoadRegistriesConf(const std::string& path);

}  // namespace crimirror::importer
