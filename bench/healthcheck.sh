#!/usr/bin/env bash
# Cost of the builder image's HEALTHCHECK: `imgfactory healthcheck` against the seed's shell
# chain, which ran every 30 s in every builder container:
#
#   /bin/sh -c 'task --version && python3.11 --version && podman --version && buildah --version && trivy --version'
#
# task and trivy cannot be installed here, so they are stand-ins of the same startup-cost class
# (large Go binaries): `task` is a symlink to /usr/bin/skopeo (Go, 16 MB) and `trivy` a symlink
# to /usr/bin/podman (Go, 33 MB). Real trivy (~150 MB, and its --version also reads its DB
# metadata) starts slower, so the chain's cost here is an underestimate. python3.11, podman and
# buildah are the real Debian 12 binaries. Both sides run the very same executables.
#
# Measured with hyperfine (no intermediate shell, -N): medians of RUNS runs after warm-ups.
#   chain                the seed's command, through /bin/sh -c as a shell-form HEALTHCHECK runs it
#   imgfactory cold      the same five tools, probed in parallel, version cache disabled
#   imgfactory warm      the same five tools, version cache warm (the steady state: a healthy
#                        container re-probes nothing until a tool's path/size/mtime changes)
#   imgfactory image     what the image's HEALTHCHECK runs: the default tools of CLI.md
#                        (task, podman, buildah, skopeo, trivy, git; kubectl, jq optional) plus
#                        the storage and configuration checks, cache warm
#
# Usage: bash bench/healthcheck.sh [IMGFACTORY]   (default build/release/imgfactory)
#        RUNS=50 bash bench/healthcheck.sh
# Writes bench/out/healthcheck.json and prints a Markdown table with the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
imgfactory="$(readlink -f "${1:-build/release/imgfactory}")"
runs="${RUNS:-30}"
command -v hyperfine >/dev/null || { echo "hyperfine is not installed (bash scripts/setup.sh)" >&2; exit 1; }
[[ -x "$imgfactory" ]] || { echo "no imgfactory binary at $imgfactory (bash scripts/build.sh release)" >&2; exit 1; }

out=bench/out
mkdir -p "$out"
work="$(mktemp -d "${TMPDIR:-/tmp}/imgf-bench-health-XXXXXX")"
trap 'rm -rf "$work"' EXIT

bin="$work/bin"
mkdir -p "$bin" "$work/graph"
ln -s /usr/bin/skopeo "$bin/task"
ln -s /usr/bin/podman "$bin/trivy"
for t in python3.11 podman buildah skopeo git kubectl jq; do
  p="$(command -v "$t" || true)"
  case "$p" in /usr/bin/*|/bin/*) ln -s "$p" "$bin/$t" ;; *) [[ -x "/usr/bin/$t" ]] && ln -s "/usr/bin/$t" "$bin/$t" ;; esac
done
for t in python3.11 podman buildah; do
  [[ -e "$bin/$t" ]] || { echo "$t is not installed in /usr/bin" >&2; exit 1; }
done
path="$bin:/usr/bin:/bin"
printf '[storage]\ndriver = "overlay"\nrunroot = "%s/run"\ngraphroot = "%s/graph"\nrootless_storage_path = "%s/graph"\n' \
  "$work" "$work" "$work" >"$work/storage.conf"

chain='task --version && python3.11 --version && podman --version && buildah --version && trivy --version'
five=(--require task,python3.11,podman,buildah,trivy --optional '')
export PATH="$path" IMGFACTORY_IN_IMAGE=0 IMGFACTORY_HEALTH_CACHE="$work/health.json"
unset IMGFACTORY_HEALTH_REQUIRE IMGFACTORY_HEALTH_OPTIONAL
# The image-style check reads the repository's config/ as /etc/containers, storage in $work.
image_env=(env IMGFACTORY_IN_IMAGE=1 "IMGFACTORY_CONTAINERS_DIR=$PWD/config" "CONTAINERS_STORAGE_CONF=$work/storage.conf")

# Everything must work before it is timed.
/bin/sh -c "$chain" >/dev/null
"$imgfactory" healthcheck "${five[@]}" >/dev/null
"${image_env[@]}" "$imgfactory" healthcheck >/dev/null || {
  echo "the image-style check is unhealthy here:" >&2
  "${image_env[@]}" "$imgfactory" healthcheck >&2
  exit 1
}

q() { printf '%q ' "$@"; }
hyperfine -N --warmup 3 --runs "$runs" --export-json "$out/healthcheck.json" \
  -n chain "/bin/sh -c $(printf '%q' "$chain")" \
  -n "imgfactory cold" "$(q "$imgfactory" healthcheck --no-cache "${five[@]}")" \
  -n "imgfactory warm" "$(q "$imgfactory" healthcheck "${five[@]}")" \
  -n "imgfactory image" "$(q "${image_env[@]}" "$imgfactory" healthcheck)" >&2

python3 - "$out/healthcheck.json" <<'EOF'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
base = res["chain"]["median"]
cpu = {n: r["user"] + r["system"] for n, r in res.items()}
print("| command | median wall | mean ± σ | CPU (user+sys, mean) | chain / this (median wall) | chain / this (CPU) |")
print("|---|---:|---:|---:|---:|---:|")
for name, r in res.items():
    print(f"| {name} | {r['median']*1000:.1f} ms | {r['mean']*1000:.1f} ± {r['stddev']*1000:.1f} ms | "
          f"{cpu[name]*1000:.1f} ms | {base / r['median']:.1f}x | {cpu['chain'] / cpu[name]:.1f}x |")
EOF
