#!/usr/bin/env bash
# Installs every Debian 12 package cri-mirror needs to build, test, benchmark
# and run its demo. Idempotent: quiet and quick when everything is present.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config
  protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libgrpc++-dev
  libabsl-dev libre2-dev libcurl4-openssl-dev libssl-dev
  libtomlplusplus-dev libmicrohttpd-dev nlohmann-json3-dev
  libyaml-cpp-dev  # k3s registries.yaml import
  libnghttp2-dev   # the kubelet-facing HTTP/2 router (plugin/h2_router.h)
  libgtest-dev libgmock-dev
  # libFuzzer smoke of the reference and config parsers
  clang libclang-rt-14-dev
  # real components used by the integration tests and the demo
  containerd docker-registry skopeo apache2-utils openssl curl
  # pod_test runs a real pod: runc (containerd's runtime, named for clarity)
  # and a static /bin/busybox, the only program of its pause and app images
  runc busybox-static
  iproute2 procps
  # systemd-analyze (test of systemd/), dpkg-shlibdeps (cpack -G DEB and its test)
  systemd dpkg-dev
  # promtool: the metrics test checks the /metrics exposition with it
  prometheus
  # structure test of deploy/ manifests
  python3-yaml
  # callgrind: the bench's instruction counts; podman (containers/image,
  # CRI-O's registry library): the bench's registries.conf fault rows
  valgrind podman
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or via sudo) to install them with apt-get" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# containerd and docker-registry ship systemd units; on a machine without
# systemd as PID 1 (CI containers) policy-rc.d keeps apt from starting them.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The test bed starts its own containerd and registries; never leave the
# distribution's default instances running on the node's standard sockets.
for svc in containerd docker-registry; do
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
  fi
done
echo "install-deps: done"
