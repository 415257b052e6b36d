#include "src/command_line.h"

#include <string_view>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "config/namespace_name.h"
#include "config/parse.h"

namespace crimirror::cli {
namespace {

absl::Status BadArgument(std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(what), "; run `cri-mirror --help` for usage"));
}

// Reads the value of `--name VALUE` or `--name=VALUE` at args[*i].
absl::StatusOr<std::string> FlagValue(const std::vector<std::string>& args, size_t* i,
                                      std::string_view name) {
  const std::string& arg = args[*i];
  if (arg.size() > name.size() && arg[name.size()] == '=') return arg.substr(name.size() + 1);
  if (*i + 1 >= args.size()) return BadArgument(absl::StrCat(std::string(name), " needs a value"));
  return args[++*i];
}

bool IsFlag(const std::string& arg, std::string_view name) {
  return arg == name || (arg.starts_with(name) && arg.size() > name.size() &&
                         arg[name.size()] == '=');
}

absl::Status ApplyFlag(const std::vector<std::string>& args, size_t* i, CommandLine* cl) {
  const std::string& arg = args[*i];
  auto assign = [&](std::string_view name, std::string* out) -> absl::Status {
    absl::StatusOr<std::string> v = FlagValue(args, i, name);
    if (!v.ok()) return v.status();
    *out = *v;
    return absl::OkStatus();
  };
  if (IsFlag(arg, "--config")) {
    cl->config_path_given = true;
    return assign("--config", &cl->config_path);
  }
  if (IsFlag(arg, "--listen")) return assign("--listen", &cl->listen.emplace());
  if (IsFlag(arg, "--backend")) return assign("--backend", &cl->backend.emplace());
  if (IsFlag(arg, "--log-level")) return assign("--log-level", &cl->log_level);
  if (IsFlag(arg, "--log-format")) {
    if (absl::Status s = assign("--log-format", &cl->log_format); !s.ok()) return s;
    if (cl->log_format != "text" && cl->log_format != "json") {
      return BadArgument(
          absl::StrCat("--log-format must be text or json, not \"", cl->log_format, "\""));
    }
    return absl::OkStatus();
  }
  if (IsFlag(arg, "--file")) return assign("--file", &cl->list_file);
  if (IsFlag(arg, "--parallel")) {
    std::string value;
    if (absl::Status s = assign("--parallel", &value); !s.ok()) return s;
    if (!absl::SimpleAtoi(value, &cl->parallel) || cl->parallel < 1 || cl->parallel > 64) {
      return BadArgument(absl::StrCat("--parallel must be a number from 1 to 64, not \"",
                                      value, "\""));
    }
    return absl::OkStatus();
  }
  if (IsFlag(arg, "--output")) {
    // Checked once the command is known: text|json for resolve, a file for
    // convert.
    return assign("--output", &cl->output_file);
  }
  if (IsFlag(arg, "--from")) return assign("--from", &cl->from);
  if (IsFlag(arg, "--namespace")) {
    if (absl::Status s = assign("--namespace", &cl->pod_namespace); !s.ok()) return s;
    if (!config::IsValidNamespaceName(cl->pod_namespace)) {
      return BadArgument(absl::StrCat("--namespace \"", cl->pod_namespace,
                                      "\" is not a Kubernetes namespace name (lower-case "
                                      "letters, digits and '-', at most 63)"));
    }
    return absl::OkStatus();
  }
  return BadArgument(absl::StrCat("unknown flag \"", arg, "\""));
}

}  // namespace

