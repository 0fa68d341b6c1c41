#!/usr/bin/env bash
# `imgfactory build` without buildah: the dry-run plan, input errors (exit 2) and a patch
# that does not apply (exit 1, named), with real git.
source "$(dirname "$0")/../lib/testlib.sh"

S="$T_TMP/state"
mkdir -p "$S/app" "$S/patches" "$S/images"
printf 'FROM scratch\nCOPY hello.txt /\n' >"$S/app/Dockerfile"
echo hello >"$S/app/hello.txt"
echo 2.3.4 >"$S/app/VERSION"
printf -- '--- a/hello.txt\n+++ b/hello.txt\n@@ -1 +1 @@\n-goodbye\n+hello again\n' >"$S/patches/stale.patch"
cat >"$S/images.yaml" <<'YAML'
- name: app
  registry: reg.example:5000
  repository: team/app
  local:
    dir: app
    versionFile: VERSION
- name: patched
  registry: reg.example:5000
  repository: team/patched
  local:
    dir: app
    patchFiles:
      - patches/stale.patch
- name: upstream
  repository: library/debian
YAML
printf 'name: app\ncurrentVersion: 2.3.3\n' >"$S/images/app.yaml"
export TMPDIR="$T_TMP/tmp"
mkdir -p "$TMPDIR"
unset REGISTRY BUILDAH_ISOLATION

# --- dry run: the plan, nothing run ------------------------------------------------------
run "$IMGFACTORY" --state-dir "$S" build app --dry-run --build-arg A=1 --jobs 1
expect_rc 0 "--dry-run"
expect_out_contains "buildah manifest create reg.example:5000/team/app:2.3.4" "tag from local.versionFile"
expect_out_contains "# build (in parallel, 1 at a time)" "parallel stage with --jobs"
expect_out_contains "buildah build --isolation chroot --platform linux/amd64 --layers --timestamp 0 --file $TMPDIR/imgfactory-build-app-XXXXXX/src/Dockerfile --tag localhost/imgfactory-build/team/app:2.3.4-linux-amd64 --build-arg A=1" "amd64 build argv (no git: --timestamp 0)"
expect_out_contains "buildah build --isolation chroot --platform linux/arm64 " "arm64 build argv"
expect_out_contains "buildah manifest add reg.example:5000/team/app:2.3.4 containers-storage:localhost/imgfactory-build/team/app:2.3.4-linux-arm64" "assemble argv"
expect_out_contains "buildah manifest push --all --digestfile $TMPDIR/imgfactory-build-app-XXXXXX/manifest-list.digest reg.example:5000/team/app:2.3.4 docker://reg.example:5000/team/app:2.3.4" "push argv"
expect_out_contains "skopeo inspect --raw docker://reg.example:5000/team/app:2.3.4" "read-back argv"
expect_out_contains "skopeo copy --all --preserve-digests docker://reg.example:5000/team/app:2.3.4 docker://reg.example:5000/team/app:latest" "latest: the same manifest list, digests preserved"
expect_out_contains "org.opencontainers.image.description=app (built by image-factory)" "the original's description label"
[[ -z "$(ls -A "$TMPDIR")" ]] && pass "dry run creates no workspace" || fail "dry run left $(ls "$TMPDIR")"

run "$IMGFACTORY" --state-dir "$S" build app --dry-run --increment minor --suffix RC/1 --platform linux/arm64 --registry other.example
expect_rc 0 "--increment minor --suffix"
expect_out_contains "docker://other.example/team/app:2.3.4-rc-1" "the version file's version with the suffix (--increment only says what is bumped), --registry"
if grep -q -- "--platform linux/amd64" "$T_TMP/out"; then fail "--platform linux/arm64 still builds amd64"; else pass "--platform narrows the platforms"; fi

REGISTRY=env.example run "$IMGFACTORY" --state-dir "$S" build app --dry-run --tag 7
expect_out_contains "docker://env.example/team/app:7" "REGISTRY overrides the enrollment"

BUILDAH_ISOLATION=oci run "$IMGFACTORY" --state-dir "$S" build app --dry-run
expect_out_contains "--isolation oci" "BUILDAH_ISOLATION selects the isolation"

run "$IMGFACTORY" --state-dir "$S" build app --dry-run --local --format json
expect_rc 0 "--local --dry-run --format json"
if python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); s=[x for st in p["stages"] for x in st["steps"]]; assert p["reference"]=="localhost/team/app:local"; assert len(s)==2 and s[0]["kind"]=="build"' "$T_TMP/out"; then
  pass "--local plan: one build of localhost/team/app:local"
else
  fail "--local plan: $(cat "$T_TMP/out")"
fi

