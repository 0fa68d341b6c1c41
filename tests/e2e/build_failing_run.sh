#!/usr/bin/env bash
# A RUN that fails on one platform: exit 1, the platform named, no state change, nothing
# pushed, the local manifest list removed.
source "$IMGF_SOURCE_DIR/tests/lib/build_e2e.sh"
be_init

be_enrol 'RUN if [ "$(uname -m)" = aarch64 ]; then echo "failing on purpose on $(uname -m)" >&2; exit 3; fi
COPY hello.txt /hello.txt'
be_seed_state

run "$IMGFACTORY" --state-dir "$STATE" build app --tag 1.0.0 --build-arg "BASE=$BASE"
expect_rc 1 "a RUN failing on linux/arm64 fails the build"
final=$(grep '^imgfactory: ' "$T_TMP/err")
[[ "$final" == *"build for linux/arm64 failed"* ]] && pass "the error names linux/arm64: $final" || fail "error line: $final"
[[ "$final" != *"linux/amd64"* ]] && pass "the error does not blame linux/amd64" || fail "error line blames amd64: $final"
expect_err_contains "[linux/arm64] failing on purpose on aarch64" "the failing RUN's output, prefixed"
grep -A3 '^imgfactory: ' "$T_TMP/err" | grep -q "exit status 3" && pass "the hint quotes buildah's error" ||
  fail "no buildah error in the hint: $(grep -A3 '^imgfactory: ' "$T_TMP/err")"
be_state_unchanged
be_nothing_left 1.0.0
done_testing
