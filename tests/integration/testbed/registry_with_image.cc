#include "tests/integration/testbed/registry_with_image.h"

#include <utility>

namespace crimirror::testbed {

absl::StatusOr<std::unique_ptr<Registry>> StartRegistryWithImage(
    const std::string& dir, const RegistryOptions& options, ImageBuilder& builder,
    const std::string& layout_tag, const std::string& repo_tag) {
  absl::StatusOr<std::unique_ptr<Registry>> registry = Registry::Create(dir, options);
  if (!registry.ok()) return registry.status();
  PushOptions push;
  push.credentials = options.htpasswd;
  absl::StatusOr<std::string> pushed =
      builder.Push(layout_tag, (*registry)->HostPort() + "/" + repo_tag, push);
  if (!pushed.ok()) return pushed.status();
  return registry;
}

}  // namespace crimirror::testbed
