// Kubernetes namespace names, as `[[mirror]] namespaces` and
// `cri-mirror resolve --namespace` accept them.
#pragma once

#include <string_view>

namespace crimirror::config {

// True when `name` is a valid Kubernetes namespace name: a DNS-1123 label,
// 1 to 63 characters of lower-case letters, digits and '-', starting and
// ending with a letter or digit ("team-a", "kube-system"). Pure.
bool IsValidNamespaceName(std::string_view name);

}  // namespace crimirror::config
