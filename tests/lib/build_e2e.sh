# Shared setup of the `imgfactory build` e2e tests (tests/e2e/build_*.sh), sourced after
# testlib.sh: real buildah, skopeo, docker-registry on 127.0.0.1 and qemu-user-static.
#
#   be_require   skips (77) with the reason when a tool or privilege truly is not there
#   be_setup     private containers storage under $T_TMP, a registry on a free port (marked
#                insecure by a registries.conf.d drop-in, removed at exit), the busybox base
#                image pushed as $BASE; exports REG, BASE, STATE, TMPDIR
#   be_enrol DOCKERFILE_TEXT [extra images.yaml lines for the local: block]
#                writes $STATE/images.yaml enrolling "app" (local.dir app) and the app files
#   be_leftovers PATTERN   processes whose command line contains PATTERN (excluding this shell)
source "$IMGF_SOURCE_DIR/scripts/lib/registry.sh"
source "$IMGF_SOURCE_DIR/scripts/lib/binfmt.sh"
source "$IMGF_SOURCE_DIR/scripts/lib/busybox-base.sh"

be_require() {
  local t
  for t in buildah skopeo docker-registry curl python3 dpkg-deb apt-get; do
    if ! command -v "$t" >/dev/null 2>&1; then
      echo "SKIP: $t is not installed (scripts/setup.sh installs it)" >&2
      exit 77
    fi
  done
  if [[ $(id -u) -ne 0 ]]; then
    echo "SKIP: needs root: writes a registries.conf.d drop-in and registers qemu in binfmt_misc" >&2
    exit 77
  fi
  if ! binfmt_ensure_aarch64; then
    echo "SKIP: qemu-aarch64 cannot be registered in binfmt_misc here (see above)" >&2
    exit 77
  fi
}

be_cleanup_storage() {
  buildah rm --all >/dev/null 2>&1 || true
  buildah rmi --all --force >/dev/null 2>&1 || true
  # Mounts a killed build may have left under the test directory.
  awk -v d="$T_TMP" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
}

be_setup() {
  unset BUILDAH_ISOLATION REGISTRY
  export TMPDIR="$T_TMP/tmp"
  mkdir -p "$TMPDIR" "$T_TMP/storage" "$T_TMP/runroot"
  cat >"$T_TMP/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$T_TMP/storage"
runroot = "$T_TMP/runroot"
CONF
  export CONTAINERS_STORAGE_CONF="$T_TMP/storage.conf"
  t_on_exit be_cleanup_storage
  PORT=$(registry_free_port)
  REG="127.0.0.1:$PORT"
  registry_start "$T_TMP/registry" "$PORT" || exit 1
  t_on_exit 'registry_stop "$T_TMP/registry"'
  if ! registry_dropin_write "$PORT"; then
    echo "SKIP: cannot write $(registry_dropin_path "$PORT") to mark the loopback registry insecure" >&2
    exit 77
  fi
  t_on_exit 'registry_dropin_remove "$PORT"'
  BASE="$REG/imgfactory-e2e/busybox:1.35"
  local cache="${IMGF_E2E_CACHE:-${IMGF_BUILD_DIR:-$T_TMP}/e2e-cache}"
  if ! busybox_base_push "$BASE" "$cache"; then
    fail "could not make the busybox base image $BASE"
    done_testing
    exit 1
  fi
  pass "two-platform busybox base pushed to $BASE"
  STATE="$T_TMP/state"
  mkdir -p "$STATE/app"
  export REG BASE STATE PORT
}

be_enrol() {
  local dockerfile="$1" extra="${2:-}"
  printf '%s\n' "$dockerfile" >"$STATE/app/Dockerfile"
  echo "hello" >"$STATE/app/hello.txt"
  {
    echo "- name: app"
    echo "  registry: $REG"
    echo "  repository: e2e/app"
    echo "  local:"
    echo "    dir: app"
    [[ -n "$extra" ]] && printf '%s\n' "$extra"
  } >"$STATE/images.yaml"
}

be_leftovers() {
  pgrep -a -f -- "$1" | grep -v -e "^$$ " -e pgrep || true
}

# json FIELD-EXPRESSION < file: a value from a JSON document via python3, e.g. json '["tag"]'
json() { python3 -c "import json,sys; v=json.load(sys.stdin)$1; print(v if not isinstance(v,bool) else str(v).lower())"; }
