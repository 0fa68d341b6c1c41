#!/usr/bin/env bash
# --git-push against a real `git daemon --enable=receive-pack` on 127.0.0.1, the way Kargo's
# Jobs use it: each writer is the real binary in its own clone of one state repository.
#  1. eight processes at once, eight different images (scan writes lastScan): 8 of 8 land;
#  2. eight processes at once on ONE file (images/app1.yaml): an analyze that changes its
#     base images and seven scans recording lastScan: 8 of 8 land, none lost, no conflict
#     markers, history linear;
#  3. a rejection that is not a race (a pre-receive hook) fails at once (exit 1);
#  4. https-style smart HTTP with Basic auth: GITLAB_TOKEN and a git-credentials file
#     authenticate the push, a wrong token fails, and no token ever reaches the output.
# Prints the measured attempts and wall time of the concurrent rounds (docs/git-state.md).
source "$(dirname "$0")/../lib/testlib.sh"
source "$(dirname "$0")/../lib/gitlib.sh"
command -v git >/dev/null || { echo "SKIP: git is not installed" >&2; exit 77; }
command -v timeout >/dev/null || { echo "SKIP: timeout (coreutils) is not installed" >&2; exit 77; }
unset IMGFACTORY_GIT_COMMIT IMGFACTORY_GIT_PUSH IMGFACTORY_GIT_CREDENTIALS
export TRIVY="$IMGF_SOURCE_DIR/tests/lib/fake-trivy" FAKE_TRIVY_REPORT="$IMGF_SOURCE_DIR/tests/data/trivy/filters.json"
export IMGFACTORY_GIT_AUTHOR_NAME="imgfactory-job" IMGFACTORY_GIT_AUTHOR_EMAIL="job@example.invalid"
N=8

git_daemon_start --enable=receive-pack || exit 1
BARE="$GIT_SRV/org/state.git"
git init -q --bare "$BARE"
URL="git://127.0.0.1:$GIT_PORT/org/state.git"

# The state repository: N enrolled images with local sources, analysed once.
SEED="$T_TMP/seed"
mkdir -p "$SEED"
: >"$SEED/images.yaml"
for i in $(seq 1 $N); do
  mkdir -p "$SEED/apps/app$i"
  printf 'FROM alpine:3.19\n' >"$SEED/apps/app$i/Dockerfile"
  printf -- '- name: app%s\n  registry: 127.0.0.1:5000\n  repository: team/app%s\n  local:\n    dir: apps/app%s\n' \
    "$i" "$i" "$i" >>"$SEED/images.yaml"
done
printf '.imgfactory.lock\n.image-factory-cache/\n' >"$SEED/.gitignore"
"$IMGFACTORY" --state-dir "$SEED" analyze >/dev/null 2>"$T_TMP/seed.err" || { fail "seed: $(cat "$T_TMP/seed.err")"; exit 1; }
git -C "$SEED" init -q
git -C "$SEED" add -A
git -C "$SEED" commit -q -m seed
git -C "$SEED" push -q "$URL" HEAD:main || { fail "cannot push the seed over git daemon"; exit 1; }

# writers ROUND: N clones, then runs "ARGS of writer i" (function writer_args) all at once,
# each bounded by `timeout`; records rc, attempts, wall time.
run_round() {
  local round=$1 i pids=() start end
  for i in $(seq 1 $N); do
    rm -rf "$T_TMP/$round-$i"
    git clone -q "$URL" "$T_TMP/$round-$i"
  done
  start=$(date +%s.%N)
  for i in $(seq 1 $N); do
    # shellcheck disable=SC2046
    timeout -k 5 120 "$IMGFACTORY" --state-dir "$T_TMP/$round-$i" --git-push $(writer_args "$i") \
      >"$T_TMP/$round-$i.out" 2>"$T_TMP/$round-$i.err" &
    pids+=($!)
  done
  for i in $(seq 1 $N); do
    wait "${pids[$((i - 1))]}"
    echo $? >"$T_TMP/$round-$i.rc"
  done
  end=$(date +%s.%N)
  ROUND_WALL=$(python3 -c "print(f'{$end - $start:.1f}')")
  local ok=0 attempts=() a
  for i in $(seq 1 $N); do
    if [[ "$(cat "$T_TMP/$round-$i.rc")" == 0 ]]; then ok=$((ok + 1)); else
      fail "$round writer $i exited $(cat "$T_TMP/$round-$i.rc"): $(tail -c 1500 "$T_TMP/$round-$i.err")"
    fi
    a=$(sed -n 's/.*pushed [0-9a-f]* to origin\/main (attempt \([0-9]*\),.*/\1/p' "$T_TMP/$round-$i.err")
    attempts+=("${a:-?}")
  done
  ROUND_OK=$ok
  ROUND_ATTEMPTS="${attempts[*]}"
  ROUND_MAX=$(printf '%s\n' "${attempts[@]}" | grep -v '?' | sort -n | tail -1)
  ROUND_SUM=0
  for a in "${attempts[@]}"; do [[ $a == "?" ]] || ROUND_SUM=$((ROUND_SUM + a)); done
}

