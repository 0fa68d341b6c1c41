#!/usr/bin/env bash
# The analyze part of the demo: runs `imgfactory analyze` on a copy of the bundled example
# state repository (examples/state), whose git source is a repository made here from
# examples/app and served by `git daemon` on 127.0.0.1; the enrolled GitHub URL reaches it
# through url.<base>.insteadOf, as an air-gapped mirror would. Prints the dependency graph.
#
#   scripts/demo-analyze.sh [WORKDIR]
#
# WORKDIR (default $IMGF_DEMO_DIR, else a new temporary directory) receives state/ (the
# state repository, with the source cache in state/.image-factory-cache for later steps),
# git/ (the served repositories) and graph.mmd (the dependency graph). IMGFACTORY names
# the binary (default build/release/imgfactory). The git daemon is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${IMGFACTORY:-build/release/imgfactory}"
[[ -x "$bin" ]] || { echo "demo-analyze: $bin not found; run scripts/build.sh release first" >&2; exit 2; }
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
work="${1:-${IMGF_DEMO_DIR:-}}"
[[ -n "$work" ]] || work=$(mktemp -d "${TMPDIR:-/tmp}/imgfactory-demo-XXXXXX")
mkdir -p "$work"
work="$(cd "$work" && pwd)"
state="$work/state"
srv="$work/git"
rm -rf "$state" "$srv"
cp -r examples/state "$state"

# The git source: a repository with the files of examples/app, branch main.
git_() { git -c user.name=imgfactory-demo -c user.email=demo@example.invalid -c init.defaultBranch=main "$@"; }
git_ init -q --bare "$srv/imgfactory-demo/app.git"
src=$(mktemp -d "${TMPDIR:-/tmp}/imgfactory-demo-src-XXXXXX")
cp -r examples/app/. "$src/"
git_ -C "$src" init -q
git_ -C "$src" add -A
git_ -C "$src" commit -q -m "example app"
git_ -C "$src" push -q "$srv/imgfactory-demo/app.git" HEAD:refs/heads/main
rm -rf "$src"

# git daemon on a free loopback port, stopped on exit.
daemon_pid=""
stop_daemon() { if [[ -n "$daemon_pid" ]]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi; }
trap stop_daemon EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
port=""
for attempt in 1 2 3 4 5; do
  port=$(free_port)
  git daemon --export-all --reuseaddr --base-path="$srv" --listen=127.0.0.1 --port="$port" "$srv" \
    >"$work/git-daemon.log" 2>&1 &
  daemon_pid=$!
  for i in $(seq 1 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break 2; fi
    kill -0 "$daemon_pid" 2>/dev/null || break
    sleep 0.1
  done
  stop_daemon
  daemon_pid=""
done
[[ -n "$daemon_pid" ]] || { echo "demo-analyze: cannot start git daemon: $(cat "$work/git-daemon.log")" >&2; exit 1; }

# The mirror mapping, added to the user's git configuration for these runs only.
export GIT_CONFIG_COUNT=1
export GIT_CONFIG_KEY_0="url.git://127.0.0.1:$port/imgfactory-demo/.insteadOf"
export GIT_CONFIG_VALUE_0="https://github.com/imgfactory-demo/"

echo "== state repository: $state (git source: https://github.com/imgfactory-demo/app.git -> git://127.0.0.1:$port/imgfactory-demo/app.git)"
echo "== imgfactory analyze"
"$bin" --state-dir "$state" analyze
echo
echo "== $state/images/app.yaml"
cat "$state/images/app.yaml"
echo
echo "== imgfactory analyze (again: nothing to change, nothing rewritten)"
"$bin" --state-dir "$state" analyze
echo
echo "== imgfactory analyze --graph mermaid (also in $work/graph.mmd)"
"$bin" --state-dir "$state" analyze --graph mermaid | tee "$work/graph.mmd"
