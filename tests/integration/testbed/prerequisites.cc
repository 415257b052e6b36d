// Copyright cri-mirror authors.
#include "tests/integration/testbed/prerequisites.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/integration/testbed/process.h"

namespace crimirror::testbed {

std::vector<std::string> DefaultPrograms() {
  return {"containerd", "docker-registry", "skopeo", "openssl", "htpasswd"};
}

std::optional<std::string> MissingPrerequisites(
    const std::vector<std::string>& programs) {
  if (geteuid() != 0) {
    return "integration tests need root (containerd); run them as root (or through sudo)";
  }
  std::vector<std::string> missing;
  for (const auto& program : programs) {
    if (!FindProgram(program).ok()) missing.push_back(program);
  }
  if (missing.empty()) return std::nullopt;
  return absl::StrCat("missing programs: ", absl::StrJoin(missing, ", "),
                      "; run scripts/install-deps.sh (Debian packages "
                      "containerd, docker-registry, skopeo, openssl, "
                      "apache2-utils)");
}

}  // namespace crimirror::testbed