no_conflict_markers() { # REV: no conflict marker in any file of REV
  if git -C "$BARE" grep -qE '^(<<<<<<<|>>>>>>>|=======$)' "$1" --; then
    fail "conflict markers at $1: $(git -C "$BARE" grep -nE '^(<<<<<<<|>>>>>>>)' "$1" -- | head -5)"
  else
    pass "no conflict markers at $1"
  fi
}

# ---- 1. eight writers, eight images -----------------------------------------------------------
before=$(git -C "$BARE" rev-parse main)
writer_args() { echo "scan app$1 --tag r1-$1 --format json"; }
run_round r1
[[ $ROUND_OK == "$N" ]] && pass "round 1: $N of $N writers succeeded" || fail "round 1: $ROUND_OK of $N succeeded"
landed=$(git -C "$BARE" rev-list --count "$before..main")
[[ $landed == "$N" ]] && pass "round 1: $N of $N commits on the remote" || fail "round 1: $landed commits landed"
subjects=$(git -C "$BARE" log --format=%s "$before..main")
for i in $(seq 1 $N); do
  text=$(git -C "$BARE" show "main:images/app$i.yaml")
  grep -qF "reference: '127.0.0.1:5000/team/app$i:r1-$i'" <<<"$text" || fail "round 1: app$i's lastScan is not on the remote"
  grep -qxF "scan app$i: lastScan of 127.0.0.1:5000/team/app$i:r1-$i (9 vulnerabilities, 1 critical)" <<<"$subjects" ||
    fail "round 1: no commit for app$i"
done
[[ -z "$(git -C "$BARE" rev-list --merges "$before..main")" ]] && pass "round 1: linear history" || fail "round 1: merges"
no_conflict_markers main
echo "# round 1 (8 images): attempts per writer: $ROUND_ATTEMPTS (max $ROUND_MAX, total $ROUND_SUM), wall ${ROUND_WALL}s"
R1="attempts $ROUND_ATTEMPTS, max $ROUND_MAX, total $ROUND_SUM, ${ROUND_WALL}s"

# ---- 2. eight writers, one file ----------------------------------------------------------------
# app1's Dockerfile moves to alpine 3.20 (a developer's commit): analyze rewrites images/app1.yaml
# (baseImages) and adds base-images/alpine-3.20.yaml while seven scans record lastScan in it.
DEV="$T_TMP/dev"
git clone -q "$URL" "$DEV"
printf 'FROM alpine:3.20\n' >"$DEV/apps/app1/Dockerfile"
git -C "$DEV" commit -q -am "app1: alpine 3.20"
git -C "$DEV" push -q origin main
before=$(git -C "$BARE" rev-parse main)
writer_args() { if [[ $1 == 4 ]]; then echo "analyze --image app1"; else echo "scan app1 --tag r2-$1 --format json"; fi; }
run_round r2
[[ $ROUND_OK == "$N" ]] && pass "round 2: $N of $N writers succeeded" || fail "round 2: $ROUND_OK of $N succeeded"
landed=$(git -C "$BARE" rev-list --count "$before..main")
[[ $landed == "$N" ]] && pass "round 2: $N of $N commits on the remote" || fail "round 2: $landed commits landed"
[[ -z "$(git -C "$BARE" rev-list --merges "$before..main")" ]] && pass "round 2: linear history" || fail "round 2: merges"
no_conflict_markers main
final=$(git -C "$BARE" show main:images/app1.yaml)
grep -q -- "- alpine-3.20$" <<<"$final" && pass "round 2: analyze's base image survived every scan" ||
  fail "round 2: baseImages lost: $final"
