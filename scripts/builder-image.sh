#!/usr/bin/env bash
# Builds the Debian 12 variant of the builder image offline (no container registry needed):
#
#   base   debootstrap a minimal Debian root file system from the Debian mirror apt is
#          configured with here, and commit it into buildah's storage as $BASE_IMAGE
#   build  buildah build containerfiles/Containerfile.debian (chroot isolation, layer
#          cache) on top of it as $BUILDER_IMAGE; imgfactory is compiled in its build stage
#   test   run `imgfactory healthcheck --require podman,buildah,skopeo,git` inside the
#          image as user 1000
#   all    base + build + test (default)
#   clean  remove both images and the cached root file system
#
# Needs root (debootstrap, and buildah mounting the base's root file system), buildah and
# debootstrap (scripts/setup.sh installs them). Environment:
#   BASE_IMAGE      default localhost/imgfactory-debian-base:bookworm
#   BUILDER_IMAGE   default localhost/imgfactory-builder:debian
#   DEBIAN_SUITE    default bookworm
#   DEBIAN_MIRROR   default: the URI apt uses for $DEBIAN_SUITE (/etc/apt/sources.list*)
#   DEBIAN_SECURITY default: the URI apt uses for $DEBIAN_SUITE-security
#   BUILDER_CACHE   default build/builder-image (the debootstrap tarball is kept there)
#   REBUILD_BASE=1  re-run debootstrap even when the tarball or the base image exists
#   BUILDAH_ISOLATION default chroot (buildah's default OCI isolation fails here)
#   CONTAINERS_STORAGE_CONF  honoured by buildah, to build into another store
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE="${BASE_IMAGE:-localhost/imgfactory-debian-base:bookworm}"
BUILDER_IMAGE="${BUILDER_IMAGE:-localhost/imgfactory-builder:debian}"
DEBIAN_SUITE="${DEBIAN_SUITE:-bookworm}"
BUILDER_CACHE="${BUILDER_CACHE:-build/builder-image}"
export BUILDAH_ISOLATION="${BUILDAH_ISOLATION:-chroot}"

log() { printf 'builder-image: %s\n' "$*" >&2; }
die() { printf 'builder-image: error: %s\n' "$*" >&2; exit 1; }

need_root() {
  [[ $(id -u) -eq 0 ]] || die "$1 needs root (debootstrap and buildah mount); run it with sudo"
}

# The URI apt uses for a suite, from one-line (sources.list) or deb822 (*.sources) entries.
apt_uri_for_suite() {
  local suite="$1" f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -r "$f" ]] || continue
    case "$f" in
      *.sources)
        awk -v want="$suite" '
          function flush() { if (types ~ /(^| )deb( |$)/ && enabled != "no") {
                               n = split(suites, s, /[ \t]+/)
                               for (i = 1; i <= n; i++) if (s[i] == want) { split(uris, u, /[ \t]+/); print u[1]; found = 1; exit } }
                             types = ""; uris = ""; suites = ""; enabled = "" }
          /^[ \t]*#/ { next }
          /^[ \t]*$/ { flush(); next }
          { key = tolower($1); sub(/:$/, "", key); val = $0; sub(/^[^:]*:[ \t]*/, "", val)
            if (key == "types") types = val; else if (key == "uris") uris = val
            else if (key == "suites") suites = val; else if (key == "enabled") enabled = tolower(val) }
          END { if (!found) flush() }' "$f"
        ;;
      *)
        awk -v want="$suite" '
          $1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                        if ($(i + 1) == want) { print $i; exit } }' "$f"
        ;;
    esac
  done | head -n1
}

image_exists() { buildah inspect --type image "$1" >/dev/null 2>&1; }

