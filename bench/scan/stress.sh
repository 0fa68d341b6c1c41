#!/usr/bin/env bash
# The long stress case: a ~2 GB Trivy report (replicated fixture findings). imgfactory scan
# must count it exactly, with peak memory far below the file size, and refuse the same file
# cut in the middle (exit 2). Too slow for the default test suite; run by hand:
#   bash bench/scan/stress.sh      (env: IMGFACTORY, MB=2048, OUT=bench/out/scan)
set -euo pipefail
cd "$(dirname "$0")/../.."
exe="${IMGFACTORY:-build/release/imgfactory}"
mb="${MB:-2048}"
out="${OUT:-bench/out/scan}"
fixtures="${FIXTURES:-../shared/fixtures/trivy}"
mkdir -p "$out"
big="$out/big-${mb}mb.json"
[[ -s "$big" && -s "$big.expect" ]] || python3 bench/scan/gen_report.py "$fixtures" "$big" --mb "$mb" --expect "$big.expect"
bytes=$(stat -c %s "$big")

/usr/bin/time -f "%e s, peak RSS %M KB" -o "$out/stress.time" "$exe" scan --report "$big" --format json \
  >"$out/stress.json" 2>"$out/stress.err"
python3 - "$out/stress.json" "$big.expect" <<'PY'
import json, sys
got = json.load(open(sys.argv[1])); want = json.load(open(sys.argv[2]))
assert got["counts"] == want["counts"], (got["counts"], want["counts"])
assert got["misconfigurations"] == want["misconfigurations"] and got["secrets"] == want["secrets"]
print("counts:", got["counts"], "misconfigurations:", got["misconfigurations"], "secrets:", got["secrets"])
PY
echo "full file ($bytes bytes): $(cat "$out/stress.time")"
rss_kb=$(grep -o 'RSS [0-9]*' "$out/stress.time" | cut -d' ' -f2)
((rss_kb * 1024 * 8 < bytes)) || { echo "FAIL: peak RSS not far below the file size" >&2; exit 1; }

head -c $((bytes / 2)) "$big" >"$out/stress-cut.json"
rc=0
/usr/bin/time -f "%e s, peak RSS %M KB" -o "$out/stress-cut.time" "$exe" scan --report "$out/stress-cut.json" \
  --format json >/dev/null 2>"$out/stress-cut.err" || rc=$?
rm -f "$out/stress-cut.json"
[[ $rc -eq 2 ]] || { echo "FAIL: the cut file exited $rc: $(head -c 300 "$out/stress-cut.err")" >&2; exit 1; }
echo "cut in the middle: exit 2 ($(tail -n 1 "$out/stress-cut.time")): $(head -n 1 "$out/stress-cut.err" | head -c 300)"
