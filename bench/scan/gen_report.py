#!/usr/bin/env python3
"""Generates a large Trivy JSON report (SchemaVersion 2) by replicating the findings of the
reports in ../shared/fixtures/trivy.

usage: gen_report.py FIXTURES_DIR OUT.json [--mb SIZE] [--one-target N] [--expect FILE]

FIXTURES_DIR holds Trivy reports (*.json.golden, *.json) whose Results are replicated.

--mb SIZE       stop once the report reaches about SIZE MB (default 200)
--one-target N  instead: one Result with N small vulnerabilities (the "1,000,000 findings in
                one target" stress case)
--expect FILE   write the expected counts (vulnerabilities by severity, failed
                misconfigurations, secrets) as JSON, computed while generating
Output is deterministic: the same arguments give the same bytes.
"""
import argparse
import glob
import json
import os
import sys


def load_findings(fixtures):
    results = []
    paths = glob.glob(os.path.join(fixtures, "*.json.golden")) + glob.glob(os.path.join(fixtures, "*.json"))
    for path in sorted(paths):
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
        for r in report.get("Results") or []:
            if r.get("Vulnerabilities") or r.get("Misconfigurations") or r.get("Secrets"):
                results.append(r)
    if not results:
        sys.exit(f"no findings in {fixtures}/*.json.golden or *.json")
    return results


def header():
    return {
        "SchemaVersion": 2,
        "Trivy": {"Version": "bench"},
        "CreatedAt": "2024-01-01T00:00:00Z",
        "ArtifactName": "bench/big:latest",
        "ArtifactType": "container_image",
        "Metadata": {"ImageID": "sha256:" + "0" * 64, "RepoTags": ["bench/big:latest"], "RepoDigests": None},
    }


SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"]


def new_expect():
    return {"counts": {s: 0 for s in SEVERITIES}, "misconfigurations": 0, "secrets": 0}


def tally(expect, r):
    for v in r.get("Vulnerabilities") or []:
        expect["counts"][v.get("Severity") or "UNKNOWN"] += 1
    for m in r.get("Misconfigurations") or []:
        if m.get("Status", "FAIL") == "FAIL":
            expect["misconfigurations"] += 1
    expect["secrets"] += len(r.get("Secrets") or [])


def write_big(fixtures, out, target_mb, expect):
    results = load_findings(fixtures)
    limit = target_mb * 1024 * 1024
    head = json.dumps(header(), indent=2)[:-2]  # without the closing "\n}"
    findings = 0
    with open(out, "w", encoding="utf-8") as f:
        f.write(head + ',\n  "Results": [\n')
        written = len(head)
        copy = 0
        first = True
        while written < limit:
            for r in results:
                r2 = dict(r)
                r2["Target"] = f"{r['Target']} #{copy}"
                text = json.dumps(r2, indent=2)
                text = "\n".join("    " + line for line in text.split("\n"))
                if not first:
                    f.write(",\n")
                    written += 2
                f.write(text)
                written += len(text)
                first = False
                findings += len(r.get("Vulnerabilities") or []) + len(r.get("Misconfigurations") or []) + len(
                    r.get("Secrets") or [])
                tally(expect, r)
                if written >= limit:
                    break
            copy += 1
        f.write("\n  ]\n}\n")
    return findings


def write_one_target(out, n, expect):
    sev = SEVERITIES
    with open(out, "w", encoding="utf-8") as f:
        f.write('{"SchemaVersion":2,"ArtifactName":"one-target","ArtifactType":"container_image",'
                '"Results":[{"Target":"one (debian 12)","Class":"os-pkgs","Type":"debian","Vulnerabilities":[')
        for i in range(n):
            if i:
                f.write(",")
            f.write('{"VulnerabilityID":"CVE-2024-%d","PkgName":"pkg%d","InstalledVersion":"1.0",'
                    '"FixedVersion":"1.1","Status":"fixed","Severity":"%s","Title":"t"}' % (i, i % 1000, sev[i % 5]))
            expect["counts"][sev[i % 5]] += 1
        f.write("]}]}\n")
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fixtures")
    ap.add_argument("out")
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--one-target", type=int, default=0)
    ap.add_argument("--expect")
    a = ap.parse_args()
    expect = new_expect()
    n = write_one_target(a.out, a.one_target, expect) if a.one_target else write_big(a.fixtures, a.out, a.mb, expect)
    if a.expect:
        with open(a.expect, "w", encoding="utf-8") as f:
            json.dump(expect, f)
    print(f"{a.out}: {os.path.getsize(a.out)} bytes, {n} findings", file=sys.stderr)


if __name__ == "__main__":
    main()
