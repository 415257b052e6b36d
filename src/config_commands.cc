#include "src/config_commands.h"

#include <ostream>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "config/load.h"
#include "config/parse.h"
#include "resolver/plan_format.h"
#include "resolver/reference.h"
#include "resolver/resolve.h"

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

}  // namespace

int RunCheckConfig(const std::string& config_path, std::ostream& out,
                   std::ostream& err) {
  absl::StatusOr<config::ParsedConfig> parsed =
      config::LoadConfigFile(config_path);
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
               bool json, std::ostream& out, std::ostream& err) {
  absl::StatusOr<resolver::Reference> reference =
      resolver::ParseReference(image);
  if (!reference.ok()) {
    err << reference.status().message() << "\n";
    return 1;
  }
  config::Config config;
  absl::StatusOr<config::ParsedConfig> parsed =
      config::LoadConfigFile(config_path);
  if (parsed.ok()) {
    PrintWarnings(*parsed, err);
    config = std::move(parsed->config);
  } else if (!(absl::IsNotFound(parsed.status()) &&
               config_path == config::kDefaultConfigPath)) {
    err << parsed.status().message() << "\n";
    return 1;
  }
  resolver::EndpointPlan plan = resolver::Resolve(*reference, config);
  out << (json ? resolver::FormatPlanJson(plan) + "\n"
               : resolver::FormatPlanText(plan));
  return 0;
}

}  // namespace crimirror::cli
