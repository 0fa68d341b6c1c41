# Sourced by tests/cli/*.sh and tests/e2e/*.sh: a temp dir per test (kept on failure),
# assertions that count, and a closing line "N passed, N failed".
set -uo pipefail
: "${IMGFACTORY:?IMGFACTORY must name the imgfactory binary (ctest sets it)}"
IMGF_SOURCE_DIR="${IMGF_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
SHARED_DIR="${IMGF_SHARED_DIR:-$IMGF_SOURCE_DIR/../shared}"
T_PASSED=0
T_FAILED=0
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/imgf-$(basename "$0" .sh)-XXXXXX")
t_cleanup_hooks=()
t_on_exit() { t_cleanup_hooks+=("$1"); }  # run at exit, the last registered first
t_finish() {
  local i
  # Last registered, first run (a process started after the storage is stopped before it goes).
  for ((i = ${#t_cleanup_hooks[@]} - 1; i >= 0; i--)); do eval "${t_cleanup_hooks[i]}" || true; done
  if ((T_FAILED > 0)); then
    echo "kept temporary directory: $T_TMP" >&2
  else
    rm -rf "$T_TMP"
  fi
}
trap t_finish EXIT

pass() { T_PASSED=$((T_PASSED + 1)); echo "ok - $*"; }
fail() { T_FAILED=$((T_FAILED + 1)); echo "FAIL - $*"; }

# run CMD...: runs it capturing stdout to $T_TMP/out, stderr to $T_TMP/err, status to $RC
run() {
  "$@" >"$T_TMP/out" 2>"$T_TMP/err"
  RC=$?
}
expect_rc() { # expected description
  if [[ "$RC" == "$1" ]]; then pass "$2 (exit $RC)"; else fail "$2: exit $RC, expected $1; stderr: $(head -c 2000 "$T_TMP/err")"; fi
}
expect_out_contains() { # needle description
  if grep -qF -- "$1" "$T_TMP/out"; then pass "$2"; else fail "$2: stdout lacks '$1': $(head -c 2000 "$T_TMP/out")"; fi
}
expect_err_contains() { # needle description
  if grep -qF -- "$1" "$T_TMP/err"; then pass "$2"; else fail "$2: stderr lacks '$1': $(head -c 2000 "$T_TMP/err")"; fi
}
require_shared() {
  if [[ ! -d "$SHARED_DIR" ]]; then
    echo "SKIP: ../shared is not present: reference-data test skipped" >&2
    exit 77
  fi
}
# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
done_testing() {
  echo "$T_PASSED passed, $T_FAILED failed"
  ((T_FAILED == 0))
}