cmd_base() {
  need_root base
  command -v debootstrap >/dev/null || [[ -x /usr/sbin/debootstrap ]] || die "debootstrap is not installed (bash scripts/setup.sh)"
  local debootstrap; debootstrap="$(command -v debootstrap || echo /usr/sbin/debootstrap)"
  if image_exists "$BASE_IMAGE" && [[ "${REBUILD_BASE:-0}" != 1 ]]; then
    log "base image $BASE_IMAGE exists (REBUILD_BASE=1 to recreate it)"
    return 0
  fi
  local mirror="${DEBIAN_MIRROR:-$(apt_uri_for_suite "$DEBIAN_SUITE")}"
  local security="${DEBIAN_SECURITY:-$(apt_uri_for_suite "$DEBIAN_SUITE-security")}"
  [[ -n "$mirror" ]] || die "no apt source for suite '$DEBIAN_SUITE' in /etc/apt/sources.list*; set DEBIAN_MIRROR"
  mkdir -p "$BUILDER_CACHE"
  local tarball="$BUILDER_CACHE/debian-$DEBIAN_SUITE-minbase.tar"
  if [[ ! -s "$tarball" || "${REBUILD_BASE:-0}" == 1 ]]; then
    local rootfs; rootfs="$(mktemp -d "$BUILDER_CACHE/rootfs.XXXXXX")"
    # shellcheck disable=SC2064
    trap "rm -rf '$rootfs'" EXIT
    log "debootstrap --variant=minbase $DEBIAN_SUITE from $mirror"
    "$debootstrap" --variant=minbase --components=main \
      --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
      "$DEBIAN_SUITE" "$rootfs" "$mirror" >&2
    # apt in the image uses the same mirror as this machine (plus updates and security).
    rm -f "$rootfs/etc/apt/sources.list"
    {
      printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$mirror" "$DEBIAN_SUITE" "$DEBIAN_SUITE"
      if [[ -n "$security" ]]; then
        printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
          "$security" "$DEBIAN_SUITE"
      fi
    } >"$rootfs/etc/apt/sources.list.d/debian.sources"
    # What a container base image does not need, as the official debian images do.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
      "$rootfs"/var/log/* "$rootfs"/tmp/* "$rootfs"/dev/* 2>/dev/null || true
    : >"$rootfs/etc/machine-id"
    tar --numeric-owner --xattrs -C "$rootfs" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
    trap - EXIT
  fi
  log "importing $tarball as $BASE_IMAGE"
  local ctr mnt
  ctr="$(buildah from --pull=false scratch)"
  mnt="$(buildah mount "$ctr")"
  tar --numeric-owner --xattrs -C "$mnt" -xpf "$tarball"
  buildah umount "$ctr" >/dev/null
  buildah config \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd /bin/bash \
    --label org.opencontainers.image.title="Debian $DEBIAN_SUITE minbase (debootstrap)" \
    --label org.opencontainers.image.base.name="debootstrap:$DEBIAN_SUITE" \
    --label io.imgfactory.debian.mirror="$mirror" \
    "$ctr"
  buildah commit --rm "$ctr" "$BASE_IMAGE" >/dev/null
  log "base image $BASE_IMAGE ready"
}

cmd_build() {
  image_exists "$BASE_IMAGE" || die "base image $BASE_IMAGE is missing: run '$0 base' first"
  log "buildah build containerfiles/Containerfile.debian -> $BUILDER_IMAGE (isolation $BUILDAH_ISOLATION)"
  local revision; revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
  local args=(
    --isolation "$BUILDAH_ISOLATION" --layers --pull=never --format docker
    -f containerfiles/Containerfile.debian
    --build-arg "BASE_IMAGE=$BASE_IMAGE"
    --build-arg "VCS_REF=$revision"
    --build-arg "BUILD_JOBS=${JOBS:-2}"
    -t "$BUILDER_IMAGE"
  )
  # Extra build arguments, e.g. BUILD_ARGS="RELEASE_TOOLS=1" where GitHub releases are reachable.
  local kv
  for kv in ${BUILD_ARGS:-}; do args+=(--build-arg "$kv"); done
  buildah build "${args[@]}" . >&2
  log "built $BUILDER_IMAGE"
}

cmd_test() {
  image_exists "$BUILDER_IMAGE" || die "builder image $BUILDER_IMAGE is missing: run '$0 build' first"
  local ctr status=0
  ctr="$(buildah from --pull=never "$BUILDER_IMAGE")"
  # shellcheck disable=SC2064
  trap "buildah rm '$ctr' >/dev/null 2>&1 || true" EXIT
  log "inside $BUILDER_IMAGE as user 1000: imgfactory healthcheck --require podman,buildah,skopeo,git"
  buildah run --isolation "$BUILDAH_ISOLATION" --user 1000:1000 "$ctr" -- \
    imgfactory healthcheck --require podman,buildah,skopeo,git || status=$?
  buildah rm "$ctr" >/dev/null 2>&1 || true
  trap - EXIT
  return "$status"
}

cmd_clean() {
  buildah rmi "$BUILDER_IMAGE" >/dev/null 2>&1 || true
  buildah rmi "$BASE_IMAGE" >/dev/null 2>&1 || true
  rm -rf "$BUILDER_CACHE"
  log "removed $BUILDER_IMAGE, $BASE_IMAGE and $BUILDER_CACHE"
}

case "${1:-all}" in
  base) cmd_base ;;
  build) cmd_build ;;
  test) cmd_test ;;
  all) cmd_base; cmd_build; cmd_test ;;
  clean) cmd_clean ;;
  mirror) apt_uri_for_suite "$DEBIAN_SUITE"; apt_uri_for_suite "$DEBIAN_SUITE-security" ;;
  -h|--help|help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) die "unknown step '$1' (base, build, test, all, clean)" ;;
esac
