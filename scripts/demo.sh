#!/usr/bin/env bash
# The main job end to end on the bundled example:
#   1. analyze --dockerfile on examples/app/Dockerfile (parse, stages, base images)
#   2. analyze over the bundled state repository examples/state, its git source served by
#      `git daemon` on 127.0.0.1 (scripts/demo-analyze.sh), and the dependency graph
#   3. synth: the Kargo manifests for that state repository (validated against Kargo v1.11's
#      CRDs when ../shared is present)
#   4. build: the example app for linux/amd64 and linux/arm64 with buildah, one manifest list
#      pushed to a docker-registry on a free 127.0.0.1 port (scripts/demo-build.sh)
#   5. scan: a Trivy report read, filtered, gated and converted to SARIF
# then a summary of what it did and where the results are.
#
# Installs what it needs (scripts/setup.sh) and builds the imgfactory binary alone (not the
# test suite). The results go to build/demo/ (replaced on each run). Runs any number of times:
# the git daemon and the registry are stopped, buildah works in a private containers storage
# under build/demo/build that is removed at the end (the default storage is not touched).
# Needs root for the registry's registries.conf.d drop-in and binfmt.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
bash scripts/setup.sh
echo "== building the imgfactory binary (the test suite is scripts/test.sh's)"
bash scripts/build.sh release imgfactory
bin="$PWD/build/release/imgfactory"
export IMGFACTORY="$bin"
out="$PWD/build/demo"
exec 9>"$PWD/build/demo.lock"
flock -n 9 || { echo "demo: another demo is running in this checkout (build/demo.lock)" >&2; exit 1; }
# What a killed earlier run may have left: its registry, storage mounts (rm cannot remove those).
source scripts/lib/registry.sh
source scripts/lib/storage.sh
registry_down "$out/build/registry"
storage_remove "$out/build"
rm -rf "$out"
mkdir -p "$out"
echo "== results go to $out"

echo
echo "######## 1. imgfactory analyze --dockerfile examples/app/Dockerfile --format json"
"$bin" analyze --dockerfile examples/app/Dockerfile --format json | tee "$out/dockerfile.json"

echo
echo "######## 2. imgfactory analyze on the bundled state repository"
bash scripts/demo-analyze.sh "$out"
state="$out/state"

echo
echo "######## 3. imgfactory synth"
"$bin" --state-dir "$state" synth
manifests="$state/dist/image-factory.k8s.yaml"
echo "== wrote $manifests: $(grep -c '^kind:' "$manifests") documents"
grep '^kind:' "$manifests" | sort | uniq -c
validated="not validated (../shared is not present)"
if [[ -f ../shared/tools/validate-kargo.py ]]; then
  python3 ../shared/tools/validate-kargo.py "$manifests"
  validated="valid against Kargo v1.11's CRDs"
else
  echo "(../shared is not present: Kargo schema validation skipped)"
fi

echo
echo "######## 4. imgfactory build (linux/amd64 + linux/arm64, pushed to a loopback registry)"
bash scripts/demo-build.sh "$out/build-state" app "$out/build"

echo
echo "######## 5. imgfactory scan"
report=tests/data/trivy/filters.json
echo "== imgfactory scan --report $report --format table"
"$bin" scan --report "$report" --format table
echo "== imgfactory scan --report $report --format sarif --output $out/scan.sarif"
"$bin" scan --report "$report" --format sarif --output "$out/scan.sarif"
echo "== imgfactory scan --report $report --fail-on CRITICAL --format json"
set +e
"$bin" scan --report "$report" --fail-on CRITICAL --format json >"$out/scan.json"
gate=$?
set -e
cat "$out/scan.json"
echo "== exit status $gate (3 = the policy gate refused the image, as a Kargo verification would see it)"
[[ $gate -eq 0 || $gate -eq 3 ]]

# ---- summary ------------------------------------------------------------------------------
elapsed=$(($(date +%s) - started))
py() { python3 -c "$1" "${@:2}"; }
stages=$(py 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["stages"]), "stages,", ", ".join(b["canonical"] for b in d["baseImages"]))' "$out/dockerfile.json")
images=$(grep -c '^- name:' "$state/images.yaml")
bases=$(ls "$state/base-images" | grep -vc '\.example\.yaml$' || true)
docs=$(grep -c '^kind:' "$manifests")
built=$(py 'import json,sys; d=json.load(open(sys.argv[1])); print(d["reference"], "(" + ", ".join(p["platform"] for p in d["platforms"]) + ")", d["digest"])' "$out/build/result.json")
counts=$(py 'import json,sys; c=json.load(open(sys.argv[1]))["counts"]; print(", ".join(f"{k} {v}" for k, v in c.items()))' "$out/scan.json")
rel() { echo "${1#"$PWD"/}"; }
cat <<SUMMARY

==================================================================== demo summary
Finished in $((elapsed / 60))m$((elapsed % 60))s. What it did, and where the results are:
 1. analyze --dockerfile examples/app/Dockerfile: $stages
      $(rel "$out/dockerfile.json")
 2. analyze: $images enrolled images (sources through a loopback git daemon), state files written
      $(rel "$state")/images/, $(rel "$state")/base-images/ ($bases base images), graph $(rel "$out/graph.mmd")
 3. synth: $docs Kargo documents, $validated
      $(rel "$manifests")
 4. build: $built
      pushed as one manifest list; $(rel "$out/build")/result.json, manifest-list.json, state $(rel "$out/build-state")/images/app.yaml
 5. scan: $counts; --fail-on CRITICAL exit $gate (3: refused)
      $(rel "$out/scan.sarif"), $(rel "$out/scan.json")
Left running or installed: nothing. The git daemon and the registry (with what was pushed) are
stopped, buildah's private storage is removed, the default containers storage was not used.
Run it again any time; the test suite is: bash scripts/test.sh
SUMMARY
