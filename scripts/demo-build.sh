#!/usr/bin/env bash
# The build part of the demo: starts docker-registry on a free 127.0.0.1 port, pushes a
# two-platform busybox base to it, builds the enrolled example app for linux/amd64 and
# linux/arm64 with `imgfactory build` (the arm64 RUN under qemu-user-static), pushes the
# manifest list, prints the result, then stops the registry.
#
#   scripts/demo-build.sh STATE_DIR [IMAGE] [WORK_DIR]
#
# STATE_DIR holds images.yaml enrolling IMAGE (default: app) with local.dir pointing at
# examples/app (relative to STATE_DIR or to the root of the git work tree holding it); when
# STATE_DIR has no images.yaml, a demo enrollment is written there. WORK_DIR (default: a new
# temporary directory) receives result.json (imgfactory build --format json) and
# manifest-list.json (what the registry served).
#
# Runs any number of times: buildah works in a private containers storage under WORK_DIR
# (scripts/lib/storage.sh; the default storage is neither used nor touched), removed at exit
# with the registry, its data and its registries.conf.d drop-in; storage a killed earlier run
# left in WORK_DIR is removed first. Needs root: the drop-in marks the loopback registry
# insecure, and qemu-aarch64 is registered in binfmt_misc if it is not. IMGFACTORY overrides
# the binary.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
STATE_DIR="${1:?usage: scripts/demo-build.sh STATE_DIR [IMAGE] [WORK_DIR]}"
IMAGE="${2:-app}"
work="${3:-}"
bin="${IMGFACTORY:-$root/build/release/imgfactory}"
source scripts/lib/registry.sh
source scripts/lib/binfmt.sh
source scripts/lib/busybox-base.sh
source scripts/lib/storage.sh

[[ -x "$bin" ]] || { echo "demo-build: $bin not built (bash scripts/build.sh release imgfactory)" >&2; exit 1; }
binfmt_ensure_aarch64 || { echo "demo-build: arm64 RUN steps need qemu-aarch64 in binfmt_misc" >&2; exit 1; }

[[ -n "$work" ]] || work=$(mktemp -d "${TMPDIR:-/tmp}/imgf-demo-build-XXXXXX")
mkdir -p "$work"
work="$(cd "$work" && pwd)"
registry_down "$work/registry"  # what a killed earlier run left, if anything
storage_remove "$work"
rm -rf "$work/registry" "$work/tmp"
cleanup() {
  registry_down "$work/registry"
  storage_remove "$work"
  rm -rf "$work/registry" "$work/tmp"
}
trap cleanup EXIT
storage_private "$work"
export TMPDIR="$work/tmp"  # buildah's scratch space, removed with the rest
mkdir -p "$TMPDIR"
unset BUILDAH_ISOLATION
registry_up "$work/registry" || { echo "demo-build: no loopback registry (see above)" >&2; exit 1; }
port=$REGISTRY_PORT
echo "== docker-registry on 127.0.0.1:$port (insecure via $(registry_dropin_path "$port")), containers storage $work/storage"

base="127.0.0.1:$port/imgfactory-demo/busybox:1.35"
busybox_base_push "$base" "${IMGF_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imgfactory}"
echo "== pushed the two-platform busybox base $base"

if [[ ! -f "$STATE_DIR/images.yaml" ]]; then
  mkdir -p "$STATE_DIR"
  cp -r examples/app "$STATE_DIR/app"
  cat >"$STATE_DIR/images.yaml" <<YAML
- name: $IMAGE
  registry: 127.0.0.1:$port
  repository: imgfactory-demo/app
  local:
    dir: app
    versionFile: VERSION
YAML
  echo "== wrote a demo enrollment to $STATE_DIR/images.yaml"
fi

echo "== imgfactory build $IMAGE --registry 127.0.0.1:$port --build-arg BASE=$base --format json"
"$bin" --state-dir "$STATE_DIR" build "$IMAGE" --registry "127.0.0.1:$port" --build-arg "BASE=$base" \
  --format json >"$work/result.json"
python3 -m json.tool "$work/result.json"
ref=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["reference"])' "$work/result.json")
echo "== skopeo inspect --raw docker://$ref"
skopeo inspect --raw "docker://$ref" | python3 -m json.tool | tee "$work/manifest-list.json"
state="$STATE_DIR/images/$IMAGE.yaml"
[[ -f "$state" || ! -f "$STATE_DIR/state/images/$IMAGE.yaml" ]] || state="$STATE_DIR/state/images/$IMAGE.yaml"
echo "== recorded in $state"
grep -E '^(currentVersion|currentDigest|lastBuilt):' "$state"
