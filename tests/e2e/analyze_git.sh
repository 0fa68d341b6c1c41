#!/usr/bin/env bash
# analyze against real git repositories served by `git daemon` on 127.0.0.1, reached through
# url.<base>.insteadOf from the enrolled https://github.com/... URLs: first clone, a new
# commit picked up by fetch (not a new clone), a missing branch, unreachable and silent
# hosts (bounded in time), --offline, and a token that never reaches the log.
source "$(dirname "$0")/../lib/testlib.sh"
source "$(dirname "$0")/../lib/gitlib.sh"
command -v git >/dev/null || { echo "SKIP: git is not installed" >&2; exit 77; }

STATE="$T_TMP/state"
mkdir -p "$STATE"
git_daemon_start || exit 1
git_map "https://github.com/"
git_repo team/app
git_put team/app services/api/Dockerfile $'ARG BASE=python:3.12-slim\nFROM ${BASE} AS build\nFROM build\n'
git_put team/app services/web/Dockerfile $'FROM node:22-bookworm-slim\n'
git_put team/app services/web/Dockerfile $'FROM node:24-bookworm-slim\n' next
cat >"$STATE/images.yaml" <<'EOF'
- name: api
  registry: ghcr.io
  repository: team/api
  source:
    provider: github
    repo: team/app
    branch: main
    dockerfile: services/api/Dockerfile
- name: web
  registry: ghcr.io
  repository: team/web
  source:
    provider: github
    repo: team/app
    dockerfile: services/web/Dockerfile
- name: web-next
  registry: ghcr.io
  repository: team/web-next
  source:
    provider: github
    repo: team/app
    branch: next
    dockerfile: services/web/Dockerfile
EOF

# 1. First clone.
run "$IMGFACTORY" --state-dir "$STATE" analyze --format json
expect_rc 0 "first run clones the sources"
if jq -e '[.images[].baseImages] == [["python-3.12-slim"], ["node-22-bookworm-slim"], ["node-24-bookworm-slim"]]
          and ([.images[].revision | length] == [40, 40, 40])' "$T_TMP/out" >/dev/null; then
  pass "base images discovered from the cloned Dockerfiles (two branches)"
else
  fail "first run: $(jq -c '.images' "$T_TMP/out")"
fi
cache=$(ls -d "$STATE/.image-factory-cache"/github.com-team-app@main-* 2>/dev/null | head -1)
if [[ -d "$cache/.git" ]]; then pass "clone cached under <state-dir>/.image-factory-cache"; else fail "no cache: $(ls -R "$STATE/.image-factory-cache" | head)"; fi
touch "$cache/.git/imgf-marker"
rev1=$(jq -r '.images[0].revision' "$T_TMP/out")

# 2. A new commit that changes a FROM line is picked up by fetch, in the same clone.
git_put team/app services/api/Dockerfile $'FROM python:3.13-slim\n'
run "$IMGFACTORY" --state-dir "$STATE" analyze --format json
expect_rc 0 "second run fetches"
if jq -e '.images[0].baseImages == ["python-3.13-slim"]' "$T_TMP/out" >/dev/null &&
  [[ $(jq -r '.images[0].revision' "$T_TMP/out") != "$rev1" ]] &&
  grep -qx '  - python-3.13-slim' "$STATE/images/api.yaml"; then
  pass "the changed FROM line is in images/api.yaml"
else
  fail "fetch did not pick up the change: $(jq -c '.images[0]' "$T_TMP/out")"
fi
if [[ -e "$cache/.git/imgf-marker" ]]; then pass "fetched into the existing clone (not cloned again)"; else fail "the cache was cloned again"; fi
if jq -e '(.files[] | select(.path == "images/web.yaml") | .action) == "unchanged"' "$T_TMP/out" >/dev/null; then
  pass "an unaffected image is unchanged"
else
  fail "web changed: $(jq -c '.files' "$T_TMP/out")"
fi

