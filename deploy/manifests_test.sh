#!/usr/bin/env bash
# Test: validate_manifests.py accepts deploy/cri-mirror-config-sync.yaml
# (and cri-mirror check-config accepts its config) and rejects copies broken
# in each way it checks.
#   manifests_test.sh DEPLOY_DIR CRI_MIRROR_BINARY
set -euo pipefail
dir="$1"
binary="$2"
manifest="$dir/cri-mirror-config-sync.yaml"
work="$(mktemp -d /tmp/manifests-test.XXXXXX)"
trap 'rm -rf "$work"' EXIT
python3 "$dir/validate_manifests.py" "$manifest" "$binary"
broken() {  # name, sed expression
  sed "$2" "$manifest" >"$work/$1.yaml"
  if python3 "$dir/validate_manifests.py" "$work/$1.yaml" "$binary" 2>"$work/$1.err"; then
    echo "accepted a manifest with $1" >&2; exit 1
  fi
  echo "rejected $1: $(cat "$work/$1.err")"
}
broken selector 's/^      app.kubernetes.io\/name: cri-mirror-config-sync$/      app.kubernetes.io\/name: other/'
broken host-path 's#path: /etc/cri-mirror$#path: /etc/other#'
broken missing-secret 's/secretName: cri-mirror-files/secretName: nowhere/'
broken not-atomic 's/mv -f "$tmp" "$2"/cat "$tmp" >"$2"/'
broken bad-config 's/registry  = "docker.io"/registry  = "ftp:\/\/docker.io"/'
echo "manifests test OK"
