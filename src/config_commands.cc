#include "src/config_commands.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ostream>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "config/load.h"
#include "config/parse.h"
#include "import/load.h"
#include "import/to_toml.h"
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
               bool json, std::ostream& out, std::ostream& err) {
  absl::StatusOr<resolver::Reference> reference =
      resolver::ParseReference(image);
  if (!reference.ok()) {
    err << reference.status().message() << "\n";
    return 1;
  }
  config::Config config;
  absl::StatusOr<config::ParsedConfig> parsed =
      importer::LoadConfigWithImports(config_path);
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
  std::string text = importer::ToNativeToml(
      *imported, "Converted by `cri-mirror convert --from " + format + " " + path +
                     "`.\nEach [[mirror]] says where it came from (file:line).");
  if (output_file.empty()) {
    out << text;
    return 0;
  }
  int fd = ::open(output_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    err << "cannot write " << output_file << ": " << std::strerror(errno) << "\n";
    return 1;
  }
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
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
