#!/usr/bin/env bash
# Issue 11: a state repository in the original Image Factory's latest form builds as the
# original's generated workflows built it (its app/generate_state.py, _generate_build_workflow),
# for real: buildah, skopeo, a loopback registry, sources served by `git daemon` on 127.0.0.1
# through url.insteadOf and a private one behind token-checking smart HTTP.
#
#   tool    upstream mode: `local` without `dockerfile` next to a source; the upstream's
#           docker/Dockerfile COPYs from the repository root (the context), a patch named
#           relative to local.dir, versionFile inside local.dir; then --revision of an older
#           commit than the shallow cache's tip.
#   secret  upstream mode from a private repository (GITHUB_TOKEN over smart HTTP), a patch
#           with a '/' (relative to the state root), no version file.
#   cli     local.dockerfile mode (context local.dir, no patches), both platforms.
#
# Checked: the tags pushed (version and latest, one digest), file content in each image, the
# labels, the version files after the builds (bumped, committed and pushed with --git-push,
# re-applied on a newer tip when someone pushed first), and `task build`'s scan of the
# pushed reference.
source "$IMGF_SOURCE_DIR/tests/lib/build_e2e.sh"
be_require
command -v git >/dev/null || { echo "SKIP: git is not installed" >&2; exit 77; }
backend=$(git --exec-path)/git-http-backend
[[ -x "$backend" ]] || { echo "SKIP: git-http-backend is not installed" >&2; exit 77; }
be_setup
source "$IMGF_SOURCE_DIR/tests/lib/gitlib.sh"
unset IMGFACTORY_GIT_COMMIT IMGFACTORY_GIT_PUSH IMGFACTORY_GIT_CREDENTIALS GITHUB_TOKEN
git_daemon_start --enable=receive-pack || exit 1
git_map "https://github.com/"

# --- the upstream repositories ---------------------------------------------------------------
git_repo acme/tool
git_put acme/tool patched.txt $'original\n'
git_put acme/tool root.txt $'root one\n'
git_put acme/tool docker/Dockerfile "FROM $BASE"$'\nCOPY root.txt /root.txt\nCOPY patched.txt /patched.txt\n'
OLD=$(git -C "$T_TMP/work/acme/tool" rev-parse HEAD)
git_put acme/tool root.txt $'root two\n'
TIP=$(git -C "$T_TMP/work/acme/tool" rev-parse HEAD)

TOKEN="ghp_imgfSecret0123456789"
git_repo acme/secret
git_put acme/secret Dockerfile "FROM $BASE"$'\nCOPY secret.txt /secret.txt\n'
git_put acme/secret secret.txt $'secret\n'
python3 "$IMGF_SOURCE_DIR/tests/lib/git_http_server.py" "$GIT_SRV" "$backend" x-access-token "$TOKEN" \
  "$T_TMP/http.port" 600 >"$T_TMP/http.log" 2>&1 &
HTTP_PID=$!
t_on_exit "kill $HTTP_PID 2>/dev/null"
for _ in $(seq 1 50); do [[ -s "$T_TMP/http.port" ]] && break; sleep 0.1; done
HTTP_PORT=$(cat "$T_TMP/http.port")

# --- the state repository, as the original left it: images.yaml at the root, state/ ----------
git init -q --bare "$GIT_SRV/state.git"
URL="git://127.0.0.1:$GIT_PORT/state.git"
R="$T_TMP/repo"
git clone -q "$URL" "$R" 2>/dev/null
mkdir -p "$R/state/images" "$R/state/base-images" "$R/local/tool" "$R/local/cli" "$R/local/secret" "$R/patches"
touch "$R/state/images/.gitkeep" "$R/state/base-images/.gitkeep"
cat >"$R/images.yaml" <<EOF
- name: tool
  registry: $REG
  repository: e2e/tool
  source:
    provider: github
    repo: acme/tool
    branch: main
    dockerfile: docker/Dockerfile
  local:
    dir: local/tool
    patchFiles:
      - fix.patch
    versionFile: VERSION
- name: secret
  registry: $REG
  repository: e2e/secret
  source:
    provider: github
    repo: http://127.0.0.1:$HTTP_PORT/acme/secret.git
    branch: main
  local:
    dir: local/secret
    patchFiles:
      - patches/secret.patch
- name: cli
  registry: $REG
  repository: e2e/cli
  source:
    provider: github
    repo: acme/cli
  local:
    dir: local/cli
    dockerfile: Containerfile
    versionFile: VERSION
EOF
printf -- '--- a/patched.txt\n+++ b/patched.txt\n@@ -1 +1 @@\n-original\n+patched by local/tool/fix.patch\n' \
  >"$R/local/tool/fix.patch"
