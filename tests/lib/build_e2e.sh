# The shared set-up and checks of the `imgfactory build` e2e tests (tests/e2e/build_*.sh):
# real buildah, skopeo, docker-registry on 127.0.0.1 and qemu-user-static. Sources testlib.sh.
#
#   be_init      be_require, then be_setup
#   be_require   skips (77) with the reason when a tool or privilege truly is not there
#   be_setup     private containers storage under $T_TMP (scripts/lib/storage.sh), a registry on
#                a free port marked insecure by a registries.conf.d drop-in (both removed at
#                exit), the two-platform busybox base pushed as $BASE; exports REG, BASE,
#                STATE, PORT, TMPDIR
#   be_enrol INSTRUCTIONS [EXTRA]
#                $STATE/images.yaml enrolling "app" (local.dir app; EXTRA: more lines of its
#                local: block) and $STATE/app: hello.txt and a Dockerfile "ARG BASE",
#                "FROM ${BASE}", then INSTRUCTIONS
#   be_seed_state      an images/app.yaml from an earlier build (0.9.0); be_state_unchanged
#                      checks that it is byte for byte the same
#   be_nothing_left TAG   nothing pushed as e2e/app:TAG, no local manifest list, TMPDIR empty
#   be_build_bg ARGS...   `imgfactory build app ARGS...` in the background (stdout $T_TMP/out,
#                         stderr $T_TMP/err), its pid in BUILD_PID, killed at exit
#   be_wait_err SECONDS PATTERN...   0 once $T_TMP/err matches every grep PATTERN, 1 when the
#                         build ended first or SECONDS passed
#   be_wait_exit SECONDS  waits (bounded) for the build to end; its status in RC
#   be_leftovers PATTERN  processes whose command line contains PATTERN (excluding this shell)
source "$IMGF_SOURCE_DIR/tests/lib/testlib.sh"
source "$IMGF_SOURCE_DIR/scripts/lib/registry.sh"
source "$IMGF_SOURCE_DIR/scripts/lib/binfmt.sh"
source "$IMGF_SOURCE_DIR/scripts/lib/busybox-base.sh"
source "$IMGF_SOURCE_DIR/scripts/lib/storage.sh"

be_init() {
  be_require
  be_setup
}

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

be_setup() {
  unset BUILDAH_ISOLATION REGISTRY
  export TMPDIR="$T_TMP/tmp"
  mkdir -p "$TMPDIR"
  storage_private "$T_TMP"
  t_on_exit 'storage_remove "$T_TMP"'
  t_on_exit 'registry_down "$T_TMP/registry"'
  local rc=0
  registry_up "$T_TMP/registry" || rc=$?
  if ((rc == 2)); then
    echo "SKIP: the loopback registry cannot be marked insecure here (see above)" >&2
    exit 77
  fi
  ((rc == 0)) || exit 1
  PORT=$REGISTRY_PORT
  REG="127.0.0.1:$PORT"
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
  local instructions="$1" extra="${2:-}"
  printf 'ARG BASE\nFROM ${BASE}\n%s\n' "$instructions" >"$STATE/app/Dockerfile"
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

be_seed_state() {
  mkdir -p "$STATE/images"
  printf 'name: app\ncurrentVersion: 0.9.0\ncurrentDigest: sha256:%064d\nlastBuilt: %s\n' 0 "'2026-01-01T00:00:00Z'" \
    >"$STATE/images/app.yaml"
  BE_STATE_BEFORE=$(sha256sum <"$STATE/images/app.yaml")
}

be_state_unchanged() {
  [[ "$(sha256sum <"$STATE/images/app.yaml")" == "$BE_STATE_BEFORE" ]] && pass "state file unchanged" ||
    fail "state changed: $(cat "$STATE/images/app.yaml")"
}

be_nothing_left() {
  local tag="$1"
  skopeo inspect --raw "docker://$REG/e2e/app:$tag" >/dev/null 2>&1 && fail "something was pushed" || pass "nothing pushed"
  buildah manifest inspect "$REG/e2e/app:$tag" >/dev/null 2>&1 && fail "local manifest list still there" ||
    pass "local manifest list removed"
  [[ -z "$(ls -A "$TMPDIR")" ]] && pass "scratch workspace removed" || fail "left in TMPDIR: $(ls "$TMPDIR")"
}

be_build_bg() {
  "$IMGFACTORY" --state-dir "$STATE" build app "$@" >"$T_TMP/out" 2>"$T_TMP/err" &
  BUILD_PID=$!
  t_on_exit "kill -KILL $BUILD_PID 2>/dev/null"
}

be_wait_err() {
  local seconds="$1" i p all
  shift
  for ((i = 0; i < seconds * 20; i++)); do  # every 50 ms: a push to be cut is caught early
    all=1
    for p in "$@"; do grep -q -- "$p" "$T_TMP/err" || { all=0; break; }; done
    ((all)) && return 0
    kill -0 "$BUILD_PID" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

be_wait_exit() {
  local seconds="$1" i
  for ((i = 0; i < seconds * 10; i++)); do
    kill -0 "$BUILD_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$BUILD_PID" 2>/dev/null  # still running: RC 137 says so
  wait "$BUILD_PID"
  RC=$?
}

be_leftovers() {
  pgrep -a -f -- "$1" | grep -v -e "^$$ " -e pgrep || true
}

# json FIELD-EXPRESSION < file: a value from a JSON document via python3, e.g. json '["tag"]'
json() { python3 -c "import json,sys; v=json.load(sys.stdin)$1; print(v if not isinstance(v,bool) else str(v).lower())"; }
