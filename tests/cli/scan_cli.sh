#!/usr/bin/env bash
# imgfactory scan, black box: filters, ignore files, --fail-on (exit 3 and its summary), input
# errors (exit 2 with FILE:LINE), and the Trivy run path with a fake `trivy` on PATH that
# records its argv and writes a fixture report: enrolled images resolve to their pushed
# reference and get a lastScan summary in their state file; Trivy's failures, timeouts and a
# SIGTERM are reported as CLI.md says.
set -euo pipefail
: "${IMGFACTORY:?}" "${IMGF_SOURCE_DIR:?}"
data="$IMGF_SOURCE_DIR/tests/data/trivy"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/imgf-scan-cli.XXXXXX")
bg=""
cleanup() {
  if [[ -n "$bg" ]]; then kill -KILL "$bg" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
# run EXPECTED_RC ARGS...: runs the binary, keeps stdout/stderr in $tmp/out, $tmp/err.
run() {
  local want=$1
  shift
  local rc=0
  "$IMGFACTORY" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  if [[ $rc -ne $want ]]; then
    fail "imgfactory $* exited $rc, expected $want: $(head -c 600 "$tmp/err")"
  fi
}
json() { python3 -c "import json,sys; d=json.load(open('$tmp/out')); print(eval(sys.argv[1]))" "$1"; }
expect_eq() { [[ "$1" == "$2" ]] || fail "$3: got '$1', expected '$2'"; }
expect_grep() { grep -qF -- "$1" "$2" || fail "'$1' not in $2: $(head -c 600 "$2")"; }

report="$data/filters.json"

# ---- filters and policy -----------------------------------------------------------------------
run 0 scan --report "$report" --format json
expect_eq "$(json 'd["counts"]')" "{'CRITICAL': 1, 'HIGH': 3, 'MEDIUM': 3, 'LOW': 1, 'UNKNOWN': 1}" "no filters"
expect_eq "$(json 'd["misconfigurations"], d["secrets"]')" "(3, 2)" "no filters"

run 0 scan --report "$report" --format json --severity HIGH,CRITICAL
expect_eq "$(json 'd["counts"]')" "{'CRITICAL': 1, 'HIGH': 3, 'MEDIUM': 0, 'LOW': 0, 'UNKNOWN': 0}" "--severity"

run 0 scan --report "$report" --format json --ignore-unfixed
expect_eq "$(json 'd["counts"]')" "{'CRITICAL': 1, 'HIGH': 2, 'MEDIUM': 2, 'LOW': 0, 'UNKNOWN': 1}" "--ignore-unfixed"

run 0 scan --report "$report" --format json --ignore-file "$data/filters.trivyignore"
expect_eq "$(json 'd["counts"]["HIGH"], d["misconfigurations"], d["secrets"], d["filtered"]["ignoreFile"]')" \
  "(2, 2, 1, 3)" ".trivyignore"
expect_eq "$(json '[(e["id"], e["line"]) for e in d["expiredIgnores"]]')" "[('CVE-2024-0001', 2)]" ".trivyignore expired"
expect_grep "filters.trivyignore:2: the ignore entry for CVE-2024-0001 expired on 2000-01-01" "$tmp/err"

run 0 scan --report "$report" --format json --ignore-file "$data/filters.trivyignore.yaml"
expect_eq "$(json 'd["counts"]["MEDIUM"], d["misconfigurations"], d["secrets"], d["filtered"]["ignoreFile"]')" \
  "(1, 2, 1, 4)" ".trivyignore.yaml"
expect_grep "filters.trivyignore.yaml:6: the ignore entry for CVE-2024-0002 expired" "$tmp/err"

run 3 scan --report "$report" --format json --fail-on HIGH
expect_eq "$(json 'd["policy"]')" "{'failOn': 'HIGH', 'passed': False, 'violations': 6}" "--fail-on HIGH"
expect_grep "imgfactory: scan policy failed: --fail-on HIGH: 6 findings at or above HIGH" "$tmp/err"
expect_grep "CRITICAL vulnerability CVE-2024-0001 in openssl@3.0.11-1" "$tmp/err"

run 0 scan --report "$report" --format json --fail-on CRITICAL --severity LOW,MEDIUM,HIGH
expect_eq "$(json 'd["policy"]["passed"]')" "True" "--fail-on with --severity"

run 3 scan --report "$report" --fail-on critical --output "$tmp/report.md" --format markdown
expect_grep ":x: failed (\`--fail-on CRITICAL\`)" "$tmp/report.md"
[[ ! -s "$tmp/out" ]] || fail "--output: stdout not empty"

run 0 scan --report - --format json <"$report"
expect_eq "$(json 'd["counts"]["CRITICAL"]')" "1" "--report -"

# ---- usage and input errors: exit 2, naming the file and line ----------------------------------
run 2 scan
expect_grep "nothing to scan" "$tmp/err"
run 2 scan --report "$report" --format xml
run 2 scan --report "$report" --severity HIGH,SEVERE
expect_grep "unknown severity 'SEVERE'" "$tmp/err"
run 2 scan --report "$report" --fail-on SOMETIMES
run 2 scan --report "$tmp/missing.json"
expect_grep "$tmp/missing.json: no such file" "$tmp/err"
run 2 scan --report "$report" --ignore-file "$tmp/missing.trivyignore"
printf '{"SchemaVersion": 2,\n "Results": [\n  {"Target": "x",\n   "Vulnerabilities": [{"Severity": "HIGH"}' >"$tmp/cut.json"
run 2 scan --report "$tmp/cut.json"
expect_grep "$tmp/cut.json:4: not a valid Trivy JSON report" "$tmp/err"
expect_grep "truncated" "$tmp/err"
printf '{"SchemaVersion": 1}\n' >"$tmp/v1.json"
run 2 scan --report "$tmp/v1.json"
expect_grep "$tmp/v1.json:1: unsupported Trivy report: SchemaVersion is 1, not 2" "$tmp/err"
printf 'CVE-1 exp:tomorrow\n' >"$tmp/bad.trivyignore"
run 2 scan --report "$report" --ignore-file "$tmp/bad.trivyignore"
expect_grep "$tmp/bad.trivyignore:1:" "$tmp/err"

# ---- the Trivy run path, with a fake trivy --------------------------------------------------------
mkdir -p "$tmp/bin" "$tmp/t"
cat >"$tmp/bin/trivy" <<'FAKE'
#!/usr/bin/env bash
# Fake Trivy: records argv, then behaves as FAKE_TRIVY_MODE says.
printf '%s\n' "$@" >"$FAKE_TRIVY_LOG"
out=""
while [[ $# -gt 0 ]]; do
  if [[ "$1" == "--output" ]]; then out="$2"; shift; fi
  shift
done
case "${FAKE_TRIVY_MODE:-ok}" in
  ok) cp "$FAKE_TRIVY_REPORT" "$out" ;;
  fail) echo "2024-05-01T10:00:00Z	FATAL	image scan error: unable to find the specified image" >&2; exit 1 ;;
  sleep) touch "$FAKE_TRIVY_LOG.sleeping"; for _ in $(seq 1 200); do sleep 0.1; done ;;
  noreport) ;;
