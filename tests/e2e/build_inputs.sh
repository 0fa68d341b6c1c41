#!/usr/bin/env bash
# Build inputs (issue 12) against real buildah 1.28, skopeo, docker-registry on 127.0.0.1 and
# qemu: a two-platform base; build (pinned to the base's digest, inputs recorded, timestamps
# from the state repository's commit); build again with --if-changed (skipped, no buildah
# process at all); a forced build from empty storage gives the same manifest-list digest; a
# changed base pushed under the same tag; `analyze --digests` records the change; `build
# --if-changed` rebuilds on the new digest; `--base` builds on the named (old) digest although
# the tag moved.
source "$IMGF_SOURCE_DIR/tests/lib/testlib.sh"
source "$IMGF_SOURCE_DIR/tests/lib/build_e2e.sh"
be_require
be_setup

# Every buildah and skopeo process imgfactory starts is logged (then the real tool runs).
mkdir -p "$T_TMP/bin"
for tool in buildah skopeo; do
  real=$(command -v "$tool")
  printf '#!/bin/sh\necho "$*" >>"%s/%s.calls"\nexec %s "$@"\n' "$T_TMP" "$tool" "$real" >"$T_TMP/bin/$tool"
  chmod +x "$T_TMP/bin/$tool"
done
calls() { cat "$T_TMP/$1.calls" 2>/dev/null | wc -l; }
reset_calls() { rm -f "$T_TMP/buildah.calls" "$T_TMP/skopeo.calls"; }
imgf() { PATH="$T_TMP/bin:$PATH" "$IMGFACTORY" --state-dir "$STATE" "$@"; }
list_digest() { skopeo inspect --raw "docker://$1" | python3 -c 'import hashlib,sys; print("sha256:"+hashlib.sha256(sys.stdin.buffer.read()).hexdigest())'; }
field() { python3 -c "import sys,yaml; d=yaml.safe_load(open(sys.argv[1])); print(eval('d'+sys.argv[2]))" "$@"; }

be_enrol "RUN uname -m > /arch
COPY hello.txt /hello.txt"
# The base is the ARG's default here (no --build-arg): pinning must expand meta ARGs.
printf 'ARG BASE=%s\nFROM ${BASE}\nRUN uname -m > /arch\nCOPY hello.txt /hello.txt\n' "$BASE" >"$STATE/app/Dockerfile"
# The state repository: its last commit touching app/ gives the images their time.
git -C "$STATE" init -q
git -C "$STATE" add -A
GIT_COMMITTER_DATE=2024-05-06T07:08:09Z GIT_AUTHOR_DATE=2024-05-06T07:08:09Z \
  git -C "$STATE" -c user.name=e2e -c user.email=e2e@example commit -qm "enrol app"
BASE_V1=$(list_digest "$BASE")
instance() { skopeo inspect --raw "docker://$1" | python3 -c 'import json,sys; print([m["digest"] for m in json.load(sys.stdin)["manifests"] if m["platform"]["architecture"]==sys.argv[1]][0])' "$2"; }
BASE_V1_AMD64=$(instance "$BASE" amd64)

# --- 1. first build: pinned, recorded, timestamps from the commit --------------------------------
t0=$(date +%s.%N)
run imgf build app --if-changed --format json
t_first=$(python3 -c "import time; print(round(time.time()-$t0, 1))")
expect_rc 0 "first build (nothing recorded yet: builds)"
D1=$(json '["digest"]' <"$T_TMP/out")
T1=$(json '["tag"]' <"$T_TMP/out")  # the version label is the tag: the same inputs include it
[[ "$(json '["skipped"]' <"$T_TMP/out")" == false ]] && pass "not skipped" || fail "skipped on the first build"
expect_err_contains "FROM $BASE -> $REG/imgfactory-e2e/busybox@sha256:" "FROM pinned"
expect_err_contains "(its instance in $BASE_V1)" "to the instances of the index digest the tag serves"
expect_err_contains "--if-changed: building app: no buildInputs recorded (no state file yet" "says why it builds"
statef="$STATE/images/app.yaml"
[[ "$(field "$statef" "['buildInputs']['baseImages'][0]['digest']")" == "$BASE_V1" ]] && pass "buildInputs records the base digest" ||
  fail "buildInputs: $(cat "$statef")"
