#!/usr/bin/env bash
# A RUN that fails on one platform: exit 1, the platform named, no state change, nothing
# pushed, the local manifest list removed.
source "$IMGF_SOURCE_DIR/tests/lib/testlib.sh"
source "$IMGF_SOURCE_DIR/tests/lib/build_e2e.sh"
be_require
be_setup

be_enrol 'ARG BASE
FROM ${BASE}
RUN if [ "$(uname -m)" = aarch64 ]; then echo "failing on purpose on $(uname -m)" >&2; exit 3; fi
COPY hello.txt /hello.txt'
mkdir -p "$STATE/images"
printf 'name: app\ncurrentVersion: 0.9.0\ncurrentDigest: sha256:%064d\nlastBuilt: %s\n' 0 "'2026-01-01T00:00:00Z'" >"$STATE/images/app.yaml"
before=$(sha256sum <"$STATE/images/app.yaml")

run "$IMGFACTORY" --state-dir "$STATE" build app --tag 1.0.0 --build-arg "BASE=$BASE"
expect_rc 1 "a RUN failing on linux/arm64 fails the build"
final=$(grep '^imgfactory: ' "$T_TMP/err")
[[ "$final" == *"build for linux/arm64 failed"* ]] && pass "the error names linux/arm64: $final" || fail "error line: $final"
[[ "$final" != *"linux/amd64"* ]] && pass "the error does not blame linux/amd64" || fail "error line blames amd64: $final"
expect_err_contains "[linux/arm64] failing on purpose on aarch64" "the failing RUN's output, prefixed"
grep -A3 '^imgfactory: ' "$T_TMP/err" | grep -q "exit status 3" && pass "the hint quotes buildah's error" ||
  fail "no buildah error in the hint: $(grep -A3 '^imgfactory: ' "$T_TMP/err")"
[[ "$(sha256sum <"$STATE/images/app.yaml")" == "$before" ]] && pass "state file unchanged" || fail "state changed: $(cat "$STATE/images/app.yaml")"
skopeo inspect --raw "docker://$REG/e2e/app:1.0.0" >/dev/null 2>&1 && fail "something was pushed" || pass "nothing pushed"
buildah manifest inspect "$REG/e2e/app:1.0.0" >/dev/null 2>&1 && fail "local manifest list still there" || pass "local manifest list removed"
[[ -z "$(ls -A "$TMPDIR")" ]] && pass "scratch workspace removed" || fail "left in TMPDIR: $(ls "$TMPDIR")"
done_testing
