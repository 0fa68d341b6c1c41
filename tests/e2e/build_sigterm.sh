#!/usr/bin/env bash
# SIGTERM during a two-platform build: the buildah children (and the RUN steps under them,
# arm64 under qemu) are gone within 5 s, imgfactory exits 143, the local manifest list is
# removed and the state file is untouched.
source "$IMGF_SOURCE_DIR/tests/lib/build_e2e.sh"
be_init

# A RUN that announces itself and then sleeps: a command line unique to this test.
be_enrol "RUN echo started-$PORT-\$(uname -m); sleep 1$PORT
COPY hello.txt /hello.txt"
be_seed_state

be_build_bg --tag 3.0.0 --build-arg "BASE=$BASE"
be_wait_err 300 "\[linux/amd64\] started-$PORT-x86_64" "\[linux/arm64\] started-$PORT-aarch64" &&
  pass "both platforms' RUN steps running (arm64 under qemu)" || fail "RUN steps did not start: $(tail -20 "$T_TMP/err")"
[[ -n "$(be_leftovers "sleep 1$PORT")" ]] && pass "the RUN processes exist before the signal" || fail "no RUN process seen"

kill -TERM "$BUILD_PID"
t0=$(date +%s%N)
be_wait_exit 20
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
be_state_unchanged
be_nothing_left 3.0.0
done_testing
