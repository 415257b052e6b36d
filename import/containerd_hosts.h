// containerd's certs.d layout (core/remotes/docker/config/hosts.go): one
// directory per registry ("docker.io", "host:5000" or "host_5000_", and
// "_default" for every registry, here "*"), each with a hosts.toml or, failing
// that, docker-style certificate files (*.crt CAs, *.cert + *.key client
// pairs) for the registry itself.
//
// hosts.toml: `[host."url"]` tables in file order are the mirrors, the root
// `server` (default: the registry itself) is tried last. `capabilities`
// (default pull, resolve, push): a host without `pull` is dropped, one
// without `resolve` serves digests only. `ca` (string or list), `client`
// (a path, a list of paths or of [cert, key] pairs), `skip_verify`,
// `dial_timeout` become the [host] table of the endpoint's host:port;
// relative paths are resolved against the directory. `[header]` is dropped
// with a note. `override_path` keeps the URL path as the API root; only a
// root under /v2 can be expressed natively.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "import/imported.h"

namespace crimirror::importer {

// Parses one hosts.toml. `registry` is the directory's registry ("docker.io",
// "host:5000" or "*"), `base_dir` the directory (for relative certificate
// paths), `file_name` prefixes messages. InvalidArgument with every error,
// "file:line:col: key: what is wrong" one per line (TOML syntax, a value of
// the wrong type, an unknown capability). Pure; thread-safe.
absl::StatusOr<Imported> ParseHostsToml(std::string_view text,
                                        std::string_view file_name,
                                        std::string_view registry,
                                        std::string_view base_dir);

// The [host] settings docker-style certificate files give the registry
// itself: `file_names` are the plain file names found in `dir`. Pure.
Imported FromCertFiles(std::string_view registry, std::string_view dir,
                       std::vector<std::string> file_names);

// The registry a certs.d subdirectory name stands for ("_default" -> "*",
// "host_5000_" -> "host:5000"), or InvalidArgument.
absl::StatusOr<std::string> RegistryForDirectory(std::string_view name);

// Reads a whole certs.d directory: every subdirectory in name order.
// A subdirectory whose name is no registry is skipped with a note.
// NotFound / PermissionDenied when `dir` cannot be listed; InvalidArgument
// with file:line errors of the hosts.toml files. Blocking file I/O.
absl::StatusOr<Imported> LoadContainerdHostsDir(const std::string& dir);

}  // namespace crimirror::importer