[[ "$(field "$statef" "['buildInputs']['baseImages'][0]['platforms']['linux/arm64']")" == sha256:* ]] &&
  pass "buildInputs records the base's per-platform digests" || fail "no per-platform digests: $(cat "$statef")"
[[ "$(field "$statef" "['buildInputs']['sourceDateEpoch']")" == 1714979289 ]] && pass "sourceDateEpoch is the commit time" ||
  fail "sourceDateEpoch: $(cat "$statef")"
skopeo inspect "docker://$REG/e2e/app:latest" >"$T_TMP/inspect.json" 2>&1
grep -q '"Created": "2024-05-06T07:08:09Z"' "$T_TMP/inspect.json" && pass "image created time is the commit time" ||
  fail "created: $(grep -i created "$T_TMP/inspect.json")"
grep -q '"org.opencontainers.image.created": "2024-05-06T07:08:09Z"' "$T_TMP/inspect.json" &&
  pass "created label is the commit time, not the build time" || fail "label: $(grep created "$T_TMP/inspect.json")"

# --- 2. again: skipped, no buildah process ---------------------------------------------------------
reset_calls
t0=$(date +%s.%N)
run imgf build app --if-changed --format json
t_skip=$(python3 -c "import time; print(round(time.time()-$t0, 2))")
expect_rc 0 "second build --if-changed"
[[ "$(json '["skipped"]' <"$T_TMP/out")" == true ]] && pass "skipped: true" || fail "not skipped: $(cat "$T_TMP/out" "$T_TMP/err")"
[[ "$(json '["digest"]' <"$T_TMP/out")" == "$D1" ]] && pass "reports the digest still served" || fail "digest $(cat "$T_TMP/out")"
[[ "$(calls buildah)" == 0 ]] && pass "no buildah process at all" || fail "buildah ran: $(cat "$T_TMP/buildah.calls")"
[[ "$(calls skopeo)" == 2 ]] && pass "two registry questions (base digest, pushed tag)" || fail "skopeo calls: $(cat "$T_TMP/skopeo.calls")"
echo "# timing: first build ${t_first}s, unchanged check ${t_skip}s"

# --- 3. forced build from empty storage: the same digest ----------------------------------------------
mkdir -p "$T_TMP/storage2" "$T_TMP/runroot2"
printf '[storage]\ndriver = "overlay"\ngraphroot = "%s/storage2"\nrunroot = "%s/runroot2"\n' "$T_TMP" "$T_TMP" >"$T_TMP/storage2.conf"
t_on_exit 'CONTAINERS_STORAGE_CONF="$T_TMP/storage2.conf" be_cleanup_storage'
CONTAINERS_STORAGE_CONF="$T_TMP/storage2.conf" run imgf build app --tag "$T1" --format json
expect_rc 0 "forced build from empty storage (the same tag: without --tag the tag rule takes the next version)"
[[ "$(json '["digest"]' <"$T_TMP/out")" == "$D1" ]] && pass "same inputs, empty storage: same manifest list digest $D1" ||
  fail "reproducibility: $(json '["digest"]' <"$T_TMP/out") != $D1"

# --- 4. a changed base under the same tag; analyze --digests records it ---------------------------------
run imgf analyze --digests
expect_rc 0 "analyze --digests (first check)"
basef="$STATE/base-images/$(echo "$BASE" | tr ':/' '--').yaml"
[[ "$(field "$basef" "['currentDigest']")" == "$BASE_V1" ]] && pass "currentDigest recorded" || fail "base file: $(cat "$basef")"
# v2: the same images with one more layer, pushed under the same tag.
buildah manifest rm "$BASE-v2" >/dev/null 2>&1
buildah manifest create "$BASE-v2" >/dev/null
echo v2 >"$T_TMP/v2.txt"
for arch in amd64 arm64; do
  c=$(buildah from -q --platform "linux/$arch" "docker://$BASE")
  buildah copy -q "$c" "$T_TMP/v2.txt" /v2.txt >/dev/null
  buildah commit -q --manifest "$BASE-v2" "$c" >/dev/null
  buildah rm "$c" >/dev/null
