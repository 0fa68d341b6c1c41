#!/usr/bin/env bash
# Benchmark of build inputs (issue 12), against buildah 1.28, skopeo and docker-registry on
# 127.0.0.1 with a two-platform busybox base (arm64 RUN steps under qemu):
#
#  (a) unchanged inputs: `build --if-changed` right after a build, against that first build
#      from empty storage (bench/build/app: a CPU-bound RUN, RUN uname, an 8 MiB COPY); the
#      buildah processes of the unchanged run are counted (a PATH wrapper logs them).
#  (b) a fleet of 50 enrolled images, none changed: `build --if-changed` for all of them, as one
#      `imgfactory build IMG1 ... IMG50 --if-changed` and as 50 separate invocations in a row.
#  (c) a Job-like build — empty storage, `--cache-from/--cache-to` a registry layer cache filled by
#      one earlier build — against a cold build (empty storage, no cache), interleaved; both push to
#      a registry from which the app's repository was removed.
#
# Medians of RUNS runs (default 5); the machine's load average is printed with each part.
# LOOPS (default 100000) is the iteration count of the app's CPU-bound RUN step: what a cache
# hit saves; the rest of a Job-like build (pull the cached layers, commit, list, push) is fixed.
#   bash bench/inputs/run.sh [RUNS]     (needs root and build/release/imgfactory)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
RUNS="${1:-5}"
FLEET="${FLEET:-50}"
bin="${IMGFACTORY:-$root/build/release/imgfactory}"
source bench/lib/env.sh
bench_env_start inputs  # work, reg, base; private storage; removed at exit
empty_storage() { bench_empty_storage; }

# Every buildah process imgfactory starts is logged by a wrapper first on PATH.
mkdir -p "$work/bin"
printf '#!/bin/sh\necho "$*" >>"%s/buildah.calls"\nexec %s "$@"\n' "$work" "$(command -v buildah)" >"$work/bin/buildah"
chmod +x "$work/bin/buildah"
imgf() { PATH="$work/bin:$PATH" "$bin" --state-dir "$work/state" --log-level "${LOG_LEVEL:-warn}" "$@"; }

# The state repository: the bench app and the fleet, committed (their commit gives the time).
S="$work/state"
mkdir -p "$S/app"
LOOPS="${LOOPS:-100000}"
[[ "$LOOPS" =~ ^[0-9]+$ ]] || { echo "bench: LOOPS must be a number" >&2; exit 2; }
sed -e "s|^ARG BASE\$|ARG BASE=$base|" -e "s|-lt 100000 |-lt $LOOPS |" bench/build/app/Dockerfile >"$S/app/Dockerfile"
echo "app: RUN loop of $LOOPS iterations" >&2
head -c $((8 * 1024 * 1024)) /dev/urandom >"$S/app/payload.bin"
{
  printf -- '- name: bench\n  registry: %s\n  repository: bench/app\n  local:\n    dir: app\n' "$reg"
  for ((i = 1; i <= FLEET; i++)); do
    n=$(printf 'fleet-%02d' "$i")
    mkdir -p "$S/$n"
    printf 'FROM %s\nCOPY id.txt /id.txt\n' "$base" >"$S/$n/Dockerfile"
    echo "$n" >"$S/$n/id.txt"
    printf -- '- name: %s\n  registry: %s\n  repository: fleet/%s\n  local:\n    dir: %s\n' "$n" "$reg" "$n" "$n"
  done
} >"$S/images.yaml"
git -C "$S" init -q && git -C "$S" add -A
GIT_COMMITTER_DATE=2025-01-01T00:00:00Z GIT_AUTHOR_DATE=2025-01-01T00:00:00Z \
  git -C "$S" -c user.name=bench -c user.email=bench@example commit -qm "bench state"

ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
load() { cut -d' ' -f1-3 /proc/loadavg; }
: >"$work/times"
record() { echo "$1 $2" >>"$work/times"; }
drop_repo() { rm -rf "$work/registry/data/docker/registry/v2/repositories/$1"; }

# --- (a) first build vs unchanged ---------------------------------------------------------------
echo "(a) load before: $(load)" >&2
for ((i = 1; i <= RUNS; i++)); do
  empty_storage
  drop_repo bench/app
  rm -f "$S/images/bench.yaml"
  t=$(date +%s%N)
  imgf build bench --if-changed --format json >"$work/a.json"
  record a_first "$(ms_since "$t")"
  rm -f "$work/buildah.calls"
  t=$(date +%s%N)
  imgf build bench --if-changed --format json >"$work/a2.json"
  record a_unchanged "$(ms_since "$t")"
  grep -q '"skipped":true' "$work/a2.json" || { echo "bench: the unchanged build was not skipped" >&2; exit 1; }
  record a_buildah "$(cat "$work/buildah.calls" 2>/dev/null | wc -l)"
  echo "(a) run $i: first $(tail -3 "$work/times" | head -1 | cut -d' ' -f2) ms, unchanged $(tail -2 "$work/times" | head -1 | cut -d' ' -f2) ms" >&2
