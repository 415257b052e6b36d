#!/usr/bin/env bash
# The main job, self-contained on loopback: installs the Debian packages,
# builds cri-mirror, then runs the demo (containerd + a TLS/htpasswd
# docker-registry + cri-mirror; an image pulled through a mirror rule).
#   ./scripts/demo.sh          # as root; elsewhere: sudo ./scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
build_dir="${BUILD_DIR:-build}"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build_dir" -j"$(nproc)" --target cri-mirror cri-mirror-demo
exec "$build_dir/demo/cri-mirror-demo"
