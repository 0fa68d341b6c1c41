#!/usr/bin/env bash
# Benchmark of `imgfactory synth`: wall time and peak memory (max RSS) for generated state
# repositories of 1,000 and 10,000 (and, with SIZES, any other number of) enrolled images;
# median of RUNS runs each; linear scaling shown as the ratio of CPU time per image (CPU
# time, user+sys, is reported beside wall time because this machine is shared: wall time
# there includes waiting for a core).
#
#   bash bench/synth/run.sh                      # build/release/imgfactory, sizes 1000 10000
#   IMGFACTORY=path SIZES="1000 10000 20000" RUNS=7 bash bench/synth/run.sh
#
# Output: a Markdown table on stdout (pasted into docs/synth.md). Every run's manifests are
# also checked to be byte-identical, and the largest one is validated with
# ../shared/tools/validate-kargo.py when that is present.
set -euo pipefail
cd "$(dirname "$0")/../.."
IMGFACTORY="${IMGFACTORY:-build/release/imgfactory}"
SIZES="${SIZES:-1000 10000}"
RUNS="${RUNS:-5}"
[[ -x "$IMGFACTORY" ]] || { echo "no $IMGFACTORY: bash scripts/build.sh release" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "needs GNU time (/usr/bin/time)" >&2; exit 2; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/imgf-bench-synth-XXXXXX")
trap 'rm -rf "$WORK"' EXIT

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "| images | documents | output | median wall time | median CPU time (user+sys) | median peak RSS | CPU time per image |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
base_per_image=""
for n in $SIZES; do
  dir="$WORK/state-$n"
  python3 bench/synth/gen.py "$n" "$dir"
  : >"$WORK/times" && : >"$WORK/cpu" && : >"$WORK/rss"
  for ((r = 1; r <= RUNS; r++)); do
    /usr/bin/time -f "%e %U %S %M" -o "$WORK/t" "$IMGFACTORY" --log-level warn --state-dir "$dir" synth -o "$WORK/out-$n-$r.yaml"
    read -r secs usr sys kb <"$WORK/t"
    echo "$secs" >>"$WORK/times"
    awk -v u="$usr" -v s="$sys" 'BEGIN {print u + s}' >>"$WORK/cpu"
    echo "$kb" >>"$WORK/rss"
    if ((r > 1)) && ! cmp -s "$WORK/out-$n-1.yaml" "$WORK/out-$n-$r.yaml"; then
      echo "run $r for $n images differs from run 1" >&2
      exit 1
    fi
  done
  t=$(median <"$WORK/times")
  cpu=$(median <"$WORK/cpu")
  kb=$(median <"$WORK/rss")
  docs=$(grep -c '^kind: ' "$WORK/out-$n-1.yaml")
  size=$(du -h "$WORK/out-$n-1.yaml" | cut -f1)
  per=$(awk -v t="$cpu" -v n="$n" 'BEGIN {printf "%.1f", t * 1e6 / n}')
  echo "| $n | $docs | $size | ${t} s | ${cpu} s | $((kb / 1024)) MiB | ${per} µs |"
  base_per_image="${base_per_image:-$per}"
  last="$WORK/out-$n-1.yaml"
done
if [[ -n "$base_per_image" ]]; then
  echo
  echo "CPU time per image relative to the smallest size: $(awk -v a="$base_per_image" -v b="$per" 'BEGIN {printf "%.2f", b / a}')x (1.00 = linear)"
fi
if [[ -f ../shared/tools/validate-kargo.py ]]; then
  echo
  echo "validate-kargo on the largest output: $(python3 ../shared/tools/validate-kargo.py "$last" | tail -1)"
fi
