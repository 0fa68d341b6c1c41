#!/usr/bin/env bash
# Parse-speed benchmark of `imgfactory analyze --dockerfile` against a named peer, the npm
# package dockerfile-ast (the parser of the Docker VS Code language server), on generated
# Dockerfiles: 200,000 continuation lines, 20,000 stages, and a 60,000-line realistic file.
# Reports the median of RUNS runs (default 7) of each, as wall time per process and as a
# ratio to the peer. Usage: bench/dockerfile_parse.sh   (env: IMGFACTORY, RUNS)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${IMGFACTORY:-build/release/imgfactory}"
[ -x "$bin" ] || bash scripts/build.sh release
out=bench/out
mkdir -p "$out"
peer=""
if command -v npm >/dev/null && command -v node >/dev/null; then
  if [ ! -d "$out/node_modules/dockerfile-ast" ]; then
    (cd "$out" && npm install --no-audit --no-fund --silent dockerfile-ast@0.7.1 >/dev/null 2>&1) || true
  fi
  [ -d "$out/node_modules/dockerfile-ast" ] && peer="$out/node_modules"
fi
[ -n "$peer" ] || echo "note: node/npm or dockerfile-ast unavailable: no peer ratios" >&2
python3 bench/parse_speed.py "$bin" "$out" "${RUNS:-7}" "$peer"