echo "1.2.3" >"$R/local/tool/VERSION"
printf -- '--- a/secret.txt\n+++ b/secret.txt\n@@ -1 +1 @@\n-secret\n+secret, patched\n' >"$R/patches/secret.patch"
printf 'FROM %s\nCOPY app.txt /app.txt\n' "$BASE" >"$R/local/cli/Containerfile"
echo "cli from the state repository" >"$R/local/cli/app.txt"
echo "0.3.0" >"$R/local/cli/VERSION"
printf '.image-factory-cache/\n.output/\n.imgfactory.lock\nTaskfile.yml\n' >"$R/.gitignore"
git -C "$R" add -A && git -C "$R" commit -q -m "images.yaml in the original's form" && git -C "$R" push -q origin HEAD:main 2>/dev/null
git -C "$R" branch -q -u origin/main 2>/dev/null

# image_file REF PATH: the content of PATH in the image REF (host platform)
image_file() {
  local c m
  c=$(buildah from -q "docker://$1" 2>"$T_TMP/from.err") || { echo "buildah from failed: $(cat "$T_TMP/from.err")"; return; }
  m=$(buildah mount "$c")
  cat "$m/$2" 2>&1
  buildah umount "$c" >/dev/null
  buildah rm "$c" >/dev/null
  buildah rmi "$1" >/dev/null 2>&1  # the pulled name would collide with a later build's list
}
# same_digest REF1 REF2: both tags name one manifest list
same_digest() {
  local a b
  a=$(skopeo inspect --raw "docker://$1" 2>/dev/null | sha256sum) b=$(skopeo inspect --raw "docker://$2" 2>/dev/null | sha256sum)
  [[ -n "$a" && "$a" == "$b" && "$a" != "$(printf '' | sha256sum)" ]]
}
label() { skopeo inspect "docker://$1" | json "['Labels'].get('$2')"; }
remote_file() { git -C "$GIT_SRV/state.git" show "main:$1" 2>&1; }

# --- tool: upstream mode, root context, patch in local.dir, --revision "" as Kargo passes it ---
run "$IMGFACTORY" --state-dir "$R" --git-push build tool --platform linux/amd64 --revision "" \
  --cache-dir "$T_TMP/cache" --format json
expect_rc 0 "build tool (upstream mode) with --git-push"
[[ "$(json '["tag"]' <"$T_TMP/out")" == "1.2.3" ]] && pass "tag: the version in local/tool/VERSION" || fail "$(cat "$T_TMP/out")"
[[ "$(json '["tags"]' <"$T_TMP/out")" == "['1.2.3', 'latest']" ]] && pass "result lists 1.2.3 and latest" ||
  fail "tags $(json '["tags"]' <"$T_TMP/out")"
same_digest "$REG/e2e/tool:1.2.3" "$REG/e2e/tool:latest" && pass "tool:latest is tool:1.2.3" || fail "latest differs or is missing"
[[ "$(image_file "$REG/e2e/tool:1.2.3" root.txt)" == "root two" ]] &&
  pass "docker/Dockerfile COPYs root.txt from the repository root (the branch's tip)" ||
  fail "root.txt: $(image_file "$REG/e2e/tool:1.2.3" root.txt)"
[[ "$(image_file "$REG/e2e/tool:1.2.3" patched.txt)" == "patched by local/tool/fix.patch" ]] &&
  pass "fix.patch, named relative to local.dir, applied to the upstream checkout" ||
  fail "patched.txt: $(image_file "$REG/e2e/tool:1.2.3" patched.txt)"
[[ "$(label "$REG/e2e/tool:1.2.3" org.opencontainers.image.source)" == "https://github.com/acme/tool" ]] &&
  pass "label source https://github.com/acme/tool" || fail "source label: $(label "$REG/e2e/tool:1.2.3" org.opencontainers.image.source)"
[[ "$(label "$REG/e2e/tool:1.2.3" org.opencontainers.image.description)" == "tool (built by image-factory)" ]] &&
  pass "label description 'tool (built by image-factory)'" || fail "description label"
[[ "$(label "$REG/e2e/tool:1.2.3" org.opencontainers.image.revision)" == "$TIP" ]] && pass "label revision: the tip" ||
  fail "revision label: $(label "$REG/e2e/tool:1.2.3" org.opencontainers.image.revision)"
[[ "$(cat "$R/local/tool/VERSION")" == "1.2.4" ]] && pass "local/tool/VERSION bumped to 1.2.4 (patch)" ||
  fail "VERSION: $(cat "$R/local/tool/VERSION")"
