#!/usr/bin/env bash
# imgfactory scan never crashes or hangs on hostile reports: truncated JSON (cut at many
# places), 200,000 nested brackets, invalid UTF-8, and one target with 1,000,000 findings
# (counted exactly, with peak memory far below the file size). Each run is bounded by
# `timeout`. (The 2 GB case is in bench/scan/stress.sh: too slow for the default suite.)
set -euo pipefail
: "${IMGFACTORY:?}" "${IMGF_SOURCE_DIR:?}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/imgf-scan-stress.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
# expect RC FILE [ARGS...]: scan FILE, expecting exit RC (a crash is 134/139, a hang 124).
expect() {
  local want=$1 file=$2
  shift 2
  local rc=0
  timeout 600 "$IMGFACTORY" scan --report "$file" --format json "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  [[ $rc -eq $want ]] || fail "scan $file exited $rc, expected $want: $(head -c 400 "$tmp/err")"
}

# ---- truncated JSON: every cut of a multi-result report is refused with exit 2 ----------------
python3 "$IMGF_SOURCE_DIR/bench/scan/gen_report.py" "$IMGF_SOURCE_DIR/tests/data/trivy" "$tmp/base.json" --mb 2
expect 0 "$tmp/base.json"
size=$(stat -c %s "$tmp/base.json")
for i in $(seq 1 25); do
  cut=$(((size * i) / 26 + i * 7))
  head -c "$cut" "$tmp/base.json" >"$tmp/cut.json"
  expect 2 "$tmp/cut.json"
  grep -q "cut.json:[0-9]*: not a valid Trivy JSON report" "$tmp/err" || fail "cut at $cut: $(head -c 300 "$tmp/err")"
done

# ---- 200,000 nested brackets -----------------------------------------------------------------
python3 - "$tmp" <<'EOF'
import sys
d = sys.argv[1]
n = 200000
with open(f"{d}/deep-skipped.json", "w") as f:
    f.write('{"SchemaVersion": 2, "Metadata": {"ImageConfig": ' + "[" * n + "]" * n + '}, "Results": []}')
with open(f"{d}/deep-results.json", "w") as f:
    f.write('{"SchemaVersion": 2, "Results": ' + "[" * n + "]" * n + "}")
with open(f"{d}/deep-objects.json", "w") as f:
    f.write('{"SchemaVersion": 2, "X": ' + '{"a":' * n + "1" + "}" * n + "}")
with open(f"{d}/deep-unclosed.json", "w") as f:
    f.write('{"SchemaVersion": 2, "X": ' + "[" * n)
with open(f"{d}/deep-top.json", "w") as f:
    f.write("[" * n + "]" * n)
EOF
expect 0 "$tmp/deep-skipped.json"
expect 0 "$tmp/deep-objects.json"
expect 2 "$tmp/deep-results.json"
expect 2 "$tmp/deep-unclosed.json"
expect 2 "$tmp/deep-top.json"

# ---- invalid UTF-8 ---------------------------------------------------------------------------
printf '{"SchemaVersion": 2, "Results": [{"Target": "a\xff\xfeb"}]}' >"$tmp/utf8-target.json"
printf '{"SchemaVersion": 2, "Metadata": {"Unused": "\xed\xa0\x80"}}' >"$tmp/utf8-surrogate.json"
printf '{"SchemaVersion": 2, "Results": [{"Target": "t", "Vulnerabilities": [{"Title": "\xc3"}]}]}' >"$tmp/utf8-cut.json"
printf '\xef\xbb\xbf{"SchemaVersion": 2}' >"$tmp/bom.json"
for f in utf8-target utf8-surrogate utf8-cut; do
  expect 2 "$tmp/$f.json"
  grep -q "UTF-8" "$tmp/err" || fail "$f: $(head -c 300 "$tmp/err")"
done
expect 0 "$tmp/bom.json"  # a UTF-8 byte order mark is skipped, as JSON parsers do

# ---- one target with 1,000,000 findings -------------------------------------------------------
n=1000000
python3 "$IMGF_SOURCE_DIR/bench/scan/gen_report.py" - "$tmp/million.json" --one-target "$n"
bytes=$(stat -c %s "$tmp/million.json")
if command -v /usr/bin/time >/dev/null; then
  timeout 900 /usr/bin/time -f "%M" -o "$tmp/rss" "$IMGFACTORY" scan --report "$tmp/million.json" --format json \
    --fail-on CRITICAL >"$tmp/out" 2>"$tmp/err" && rc=0 || rc=$?
  rss_kb=$(tail -n 1 "$tmp/rss")
else
  timeout 900 "$IMGFACTORY" scan --report "$tmp/million.json" --format json --fail-on CRITICAL \
    >"$tmp/out" 2>"$tmp/err" && rc=0 || rc=$?
  rss_kb=0
fi
[[ $rc -eq 3 ]] || fail "million: exit $rc: $(head -c 400 "$tmp/err")"
counts=$(python3 -c "import json; d=json.load(open('$tmp/out')); print(d['counts'], d['policy']['violations'])")
[[ "$counts" == "{'CRITICAL': 200000, 'HIGH': 200000, 'MEDIUM': 200000, 'LOW': 200000, 'UNKNOWN': 200000} 200000" ]] ||
  fail "million: $counts"
grep -q "and 199980 more" "$tmp/err" || fail "million: policy summary: $(head -c 400 "$tmp/err")"
# Peak memory far below the file size (not measured under AddressSanitizer, whose quarantine and
# shadow memory are not the program's own).
if ldd "$IMGFACTORY" 2>/dev/null | grep libasan >/dev/null; then  # no -q: an early exit would SIGPIPE ldd (pipefail)
  echo "million: $bytes bytes, peak RSS ${rss_kb} KB (ASan build: not checked)" >&2
elif [[ $rss_kb -gt 0 ]]; then
  echo "million: $bytes bytes, peak RSS ${rss_kb} KB" >&2
  ((rss_kb * 1024 * 4 < bytes)) || fail "million: peak RSS ${rss_kb} KB is not far below the file size ($bytes bytes)"
fi

# Ctrl-C during a long read stops it promptly with 130 (the reader checks between chunks).
timeout 600 "$IMGFACTORY" scan --report "$tmp/million.json" --format json >/dev/null 2>"$tmp/err" &
pid=$!
sleep 0.2
if kill -INT "$pid" 2>/dev/null; then
  rc=0
  wait "$pid" || rc=$?
  [[ $rc -eq 130 ]] || fail "SIGINT during the read: exit $rc"
else
  wait "$pid" || true
  echo "note: the read finished before SIGINT could be sent" >&2
fi

if [[ $fails -ne 0 ]]; then
  echo "$fails failure(s)" >&2
  exit 1
fi
echo "scan stress: all checks passed" >&2