# --- input errors: exit 2 ------------------------------------------------------------------
run "$IMGFACTORY" --state-dir "$S" build nope --dry-run
expect_rc 2 "unknown image"
expect_err_contains "enrolled images: app, patched, upstream" "lists the enrolled names"
run "$IMGFACTORY" --state-dir "$S" build upstream --dry-run
expect_rc 2 "an external image is not built"
run "$IMGFACTORY" --state-dir "$S" build app --dry-run --tag 'v1:2'
expect_rc 2 "invalid tag"
expect_err_contains "not a valid image tag" "names the bad tag"
run "$IMGFACTORY" --state-dir "$S" build app --dry-run --tag 1 --increment patch
expect_rc 2 "--tag with --increment"
run "$IMGFACTORY" --state-dir "$S" build app --dry-run --platform linux
expect_rc 2 "bad --platform"
run "$IMGFACTORY" --state-dir "$S" build app --dry-run --local --platform linux/amd64
expect_rc 2 "--local with --platform"
run "$IMGFACTORY" --state-dir "$S" build app --dry-run --timeout soon
expect_rc 2 "bad --timeout"
run "$IMGFACTORY" --state-dir "$S" build app --dry-run --increment huge
expect_rc 2 "bad --increment"
run "$IMGFACTORY" --state-dir "$S" build app --dry-run --build-arg NOVALUE
expect_rc 2 "--build-arg without ="
run "$IMGFACTORY" --state-dir "$S" build app --dry-run --registry 'Bad Host'
expect_rc 2 "an invalid --registry"
expect_err_contains "is not a valid image reference" "names the bad reference"

# --- build inputs (issue 12): --base, --if-changed, timestamps, layer cache, several images --
run "$IMGFACTORY" --state-dir "$S" build app --dry-run --base "" --cache-from reg.example:5000/team/app-cache \
  --cache-to reg.example:5000/team/app-cache --target final
expect_rc 0 "an empty --base is ignored (a Job template may always pass it)"
expect_out_contains "--layers --timestamp 0 --cache-from reg.example:5000/team/app-cache --cache-to reg.example:5000/team/app-cache --target final --file" "layer cache and target in the build argv"
SOURCE_DATE_EPOCH=1700000000 run "$IMGFACTORY" --state-dir "$S" build app --dry-run
expect_out_contains "--timestamp 1700000000" "SOURCE_DATE_EPOCH sets --timestamp"
expect_out_contains "org.opencontainers.image.created=2023-11-14T22:13:20Z" "and the created label"
SOURCE_DATE_EPOCH=soon run "$IMGFACTORY" --state-dir "$S" build app --dry-run
expect_rc 2 "a SOURCE_DATE_EPOCH that is not seconds"
run "$IMGFACTORY" --state-dir "$S" build app --dry-run --base reg.example:5000/team/base:1
expect_rc 2 "--base without a digest"
expect_err_contains "has no digest" "says what is missing"
run "$IMGFACTORY" --state-dir "$S" build app --dry-run --if-changed --no-push
expect_rc 2 "--if-changed without a push"
run "$IMGFACTORY" --state-dir "$S" build app --dry-run --cache-to reg.example:5000/team/cache:tag
expect_rc 2 "--cache-to with a tag"
run "$IMGFACTORY" --state-dir "$S" build app patched --dry-run --base "reg.example:5000/b@sha256:$(printf '%064d' 1)"
expect_rc 2 "--base with several images"
run "$IMGFACTORY" --state-dir "$S" build app nope --dry-run --if-changed
expect_rc 2 "an unknown name among several images"
run "$IMGFACTORY" --state-dir "$S" build app patched --dry-run
expect_rc 0 "several images"
expect_out_contains "# imgfactory build plan for reg.example:5000/team/app:2.3.4" "first image's plan"
expect_out_contains "# imgfactory build plan for reg.example:5000/team/patched:0.0.1" "second image's plan (no version file, never built: the first version)"

# --- the original's paths: versionFile and patchFiles inside local.dir (issue 11) ------------
S2="$T_TMP/state2"
mkdir -p "$S2/app"
cp "$S/app/Dockerfile" "$S/app/hello.txt" "$S/app/VERSION" "$S2/app/"
printf -- '- name: app\n  registry: reg.example\n  repository: team/app\n  local:\n    dir: app\n    versionFile: app/VERSION\n' >"$S2/images.yaml"
run "$IMGFACTORY" --state-dir "$S2" build app --dry-run
expect_rc 2 "versionFile written relative to the state root (imgfactory's old form)"
expect_err_contains "versionFile 'app/VERSION' of 'app' does not exist" "names the file"
expect_err_contains "images.yaml:5" "points at the local block"
expect_err_contains "write it relative to local.dir 'app'" "says how to write it"

run "$IMGFACTORY" --state-dir "$S" build app patched --dry-run --revision "$(printf '%040d' 1)"
expect_rc 2 "--revision with several images"
run "$IMGFACTORY" --state-dir "$S" build app --dry-run --revision "$(printf '%040d' 1)"
expect_rc 2 "--revision for an image built from local.dir"
expect_err_contains "--revision names a commit of source.repo" "says why"
run "$IMGFACTORY" --state-dir "$S" build app --dry-run --revision ""
expect_rc 0 "an empty --revision is 'not given' (Kargo Jobs pass it when the Freight has no commit)"

# --- a patch that does not apply: exit 1, named, nothing built -----------------------------
run "$IMGFACTORY" --state-dir "$S" build patched --tag 1
expect_rc 1 "a patch that does not apply"
expect_err_contains "patch 'patches/stale.patch' does not apply to local.dir 'app'" "names the patch"
expect_err_contains "images.yaml:11" "points at the enrollment"
if grep -q "buildah" "$T_TMP/err"; then fail "buildah ran after the failed patch"; else pass "no buildah call"; fi
[[ -z "$(ls -A "$TMPDIR")" ]] && pass "workspace removed after the failure" || fail "left $(ls "$TMPDIR")"

done_testing
