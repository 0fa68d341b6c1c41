#!/usr/bin/env bash
# imgfactory scan --report on every report Trivy wrote (../shared/fixtures/trivy): the JSON
# counts equal the report's own findings (computed here by python3 from the report), the SARIF
# of each validates against the SARIF 2.1.0 schema (python3 jsonschema), the JUnit of each is
# well-formed XML with one test case per finding, and for alpine-310 the SARIF and JUnit are
# Trivy's own (../shared/fixtures/trivy/alpine-310.{sarif,junit}.golden).
set -euo pipefail
: "${IMGFACTORY:?}" "${IMGF_SOURCE_DIR:?}"
shared="$IMGF_SOURCE_DIR/../shared"
if [[ ! -d "$shared/fixtures/trivy" ]]; then
  echo "skip: ../shared is not present (reference data test)" >&2
  exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/imgf-scan-fixtures.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

python3 - "$IMGFACTORY" "$shared" "$tmp" <<'EOF'
import glob, json, os, subprocess, sys
import xml.etree.ElementTree as ET
import jsonschema

exe, shared, tmp = sys.argv[1:4]
with open(os.path.join(shared, "schemas/sarif/sarif-schema-2.1.0.json"), encoding="utf-8") as f:
    schema = json.load(f)
validator = jsonschema.validators.validator_for(schema)(schema)
SEV = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"]
failures = []

def run(*args, expect=0):
    p = subprocess.run([exe, *args], capture_output=True)
    if p.returncode != expect:
        failures.append(f"{args}: exit {p.returncode} (expected {expect}): {p.stderr.decode(errors='replace')}")
    return p.stdout

reports = sorted(glob.glob(os.path.join(shared, "fixtures/trivy/*.json.golden")))
assert len(reports) >= 15, reports
for path in reports:
    name = os.path.basename(path)
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    vulns = {s: 0 for s in SEV}; mis = {s: 0 for s in SEV}; sec = {s: 0 for s in SEV}
    cases = 0
    for r in doc.get("Results") or []:
        for v in r.get("Vulnerabilities") or []:
            vulns[v.get("Severity") or "UNKNOWN"] += 1; cases += 1
        for m in r.get("Misconfigurations") or []:
            cases += 1
            if m.get("Status", "FAIL") == "FAIL":
                mis[m.get("Severity") or "UNKNOWN"] += 1
        for s in r.get("Secrets") or []:
            sec[s.get("Severity") or "UNKNOWN"] += 1; cases += 1

    out = json.loads(run("scan", "--report", path, "--format", "json"))
    if out["counts"] != vulns:
        failures.append(f"{name}: counts {out['counts']} != {vulns}")
    if list(out["counts"].keys()) != SEV:
        failures.append(f"{name}: counts keys {list(out['counts'].keys())}")
    if out["misconfigurations"] != sum(mis.values()) or out["misconfigurationCounts"] != mis:
        failures.append(f"{name}: misconfigurations {out['misconfigurations']} != {mis}")
    if out["secrets"] != sum(sec.values()) or out["secretCounts"] != sec:
        failures.append(f"{name}: secrets {out['secrets']} != {sec}")
    if out["policy"] != {"failOn": None, "passed": True, "violations": 0}:
        failures.append(f"{name}: policy {out['policy']}")

    sarif = json.loads(run("scan", "--report", path, "--format", "sarif"))
    errors = sorted(validator.iter_errors(sarif), key=lambda e: list(e.path))
    if errors:
        failures.append(f"{name}: SARIF invalid: {errors[0].message} at {list(errors[0].path)}")
    findings = sum(vulns.values()) + sum(mis.values()) + sum(sec.values())
    if len(sarif["runs"][0]["results"]) != findings:
        failures.append(f"{name}: {len(sarif['runs'][0]['results'])} SARIF results, {findings} findings")

    junit = ET.fromstring(run("scan", "--report", path, "--format", "junit"))
    if junit.tag != "testsuites" or len(junit.findall("./testsuite/testcase")) != cases:
        failures.append(f"{name}: JUnit has {len(junit.findall('./testsuite/testcase'))} test cases, {cases} findings")

    for fmt in ("table", "markdown"):
        if not run("scan", "--report", path, "--format", fmt):
            failures.append(f"{name}: empty {fmt} output")

# alpine-310: Trivy's own SARIF and JUnit.
alpine = os.path.join(shared, "fixtures/trivy/alpine-310.json.golden")
ours = json.loads(run("scan", "--report", alpine, "--format", "sarif"))
with open(os.path.join(shared, "fixtures/trivy/alpine-310.sarif.golden"), encoding="utf-8") as f:
    theirs = json.load(f)
def rules(d): return [(r["id"], r["name"], r["defaultConfiguration"]["level"], r.get("helpUri"), r["properties"]) for r in d["runs"][0]["tool"]["driver"]["rules"]]
def results(d): return [(r["ruleId"], r["ruleIndex"], r["level"], r["message"]["text"], r["locations"]) for r in d["runs"][0]["results"]]
if rules(ours) != rules(theirs): failures.append("alpine-310: SARIF rules differ from Trivy's")
if results(ours) != results(theirs): failures.append("alpine-310: SARIF results/levels/locations differ from Trivy's")
if ours != theirs: failures.append("alpine-310: SARIF document differs from Trivy's")
junit = run("scan", "--report", alpine, "--format", "junit")
with open(os.path.join(shared, "fixtures/trivy/alpine-310.junit.golden"), "rb") as f:
    golden = f.read()
def cases(x): return [(s.get("name"), c.get("classname"), c.get("name"), [(e.tag, e.get("message"), e.text) for e in c]) for s in ET.fromstring(x).iter("testsuite") for c in s.iter("testcase")]
if cases(junit) != cases(golden): failures.append("alpine-310: JUnit test cases differ from Trivy's")
if junit != golden: failures.append("alpine-310: JUnit bytes differ from Trivy's")

# --output writes the same bytes atomically (no temporary files left beside it).
dest = os.path.join(tmp, "out", "alpine.sarif")
run("scan", "--report", alpine, "--format", "sarif", "--output", dest)
with open(dest, encoding="utf-8") as f:
    if json.load(f) != theirs: failures.append("--output: SARIF differs")
if os.listdir(os.path.dirname(dest)) != ["alpine.sarif"]: failures.append(f"--output left {os.listdir(os.path.dirname(dest))}")

for f in failures: print("FAIL:", f, file=sys.stderr)
print(f"{len(reports)} reports checked, {len(failures)} failures", file=sys.stderr)
sys.exit(1 if failures else 0)
EOF
