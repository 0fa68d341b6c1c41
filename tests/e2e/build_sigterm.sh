#!/usr/bin/env bash
# SIGTERM during a two-platform build: the buildah children (and the RUN steps under them,
# arm64 under qemu) are gone within 5 s, imgfactory exits 143, the local manifest list is
# removed and the state file is untouched.
source "$IMGF_SOURCE_DIR/tests/lib/testlib.sh"
source "$IMGF_SOURCE_DIR/tests/lib/build_e2e.sh"
be_require
be_setup

# A RUN that announces itself and then sleeps: a command line unique to this test.
be_enrol "ARG BASE
FROM \${BASE}
RUN echo started-$PORT-\$(uname -m); sleep 1$PORT
COPY hello.txt /hello.txt"
mkdir -p "$STATE/images"
printf 'name: app\ncurrentVersion: 0.9.0\ncurrentDigest: sha256:%064d\nlastBuilt: %s\n' 0 "'2026-01-01T00:00:00Z'" >"$STATE/images/app.yaml"
before=$(sha256sum <"$STATE/images/app.yaml")

"$IMGFACTORY" --state-dir "$STATE" build app --tag 3.0.0 --build-arg "BASE=$BASE" >"$T_TMP/out" 2>"$T_TMP/err" &
pid=$!
t_on_exit "kill -KILL $pid 2>/dev/null"
started=0
for ((i = 0; i < 3000; i++)); do  # up to 300 s for both RUN steps to be running
  if grep -q "\[linux/amd64\] started-$PORT-x86_64" "$T_TMP/err" && grep -q "\[linux/arm64\] started-$PORT-aarch64" "$T_TMP/err"; then
    started=1
    break
  fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
((started)) && pass "both platforms' RUN steps running (arm64 under qemu)" || fail "RUN steps did not start: $(tail -20 "$T_TMP/err")"
[[ -n "$(be_leftovers "sleep 1$PORT")" ]] && pass "the RUN processes exist before the signal" || fail "no RUN process seen"

kill -TERM "$pid"
t0=$(date +%s%N)
for ((i = 0; i < 200; i++)); do  # up to 20 s for imgfactory to exit
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
wait "$pid"
RC=$?
expect_rc 143 "SIGTERM during the build"
left=""
while true; do  # the children must be gone within 5 s of the signal
  left="$(be_leftovers "$T_TMP/tmp")$(be_leftovers "sleep 1$PORT")"
  [[ -z "$left" ]] && break
  (($(date +%s%N) - t0 > 5000000000)) && break
  sleep 0.1
done
elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
[[ -z "$left" ]] && pass "no buildah child or RUN process left ${elapsed_ms} ms after SIGTERM" ||
  fail "left after 5 s: $left"
expect_err_contains "interrupted by SIGTERM" "says it was interrupted"
[[ "$(sha256sum <"$STATE/images/app.yaml")" == "$before" ]] && pass "state file unchanged" || fail "state changed: $(cat "$STATE/images/app.yaml")"
buildah manifest inspect "$REG/e2e/app:3.0.0" >/dev/null 2>&1 && fail "local manifest list still there" || pass "local manifest list removed"
skopeo inspect --raw "docker://$REG/e2e/app:3.0.0" >/dev/null 2>&1 && fail "something was pushed" || pass "nothing pushed"
[[ -z "$(ls -A "$TMPDIR")" ]] && pass "scratch workspace removed" || fail "left in TMPDIR: $(ls "$TMPDIR")"
done_testing