done
echo "(a) load after: $(load)" >&2

# --- (b) the fleet, none changed -------------------------------------------------------------------
fleet=()
for ((i = 1; i <= FLEET; i++)); do fleet+=("$(printf 'fleet-%02d' "$i")"); done
t=$(date +%s%N)
imgf build "${fleet[@]}" >/dev/null
echo "(b) $FLEET images built and pushed once in $(($(ms_since "$t") / 1000)) s" >&2
echo "(b) load before: $(load)" >&2
for ((i = 1; i <= RUNS; i++)); do
  rm -f "$work/buildah.calls"
  t=$(date +%s%N)
  LOG_LEVEL=info imgf build "${fleet[@]}" --if-changed --format json >"$work/b.json" 2>"$work/b.err"
  record b_one_process "$(ms_since "$t")"
  if [[ $(grep -c '"skipped":true' "$work/b.json") != "$FLEET" ]]; then
    echo "bench: not all $FLEET skipped; why:" >&2
    grep -E "building|warn|error" "$work/b.err" | head -20 >&2
    exit 1
  fi
  record b_buildah "$(cat "$work/buildah.calls" 2>/dev/null | wc -l)"
  t=$(date +%s%N)
  for n in "${fleet[@]}"; do imgf build "$n" --if-changed --format json; done >"$work/b2.json"
  record b_separate "$(ms_since "$t")"
  [[ $(grep -c '"skipped":true' "$work/b2.json") == "$FLEET" ]] || { echo "bench: not all $FLEET skipped (separate)" >&2; exit 1; }
  echo "(b) run $i: one process $(grep b_one_process "$work/times" | tail -1 | cut -d' ' -f2) ms, separate $(grep b_separate "$work/times" | tail -1 | cut -d' ' -f2) ms" >&2
done
echo "(b) load after: $(load)" >&2

# --- (c) Job-like: empty storage + --cache-from, vs cold -----------------------------------------------
cache="$reg/bench/app-cache"
empty_storage
drop_repo bench/app
imgf build bench --tag prime --cache-to "$cache" >/dev/null  # the one earlier build
echo "(c) load before: $(load)" >&2
for ((i = 1; i <= RUNS; i++)); do
  order=(cold cached)
  ((i % 2 == 0)) && order=(cached cold)
  for which in "${order[@]}"; do
    empty_storage
    drop_repo bench/app
    t=$(date +%s%N)
    if [[ $which == cold ]]; then
      imgf build bench --tag job >/dev/null 2>"$work/c.err"
    else
      imgf build bench --tag job --cache-from "$cache" --cache-to "$cache" >/dev/null 2>"$work/c.err"
    fi
    record "c_$which" "$(ms_since "$t")"
    echo "(c) run $i: $which $(tail -1 "$work/times" | cut -d' ' -f2) ms" >&2
  done
done
echo "(c) load after: $(load)" >&2

python3 - "$work/times" "$FLEET" <<'PY'
import statistics, sys
t = {}
for line in open(sys.argv[1]):
    k, v = line.split()
    t.setdefault(k, []).append(int(v))
med = lambda k: statistics.median(t[k])
s = lambda k: f"median {med(k)/1000:7.2f} s  min {min(t[k])/1000:7.2f} s  max {max(t[k])/1000:7.2f} s  ({len(t[k])} runs)"
print("(a) first build, empty storage        ", s("a_first"))
print("    unchanged, --if-changed           ", s("a_unchanged"))
print(f"    ratio unchanged / first (medians): {med('a_unchanged')/med('a_first'):.3f}; "
      f"buildah processes in the unchanged runs: {sum(t['a_buildah'])}")
print(f"(b) {sys.argv[2]} images, none changed, one process", s("b_one_process"))
print(f"    {sys.argv[2]} separate invocations in a row   ", s("b_separate"))
print(f"    buildah processes: {sum(t['b_buildah'])}; one process / separate (medians): "
      f"{med('b_one_process')/med('b_separate'):.2f}")
print("(c) cold build, empty storage         ", s("c_cold"))
print("    Job-like, empty storage + cache   ", s("c_cached"))
print(f"    ratio cached / cold (medians): {med('c_cached')/med('c_cold'):.2f}; median of per-run pairs: "
      f"{statistics.median([c/k for c, k in zip(t['c_cached'], t['c_cold'])]):.2f}")
PY