absl::StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args) {
  CommandLine cl;
  cl.config_path = config::kDefaultConfigPath;
  std::vector<std::string> positional;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h" || arg == "--version") {
      CommandLine info;
      info.command = arg == "--version" ? Command::kVersion : Command::kHelp;
      return info;
    }
    if (arg.starts_with("-")) {
      if (absl::Status s = ApplyFlag(args, &i, &cl); !s.ok()) return s;
    } else {
      positional.push_back(arg);
    }
  }
  if (!positional.empty() && positional[0] == "convert") {
    if (positional.size() != 2 || cl.from.empty()) {
      return BadArgument("convert takes --from FORMAT and exactly one PATH");
    }
    cl.command = Command::kConvert;
    cl.convert_path = positional[1];
    return cl;
  }
  if (!cl.from.empty()) return BadArgument("--from applies to convert only");
  if (!cl.output_file.empty()) {
    if (cl.output_file != "json" && cl.output_file != "text") {
      return BadArgument(
          absl::StrCat("--output must be text or json, not \"", cl.output_file, "\""));
    }
    cl.json = cl.output_file == "json";
    cl.output_file.clear();
  }
  const bool prefetch = !positional.empty() && positional[0] == "prefetch";
  if (!cl.list_file.empty() && !prefetch) return BadArgument("--file applies to prefetch only");
  if (positional.empty()) return cl;
  if (positional[0] == "check-config" && positional.size() == 1) {
    cl.command = Command::kCheckConfig;
  } else if (positional[0] == "resolve" && positional.size() == 2) {
    cl.command = Command::kResolve;
    cl.image = positional[1];
  } else if (positional[0] == "resolve") {
    return BadArgument("resolve takes exactly one IMAGE argument");
  } else if (positional[0] == "status" && positional.size() == 1) {
    cl.command = Command::kStatus;
  } else if (positional[0] == "pull" && positional.size() == 2) {
    cl.command = Command::kPull;
    cl.image = positional[1];
  } else if (positional[0] == "pull") {
    return BadArgument("pull takes exactly one IMAGE argument");
  } else if (prefetch && positional.size() == 1 && !cl.list_file.empty()) {
    cl.command = Command::kPrefetch;
  } else if (prefetch) {
    return BadArgument("prefetch takes --file LIST (one image a line) and no other argument");
  } else {
    return BadArgument(absl::StrCat("unknown command \"", positional[0], "\""));
  }
  const bool pulls = cl.command == Command::kPull || cl.command == Command::kPrefetch;
  if (cl.command != Command::kDaemon && cl.backend) {
    return BadArgument("--backend applies to the daemon only");
  }
  if (cl.command != Command::kDaemon && !pulls && cl.listen) {
    return BadArgument("--listen applies to the daemon, pull and prefetch only");
  }
  if (!cl.pod_namespace.empty() && cl.command != Command::kResolve) {
    return BadArgument("--namespace applies to resolve only");
  }
  if (cl.json && cl.command != Command::kResolve && cl.command != Command::kStatus) {
    return BadArgument("--output text|json applies to resolve and status only");
  }
  return cl;
}

std::string UsageText() {
  return R"(cri-mirror: a CRI image service proxy that pulls through registry mirrors.

Usage:
  cri-mirror [--config FILE] [--listen URL] [--backend URL] [--log-level LEVEL]
      Serve runtime.v1.ImageService on --listen and relay to --backend.
  cri-mirror check-config [--config FILE]
      Validate the configuration; print every error (exit 1) or a summary.
  cri-mirror resolve IMAGE [--namespace NS] [--config FILE] [--output text|json]
      Print the canonical reference and the endpoint plan for IMAGE, as
      pulled for a pod in Kubernetes namespace NS (default: a pull without a
      pod, which only rules without `namespaces` serve).
  cri-mirror convert --from FORMAT PATH [--output FILE]
      Print the native TOML equivalent of a foreign registry config, with a
      comment for every setting dropped or changed. FORMAT: containerd-hosts
      (a certs.d directory), containerd-config (config.toml), k3s
      (registries.yaml) or registries-conf (registries.conf + .d drop-ins).
  cri-mirror status [--config FILE] [--output text|json]
      Show the running daemon's state: the config in force (file, hash, last
      reload result), rules, endpoint health and back-off, pulls in flight
      and recent ones, ensured images. Read from the root-only socket of
      [server].status.
  cri-mirror pull IMAGE [--config FILE] [--listen URL]
      Pull IMAGE through the running daemon (its [server].listen socket),
      with bytes and rate on a terminal, one line otherwise.
  cri-mirror prefetch --file LIST [--parallel N] [--config FILE] [--listen URL]
      Pull every image of LIST (one a line; '#' comments) through the running
      daemon, N at a time (default 4), then print a summary; exit 1 if any
      failed.
  cri-mirror --version | --help

Flags:
  --config FILE      TOML configuration (default /etc/cri-mirror/config.toml;
                     a missing default file means no mirror rules)
  --listen URL       kubelet-facing socket, overrides [server].listen
                     (default unix:///run/cri-mirror/cri-mirror.sock)
  --backend URL      containerd's CRI socket, overrides [server].backend
                     (default unix:///run/containerd/containerd.sock)
  --log-level LEVEL  debug, info (default), warning or error
  --log-format FMT   text (default) or json: one JSON object a line, and for
                     each finished pull a "pull finished" line with the
                     reference, rule, endpoints, bytes, duration, fallbacks

Signals: SIGHUP reloads the configuration (a bad file keeps the last good
one); SIGTERM/SIGINT stop gracefully.
)";
}

}  // namespace crimirror::cli
