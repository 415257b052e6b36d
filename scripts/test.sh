#!/usr/bin/env bash
# Builds cri-mirror and runs every test: unit tests of each library, the
# binary's smoke tests and the integration tests against the real containerd
# and docker-registry (root needed for those; they skip otherwise).
#   ./scripts/test.sh                 # all tests, as root (elsewhere: sudo ./scripts/test.sh)
#   TESTS=unit ./scripts/test.sh      # unit tests only (no root needed)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
build_dir="${BUILD_DIR:-build}"
jobs="$(nproc)"

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCRI_MIRROR_SANITIZE="${CRI_MIRROR_SANITIZE:-}" >/dev/null
cmake --build "$build_dir" -j"$jobs"

# libFuzzer targets (reference parser, config parser) need clang: built in a
# separate tree and run briefly as a smoke before the main suite.
if [ "${TESTS:-all}" != integration ] && command -v clang++ >/dev/null 2>&1; then
  CC=clang CXX=clang++ cmake -S . -B "$build_dir-fuzz" -DCRI_MIRROR_FUZZ=ON \
    -DCRI_MIRROR_INTEGRATION_TESTS=OFF -DCRI_MIRROR_BENCH=OFF >/dev/null
  cmake --build "$build_dir-fuzz" -j"$jobs" --target fuzz_reference fuzz_config
  ctest --test-dir "$build_dir-fuzz" -L fuzz --output-on-failure
fi

label_args=()
case "${TESTS:-all}" in
  unit) label_args=(-L unit) ;;
  integration) label_args=(-L integration) ;;
  all) ;;
  *) echo "test.sh: TESTS must be unit, integration or all" >&2; exit 2 ;;
esac
# Unit tests run in parallel; integration tests are RUN_SERIAL.
ctest --test-dir "$build_dir" --output-on-failure -j"$jobs" --timeout 900 "${label_args[@]}"
