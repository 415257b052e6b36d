#include "src/config_commands.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "config/load.h"
#include "config/parse.h"
#include "import/load.h"
#include "import/to_toml.h"
#include "relay/endpoint_credentials.h"
#include "resolver/plan_format.h"
#include "resolver/reference.h"
#include "resolver/resolve.h"
#include "src/load_config.h"

namespace crimirror::cli {
namespace {

std::string Plural(size_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

void PrintWarnings(const config::ParsedConfig& parsed, std::ostream& err) {
  for (const config::Warning& warning : parsed.warnings) {
    err << "warning: " << warning.message << "\n";
  }
}

// Where each endpoint would get credentials (issue 12's order; may run a
// credential helper, as a pull would). Never a secret.
std::vector<std::string> CredentialSources(const resolver::EndpointPlan& plan,
                                           const credentials::CredentialSource* sources) {
  std::vector<std::string> out;
  for (const resolver::Endpoint& endpoint : plan.endpoints) {
    std::string fallback = relay::DescribeCredentialSource(endpoint, sources);
    const bool kubelet =
        endpoint.kind == resolver::EndpointKind::kUpstream ||
        (endpoint.host_settings && endpoint.host_settings->forward_kubelet_credentials);
    out.push_back(kubelet ? absl::StrCat("kubelet AuthConfig (when sent), else ", fallback)
                          : std::move(fallback));
  }
  return out;
}

}  // namespace

int RunCheckConfig(const std::string& config_path, std::ostream& out,
                   std::ostream& err) {
  absl::StatusOr<config::ParsedConfig> parsed =
      importer::LoadConfigWithImports(config_path);
  if (!parsed.ok()) {
    err << parsed.status().message() << "\n";
    return 1;
  }
  PrintWarnings(*parsed, err);
  out << config_path
      << ": OK: " << Plural(parsed->config.mirrors.size(), "mirror rule")
      << ", " << Plural(parsed->config.hosts.size(), "host") << "\n";
  return 0;
}

int RunResolve(std::string_view image, const std::string& config_path,
               bool json, std::ostream& out, std::ostream& err,
               const std::string& pod_namespace) {
  absl::StatusOr<resolver::Reference> reference =
      resolver::ParseReference(image);
  if (!reference.ok()) {
    err << reference.status().message() << "\n";
    return 1;
  }
  config::Config config;
  absl::StatusOr<config::ParsedConfig> parsed = LoadDaemonConfig(config_path);
  if (parsed.ok()) {
    PrintWarnings(*parsed, err);
    config = std::move(parsed->config);
  } else if (!(absl::IsNotFound(parsed.status()) &&
               config_path == config::kDefaultConfigPath)) {
    err << parsed.status().message() << "\n";
    return 1;
  }
  resolver::EndpointPlan plan = resolver::Resolve(*reference, config, pod_namespace);
  const std::vector<std::string> sources =
      CredentialSources(plan, config.credential_sources.get());
  out << (json ? resolver::FormatPlanJson(plan, sources) + "\n"
               : resolver::FormatPlanText(plan, sources));
  return 0;
}

int RunConvert(const std::string& format, const std::string& path,
               const std::string& output_file, std::ostream& out,
               std::ostream& err) {
  absl::StatusOr<importer::Format> parsed_format = importer::ParseFormat(format);
  if (!parsed_format.ok()) {
    err << "--from: " << parsed_format.status().message() << "\n";
    return 1;
  }
  absl::StatusOr<importer::Imported> imported =
      importer::LoadForeign(*parsed_format, path);
  if (!imported.ok()) {
    err << imported.status().message() << "\n";
    return 1;
  }
  // The same validation [import] applies, so the output passes check-config
  // (unreadable certificate files included).
  absl::StatusOr<config::ParsedConfig> valid = importer::ValidateImported(*imported, path);
  if (!valid.ok()) {
    err << valid.status().message() << "\n";
    return 1;
  }
  const std::string header = "Converted by `cri-mirror convert --from " + format + " " + path +
                             "`.\nEach [[mirror]] says where it came from (file:line).";
  if (output_file.empty()) {
    // stdout is a terminal or a CI log: never a secret there.
    out << importer::ToNativeToml(*imported, header, importer::Secrets::kRedact);
    return 0;
  }
  const std::string text = importer::ToNativeToml(*imported, header, importer::Secrets::kInclude);
  int fd = ::open(output_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    err << "cannot write " << output_file << ": " << std::strerror(errno) << "\n";
    return 1;
  }
  // An existing file keeps its mode through O_CREAT: make it 0600 before
  // a secret is written into it.
  bool ok = ::fchmod(fd, 0600) == 0 &&
            ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::close(fd) == 0 && ok;
  if (!ok) {
    err << "cannot write " << output_file << ": " << std::strerror(errno) << "\n";
    return 1;
  }
  out << output_file << ": " << Plural(imported->mirrors.size(), "mirror rule") << ", "
      << Plural(imported->hosts.size(), "host") << ", "
      << Plural(imported->notes.size(), "note") << "\n";
  return 0;
}

}  // namespace crimirror::cli
