#!/usr/bin/env bash
# --git-commit / --git-push wired into the commands (black box, file:// remote): before or
# after the subcommand and from the environment; scan, analyze and synth commit what they
# wrote with a message naming it; a failed command commits nothing; a file with uncommitted
# changes of its own is refused (exit 2, named); a state directory outside git is refused.
# The concurrency of pushes over git daemon and smart HTTP is tests/e2e/git_push.sh.
source "$(dirname "$0")/../lib/testlib.sh"
command -v git >/dev/null || { echo "SKIP: git is not installed" >&2; exit 77; }
export HOME="$T_TMP/home" GIT_CONFIG_NOSYSTEM=1 XDG_CONFIG_HOME="$T_TMP/home/.config"
unset GIT_CONFIG_GLOBAL IMGFACTORY_GIT_COMMIT IMGFACTORY_GIT_PUSH GITHUB_TOKEN GITLAB_TOKEN
mkdir -p "$HOME"
git config --global user.name "Developer"
git config --global user.email dev@example.invalid
git config --global init.defaultBranch main
export TRIVY="$IMGF_SOURCE_DIR/tests/lib/fake-trivy" FAKE_TRIVY_REPORT="$IMGF_SOURCE_DIR/tests/data/trivy/filters.json"
export IMGFACTORY_GIT_AUTHOR_NAME="imgfactory-ci" IMGFACTORY_GIT_AUTHOR_EMAIL="ci@example.invalid"

# The state repository: a bare remote and a seeded clone.
REMOTE="$T_TMP/state.git"
git init -q --bare "$REMOTE"
SEED="$T_TMP/seed"
mkdir -p "$SEED/apps/app1" "$SEED/apps/app2"
cat >"$SEED/images.yaml" <<'EOF'
- name: app1
  registry: 127.0.0.1:5000
  repository: team/app1
  local:
    dir: apps/app1
- name: app2
  registry: 127.0.0.1:5000
  repository: team/app2
  local:
    dir: apps/app2
EOF
printf 'FROM alpine:3.19\n' >"$SEED/apps/app1/Dockerfile"
printf 'FROM debian:12\n' >"$SEED/apps/app2/Dockerfile"
printf '.imgfactory.lock\n.image-factory-cache/\n' >"$SEED/.gitignore"
SOURCE_DATE_EPOCH=1700000000 "$IMGFACTORY" --state-dir "$SEED" analyze >/dev/null 2>"$T_TMP/seed.err" ||
  { fail "seeding: $(cat "$T_TMP/seed.err")"; done_testing; exit 1; }
git -C "$SEED" init -q
git -C "$SEED" add -A
git -C "$SEED" commit -q -m seed
git -C "$SEED" push -q "file://$REMOTE" HEAD:main
WORK="$T_TMP/work"
git clone -q "file://$REMOTE" "$WORK"
remote_count() { git -C "$REMOTE" rev-list --count main; }
head_subject() { git -C "$WORK" log -1 --format=%s; }
head_files() { git -C "$WORK" show --name-only --format= HEAD | sort | tr '\n' ' '; }

# --git-commit before the subcommand: one commit, the scanned image's state file only.
run "$IMGFACTORY" --state-dir "$WORK" --git-commit scan app1 --tag v1 --format json
expect_rc 0 "scan --git-commit"
[[ "$(head_subject)" == "scan app1: lastScan of 127.0.0.1:5000/team/app1:v1 (9 vulnerabilities, 1 critical)" ]] &&
  pass "the message names the image and what it recorded" || fail "subject: $(head_subject)"
[[ "$(head_files)" == "images/app1.yaml " ]] && pass "only the changed state file is committed" || fail "files: $(head_files)"
[[ "$(git -C "$WORK" log -1 --format='%an <%ae>')" == "imgfactory-ci <ci@example.invalid>" ]] &&
  pass "author from IMGFACTORY_GIT_AUTHOR_NAME/_EMAIL" || fail "author: $(git -C "$WORK" log -1 --format='%an <%ae>')"
[[ "$(remote_count)" == 1 ]] && pass "--git-commit does not push" || fail "remote has $(remote_count) commits"
expect_err_contains "committed " "the commit is logged"

