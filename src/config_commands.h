// The `cri-mirror check-config` and `cri-mirror resolve` subcommands. Each
// takes its output streams as parameters so that tests can capture them; main
// only parses flags and calls these.
#pragma once

#include <ostream>
#include <string>
#include <string_view>

namespace crimirror::cli {

// `cri-mirror check-config [--config F]`: loads and validates `config_path`
// (LoadConfigFile: syntax, every validation rule, readable files). On success
// prints "<path>: OK: 2 mirror rules, 1 host" to `out`, warnings to `err`, and
// returns 0. On failure prints every error, one per line, to `err` and returns
// 1. A missing file is an error here (unlike the daemon, which falls back to
// defaults for the default path).
int RunCheckConfig(const std::string& config_path, std::ostream& out,
                   std::ostream& err);

// `cri-mirror resolve IMAGE [--namespace NS] [--config F] [--output json]`:
// parses `image`, loads the config and prints the endpoint plan for a pull
// from a pod in Kubernetes namespace `pod_namespace` ("" = a pull without a
// sandbox config; see resolver::Resolve for the rule precedence): FormatPlanText (first line
// "reference: <canonical>", then one line per endpoint) or, when `json`,
// FormatPlanJson. Never prints secrets. Returns 0 on success; 1 when the image
// does not parse or the config does not load (reason on `err`). A missing
// config file at the default path resolves with no rules (pass-through), as
// the daemon would.
int RunResolve(std::string_view image, const std::string& config_path,
               bool json, std::ostream& out, std::ostream& err,
               const std::string& pod_namespace = "");

// `cri-mirror convert --from FORMAT PATH [--output FILE]`: reads PATH in
// FORMAT (importer::ParseFormat names) and prints the native TOML
// (importer::ToNativeToml) to `out` with every secret redacted (a comment
// names the key and says to use --output), or writes it, secrets included
// and passing check-config, to `output_file` with mode 0600 (an existing
// file is made 0600 first). Returns 0; 1 with
// the reason on `err` (an unknown format, an unreadable PATH, file:line
// errors, or converted rules that do not validate).
int RunConvert(const std::string& format, const std::string& path,
               const std::string& output_file, std::ostream& out,
               std::ostream& err);

}  // namespace crimirror::cli