# 3. A missing branch: exit 1 naming repository and branch; the other images go on.
sed -i 's/branch: next/branch: no-such-branch/' "$STATE/images.yaml"
run "$IMGFACTORY" --state-dir "$STATE" analyze
expect_rc 1 "a missing branch fails the run"
expect_err_contains "branch 'no-such-branch' does not exist in team/app" "the error names the repository and branch"
expect_err_contains "its branches: main, next" "the error lists the branches there are"
if grep -qx '  - node-24-bookworm-slim' "$STATE/images/web-next.yaml" &&
  grep -qx 'discoveryStatus: failed' "$STATE/images/web-next.yaml"; then
  pass "the failing image keeps its previous base images"
else
  fail "web-next: $(cat "$STATE/images/web-next.yaml")"
fi
sed -i 's/branch: no-such-branch/branch: next/' "$STATE/images.yaml"

# 4. A Dockerfile that is gone: exit 1 naming the path.
git -C "$T_TMP/work/team/app" checkout -q main
git -C "$T_TMP/work/team/app" rm -q services/web/Dockerfile
git -C "$T_TMP/work/team/app" commit -q -m "remove web"
git -C "$T_TMP/work/team/app" push -q origin HEAD:refs/heads/main 2>/dev/null
run "$IMGFACTORY" --state-dir "$STATE" analyze --image web
expect_rc 1 "a missing Dockerfile fails the run"
expect_err_contains "'services/web/Dockerfile' does not exist in team/app (branch main" "the error names the path"
git_put team/app services/web/Dockerfile $'FROM node:22-bookworm-slim\n'
run "$IMGFACTORY" --state-dir "$STATE" analyze
expect_rc 0 "the Dockerfile is back"

# 5. --offline uses the cache alone, with the daemon gone.
git_daemon_stop
run "$IMGFACTORY" --state-dir "$STATE" analyze --offline --format json
expect_rc 0 "--offline analyses from the cache"
if jq -e '.summary.failed == 0' "$T_TMP/out" >/dev/null; then pass "--offline: no failures"; else fail "--offline: $(cat "$T_TMP/err")"; fi

# 6. Unreachable hosts fail within a bounded time.
refused=$(free_port) # nothing listens there
git_map_to() { git config --global --replace-all "url.$1.insteadOf" "https://github.com/"; }
git config --global --unset-all "url.git://127.0.0.1:$GIT_PORT/.insteadOf"
git_map_to "git://127.0.0.1:$refused/"
start=$SECONDS
run timeout 60 "$IMGFACTORY" --state-dir "$STATE" analyze --image api
expect_rc 1 "a refused connection fails the run"
expect_err_contains "127.0.0.1:$refused" "the error names the host"
expect_err_contains "team/app (branch main)" "the error names repository and branch"
if ((SECONDS - start < 20)); then pass "refused: failed in $((SECONDS - start))s"; else fail "refused took $((SECONDS - start))s"; fi

# A host that never completes the TCP handshake (a listener whose accept queue is full:
# SYNs are dropped, as by a firewall) and one that accepts but never speaks.
python3 - "$T_TMP/blackhole.port" "$T_TMP/silent.port" <<'EOF' &
import socket, sys, time
bh = socket.socket(); bh.bind(("127.0.0.1", 0)); bh.listen(0)
fill = []
for _ in range(4):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(bh.getsockname())
    except BlockingIOError: pass
    fill.append(c)
silent = socket.socket(); silent.bind(("127.0.0.1", 0)); silent.listen(8)
time.sleep(0.3)
open(sys.argv[1], "w").write(str(bh.getsockname()[1]))
open(sys.argv[2], "w").write(str(silent.getsockname()[1]))
end = time.time() + 90
conns = []
silent.settimeout(0.5)
while time.time() < end:
    try: conns.append(silent.accept()[0])
    except socket.timeout: pass