done
buildah manifest push -q --all "$BASE-v2" "docker://$BASE" 2>"$T_TMP/push.err" || fail "push v2: $(cat "$T_TMP/push.err")"
BASE_V2=$(list_digest "$BASE")
[[ "$BASE_V2" != "$BASE_V1" ]] && pass "the base tag now serves another digest" || fail "base unchanged"
run imgf analyze --digests --format json
expect_rc 0 "analyze --digests (after the change)"
[[ "$(field "$basef" "['currentDigest']")" == "$BASE_V2" ]] && pass "currentDigest is the new digest" || fail "$(cat "$basef")"
[[ "$(field "$basef" "['previousDigest']")" == "$BASE_V1" ]] && pass "previousDigest is the old one" || fail "$(cat "$basef")"
[[ "$(field "$basef" "['updateHistory'][0]['digest']")" == "$BASE_V2" ]] && pass "an updateHistory entry" || fail "$(cat "$basef")"
python3 - "$basef" <<'PY' && pass "rebuildEligibleAt = lastUpdated + 7d (app's rebuildDelay)" || fail "rebuildEligibleAt: $(cat "$basef")"
import sys, yaml, datetime
d = yaml.safe_load(open(sys.argv[1]))
p = lambda s: datetime.datetime.strptime(str(s), "%Y-%m-%dT%H:%M:%SZ")
assert p(d["rebuildEligibleAt"]["default"]) - p(d["lastUpdated"]) == datetime.timedelta(days=7), d
assert d["rebuildEligibleAt"]["app"] == d["rebuildEligibleAt"]["default"], d
PY

# --- 5. build --if-changed rebuilds on the new digest -------------------------------------------------------
reset_calls
run imgf build app --if-changed --format json
expect_rc 0 "build --if-changed after the base changed"
[[ "$(json '["skipped"]' <"$T_TMP/out")" == false ]] && pass "rebuilt" || fail "skipped although the base changed"
expect_err_contains "base image $BASE" "names the changed base"
expect_err_contains "(its instance in $BASE_V2)" "pinned to the new digest"
D3=$(json '["digest"]' <"$T_TMP/out")
[[ "$D3" != "$D1" ]] && pass "a new manifest list" || fail "same digest after a base change"
(($(calls buildah) > 0)) && pass "buildah ran" || fail "no buildah"

# --- 6. --base builds on exactly the named digest although the tag moved ------------------------------------
run imgf build app --tag pinned --base "" --base "$BASE@$BASE_V1" --format json
expect_rc 0 "build --base <old digest>"
expect_err_contains "(its instance in $BASE_V1)" "FROM pinned to the --base digest"
amd=$(instance "$REG/e2e/app:pinned" amd64)
skopeo inspect --raw "docker://$REG/e2e/app@$amd" >"$T_TMP/m.json"
python3 - "$T_TMP/m.json" "$BASE_V1_AMD64" <<'PY' && pass "the pushed image is built on the --base digest (3 layers, base annotation)" || fail "pinned image: $(cat "$T_TMP/m.json")"
import json, sys
m = json.load(open(sys.argv[1]))
assert len(m["layers"]) == 3, len(m["layers"])  # base v1 (1) + RUN + COPY; v2 would give 4
assert m["annotations"]["org.opencontainers.image.base.name"].endswith("/imgfactory-e2e/busybox@" + sys.argv[2]), m["annotations"]
PY
[[ "$(field "$statef" "['buildInputs']['baseImages'][0]['digest']")" == "$BASE_V1" ]] && pass "buildInputs records the --base digest" ||
  fail "$(cat "$statef")"
run imgf build app --base "$REG/imgfactory-e2e/other@$BASE_V1" --no-push
expect_rc 2 "a --base that matches no FROM"
expect_err_contains "app/Dockerfile" "names the Dockerfile"

done_testing