[[ "$(remote_file local/tool/VERSION)" == "1.2.4" ]] && pass "the bump is pushed" || fail "remote VERSION: $(remote_file local/tool/VERSION)"
git -C "$GIT_SRV/state.git" show --stat --format=%s main >"$T_TMP/commit.txt"
if grep -q "state/images/tool.yaml" "$T_TMP/commit.txt" && grep -q "local/tool/VERSION" "$T_TMP/commit.txt"; then
  pass "one commit holds the state file and the bumped version file"
else
  fail "commit: $(cat "$T_TMP/commit.txt")"
fi
grep -q "bumped VERSION 1.2.3 -> 1.2.4" <(git -C "$GIT_SRV/state.git" log -1 --format=%B main) &&
  pass "the commit message says so" || fail "message: $(git -C "$GIT_SRV/state.git" log -1 --format=%B main)"
grep -qx "currentVersion: 1.2.3" "$R/state/images/tool.yaml" && pass "state/images/tool.yaml records 1.2.3" ||
  fail "state: $(cat "$R/state/images/tool.yaml")"
[[ -f "$(ls -d "$T_TMP"/cache/*/.git 2>/dev/null | head -1)/shallow" ]] && pass "--cache-dir holds a shallow clone" ||
  fail "cache: $(ls "$T_TMP/cache")"

# An older commit than the shallow cache holds, with a suffix: no bump.
run "$IMGFACTORY" --state-dir "$R" build tool --platform linux/amd64 --revision "$OLD" --suffix rc1 \
  --cache-dir "$T_TMP/cache" --format json
expect_rc 0 "build tool --revision <older commit> --suffix rc1"
[[ "$(json '["tag"]' <"$T_TMP/out")" == "1.2.4-rc1" ]] && pass "tag 1.2.4-rc1" || fail "$(cat "$T_TMP/out")"
[[ "$(image_file "$REG/e2e/tool:1.2.4-rc1" root.txt)" == "root one" ]] && pass "built the older commit" ||
  fail "root.txt: $(image_file "$REG/e2e/tool:1.2.4-rc1" root.txt)"
[[ "$(label "$REG/e2e/tool:1.2.4-rc1" org.opencontainers.image.revision)" == "$OLD" ]] && pass "label revision: that commit" ||
  fail "revision label"
[[ "$(cat "$R/local/tool/VERSION")" == "1.2.4" ]] && pass "a suffixed build bumps nothing" || fail "VERSION: $(cat "$R/local/tool/VERSION")"

# --- secret: a private upstream, GITHUB_TOKEN over smart HTTP; a patch with '/' ---------------
run "$IMGFACTORY" --state-dir "$R" build secret --platform linux/amd64 --cache-dir "$T_TMP/cache"
expect_rc 1 "without GITHUB_TOKEN the private source is refused"
expect_err_contains "GITHUB_TOKEN" "the error says which token would help"
GITHUB_TOKEN="$TOKEN" run "$IMGFACTORY" --state-dir "$R" build secret --platform linux/amd64 --cache-dir "$T_TMP/cache" \
  --format json
expect_rc 0 "GITHUB_TOKEN authenticates the build's fetch"
if grep -q "imgfSecret" "$T_TMP/out" "$T_TMP/err"; then fail "the token was printed"; else pass "the token is not printed"; fi
stag=$(json '["tag"]' <"$T_TMP/out")
[[ "$(image_file "$REG/e2e/secret:$stag" secret.txt)" == "secret, patched" ]] &&
  pass "patches/secret.patch (a '/': from the state root) applied" || fail "secret.txt: $(image_file "$REG/e2e/secret:$stag" secret.txt)"
[[ "$(label "$REG/e2e/secret:$stag" org.opencontainers.image.source)" == "http://127.0.0.1:$HTTP_PORT/acme/secret.git" ]] &&
  pass "label source: the repository URL" || fail "source label: $(label "$REG/e2e/secret:$stag" org.opencontainers.image.source)"
same_digest "$REG/e2e/secret:$stag" "$REG/e2e/secret:latest" && pass "secret:latest pushed too" || fail "secret:latest"

