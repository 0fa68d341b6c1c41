#!/usr/bin/env bash
# The shallow first fetch against a real `git daemon` on 127.0.0.1: the cache holds the tip
# alone (not the history), an unchanged branch is not fetched again, a new commit is fetched
# into the shallow clone; when the connection of `git fetch` stalls it is stopped after
# --git-timeout, SIGTERM stops it at once, and neither leaves anything behind (state files,
# half-made cache entries, git processes).
source "$(dirname "$0")/../lib/testlib.sh"
source "$(dirname "$0")/../lib/gitlib.sh"
command -v git >/dev/null || { echo "SKIP: git is not installed" >&2; exit 77; }

STATE="$T_TMP/state"
mkdir -p "$STATE"
git_daemon_start || exit 1
git_map "https://github.com/"
git_repo team/app
# A history of 2 MB of incompressible files, deleted before the tip.
for i in $(seq 1 16); do
  head -c 131072 /dev/urandom >"$T_TMP/work/team/app/blob.bin"
  git -C "$T_TMP/work/team/app" add -A && git -C "$T_TMP/work/team/app" commit -q -m "revision $i"
done
git -C "$T_TMP/work/team/app" rm -q blob.bin
git_put team/app Dockerfile $'FROM python:3.12-slim\n'
cat >"$STATE/images.yaml" <<'YAML'
- name: app
  registry: ghcr.io
  repository: team/app
  source:
    provider: github
    repo: team/app
    branch: main
YAML
cache_dir() { ls -d "$STATE/.image-factory-cache"/github.com-team-app@main-* 2>/dev/null | head -1; }

# 1. First run: the tip alone.
run "$IMGFACTORY" --state-dir "$STATE" --log-level debug analyze --format json
expect_rc 0 "first analyze"
expect_err_contains "fetch --depth=1" "the first fetch runs git fetch --depth=1"
cache=$(cache_dir)
if [[ -f "$cache/.git/shallow" && $(git -C "$cache" rev-list --count HEAD) == 1 ]]; then
  pass "the cache is a shallow clone of the tip"
else
  fail "cache: $(ls -la "$cache/.git" 2>&1 | head)"
fi
size=$(du -sk "$cache/.git" | cut -f1)
if ((size < 1024)); then pass "the cache holds ${size} KiB, not the 2 MB history"; else fail "cache is ${size} KiB"; fi
tip=$(git -C "$GIT_SRV/team/app.git" rev-parse main)
if jq -e --arg t "$tip" '.images[0].revision == $t and .images[0].baseImages == ["python-3.12-slim"]' "$T_TMP/out" >/dev/null; then
  pass "analysed the tip"
else
  fail "$(cat "$T_TMP/out")"
fi

# 2. Nothing new: no fetch at all.
run "$IMGFACTORY" --state-dir "$STATE" --log-level debug analyze
expect_rc 0 "second analyze"
expect_err_contains "team/app (branch main): up to date" "an unchanged branch is not fetched"
if grep -q "fetch --depth=1" "$T_TMP/err"; then fail "git ran again"; else pass "git did not run"; fi

# 3. A new commit: fetched into the shallow clone, still the tip alone.
git_put team/app Dockerfile $'FROM python:3.13-slim\n'
run "$IMGFACTORY" --state-dir "$STATE" --log-level debug analyze --format json
expect_rc 0 "analyze after a new commit"
if jq -e '.images[0].baseImages == ["python-3.13-slim"]' "$T_TMP/out" >/dev/null &&
  [[ $(git -C "$cache" rev-list --count HEAD) == 1 && "$(cache_dir)" == "$cache" ]]; then
  pass "the new commit, fetched into the same shallow clone"
else
  fail "after a new commit: $(jq -c '.images[0]' "$T_TMP/out") $(git -C "$cache" rev-list --count HEAD)"
fi

# 4. A connection that stalls once git fetch has connected: a proxy that relays its first
# connection (libgit2 listing the branches) and accepts but never answers the next ones.
start_stalling_proxy() {
  rm -f "$T_TMP/proxy.port"
  python3 - "$GIT_PORT" "$T_TMP/proxy.port" <<'PY' >"$T_TMP/proxy.log" 2>&1 &
import socket, sys, threading, time
upstream, portfile = int(sys.argv[1]), sys.argv[2]
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0)); srv.listen(16); srv.settimeout(0.5)
open(portfile, "w").write(str(srv.getsockname()[1]))
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d: break
            b.sendall(d)
    except OSError: pass
    finally:
        for s in (a, b):
            try: s.shutdown(socket.SHUT_RDWR)
            except OSError: pass