grep -q "^lastScan:" <<<"$final" && pass "round 2: a lastScan survived the analyze" || fail "round 2: lastScan lost: $final"
git -C "$BARE" cat-file -e main:base-images/alpine-3.20.yaml && pass "round 2: the new base image file landed" ||
  fail "round 2: base-images/alpine-3.20.yaml missing"
# Every writer's own change is in its own commit, on top of all earlier ones.
for c in $(git -C "$BARE" rev-list --reverse "$before..main"); do
  subject=$(git -C "$BARE" log -1 --format=%s "$c")
  text=$(git -C "$BARE" show "$c:images/app1.yaml")
  python3 -c 'import sys, yaml; d = yaml.safe_load(sys.stdin); assert isinstance(d, dict) and d["name"] == "app1"' \
    <<<"$text" || fail "round 2: images/app1.yaml at $c is not valid state YAML"
  case "$subject" in
    "scan app1: lastScan of 127.0.0.1:5000/team/app1:r2-"*)
      tag=${subject##*team/app1:}
      tag=${tag%% *}
      grep -qF "reference: '127.0.0.1:5000/team/app1:$tag'" <<<"$text" || fail "round 2: $subject: its lastScan is not in its commit"
      ;;
    "analyze: image app1; base image alpine-3.20"*)
      grep -q -- "- alpine-3.20$" <<<"$text" || fail "round 2: the analyze commit lacks its base image"
      ;;
    *) fail "round 2: unexpected commit '$subject'" ;;
  esac
done
echo "# round 2 (1 file, 8 writers): attempts per writer: $ROUND_ATTEMPTS (max $ROUND_MAX, total $ROUND_SUM), wall ${ROUND_WALL}s"
R2="attempts $ROUND_ATTEMPTS, max $ROUND_MAX, total $ROUND_SUM, ${ROUND_WALL}s"
grep -h "re-applied\|retrying" "$T_TMP"/r2-*.err | head -3 | sed 's/^/#   /'

# ---- 3. a rejection that is not a race fails at once ---------------------------------------------
printf '#!/bin/sh\necho "state branch is protected" >&2\nexit 1\n' >"$BARE/hooks/pre-receive"
chmod +x "$BARE/hooks/pre-receive"
git clone -q "$URL" "$T_TMP/hooked"
run timeout 60 "$IMGFACTORY" --state-dir "$T_TMP/hooked" --git-push scan app2 --tag hook
expect_rc 1 "a push the server refuses"
expect_err_contains "cannot push to origin/main" "the error says the push failed"
expect_err_contains "pre-receive hook declined" "the error carries the server's reason"
if grep -q "retrying" "$T_TMP/err"; then fail "a refusal that is no race was retried"; else pass "not retried"; fi
rm -f "$BARE/hooks/pre-receive"

