# A two-platform (linux/amd64 + linux/arm64) busybox base image made from Debian's
# busybox-static packages — amd64 from the host's /bin/busybox, arm64 from
# `apt-get download busybox-static:arm64` (scripts/setup.sh adds the arm64 architecture) —
# with `buildah from scratch` + copy + commit per architecture into one manifest list, pushed.
# Sourced by tests/e2e/build_*.sh, scripts/demo-build.sh and bench/build/run.sh.
#
#   busybox_base_push REF CACHE_DIR   build and push REF (e.g. 127.0.0.1:5000/x/busybox:1.35);
#                                     the arm64 .deb is kept in CACHE_DIR for the next run.
# Uses whatever containers storage the environment selects (CONTAINERS_STORAGE_CONF).

busybox_deb() { # ARCH CACHE_DIR -> path of busybox-static_*_ARCH.deb (downloaded once)
  local arch="$1" cache="$2" deb
  mkdir -p "$cache"
  deb=$(ls "$cache"/busybox-static_*_"$arch".deb 2>/dev/null | head -n 1)
  if [[ -z "$deb" ]]; then
    (cd "$cache" && apt-get download "busybox-static:$arch" >/dev/null 2>&1) || {
      echo "apt-get download busybox-static:$arch failed (is the $arch architecture added? run scripts/setup.sh)" >&2
      return 1
    }
    deb=$(ls "$cache"/busybox-static_*_"$arch".deb 2>/dev/null | head -n 1)
  fi
  [[ -n "$deb" ]] && echo "$deb"
}

busybox_base_push() {
  local ref="$1" cache="$2" work arch root deb c host_arch
  host_arch=$(dpkg --print-architecture)
  work=$(mktemp -d "${TMPDIR:-/tmp}/imgf-busybox-XXXXXX") || return 1
  for arch in amd64 arm64; do
    root="$work/rootfs-$arch"
    mkdir -p "$root/bin" "$root/tmp" "$root/etc"
    if [[ "$arch" == "$host_arch" && -x /bin/busybox ]] && dpkg -S /bin/busybox 2>/dev/null | grep -q '^busybox-static:'; then
      cp /bin/busybox "$root/bin/busybox"
    else
      deb=$(busybox_deb "$arch" "$cache") || { rm -rf "$work"; return 1; }
      dpkg-deb -x "$deb" "$work/pkg-$arch"
      cp "$work/pkg-$arch/bin/busybox" "$root/bin/busybox"
    fi
    # Applet links made on the host: no emulated RUN needed to install them.
    /bin/busybox --list | python3 -c '
import os, sys
d = sys.argv[1]
for a in sys.stdin.read().split():
    if a != "busybox" and not os.path.lexists(os.path.join(d, a)):
        os.symlink("busybox", os.path.join(d, a))' "$root/bin"
    echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
    chmod 1777 "$root/tmp"
  done
  buildah manifest rm "$ref" >/dev/null 2>&1 || true
  buildah manifest create "$ref" >/dev/null || { rm -rf "$work"; return 1; }
  for arch in amd64 arm64; do
    c=$(buildah from --arch "$arch" --os linux scratch) || { rm -rf "$work"; return 1; }
    buildah copy "$c" "$work/rootfs-$arch/" / >/dev/null &&
      buildah config --os linux --arch "$arch" --env PATH=/bin --cmd /bin/sh "$c" &&
      buildah commit -q --manifest "$ref" "$c" >/dev/null
    local rc=$?
    buildah rm "$c" >/dev/null
    ((rc == 0)) || { rm -rf "$work"; return 1; }
  done
  rm -rf "$work"
  local out
  out=$(buildah manifest push --all "$ref" "docker://$ref" 2>&1) || {
    echo "pushing the busybox base $ref failed: $out" >&2
    return 1
  }
  buildah manifest rm "$ref" >/dev/null 2>&1 || true
}
