#!/usr/bin/env bash
# The registry is killed while `buildah manifest push` runs and restarted within the retry
# window: the push is retried with backoff and the build succeeds, recording the digest the
# registry serves.
source "$IMGF_SOURCE_DIR/tests/lib/build_e2e.sh"
be_init

# A 48 MiB incompressible layer per platform keeps the push busy long enough to be cut.
be_enrol 'RUN uname -m > /arch
COPY big.bin /big.bin'
head -c $((48 * 1024 * 1024)) /dev/urandom >"$STATE/app/big.bin"

be_build_bg --tag 2.0.0 --build-arg "BASE=$BASE" --retries 4 --retry-delay 2s --format json
be_wait_err 300 '\[push\] \$ buildah manifest push' && pass "push started" ||
  fail "push never started: $(tail -20 "$T_TMP/err")"
registry_stop "$T_TMP/registry"
pass "registry killed while pushing"
be_wait_err 120 "retrying in" && pass "the failed push is retried: $(grep -m1 'retrying in' "$T_TMP/err" | cut -c1-220)" ||
  fail "no retry reported: $(tail -20 "$T_TMP/err")"
registry_start "$T_TMP/registry" "$PORT" && pass "registry restarted within the retry window" || fail "registry restart"
be_wait_exit 180
expect_rc 0 "the build succeeds after the registry came back"
digest=$(json '["digest"]' <"$T_TMP/out")
served=$(skopeo inspect --raw "docker://$REG/e2e/app:2.0.0" | python3 -c 'import hashlib,sys; print("sha256:"+hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')
[[ -n "$digest" && "$digest" == "$served" ]] && pass "the registry serves the reported digest $digest" || fail "reported $digest, served $served"
grep -qx "currentDigest: '$digest'" "$STATE/images/app.yaml" && pass "state file holds the pushed digest" || fail "state: $(cat "$STATE/images/app.yaml")"
python3 -c 'import json,sys; p=sorted(x["platform"] for x in json.load(open(sys.argv[1]))["platforms"]); sys.exit(p!=["linux/amd64","linux/arm64"])' "$T_TMP/out" &&
  pass "both platforms in the pushed list" || fail "platforms: $(cat "$T_TMP/out")"
done_testing
