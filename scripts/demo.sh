#!/usr/bin/env bash
# The main job end to end on the bundled example:
#   1. analyze --dockerfile on examples/app/Dockerfile (parse, stages, base images)
#   2. analyze over the bundled state repository examples/state, its git source served by
#      `git daemon` on 127.0.0.1 (scripts/demo-analyze.sh), and the dependency graph
#   3. synth: the Kargo manifests for that state repository (validated against Kargo v1.11's
#      CRDs when ../shared is present)
#   4. build: the example app for linux/amd64 and linux/arm64 with buildah, one manifest list
#      pushed to a docker-registry on 127.0.0.1 (scripts/demo-build.sh)
#   5. scan: a Trivy report read, filtered, gated and converted to SARIF
# Installs what it needs (scripts/setup.sh). Needs root for the registry drop-in and binfmt.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh release
bin="$PWD/build/release/imgfactory"
export IMGFACTORY="$bin"
work=$(mktemp -d "${TMPDIR:-/tmp}/imgfactory-demo-XXXXXX")
echo "== demo work directory: $work"

echo
echo "######## 1. imgfactory analyze --dockerfile examples/app/Dockerfile --format json"
"$bin" analyze --dockerfile examples/app/Dockerfile --format json

echo
echo "######## 2. imgfactory analyze on the bundled state repository"
bash scripts/demo-analyze.sh "$work"
state="$work/state"

echo
echo "######## 3. imgfactory synth"
"$bin" --state-dir "$state" synth
out="$state/dist/image-factory.k8s.yaml"
echo "== wrote $out: $(grep -c '^kind:' "$out") documents"
grep '^kind:' "$out" | sort | uniq -c
if [[ -f ../shared/tools/validate-kargo.py ]]; then
  python3 ../shared/tools/validate-kargo.py "$out"
else
  echo "(../shared is not present: Kargo schema validation skipped)"
fi

echo
echo "######## 4. imgfactory build (linux/amd64 + linux/arm64, pushed to a loopback registry)"
bash scripts/demo-build.sh "$work/build-state" app

echo
echo "######## 5. imgfactory scan"
report=tests/data/trivy/filters.json
echo "== imgfactory scan --report $report --format table"
"$bin" scan --report "$report" --format table
echo "== imgfactory scan --report $report --format sarif --output $work/scan.sarif"
"$bin" scan --report "$report" --format sarif --output "$work/scan.sarif"
echo "== imgfactory scan --report $report --fail-on CRITICAL --format json"
set +e
"$bin" scan --report "$report" --fail-on CRITICAL --format json
rc=$?
set -e
echo "== exit status $rc (3 = the policy gate refused the image, as a Kargo verification would see it)"
[[ $rc -eq 0 || $rc -eq 3 ]]

echo
echo "== demo finished; everything it made is under $work"
