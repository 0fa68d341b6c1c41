#!/usr/bin/env bash
# The main job end to end on the bundled example (grows as analyze, synth, build and scan land).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh release
bin=build/release/imgfactory
echo "== imgfactory analyze --dockerfile examples/app/Dockerfile --format json"
"$bin" analyze --dockerfile examples/app/Dockerfile --format json