esac
FAKE
chmod +x "$tmp/bin/trivy"
export PATH="$tmp/bin:$PATH" FAKE_TRIVY_LOG="$tmp/trivy.argv" FAKE_TRIVY_REPORT="$report" TMPDIR="$tmp/t"

run 0 scan registry.example/team/app:1.2.3 --format json --severity CRITICAL
expect_eq "$(tr '\n' ' ' <"$tmp/trivy.argv")" \
  "image --format json --quiet --output $(sed -n 6p "$tmp/trivy.argv") registry.example/team/app:1.2.3 " "trivy argv"
expect_eq "$(json 'd["reference"], d["image"], d["counts"]["CRITICAL"], d["counts"]["HIGH"]')" \
  "('registry.example/team/app:1.2.3', None, 1, 0)" "scan of a reference"
[[ -z "$(ls -A "$tmp/t")" ]] || fail "temporary files left: $(ls -A "$tmp/t")"

# TRIVY names the executable.
cp "$tmp/bin/trivy" "$tmp/bin/other-trivy"
TRIVY="$tmp/bin/other-trivy" run 0 scan alpine:3.19 --format json --trivy-arg=--scanners=vuln
expect_eq "$(sed -n 7p "$tmp/trivy.argv") $(sed -n 8p "$tmp/trivy.argv")" "--scanners=vuln alpine:3.19" "--trivy-arg"

# --save-report keeps Trivy's JSON.
run 0 scan alpine:3.19 --format json --save-report "$tmp/saved/trivy.json"
cmp -s "$report" "$tmp/saved/trivy.json" || fail "--save-report: not Trivy's report"

