#!/usr/bin/env bash
# The build part of the demo: starts docker-registry on 127.0.0.1:5000 (or a free port when
# 5000 is taken), pushes a two-platform busybox base to it, builds the enrolled example app
# for linux/amd64 and linux/arm64 with `imgfactory build` (the arm64 RUN under
# qemu-user-static), pushes the manifest list, prints the result, stops the registry.
#
#   scripts/demo-build.sh STATE_DIR [IMAGE]
#
# STATE_DIR holds images.yaml enrolling IMAGE (default: app) with local.dir pointing at
# examples/app (relative to STATE_DIR or to the root of the git work tree holding it); when
# STATE_DIR has no images.yaml, a demo enrollment is written there. Needs root: it writes a
# registries.conf.d drop-in marking the loopback registry insecure (removed at exit) and
# registers qemu-aarch64 in binfmt_misc if it is not. IMGFACTORY overrides the binary.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
STATE_DIR="${1:?usage: scripts/demo-build.sh STATE_DIR [IMAGE]}"
IMAGE="${2:-app}"
bin="${IMGFACTORY:-$root/build/release/imgfactory}"
source scripts/lib/registry.sh
source scripts/lib/binfmt.sh
source scripts/lib/busybox-base.sh

[[ -x "$bin" ]] || { echo "demo-build: $bin not built (bash scripts/build.sh release)" >&2; exit 1; }
binfmt_ensure_aarch64 || { echo "demo-build: arm64 RUN steps need qemu-aarch64 in binfmt_misc" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/imgf-demo-build-XXXXXX")
port=5000
if ! python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1",5000))' 2>/dev/null; then
  port=$(registry_free_port)
  echo "demo-build: 127.0.0.1:5000 is taken, using 127.0.0.1:$port" >&2
fi
cleanup() {
  registry_stop "$work/registry"
  registry_dropin_remove "$port"
  rm -rf "$work"
}
trap cleanup EXIT
registry_start "$work/registry" "$port"
registry_dropin_write "$port" || { echo "demo-build: cannot write $(registry_dropin_path "$port") (needs root)" >&2; exit 1; }
echo "== docker-registry on 127.0.0.1:$port (insecure via $(registry_dropin_path "$port"))"

base="127.0.0.1:$port/imgfactory-demo/busybox:1.35"
busybox_base_push "$base" "${IMGF_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imgfactory}"
echo "== pushed the two-platform busybox base $base"

if [[ ! -f "$STATE_DIR/images.yaml" ]]; then
  mkdir -p "$STATE_DIR"
  cp -r examples/app "$STATE_DIR/app"
  cat >"$STATE_DIR/images.yaml" <<YAML
- name: $IMAGE
  registry: 127.0.0.1:5000
  repository: imgfactory-demo/app
  local:
    dir: app
    versionFile: app/VERSION
YAML
  echo "== wrote a demo enrollment to $STATE_DIR/images.yaml"
fi

echo "== imgfactory build $IMAGE --registry 127.0.0.1:$port --build-arg BASE=$base --format json"
"$bin" --state-dir "$STATE_DIR" build "$IMAGE" --registry "127.0.0.1:$port" --build-arg "BASE=$base" \
  --format json >"$work/result.json"
python3 -m json.tool "$work/result.json"
ref=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["reference"])' "$work/result.json")
echo "== skopeo inspect --raw docker://$ref"
skopeo inspect --raw "docker://$ref" | python3 -m json.tool
state="$STATE_DIR/images/$IMAGE.yaml"
[[ -f "$state" || ! -f "$STATE_DIR/state/images/$IMAGE.yaml" ]] || state="$STATE_DIR/state/images/$IMAGE.yaml"
echo "== recorded in $state"
grep -E '^(currentVersion|currentDigest|lastBuilt):' "$state"
