// Copyright cri-mirror authors.
//
// MissingPodPrerequisites() (declared in prerequisites.h): the programs a
// pod needs, a static busybox, and one real `runc run` as the platform
// probe. A machine where runc cannot start a container (no permission to
// mount proc, create namespaces or cgroups: an unprivileged container)
// makes the pod test skip with runc's own words instead of failing inside
// containerd; a machine where the probe passes and the pod fails is a bug.
#include <elf.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "tests/integration/testbed/prerequisites.h"
#include "tests/integration/testbed/process.h"
#include "tests/integration/testbed/temp_dir.h"

namespace crimirror::testbed {
namespace {

constexpr char kBusybox[] = "/bin/busybox";

// True for an ELF64 executable without a PT_INTERP program header (no
// dynamic loader: runs alone in an image holding only itself).
bool StaticElf(const std::string& bytes) {
  if (bytes.size() < sizeof(Elf64_Ehdr) || bytes.compare(0, 4, ELFMAG) != 0 ||
      bytes[EI_CLASS] != ELFCLASS64) {
    return false;
  }
  Elf64_Ehdr header;
  std::memcpy(&header, bytes.data(), sizeof(header));
  for (size_t i = 0; i < header.e_phnum; ++i) {
    size_t offset = header.e_phoff + i * header.e_phentsize;
    if (offset + sizeof(Elf64_Phdr) > bytes.size()) return false;
    Elf64_Phdr program;
    std::memcpy(&program, bytes.data() + offset, sizeof(program));
    if (program.p_type == PT_INTERP) return false;
  }
  return true;
}

// A bundle running `busybox true` with runc's default spec, in the host's
// network namespace like the test's sandbox.
absl::Status WriteProbeBundle(const std::string& bundle,
                              const std::string& busybox) {
  std::error_code ec;
  std::filesystem::create_directories(bundle + "/rootfs/bin", ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create ", bundle, ": ", ec.message()));
  }
  absl::Status written = WriteFile(bundle + "/rootfs/bin/busybox", busybox, 0755);
  if (!written.ok()) return written;
  absl::StatusOr<std::string> spec = RunCommandOk(
      {"runc", "spec", "--bundle", bundle}, bundle + "/runc-spec");
  if (!spec.ok()) return spec.status();
  absl::StatusOr<std::string> text = ReadFile(bundle + "/config.json");
  if (!text.ok()) return text.status();
  nlohmann::json config = nlohmann::json::parse(*text, nullptr, false);
  if (config.is_discarded()) {
    return absl::InternalError(absl::StrCat(bundle, "/config.json from `runc spec` is not JSON"));
  }
  config["process"]["terminal"] = false;
  config["process"]["args"] = {"/bin/busybox", "true"};
  nlohmann::json namespaces = nlohmann::json::array();
  for (const auto& ns : config["linux"]["namespaces"]) {
    if (ns.value("type", "") != "network") namespaces.push_back(ns);
  }
  config["linux"]["namespaces"] = namespaces;
  return WriteFile(bundle + "/config.json", config.dump(2));
}

// "" when runc ran the probe container; otherwise why not.
std::string RuncProbe(const std::string& scratch_dir, const std::string& busybox) {
  std::string bundle = scratch_dir + "/runc-probe";
  absl::Status written = WriteProbeBundle(bundle, busybox);
  if (!written.ok()) return std::string(written.message());
  std::string id = absl::StrCat("crimirror-probe-", getpid());
  absl::StatusOr<CommandResult> run =
      RunCommand({"runc", "--root", scratch_dir + "/runc-root", "run", "--bundle",
                  bundle, id},
                 bundle + "/runc-run", absl::Seconds(30));
  if (!run.ok()) return std::string(run.status().message());
  if (run->exit_code == 0) return "";
  std::string said = std::string(absl::StripAsciiWhitespace(
      absl::StrCat(run->stdout_text, " ", run->stderr_text)));
  return absl::StrCat("runc cannot start a container on this machine (`runc run` of busybox ",
                      "true exited ", run->exit_code, "): ", said.substr(0, 600));
}

}  // namespace

std::optional<std::string> MissingPodPrerequisites(const std::string& scratch_dir) {
  if (auto missing = MissingPrerequisites(); missing.has_value()) return missing;
  std::vector<std::string> missing;
  for (const char* program : {"runc", "containerd-shim-runc-v2"}) {
    if (!FindProgram(program).ok()) missing.push_back(program);
  }
  if (!missing.empty()) {
    return absl::StrCat("missing programs: ", absl::StrJoin(missing, ", "),
                        "; run scripts/install-deps.sh (Debian packages runc, containerd)");
  }
  absl::StatusOr<std::string> busybox = ReadFile(kBusybox);
  if (!busybox.ok() || !StaticElf(*busybox)) {
    return absl::StrCat(kBusybox, " is missing or not a static ELF64 executable; ",
                        "run scripts/install-deps.sh (Debian package busybox-static)");
  }
  std::string probe = RuncProbe(scratch_dir, *busybox);
  if (!probe.empty()) return probe;
  return std::nullopt;
}

}  // namespace crimirror::testbed