# After the subcommand, with push: the earlier local commit is refused first (it is not this run's).
run "$IMGFACTORY" scan app1 --tag v2 --state-dir "$WORK" --git-push
expect_rc 2 "--git-push with an unpushed commit of an earlier run"
expect_err_contains "1 commit that origin/main does not have" "the refusal says why"
git -C "$WORK" push -q origin main
run "$IMGFACTORY" scan app1 --tag v2 --state-dir "$WORK" --git-push
expect_rc 0 "--git-push after the subcommand"
[[ "$(git -C "$REMOTE" rev-parse main)" == "$(git -C "$WORK" rev-parse HEAD)" ]] && pass "pushed" || fail "not pushed"
expect_err_contains "pushed " "the push is logged"

# From the environment.
IMGFACTORY_GIT_PUSH=1 run "$IMGFACTORY" --state-dir "$WORK" scan app1 --tag v3
expect_rc 0 "IMGFACTORY_GIT_PUSH=1"
[[ "$(git -C "$REMOTE" log -1 --format=%s main)" == *"app1:v3"* ]] && pass "pushed from the environment" ||
  fail "remote: $(git -C "$REMOTE" log -1 --format=%s main)"
IMGFACTORY_GIT_COMMIT=0 run "$IMGFACTORY" --state-dir "$WORK" scan app1 --tag v4
expect_rc 0 "IMGFACTORY_GIT_COMMIT=0"
[[ "$(head_subject)" == *"app1:v3"* ]] && pass "IMGFACTORY_GIT_COMMIT=0 commits nothing" || fail "committed: $(head_subject)"
git -C "$WORK" checkout -q -- images/app1.yaml

# A failed command commits nothing.
before=$(git -C "$WORK" rev-parse HEAD)
FAKE_TRIVY_MODE=fail run "$IMGFACTORY" --state-dir "$WORK" --git-push scan app1 --tag v5
expect_rc 1 "a failing scan"
[[ "$(git -C "$WORK" rev-parse HEAD)" == "$before" && "$(git -C "$REMOTE" rev-parse main)" == "$before" ]] &&
  pass "a failed command commits and pushes nothing" || fail "something was committed"
# A scan that violates the policy (exit 3) has recorded its result: that is committed.
run "$IMGFACTORY" --state-dir "$WORK" --git-push scan app2 --fail-on CRITICAL
expect_rc 3 "scan --fail-on CRITICAL"
[[ "$(git -C "$REMOTE" log -1 --format=%s main)" == "scan app2: lastScan of 127.0.0.1:5000/team/app2:latest"* ]] &&
  pass "the policy verdict's record is pushed" || fail "remote: $(git -C "$REMOTE" log -1 --format=%s main)"

# Interrupted (SIGTERM while Trivy runs): exit 143, nothing committed or pushed.
before=$(git -C "$WORK" rev-parse HEAD)
FAKE_TRIVY_MODE=sleep FAKE_TRIVY_MARK="$T_TMP/trivy.running" \
  "$IMGFACTORY" --state-dir "$WORK" --git-push scan app1 --tag v7 >"$T_TMP/out" 2>"$T_TMP/err" &
pid=$!
for _ in $(seq 1 100); do [[ -e "$T_TMP/trivy.running" ]] && break; sleep 0.1; done
kill -TERM "$pid"
wait "$pid"
RC=$?
expect_rc 143 "SIGTERM during the scan"
[[ "$(git -C "$WORK" rev-parse HEAD)" == "$before" && "$(git -C "$REMOTE" rev-parse main)" == "$before" ]] &&
  ! grep -q "app1:v7" "$WORK/images/app1.yaml" &&
  pass "an interrupted run commits and pushes nothing" || fail "committed: $(head_subject)"

# analyze: a changed Dockerfile (committed by a developer) → new base image, state updated.
printf 'FROM alpine:3.20\n' >"$WORK/apps/app1/Dockerfile"
git -C "$WORK" commit -q -am "app1: alpine 3.20"
git -C "$WORK" push -q origin main
run "$IMGFACTORY" --state-dir "$WORK" --git-push analyze
expect_rc 0 "analyze --git-push"
[[ "$(head_subject)" == "analyze: image app1; base image alpine-3.20 (1 created, 1 updated)" ]] &&
  pass "analyze names the images and base images it changed" || fail "subject: $(head_subject)"
