#!/usr/bin/env bash
# The build Job's state commit: `imgfactory --git-push build` with real buildah and a loopback
# registry, its state repository served by `git daemon --enable=receive-pack`. While it
# builds, three scans of the same image push their lastScan to the same file: the build's
# push is then a non-fast-forward, it fetches, records currentVersion/currentDigest/lastBuilt
# again on the new tip and lands — the scans' lastScan kept, nothing lost, no conflict.
source "$IMGF_SOURCE_DIR/tests/lib/testlib.sh"
source "$IMGF_SOURCE_DIR/tests/lib/build_e2e.sh"
be_require
be_setup
source "$IMGF_SOURCE_DIR/tests/lib/gitlib.sh"
command -v timeout >/dev/null || { echo "SKIP: timeout (coreutils) is not installed" >&2; exit 77; }
unset IMGFACTORY_GIT_COMMIT IMGFACTORY_GIT_PUSH IMGFACTORY_GIT_CREDENTIALS
export TRIVY="$IMGF_SOURCE_DIR/tests/lib/fake-trivy" FAKE_TRIVY_REPORT="$IMGF_SOURCE_DIR/tests/data/trivy/filters.json"
export IMGFACTORY_GIT_AUTHOR_NAME="imgfactory-job" IMGFACTORY_GIT_AUTHOR_EMAIL="job@example.invalid"

be_enrol 'ARG BASE
FROM ${BASE}
COPY hello.txt /hello.txt'
printf '.imgfactory.lock\n' >"$STATE/.gitignore"
git_daemon_start --enable=receive-pack || exit 1
git init -q --bare "$GIT_SRV/state.git"
URL="git://127.0.0.1:$GIT_PORT/state.git"
git -C "$STATE" init -q
git -C "$STATE" add -A
git -C "$STATE" commit -q -m seed
git -C "$STATE" push -q "$URL" HEAD:main

git clone -q "$URL" "$T_TMP/job"
timeout -k 10 300 "$IMGFACTORY" --state-dir "$T_TMP/job" --git-push build app --tag 1.0.0 --platform linux/amd64 \
  --build-arg "BASE=$BASE" --format json >"$T_TMP/build.out" 2>"$T_TMP/build.err" &
pid=$!
t_on_exit "kill -KILL $pid 2>/dev/null"
for ((i = 0; i < 3000; i++)); do  # up to 300 s until buildah runs
  grep -qs "building .* with buildah" "$T_TMP/build.err" && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
for n in 1 2 3; do
  git clone -q "$URL" "$T_TMP/scan$n"
  run timeout 60 "$IMGFACTORY" --state-dir "$T_TMP/scan$n" --git-push scan app --tag "scan-$n"
  expect_rc 0 "scan $n pushed while the build runs"
done
wait "$pid"
RC=$?
expect_rc 0 "the build with --git-push"
[[ $RC == 0 ]] || echo "$(tail -30 "$T_TMP/build.err")"
digest=$(json '["digest"]' <"$T_TMP/build.out")
grep -q "another writer pushed first" "$T_TMP/build.err" && pass "the build's first push met the scans' commits" ||
  fail "no race: $(grep -e 'git-push' -e pushed "$T_TMP/build.err")"
attempt=$(sed -n 's/.*pushed [0-9a-f]* to origin\/main (attempt \([0-9]*\),.*/\1/p' "$T_TMP/build.err")
[[ -n "$attempt" ]] && pass "the build's state commit landed (attempt $attempt)" || fail "not pushed"

final=$(git -C "$GIT_SRV/state.git" show main:images/app.yaml)
grep -qx "currentVersion: 1.0.0" <<<"$final" && grep -qx "currentDigest: '$digest'" <<<"$final" &&
  grep -q "^lastBuilt: '" <<<"$final" && pass "the build's record is on the remote" || fail "record missing: $final"
grep -qF "reference: '$REG/e2e/app:scan-3'" <<<"$final" && pass "the last scan's lastScan is kept" ||
  fail "lastScan lost: $final"
subjects=$(git -C "$GIT_SRV/state.git" log --format=%s main)
short=${digest:0:19}
# The scans may land before or after the build's commit (a fast build can push between scan 2
# and scan 3); what matters is that exactly one build commit, naming the digest, is there.
[[ $(grep -cx "build app 1.0.0 $short" <<<"$subjects") == 1 ]] && pass "the commit names image, version and digest" ||
  fail "subjects: $subjects"
[[ $(grep -c "^scan app: lastScan of $REG/e2e/app:scan-" <<<"$subjects") == 3 ]] && pass "the three scan commits are kept" ||
  fail "subjects: $subjects"
if git -C "$GIT_SRV/state.git" grep -qE '^(<<<<<<<|>>>>>>>)' main --; then fail "conflict markers"; else pass "no conflict markers"; fi
[[ -z "$(git -C "$T_TMP/job" status --porcelain --untracked-files=no)" ]] && pass "the Job's tree is clean at the new tip" ||
  fail "status: $(git -C "$T_TMP/job" status --porcelain)"

done_testing
