#!/usr/bin/env bash
# Benchmark: the same two-platform build (linux/amd64 + linux/arm64 under qemu) and push by
# `imgfactory build` (platforms in parallel) and by the original Taskfile's plain loop
# (bench/build/taskfile-loop.sh: buildah per architecture in sequence, then manifest push),
# each run from a cold cache: empty containers storage and the app's repository removed from
# the registry. Runs interleaved; medians of RUNS runs each, and the wall-time ratio loop / imgfactory.
#
#   bash bench/build/run.sh [RUNS]      (default 5; needs root, build/release/imgfactory)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
RUNS="${1:-5}"
bin="${IMGFACTORY:-$root/build/release/imgfactory}"
source bench/lib/env.sh
bench_env_start build  # work, reg, base; private storage; removed at exit

mkdir -p "$work/state/app"
cp bench/build/app/Dockerfile "$work/state/app/"
head -c $((8 * 1024 * 1024)) /dev/urandom >"$work/state/app/payload.bin"
cat >"$work/state/images.yaml" <<YAML
- name: bench
  registry: $reg
  repository: bench/app
  local:
    dir: app
YAML
cat >"$work/cold.sh" <<COLD
#!/usr/bin/env bash
# Cold cache: no local images or layers, the app's repository gone from the registry.
buildah rm --all >/dev/null 2>&1
buildah rmi --all --force >/dev/null 2>&1
rm -rf "$work/registry/data/docker/registry/v2/repositories/bench"
COLD

# Interleaved (A B, B A, A B, ...) so that a change in machine load hits both alike.
imgf_cmd=("$bin" --state-dir "$work/state" --log-level warn build bench --tag bench-imgf --build-arg "BASE=$base")
loop_cmd=(bash "$root/bench/build/taskfile-loop.sh" "$reg/bench/app:bench-loop" "$work/state/app" "$base")
: >"$work/times"
for ((i = 1; i <= RUNS; i++)); do
  order=(imgf loop)
  ((i % 2 == 0)) && order=(loop imgf)
  for which in "${order[@]}"; do
    bash "$work/cold.sh"
    start=$(date +%s%N)
    if [[ "$which" == imgf ]]; then "${imgf_cmd[@]}" >/dev/null 2>"$work/last.err"; else "${loop_cmd[@]}" >/dev/null 2>"$work/last.err"; fi || {
      echo "bench: $which failed:" >&2
      tail -20 "$work/last.err" >&2
      exit 1
    }
    t=$((($(date +%s%N) - start) / 1000000))
    echo "$which $t" >>"$work/times"
    echo "run $i: $which $((t / 1000)).$(printf '%03d' $((t % 1000))) s" >&2
  done
done

python3 - "$work/times" <<'PY'
import statistics, sys
times = {}
for line in open(sys.argv[1]):
    k, ms = line.split()
    times.setdefault(k, []).append(int(ms) / 1000)
names = {"imgf": "imgfactory build (parallel)", "loop": "Taskfile loop (sequential)"}
for k in ("imgf", "loop"):
    t = times[k]
    print(f"{names[k]:30s} median {statistics.median(t):7.2f} s  min {min(t):7.2f} s  max {max(t):7.2f} s  ({len(t)} runs)")
print(f"wall-time ratio, Taskfile loop / imgfactory build (medians): {statistics.median(times['loop']) / statistics.median(times['imgf']):.2f}")
pairs = [l / i for i, l in zip(times["imgf"], times["loop"])]
print(f"median of the per-run ratios (each run's pair back to back): {statistics.median(pairs):.2f}")
PY