[[ "$(head_files)" == "base-images/alpine-3.20.yaml images/app1.yaml " ]] && pass "analyze commits its state files" ||
  fail "files: $(head_files)"
run "$IMGFACTORY" --state-dir "$WORK" --git-push analyze
expect_rc 0 "analyze again"
expect_err_contains "nothing to commit" "nothing changed: no commit"

# synth: the regenerated manifests.
run "$IMGFACTORY" --state-dir "$WORK" --git-push synth --state-repo https://github.com/acme/state.git
expect_rc 0 "synth --git-push"
[[ "$(head_subject)" == "synth: regenerate image-factory.k8s.yaml ("*" Warehouses, "*" Stages)" ]] &&
  pass "synth names the manifests" || fail "subject: $(head_subject)"
[[ "$(head_files)" == "dist/image-factory.k8s.yaml " ]] && pass "synth commits dist/" || fail "files: $(head_files)"

# A dry run writes nothing, commits nothing.
before=$(git -C "$WORK" rev-parse HEAD)
run "$IMGFACTORY" --state-dir "$WORK" --git-push analyze --dry-run
expect_rc 0 "analyze --dry-run --git-push"
[[ "$(git -C "$WORK" rev-parse HEAD)" == "$before" ]] && pass "a dry run commits nothing" || fail "committed"

# A developer's uncommitted edit of the file the run writes: refused, named, left alone.
printf '# my note\n' >>"$WORK/images/app2.yaml"
printf 'draft\n' >"$WORK/NOTES.md"
run "$IMGFACTORY" --state-dir "$WORK" --git-commit scan app2
expect_rc 2 "a file with uncommitted changes of its own is refused"
expect_err_contains "images/app2.yaml has uncommitted changes from before this run" "the refusal names the file"
[[ "$(git -C "$WORK" rev-parse HEAD)" == "$before" ]] && pass "nothing committed" || fail "committed"
grep -q "# my note" "$WORK/images/app2.yaml" && pass "the developer's edit is kept" || fail "edit lost"
# Other dirty files do not stop a run, and are not committed.
run "$IMGFACTORY" --state-dir "$WORK" --git-commit scan app1 --tag v6
expect_rc 0 "unrelated dirty files"
[[ "$(head_files)" == "images/app1.yaml " ]] && pass "the unrelated files are not committed" || fail "files: $(head_files)"
[[ -f "$WORK/NOTES.md" ]] && grep -q "M images/app2.yaml" <<<"$(git -C "$WORK" status --porcelain)" &&
  pass "the developer's files are still uncommitted" || fail "status: $(git -C "$WORK" status --porcelain)"

# A shallow clone (libgit2 1.5 cannot push from one) is refused before the command runs.
git clone -q --depth 1 --branch main "file://$REMOTE" "$T_TMP/shallow"
run "$IMGFACTORY" --state-dir "$T_TMP/shallow" --git-push scan app1
expect_rc 2 "a shallow clone with --git-push"
expect_err_contains "shallow clone" "the refusal says why"
[[ -z "$(git -C "$T_TMP/shallow" status --porcelain --untracked-files=no)" ]] && pass "nothing was scanned or written" ||
  fail "the command ran: $(git -C "$T_TMP/shallow" status --porcelain)"

# The push bounds from the environment are checked before the command runs.
IMGFACTORY_GIT_PUSH_TIMEOUT=soon run "$IMGFACTORY" --state-dir "$WORK" --git-push scan app1
expect_rc 2 "a malformed IMGFACTORY_GIT_PUSH_TIMEOUT"
expect_err_contains "IMGFACTORY_GIT_PUSH_TIMEOUT must be a duration" "the error names the variable"
IMGFACTORY_GIT_PUSH_ATTEMPTS=0 run "$IMGFACTORY" --state-dir "$WORK" --git-push scan app1
expect_rc 2 "IMGFACTORY_GIT_PUSH_ATTEMPTS=0"

# Outside a git work tree.
mkdir -p "$T_TMP/plain"
cp "$SEED/images.yaml" "$T_TMP/plain/"
run "$IMGFACTORY" --state-dir "$T_TMP/plain" --git-commit scan app1
expect_rc 2 "a state directory outside git"
expect_err_contains "not inside a git work tree" "the refusal says why"

done_testing