held, n, end = [], 0, time.time() + 120
while time.time() < end:
    try: c, _ = srv.accept()
    except socket.timeout: continue
    n += 1
    if n == 1:
        u = socket.create_connection(("127.0.0.1", upstream))
        threading.Thread(target=pipe, args=(c, u), daemon=True).start()
        threading.Thread(target=pipe, args=(u, c), daemon=True).start()
    else:
        held.append(c)  # silent
PY
  PROXY_PID=$!
  t_on_exit "kill $PROXY_PID 2>/dev/null"
  for i in $(seq 1 50); do [[ -s "$T_TMP/proxy.port" ]] && break; sleep 0.1; done
  git config --global --unset-all "url.git://127.0.0.1:$GIT_PORT/.insteadOf"
  git config --global --replace-all "url.git://127.0.0.1:$(cat "$T_TMP/proxy.port")/.insteadOf" "https://github.com/"
}
stop_stalling_proxy() {
  kill "$PROXY_PID" 2>/dev/null; wait "$PROXY_PID" 2>/dev/null
  git config --global --unset-all "url.git://127.0.0.1:$(cat "$T_TMP/proxy.port")/.insteadOf"
  git_map "https://github.com/"
}
no_leftovers() { # what
  local tmp
  tmp=$(ls -d "$STATE/.image-factory-cache"/.tmp-* 2>/dev/null)
  if [[ -z "$tmp" ]]; then pass "$1: no half-made cache entry"; else fail "$1: left $tmp"; fi
  if ps -eo args | grep -v grep | grep -q -- "-C $STATE/.image-factory-cache"; then
    fail "$1: a git process is still running: $(ps -eo pid,args | grep -- "-C $STATE/.image-factory-cache")"
  else
    pass "$1: no git process left"
  fi
}
rm -rf "$STATE/.image-factory-cache" # a first fetch again (the Job's empty cache)
start_stalling_proxy
start=$SECONDS
run timeout 60 "$IMGFACTORY" --state-dir "$STATE" analyze --git-timeout 2s
expect_rc 1 "a stalled git fetch fails the run"
expect_err_contains "git fetch: no data for 2s" "the error says the connection went silent"
expect_err_contains "team/app (branch main)" "the error names repository and branch"
if ((SECONDS - start < 20)); then pass "stalled: failed in $((SECONDS - start))s (limit 2s)"; else fail "stalled took $((SECONDS - start))s"; fi
if grep -q "whole history" "$T_TMP/err"; then fail "a stalled connection fell back to libgit2"; else pass "no fallback that would stall again"; fi
if grep -qx 'discoveryStatus: failed' "$STATE/images/app.yaml" && grep -qx '  - python-3.13-slim' "$STATE/images/app.yaml"; then
  pass "stalled: the image records the failure and keeps its base images"
else
  fail "stalled: $(cat "$STATE/images/app.yaml")"
fi
no_leftovers "stalled"
stop_stalling_proxy

# 5. SIGTERM / SIGINT while git fetch waits: stopped at once.
for sig in TERM INT; do
  start_stalling_proxy
  before=$(sha256sum "$STATE/images/app.yaml")
  "$IMGFACTORY" --state-dir "$STATE" --log-level debug analyze --git-timeout 60s >"$T_TMP/out" 2>"$T_TMP/err" &
  pid=$!
  for i in $(seq 1 300); do grep -q "fetch --depth=1" "$T_TMP/err" && break; sleep 0.1; done
  sleep 0.5
  start=$SECONDS
  kill -s "$sig" "$pid"
  wait "$pid"
  RC=$?
  expect_rc $([[ $sig == INT ]] && echo 130 || echo 143) "SIG$sig while git fetch runs"
  if ((SECONDS - start < 10)); then pass "SIG$sig: stopped in $((SECONDS - start))s"; else fail "SIG$sig took $((SECONDS - start))s"; fi
  [[ "$before" == "$(sha256sum "$STATE/images/app.yaml")" ]] && pass "SIG$sig: the state file is unchanged" || fail "SIG$sig: state changed"
  no_leftovers "SIG$sig"
  stop_stalling_proxy
done

# 6. And afterwards a normal first fetch works again.
run "$IMGFACTORY" --state-dir "$STATE" analyze
expect_rc 0 "analyze after the interruptions"
done_testing
