#!/usr/bin/env bash
# Test: `systemd-analyze verify` on cri-mirror.service and on a kubelet.service
# carrying the drop-in. The units name /usr/bin/cri-mirror and
# /usr/bin/kubelet, which verify requires to exist: the copies checked here
# point at the built binary and at /bin/true instead; nothing else changes.
#   verify_units.sh SOURCE_DIR CRI_MIRROR_BINARY
set -euo pipefail
src="$1/systemd"
binary="$2"
work="$(mktemp -d /tmp/verify-units.XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/kubelet.service.d"
sed "s#/usr/bin/cri-mirror#$binary#g" "$src/cri-mirror.service" >"$work/cri-mirror.service"
sed "s#/usr/bin/kubelet#/bin/true#g" "$src/kubelet.service.d/20-cri-mirror.conf" \
  >"$work/kubelet.service.d/20-cri-mirror.conf"
# A stand-in for kubeadm's kubelet.service the drop-in attaches to.
cat >"$work/kubelet.service" <<'UNIT'
[Unit]
Description=kubelet stand-in
[Service]
ExecStart=/bin/true
[Install]
WantedBy=multi-user.target
UNIT
# containerd.service is named by After=/Wants=; the search path keeps the
# system's own units after ours.
export SYSTEMD_UNIT_PATH="$work:"
out="$(systemd-analyze verify --man=no "$work/cri-mirror.service" "$work/kubelet.service" 2>&1)" || {
  echo "$out"; echo "systemd-analyze verify failed" >&2; exit 1; }
# verify exits 0 on some warnings; any line about our units is a failure.
if echo "$out" | grep -E "cri-mirror|kubelet" | grep -v "^$" ; then
  echo "systemd-analyze verify reported the lines above" >&2
  exit 1
fi
echo "verify OK"