# --- cli: local.dockerfile mode, both platforms; someone pushes first: the bump is replayed ----
git clone -q "$URL" "$T_TMP/other" 2>/dev/null
echo "notes" >"$T_TMP/other/NOTES.md"
git -C "$T_TMP/other" add NOTES.md && git -C "$T_TMP/other" commit -q -m "someone else" && git -C "$T_TMP/other" push -q origin HEAD:main 2>/dev/null
run "$IMGFACTORY" --state-dir "$R" --git-push build cli --platform linux/amd64,linux/arm64 --format json
expect_rc 0 "build cli (local.dockerfile mode), --git-push after someone pushed first"
[[ "$(json '["tag"]' <"$T_TMP/out")" == "0.3.0" ]] && pass "tag 0.3.0 from local/cli/VERSION" || fail "$(cat "$T_TMP/out")"
same_digest "$REG/e2e/cli:0.3.0" "$REG/e2e/cli:latest" && pass "cli:latest is cli:0.3.0" || fail "cli:latest"
[[ "$(skopeo inspect --raw "docker://$REG/e2e/cli:latest" | json "['manifests'].__len__()")" == 2 ]] &&
  pass "latest keeps both platforms" || fail "latest: $(skopeo inspect --raw "docker://$REG/e2e/cli:latest")"
[[ "$(image_file "$REG/e2e/cli:0.3.0" app.txt)" == "cli from the state repository" ]] &&
  pass "context local/cli: app.txt copied" || fail "app.txt: $(image_file "$REG/e2e/cli:0.3.0" app.txt)"
[[ "$(label "$REG/e2e/cli:0.3.0" org.opencontainers.image.source)" == "https://github.com/acme/cli" ]] &&
  pass "label source from source.repo" || fail "source label: $(label "$REG/e2e/cli:0.3.0" org.opencontainers.image.source)"
[[ "$(remote_file local/cli/VERSION)" == "0.3.1" ]] && pass "the bump is re-applied on the new tip and pushed" ||
  fail "remote VERSION: $(remote_file local/cli/VERSION)"
[[ "$(remote_file NOTES.md)" == "notes" ]] && pass "the other writer's commit is kept" || fail "NOTES.md: $(remote_file NOTES.md)"
[[ "$(remote_file local/tool/VERSION)" == "1.2.4" ]] && pass "the earlier bump is kept" || fail "tool VERSION"

# Reproducible: the same commit built again gives the same digest (no run-to-run label).
d1=$(skopeo inspect --raw "docker://$REG/e2e/tool:1.2.4-rc1" | sha256sum)
run "$IMGFACTORY" --state-dir "$R" build tool --platform linux/amd64 --revision "$OLD" --suffix rc1 --cache-dir "$T_TMP/cache"
expect_rc 0 "the same build again"
[[ "$(skopeo inspect --raw "docker://$REG/e2e/tool:1.2.4-rc1" | sha256sum)" == "$d1" ]] && pass "the same digest" ||
  fail "the digest changed between two builds of the same inputs"

# --- analyze reads tool's Dockerfile as build builds it: upstream mode, fix.patch applied to a
# scratch copy of docker/Dockerfile (its patched.txt hunk skipped), the cache untouched ---------
run "$IMGFACTORY" --state-dir "$R" analyze --image tool --cache-dir "$T_TMP/cache" --dry-run --format json
expect_rc 0 "analyze tool (upstream mode with a patch)"
grep -q 'busybox' "$T_TMP/out" && pass "analyze found tool's base image" || fail "analyze output: $(cat "$T_TMP/out")"

# --- task build: the scan step scans the pushed reference --------------------------------------
mkdir -p "$T_TMP/bin"
ln -s "$IMGF_SOURCE_DIR/tests/lib/fake-trivy" "$T_TMP/bin/trivy"
cp "$IMGF_SOURCE_DIR/Taskfile.yml" "$R/"
(cd "$R" && env -u TRIVY PATH="$T_TMP/bin:$PATH" FAKE_TRIVY_LOG="$T_TMP/trivy.argv" \
  FAKE_TRIVY_REPORT="$IMGF_SOURCE_DIR/tests/data/trivy/filters.json" STATE_DIR="$R" \
  python3 "$IMGF_SOURCE_DIR/tests/lib/taskrun.py" "$R/Taskfile.yml" build IMAGE=cli CLI_ARGS="--platform linux/amd64") \
  >"$T_TMP/out" 2>"$T_TMP/err"
RC=$?
expect_rc 0 "task build IMAGE=cli"
cdigest=$(sed -n "s/^currentDigest: '\(.*\)'$/\1/p" "$R/state/images/cli.yaml")
[[ "$(cat "$T_TMP/trivy.argv" 2>/dev/null)" == *" $REG/e2e/cli@$cdigest" ]] && pass "trivy scanned the pushed image ($REG/e2e/cli@${cdigest:0:19}…)" ||
  fail "trivy argv: $(cat "$T_TMP/trivy.argv" 2>/dev/null); digest $cdigest"
[[ -s "$R/.output/trivy-cli-latest.sarif" ]] && pass "SARIF in .output/trivy-cli-latest.sarif" || fail "no SARIF: $(ls -A "$R/.output" 2>&1)"
[[ "$(cat "$R/local/cli/VERSION")" == "0.3.2" ]] && pass "task build bumped local/cli/VERSION" || fail "VERSION: $(cat "$R/local/cli/VERSION")"

done_testing