# ---- 4. smart HTTP with Basic auth: tokens authenticate, never reach the output ------------------
backend=$(git --exec-path)/git-http-backend
if [[ -x "$backend" ]]; then
  TOKEN="glpat-imgfPushSecret0123456789"
  python3 "$(dirname "$0")/../lib/git_http_server.py" "$GIT_SRV" "$backend" oauth2 "$TOKEN" "$T_TMP/http.port" 120 \
    >"$T_TMP/http.log" 2>&1 &
  HTTP_PID=$!
  t_on_exit "kill $HTTP_PID 2>/dev/null"
  for _ in $(seq 1 50); do [[ -s "$T_TMP/http.port" ]] && break; sleep 0.1; done
  HTTP_URL="http://127.0.0.1:$(cat "$T_TMP/http.port")/org/state.git"
  AUTH="Authorization: Basic $(printf 'oauth2:%s' "$TOKEN" | base64 -w0)"
  git -c http.extraHeader="$AUTH" clone -q "$HTTP_URL" "$T_TMP/https" || fail "cannot clone over smart HTTP"
  log_has_no_token() {
    if grep -q "imgfPushSecret\|wrongSecret" "$T_TMP/out" "$T_TMP/err"; then fail "$1: a token was printed"; else pass "$1: no token in the output"; fi
  }

  run timeout 60 "$IMGFACTORY" --state-dir "$T_TMP/https" --log-level debug --git-push scan app3 --tag http0
  expect_rc 1 "no credentials for the HTTP remote"
  expect_err_contains "GITLAB_TOKEN" "the error says which credentials would help"
  git -C "$T_TMP/https" reset -q --hard origin/main  # the failed run's commit stays local

  GITLAB_HOST=127.0.0.1 GITLAB_TOKEN="glpat-wrongSecret000" run timeout 60 "$IMGFACTORY" --state-dir "$T_TMP/https" \
    --log-level debug --git-push scan app3 --tag http1
  expect_rc 1 "a wrong token"
  expect_err_contains "authentication failed" "the error says authentication failed"
  log_has_no_token "wrong token"
  git -C "$T_TMP/https" reset -q --hard origin/main

  GITLAB_HOST=127.0.0.1 GITLAB_TOKEN="$TOKEN" run timeout 60 "$IMGFACTORY" --state-dir "$T_TMP/https" \
    --log-level debug --git-push scan app3 --tag http2
  expect_rc 0 "GITLAB_TOKEN (GITLAB_HOST) authenticates the push"
  grep -q "app3:http2" <<<"$(git -C "$BARE" show main:images/app3.yaml)" && pass "pushed over smart HTTP" || fail "not on the remote"
  log_has_no_token "GITLAB_TOKEN"

  printf 'https://someone:other@example.com\nhttp://oauth2:%s@127.0.0.1:%s\n' "$TOKEN" "$(cat "$T_TMP/http.port")" \
    >"$T_TMP/git-credentials"
  IMGFACTORY_GIT_CREDENTIALS="$T_TMP/git-credentials" run timeout 60 "$IMGFACTORY" --state-dir "$T_TMP/https" \
    --log-level debug --git-push scan app3 --tag http3
  expect_rc 0 "a git-credentials file authenticates the push"
  grep -q "app3:http3" <<<"$(git -C "$BARE" show main:images/app3.yaml)" && pass "pushed with the credentials file" || fail "not on the remote"
  log_has_no_token "credentials file"

  # GITHUB_TOKEN (user x-access-token) for the host GH_HOST names.
  GH_TOKEN_VALUE="ghp_imgfPushSecretGithub0123456789"
  python3 "$(dirname "$0")/../lib/git_http_server.py" "$GIT_SRV" "$backend" x-access-token "$GH_TOKEN_VALUE" \
    "$T_TMP/http2.port" 120 >"$T_TMP/http2.log" 2>&1 &
  HTTP2_PID=$!
  t_on_exit "kill $HTTP2_PID 2>/dev/null"
  for _ in $(seq 1 50); do [[ -s "$T_TMP/http2.port" ]] && break; sleep 0.1; done
  git -C "$T_TMP/https" remote set-url origin "http://localhost:$(cat "$T_TMP/http2.port")/org/state.git"
  GITHUB_TOKEN="$GH_TOKEN_VALUE" run timeout 60 "$IMGFACTORY" --state-dir "$T_TMP/https" --log-level debug --git-push \
    scan app3 --tag http4
  expect_rc 1 "GITHUB_TOKEN is not sent to a host that is not GitHub's"
  git -C "$T_TMP/https" reset -q --hard origin/main
  GH_HOST=localhost GITHUB_TOKEN="$GH_TOKEN_VALUE" run timeout 60 "$IMGFACTORY" --state-dir "$T_TMP/https" \
    --log-level debug --git-push scan app3 --tag http5
  expect_rc 0 "GITHUB_TOKEN (GH_HOST) authenticates the push"
  grep -q "app3:http5" <<<"$(git -C "$BARE" show main:images/app3.yaml)" && pass "pushed with GITHUB_TOKEN" || fail "not on the remote"
  if grep -q "imgfPushSecretGithub" "$T_TMP/out" "$T_TMP/err"; then fail "GITHUB_TOKEN was printed"; else pass "GITHUB_TOKEN: no token in the output"; fi
else
  echo "# git-http-backend is not installed: the smart-HTTP part is skipped"
fi

echo "# measured: round 1 (8 images) $R1; round 2 (one file) $R2"
done_testing
