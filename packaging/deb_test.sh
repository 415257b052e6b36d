#!/usr/bin/env bash
# Test: builds the Debian package from the build tree with cpack, inspects it
# with dpkg-deb (Depends computed from the shared libraries, the file list),
# unpacks it into a scratch root and runs the packaged binary there:
# --version and check-config on the packaged example config.
#   deb_test.sh BUILD_DIR VERSION
set -euo pipefail
build="$1"
version="$2"
work="$(mktemp -d /tmp/deb-test.XXXXXX)"
trap 'rm -rf "$work"' EXIT
fail() { echo "deb_test: $*" >&2; exit 1; }

(cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/out" >"$work/cpack.log" 2>&1) ||
  { cat "$work/cpack.log"; fail "cpack failed"; }
deb="$(ls "$work"/out/cri-mirror_"$version"_*.deb 2>/dev/null | head -1)"
[ -n "$deb" ] || { ls -R "$work/out"; fail "no cri-mirror_${version}_*.deb"; }

info="$(dpkg-deb --info "$deb")"
depends="$(dpkg-deb --field "$deb" Depends)"
echo "Depends: $depends"
for lib in libgrpc++ libprotobuf libssl libcurl libmicrohttpd libre2 libabsl libstdc++ libc6; do
  grep -q "$lib" <<<"$depends" || fail "Depends lacks $lib (shlibdeps?): $depends"
done
[ "$(dpkg-deb --field "$deb" Package)" = cri-mirror ] || fail "Package field: $info"

files="$(dpkg-deb --contents "$deb" | awk '{print $6}')"
for f in ./usr/bin/cri-mirror ./usr/lib/systemd/system/cri-mirror.service \
         ./usr/lib/systemd/system/kubelet.service.d/20-cri-mirror.conf \
         ./usr/share/doc/cri-mirror/README.md ./usr/share/doc/cri-mirror/examples/config.toml; do
  grep -qxF "$f" <<<"$files" || fail "missing $f in: $files"
done
# Nothing but our files: no headers, static libraries or test binaries.
if grep -E '\.(a|h)$|_test$|testbed' <<<"$files"; then fail "unexpected files above"; fi

root="$work/root"
dpkg -x "$deb" "$root"
"$root/usr/bin/cri-mirror" --version | grep -qx "cri-mirror $version" || fail "--version"
"$root/usr/bin/cri-mirror" check-config --config "$root/usr/share/doc/cri-mirror/examples/config.toml" ||
  fail "check-config on the example config"
echo "deb OK ($(du -k "$deb" | cut -f1) KiB)"
