#!/usr/bin/env bash
# GITHUB_TOKEN / GITLAB_TOKEN authenticate fetches over http(s) from the provider's host —
# here a loopback smart-HTTP server (git http-backend behind a small Python server that
# demands Basic auth) — are never printed, and are not sent to another host that an
# insteadOf rule points at.
source "$(dirname "$0")/../lib/testlib.sh"
source "$(dirname "$0")/../lib/gitlib.sh"
command -v git >/dev/null || { echo "SKIP: git is not installed" >&2; exit 77; }
backend=$(git --exec-path)/git-http-backend
[[ -x "$backend" ]] || { echo "SKIP: git-http-backend is not installed" >&2; exit 77; }

TOKEN="glpat-imgfSecret0123456789"
git_repo team/app
git_put team/app Dockerfile $'FROM alpine:3.19\n'

python3 "$(dirname "$0")/../lib/git_http_server.py" "$GIT_SRV" "$backend" oauth2 "$TOKEN" "$T_TMP/http.port" \
  >"$T_TMP/http.log" 2>&1 &
HTTP_PID=$!
t_on_exit "kill $HTTP_PID 2>/dev/null"
for i in $(seq 1 50); do [[ -s "$T_TMP/http.port" ]] && break; sleep 0.1; done
PORT=$(cat "$T_TMP/http.port")

STATE="$T_TMP/state"
mkdir -p "$STATE"
cat >"$STATE/images.yaml" <<EOF
- name: app
  registry: 127.0.0.1:5000
  repository: team/app
  source:
    provider: gitlab
    repo: http://127.0.0.1:$PORT/team/app.git
    branch: main
EOF

run "$IMGFACTORY" --state-dir "$STATE" analyze
expect_rc 1 "without GITLAB_TOKEN the server refuses"
expect_err_contains "team/app.git (branch main)" "the error names the repository and branch"
expect_err_contains "set GITLAB_TOKEN" "the error says which token would help"

export GITLAB_TOKEN="$TOKEN"
run "$IMGFACTORY" --state-dir "$STATE" --log-level debug analyze --format json
expect_rc 0 "GITLAB_TOKEN authenticates the fetch"
if jq -e '.images[0].baseImages == ["alpine-3.19"]' "$T_TMP/out" >/dev/null; then pass "fetched with the token"; else fail "$(cat "$T_TMP/out")"; fi
if grep -q "imgfSecret" "$T_TMP/err" "$T_TMP/out"; then fail "the token was printed"; else pass "the token is not printed"; fi
# The first fetch took the tip alone through `git fetch --depth 1`, authenticated by the token.
if ls "$STATE"/.image-factory-cache/*/.git/shallow >/dev/null 2>&1 && ! grep -q "whole history" "$T_TMP/err"; then
  pass "git fetch --depth 1 authenticated with the token (shallow cache)"
else
  fail "the shallow fetch did not authenticate: $(grep -i "git fetch" "$T_TMP/err")"
fi

# The same server reached through insteadOf from gitlab.com: another host, so the token
# is not sent (it would leak to whatever the rule points at).
sed -i "s|repo: http://127.0.0.1:$PORT/team/app.git|repo: team/app|" "$STATE/images.yaml"
git config --global "url.http://127.0.0.1:$PORT/.insteadOf" "https://gitlab.com/"
run "$IMGFACTORY" --state-dir "$STATE" analyze --cache-dir "$T_TMP/cache2"
expect_rc 1 "the token is not sent to a host an insteadOf rule points at"
expect_err_contains "GITLAB_TOKEN is only sent to the enrolled host" "the error says why"
if grep -q "imgfSecret" "$T_TMP/err" "$T_TMP/out"; then fail "the token was printed"; else pass "the token is not printed on failure"; fi
unset GITLAB_TOKEN

done_testing