EOF
HOLES_PID=$!
t_on_exit "kill $HOLES_PID 2>/dev/null"
for i in $(seq 1 50); do [[ -s "$T_TMP/silent.port" ]] && break; sleep 0.1; done
git config --global --unset-all "url.git://127.0.0.1:$refused/.insteadOf"
git_map_to "git://127.0.0.1:$(cat "$T_TMP/blackhole.port")/"
start=$SECONDS
run timeout 60 "$IMGFACTORY" --state-dir "$STATE" analyze --image api --git-timeout 2s
expect_rc 1 "an unreachable host fails the run"
expect_err_contains "timed out after 2s" "the error says the connection timed out"
if ((SECONDS - start < 15)); then pass "unreachable: failed in $((SECONDS - start))s (limit 2s)"; else fail "unreachable took $((SECONDS - start))s"; fi
# https goes through the same timed connection (libgit2's TLS stream wraps it).
git config --global --unset-all "url.git://127.0.0.1:$(cat "$T_TMP/blackhole.port")/.insteadOf"
git_map_to "https://127.0.0.1:$(cat "$T_TMP/blackhole.port")/"
start=$SECONDS
run timeout 60 "$IMGFACTORY" --state-dir "$STATE" analyze --image api --git-timeout 2s
expect_rc 1 "an unreachable https host fails the run"
expect_err_contains "timed out after 2s" "https: the error says the connection timed out"
if ((SECONDS - start < 15)); then pass "https unreachable: failed in $((SECONDS - start))s"; else fail "https unreachable took $((SECONDS - start))s"; fi
git config --global --unset-all "url.https://127.0.0.1:$(cat "$T_TMP/blackhole.port")/.insteadOf"
git_map_to "git://127.0.0.1:$(cat "$T_TMP/silent.port")/"
start=$SECONDS
run timeout 60 "$IMGFACTORY" --state-dir "$STATE" analyze --image api --git-timeout 2s
expect_rc 1 "a silent host fails the run"
expect_err_contains "no data from 127.0.0.1:$(cat "$T_TMP/silent.port") for 2s" "the error says the host went silent"
if ((SECONDS - start < 15)); then pass "silent: failed in $((SECONDS - start))s (limit 2s)"; else fail "silent took $((SECONDS - start))s"; fi
# SIGINT / SIGTERM stop a fetch that is waiting on a silent host at once.
for sig in INT TERM; do
  before=$(sha256sum "$STATE/images/api.yaml")
  start=$SECONDS
  "$IMGFACTORY" --state-dir "$STATE" analyze --image api --git-timeout 60s >"$T_TMP/sig.out" 2>"$T_TMP/sig.err" &
  pid=$!
  sleep 1
  kill -s "$sig" "$pid"
  wait "$pid"
  RC=$?
  expect_rc $([[ $sig == INT ]] && echo 130 || echo 143) "SIG$sig interrupts a fetch"
  if ((SECONDS - start < 10)); then pass "SIG$sig: stopped in $((SECONDS - start))s"; else fail "SIG$sig took $((SECONDS - start))s"; fi
  if [[ "$before" == "$(sha256sum "$STATE/images/api.yaml")" ]]; then pass "SIG$sig: no state written"; else fail "SIG$sig: state changed"; fi
done
if grep -qx '  - python-3.13-slim' "$STATE/images/api.yaml"; then
  pass "after network failures the image keeps its previous base images"
else
  fail "api lost its base images: $(cat "$STATE/images/api.yaml")"
fi

# 7. A token in the environment never reaches the log, even at debug level.
export GITHUB_TOKEN="ghp_imgfSecretToken0123456789"
run timeout 60 "$IMGFACTORY" --state-dir "$STATE" --log-level debug analyze --offline --format json
expect_rc 0 "offline run with a token set"
if grep -q "ghp_imgfSecretToken" "$T_TMP/err" "$T_TMP/out"; then fail "the token was printed"; else pass "the token is not printed"; fi
unset GITHUB_TOKEN

done_testing
