// Copyright cri-mirror authors.
//
// Checks that an integration test can run here: root (containerd needs it)
// and the external programs of the bed on PATH. Tests call it first and
// GTEST_SKIP() with the returned reason, so a developer machine without
// containerd skips instead of failing; CI machines have everything.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace crimirror::testbed {

// Programs the bed uses: containerd, docker-registry, skopeo, openssl,
// htpasswd.
std::vector<std::string> DefaultPrograms();

// nullopt when running as root and every program is found; otherwise a
// human-readable reason naming what is missing and how to get it.
std::optional<std::string> MissingPrerequisites(
    const std::vector<std::string>& programs = DefaultPrograms());

}  // namespace crimirror::testbed