# Trivy fails: exit 1 with its status and stderr.
FAKE_TRIVY_MODE=fail run 1 scan alpine:3.19
expect_grep "trivy exited with status 1 while scanning alpine:3.19" "$tmp/err"
expect_grep "unable to find the specified image" "$tmp/err"
FAKE_TRIVY_MODE=noreport run 1 scan alpine:3.19
expect_grep "wrote no report" "$tmp/err"
PATH="/usr/bin:/bin" run 1 scan alpine:3.19
expect_grep "cannot run Trivy" "$tmp/err"
FAKE_TRIVY_MODE=sleep run 1 scan alpine:3.19 --timeout 1s
expect_grep "timed out" "$tmp/err"
[[ -z "$(ls -A "$tmp/t")" ]] || fail "temporary files left after a timeout: $(ls -A "$tmp/t")"

# SIGTERM while Trivy runs: exit 143, Trivy stopped, nothing left behind.
rm -f "$tmp/trivy.argv.sleeping"
FAKE_TRIVY_MODE=sleep "$IMGFACTORY" scan alpine:3.19 >"$tmp/out" 2>"$tmp/err" &
bg=$!
for _ in $(seq 1 100); do [[ -e "$tmp/trivy.argv.sleeping" ]] && break; sleep 0.1; done
kill -TERM "$bg"
rc=0
wait "$bg" || rc=$?
bg=""
expect_eq "$rc" "143" "SIGTERM"
[[ -z "$(ls -A "$tmp/t")" ]] || fail "temporary files left after SIGTERM: $(ls -A "$tmp/t")"

# ---- enrolled images ------------------------------------------------------------------------------
state="$tmp/state"
mkdir -p "$state/images"
cat >"$state/images.yaml" <<'YAML'
- name: app
  registry: 127.0.0.1:5000
  repository: team/app
YAML
digest="sha256:$(printf 'a%.0s' $(seq 1 64))"
cat >"$state/images/app.yaml" <<YAML
# Auto-generated by Image Factory
# This file tracks the state of the app image
name: app

# Current published state (from registry/Kargo)
currentVersion: "1.2.3"
currentDigest: $digest
lastBuilt: "2024-12-03T12:00:00Z"
YAML
run 3 --state-dir "$state" scan app --format json --fail-on HIGH
expect_eq "$(tail -n 1 "$tmp/trivy.argv")" "127.0.0.1:5000/team/app@$digest" "enrolled image reference"
expect_eq "$(json 'd["image"], d["reference"]')" "('app', '127.0.0.1:5000/team/app@$digest')" "enrolled image"
python3 - "$state/images/app.yaml" "$(sha256sum "$report" | cut -d' ' -f1)" <<'EOF' || fail "lastScan in the state file"
import sys, yaml
text = open(sys.argv[1]).read()
d = yaml.safe_load(text)
s = d["lastScan"]
assert d["currentDigest"].startswith("sha256:aaaa") and d["currentVersion"] == "1.2.3", d
assert text.startswith("# Auto-generated by Image Factory\n"), text
assert s["counts"] == {"CRITICAL": 1, "HIGH": 3, "MEDIUM": 3, "LOW": 1, "UNKNOWN": 1}, s
assert s["misconfigurations"] == 3 and s["secrets"] == 2, s
assert s["reportSha256"] == sys.argv[2], s
assert s["failOn"] == "HIGH" and s["passed"] is False, s
assert s["reference"].startswith("127.0.0.1:5000/team/app@sha256:"), s
assert len(s["scannedAt"]) == 20 and s["scannedAt"].endswith("Z"), s
EOF
# A second scan replaces lastScan (one key, not two).
IMAGE_FACTORY_STATE_DIR="$state" run 0 scan app --tag 2.0 --registry ghcr.io --format json --report "$report"
expect_eq "$(grep -c '^lastScan:' "$state/images/app.yaml")" "1" "lastScan replaced"
expect_grep "reference: 'ghcr.io/team/app:2.0'" "$state/images/app.yaml"
# --no-state leaves it alone; a name that is not enrolled is an image reference.
cp "$state/images/app.yaml" "$tmp/before.yaml"
run 0 --state-dir "$state" scan app --no-state --format json
cmp -s "$tmp/before.yaml" "$state/images/app.yaml" || fail "--no-state changed the state file"
run 0 --state-dir "$state" scan nginx --format json
expect_eq "$(tail -n 1 "$tmp/trivy.argv")" "nginx" "a name that is not enrolled"
run 2 --state-dir "$state" scan nginx --tag 1 --format json
expect_grep "not enrolled" "$tmp/err"

if [[ $fails -ne 0 ]]; then
  echo "$fails failure(s)" >&2
  exit 1
fi
echo "scan cli: all checks passed" >&2
