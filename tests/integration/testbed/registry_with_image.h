// A docker-registry started already holding one image: what most tests need
// first (a private TLS+htpasswd registry, an anonymous mirror with the same
// image). Pushing with the registry's own htpasswd credentials, if any.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "tests/integration/testbed/image_builder.h"
#include "tests/integration/testbed/registry.h"

namespace crimirror::testbed {

// Starts a registry with `options` under `dir` and pushes the builder's
// `layout_tag` to it as `repo_tag` ("team/app:v1"), with
// `options.htpasswd` as credentials when set.
absl::StatusOr<std::unique_ptr<Registry>> StartRegistryWithImage(
    const std::string& dir, const RegistryOptions& options, ImageBuilder& builder,
    const std::string& layout_tag, const std::string& repo_tag);

}  // namespace crimirror::testbed
