#!/usr/bin/env bash
# imgfactory build against real buildah, skopeo, docker-registry and qemu-user-static: a
# two-platform busybox base pushed to a loopback registry, an enrolled app built FROM it for
# linux/amd64 and linux/arm64 (the arm64 RUN under qemu), one manifest list pushed, each
# image's RUN saw its own architecture, the patch applied, the state file holds the digest.
source "$IMGF_SOURCE_DIR/tests/lib/build_e2e.sh"
be_init

be_enrol 'RUN uname -m > /arch
COPY hello.txt /hello.txt' '    patchFiles:
      - patches/hello.patch
    versionFile: VERSION'
echo "1.4.0" >"$STATE/app/VERSION"
mkdir -p "$STATE/patches"
cat >"$STATE/patches/hello.patch" <<'PATCH'
--- a/hello.txt
+++ b/hello.txt
@@ -1 +1 @@
-hello
+hello, patched
PATCH

# --- the two-platform build, pushed --------------------------------------------------------
run "$IMGFACTORY" --state-dir "$STATE" build app --format json --build-arg "BASE=$BASE"
expect_rc 0 "build app for linux/amd64 and linux/arm64 and push"
cp "$T_TMP/out" "$T_TMP/result.json"
tag=$(json '["tag"]' <"$T_TMP/result.json")
digest=$(json '["digest"]' <"$T_TMP/result.json")
[[ "$tag" == "1.4.0" ]] && pass "tag from local.versionFile" || fail "tag is '$tag', expected 1.4.0"
[[ "$(json '["pushed"]' <"$T_TMP/result.json")" == true ]] && pass "result says pushed" || fail "pushed is not true"
[[ "$(json '["reference"]' <"$T_TMP/result.json")" == "$REG/e2e/app:1.4.0" ]] && pass "reference" ||
  fail "reference is $(json '["reference"]' <"$T_TMP/result.json")"
expect_err_contains "[linux/arm64]" "buildah output streamed with a [linux/arm64] prefix"
expect_err_contains "[linux/amd64]" "buildah output streamed with a [linux/amd64] prefix"

skopeo inspect --raw "docker://$REG/e2e/app:1.4.0" >"$T_TMP/raw.json" 2>"$T_TMP/skopeo.err"
if python3 - "$T_TMP/raw.json" "$digest" <<'PY'; then pass "one manifest list with linux/amd64 and linux/arm64; its digest is the reported one"; else fail "manifest list check: $(cat "$T_TMP/raw.json" "$T_TMP/skopeo.err")"; fi
import hashlib, json, sys
raw = open(sys.argv[1], "rb").read()
m = json.loads(raw)
assert m["mediaType"] in ("application/vnd.oci.image.index.v1+json",
                          "application/vnd.docker.distribution.manifest.list.v2+json"), m.get("mediaType")
plats = sorted(f'{x["platform"]["os"]}/{x["platform"]["architecture"]}' for x in m["manifests"])
assert plats == ["linux/amd64", "linux/arm64"], plats
assert "sha256:" + hashlib.sha256(raw).hexdigest() == sys.argv[2], "digest differs"
PY

# Each image's RUN ran on its own architecture (arm64 through qemu); the patch was applied.
for pair in amd64:x86_64 arm64:aarch64; do
  arch=${pair%%:*} want=${pair##*:}
  d=$(python3 -c "import json,sys; print([x['digest'] for x in json.load(open(sys.argv[1]))['manifests'] if x['platform']['architecture']==sys.argv[2]][0])" "$T_TMP/raw.json" "$arch")
  [[ "$(json "['platforms']" <"$T_TMP/result.json")" == *"$d"* ]] && pass "result lists the linux/$arch digest" ||
    fail "result lacks linux/$arch digest $d"
  c=$(buildah from -q "docker://$REG/e2e/app@$d" 2>"$T_TMP/from.err") || { fail "buildah from $arch: $(cat "$T_TMP/from.err")"; continue; }
  m=$(buildah mount "$c")
  got=$(cat "$m/arch" 2>/dev/null)
  [[ "$got" == "$want" ]] && pass "linux/$arch image: RUN uname -m saw $want" || fail "linux/$arch image: /arch is '$got', expected $want"
  [[ "$(cat "$m/hello.txt" 2>/dev/null)" == "hello, patched" ]] && pass "linux/$arch image has the patched hello.txt" ||
    fail "linux/$arch hello.txt is '$(cat "$m/hello.txt" 2>/dev/null)'"
  buildah umount "$c" >/dev/null
  buildah rm "$c" >/dev/null
done

skopeo inspect "docker://$REG/e2e/app:1.4.0" >"$T_TMP/inspect.json" 2>&1
for label in 'org.opencontainers.image.version": "1.4.0' 'org.opencontainers.image.title": "app' 'org.opencontainers.image.created": "'; do
  grep -qF "$label" "$T_TMP/inspect.json" && pass "label ${label%%\"*}" || fail "label $label missing: $(head -c 1500 "$T_TMP/inspect.json")"
done

statef="$STATE/images/app.yaml"
grep -qx "currentDigest: '$digest'" "$statef" && pass "state file holds the pushed digest" || fail "state: $(cat "$statef")"
grep -qx "currentVersion: 1.4.0" "$statef" && pass "state file holds currentVersion" || fail "state: $(cat "$statef")"
grep -qE "^lastBuilt: '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z'$" "$statef" && pass "state file holds lastBuilt" || fail "state: $(cat "$statef")"
buildah manifest inspect "$REG/e2e/app:1.4.0" >/dev/null 2>&1 && pass "local manifest list kept after the push" || fail "local manifest list missing"

# --- the version file, bumped by the first push (1.4.0 -> 1.4.1), is the next tag ---------------
run "$IMGFACTORY" --state-dir "$STATE" build app --increment patch --format json --build-arg "BASE=$BASE" --jobs 1
expect_rc 0 "build --increment patch --jobs 1"
[[ "$(json '["tag"]' <"$T_TMP/out")" == "1.4.1" ]] && pass "--increment patch built 1.4.1" || fail "tag $(cat "$T_TMP/out")"
grep -qx "currentVersion: 1.4.1" "$statef" && pass "state currentVersion 1.4.1" || fail "state: $(cat "$statef")"
skopeo inspect --raw "docker://$REG/e2e/app:1.4.1" >/dev/null 2>&1 && pass "1.4.1 is in the registry" || fail "1.4.1 not pushed"

# --- --local: host platform, localhost/<repository>:local, no push, state untouched ----------
before=$(sha256sum <"$statef")
run "$IMGFACTORY" --state-dir "$STATE" build app --local --build-arg "BASE=$BASE"
expect_rc 0 "build --local"
expect_out_contains "localhost/e2e/app:local" "--local names localhost/e2e/app:local"
buildah inspect --type image localhost/e2e/app:local >/dev/null 2>&1 && pass "localhost/e2e/app:local exists" || fail "no local image"
[[ "$(sha256sum <"$statef")" == "$before" ]] && pass "--local leaves the state file alone" || fail "--local changed the state"
[[ -z "$(ls -A "$TMPDIR")" ]] && pass "scratch workspaces removed" || fail "left in TMPDIR: $(ls "$TMPDIR")"

done_testing
