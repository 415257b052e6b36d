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

// What running a pod needs beyond MissingPrerequisites(): runc and
// containerd-shim-runc-v2 on PATH, a static busybox at /bin/busybox (the
// pod test builds its pause and app images from it; Debian package
// busybox-static), and a platform on which runc can start a container at
// all: a `runc run` of busybox `true` in host network from a scratch bundle
// under `scratch_dir`, with its own runc root there. nullopt when all hold;
// otherwise the reason, with runc's own error text for the platform probe.
std::optional<std::string> MissingPodPrerequisites(
    const std::string& scratch_dir);

}  // namespace crimirror::testbed
