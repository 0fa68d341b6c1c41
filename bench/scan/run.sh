#!/usr/bin/env bash
# Benchmark: `imgfactory scan --report big.json --format json` against jq computing the same
# severity counts on the same file. big.json (~200 MB) replicates the findings of Trivy's own
# reports in ../shared/fixtures/trivy. Prints wall time and peak RSS (medians of RUNS runs,
# measured with /usr/bin/time) and the ratios imgfactory/jq.
#
# usage: bench/scan/run.sh   (env: IMGFACTORY=build/release/imgfactory RUNS=5 MB=200
#                             FIXTURES=../shared/fixtures/trivy OUT=bench/out/scan)
set -euo pipefail
cd "$(dirname "$0")/../.."
exe="${IMGFACTORY:-build/release/imgfactory}"
runs="${RUNS:-5}"
mb="${MB:-200}"
fixtures="${FIXTURES:-../shared/fixtures/trivy}"
out="${OUT:-bench/out/scan}"
[[ -x "$exe" ]] || { echo "build it first: bash scripts/build.sh release" >&2; exit 2; }
[[ -d "$fixtures" ]] || { echo "no fixtures at $fixtures (../shared)" >&2; exit 2; }
command -v jq >/dev/null || { echo "jq is required" >&2; exit 2; }
mkdir -p "$out"
big="$out/big-${mb}mb.json"
if [[ ! -s "$big" || ! -s "$big.expect" ]]; then
  python3 bench/scan/gen_report.py "$fixtures" "$big" --mb "$mb" --expect "$big.expect"
fi
jq_prog='reduce (.Results[]?.Vulnerabilities[]?.Severity) as $s ({}; .[$s] += 1)'

# Same answer first.
"$exe" scan --report "$big" --format json 2>/dev/null >"$out/imgf.json"
jq "$jq_prog" "$big" >"$out/jq.json"
python3 - "$out/imgf.json" "$out/jq.json" "$big.expect" <<'PY'
import json, sys
imgf = json.load(open(sys.argv[1]))["counts"]
jq = json.load(open(sys.argv[2]))
expect = json.load(open(sys.argv[3]))["counts"]
jq = {k: jq.get(k, 0) for k in expect}
assert imgf == jq == expect, (imgf, jq, expect)
print(f"same counts: {imgf}", file=sys.stderr)
PY

: >"$out/times.txt"
for i in $(seq 1 "$runs"); do
  /usr/bin/time -f "imgfactory %e %M" -a -o "$out/times.txt" "$exe" scan --report "$big" --format json >/dev/null 2>&1
  /usr/bin/time -f "jq %e %M" -a -o "$out/times.txt" jq "$jq_prog" "$big" >/dev/null
done
python3 - "$out/times.txt" "$big" "$runs" <<'PY'
import os, statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
def med(tool, col): return statistics.median(float(r[col]) for r in rows if r[0] == tool)
t_i, t_j = med("imgfactory", 1), med("jq", 1)
m_i, m_j = med("imgfactory", 2) / 1024, med("jq", 2) / 1024
size = os.path.getsize(sys.argv[2]) / 2**20
print(f"report: {sys.argv[2]} ({size:.0f} MiB), medians of {sys.argv[3]} runs")
print("| tool | wall time (s) | peak RSS (MiB) |")
print("|---|---:|---:|")
print(f"| imgfactory scan --format json | {t_i:.2f} | {m_i:.1f} |")
print(f"| jq (severity counts) | {t_j:.2f} | {m_j:.1f} |")
print(f"| ratio imgfactory/jq | {t_i / t_j:.2f}x | {m_i / m_j:.3f}x |")
PY
