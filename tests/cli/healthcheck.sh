#!/usr/bin/env bash
# `imgfactory healthcheck` end to end: fake tools on a private PATH, text and JSON output, exit
# codes, the version cache (nothing runs on a warm cache; a replaced tool is re-probed), the
# probe timeout, and the in-image storage and configuration checks.
source "$(dirname "$0")/../lib/testlib.sh"

bin="$T_TMP/bin"
mkdir -p "$bin"
log="$T_TMP/calls.log"
# A fake tool that records each run and prints a version line like the real ones.
fake_tool() { # name version-line
  printf '#!/bin/sh\necho "%s $*" >> "%s"\necho "%s"\n' "$1" "$log" "$2" >"$bin/$1"
  chmod +x "$bin/$1"
}
fake_tool podman "podman version 4.3.1"
fake_tool buildah "buildah version 1.28.2 (image-spec 1.1.0-rc2, runtime-spec 1.0.2-dev)"
fake_tool task "Task version: v3.40.1 (h1:abc=)"
fake_tool jq "jq-1.6"
printf '#!/bin/sh\necho "broken: cannot read config" >&2\nexit 4\n' >"$bin/broken"
chmod +x "$bin/broken"
printf '#!/bin/sh\nexec %s 30\n' "$(command -v sleep)" >"$bin/hangs"
chmod +x "$bin/hangs"

export IMGFACTORY_HEALTH_CACHE="$T_TMP/cache/health.json"
export IMGFACTORY_IN_IMAGE=0
unset IMGFACTORY_HEALTH_REQUIRE IMGFACTORY_HEALTH_OPTIONAL
hc() { PATH="$bin" "$IMGFACTORY" healthcheck "$@"; }
calls() { if [[ -f "$log" ]]; then wc -l <"$log"; else echo 0; fi; }

# --- healthy, text -------------------------------------------------------------------------
run hc --require podman,buildah,task --optional jq,kubectl
expect_rc 0 "all required tools present: healthy"
expect_out_contains "healthy: 3/3 required checks ok, 1 optional missing" "text summary line"
expect_out_contains "4.3.1" "podman's version"
expect_out_contains "3.40.1" "task's version from 'Task version: v3.40.1'"
expect_out_contains "not found on PATH (optional)" "a missing optional tool is reported"
if [[ $(calls) == 4 ]]; then pass "each found tool was run once"; else fail "expected 4 tool runs, got $(calls)"; fi
[[ -s "$IMGFACTORY_HEALTH_CACHE" ]] && pass "the version cache was written" || fail "no cache file at $IMGFACTORY_HEALTH_CACHE"

# --- warm cache: nothing runs ------------------------------------------------------------------
run hc --require podman,buildah,task --optional jq,kubectl --format json
expect_rc 0 "second run healthy"
if [[ $(calls) == 4 ]]; then pass "a warm cache runs no tool"; else fail "warm cache ran tools: $(calls) runs"; fi
python3 - "$T_TMP/out" <<'EOF' && pass "JSON shape of CLI.md, cached versions" || fail "JSON report: $(cat "$T_TMP/out")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["healthy"] is True, r
names = [c["name"] for c in r["checks"]]
assert names == ["podman", "buildah", "task", "jq", "kubectl"], names
for c in r["checks"]:
    assert set(["name", "ok", "required", "path", "version", "ms", "error"]) <= set(c), c
by = {c["name"]: c for c in r["checks"]}
assert by["podman"]["version"] == "4.3.1" and by["podman"]["cached"] is True, by["podman"]
assert by["buildah"]["version"] == "1.28.2", by["buildah"]
assert by["jq"]["required"] is False and by["jq"]["version"] == "1.6", by["jq"]
assert by["kubectl"]["ok"] is False and by["kubectl"]["path"] is None and by["kubectl"]["error"] == "not found on PATH"
EOF

# --- a replaced tool is re-probed ----------------------------------------------------------------
sleep 0.01
fake_tool podman "podman version 5.0.0-dev"
run hc --require podman,buildah,task --optional '' --format json
expect_rc 0 "healthy after replacing podman"
if [[ $(calls) == 5 ]]; then pass "only the replaced tool ran again"; else fail "expected 5 runs in total, got $(calls)"; fi
expect_out_contains '"version":"5.0.0-dev"' "the new version is reported"

# --- --no-cache runs every tool ------------------------------------------------------------------
run hc --require podman,buildah --optional '' --no-cache
expect_rc 0 "--no-cache healthy"
if [[ $(calls) == 7 ]]; then pass "--no-cache ran both tools"; else fail "expected 7 runs in total, got $(calls)"; fi

# --- unhealthy ------------------------------------------------------------------------------------
run hc --require podman,trivy,broken --optional ''
expect_rc 1 "a missing and a failing required tool: unhealthy, exit 1"
expect_out_contains "UNHEALTHY: 1/3 required checks ok" "text summary names the count"
expect_out_contains "failed: trivy broken" "failed checks are listed"
expect_out_contains "exited with status 4: broken: cannot read config" "why the tool failed"

# --- the default tool set of CLI.md ----------------------------------------------------------------
run hc --format json --no-cache
expect_rc 1 "defaults need skopeo, trivy and git, which this PATH lacks"
python3 - "$T_TMP/out" <<'EOF' && pass "default required: task,podman,buildah,skopeo,trivy,git; optional: kubectl,jq" || fail "defaults: $(cat "$T_TMP/out")"
import json, sys
r = json.load(open(sys.argv[1]))
got = [(c["name"], c["required"]) for c in r["checks"]]
want = [(n, True) for n in ("task", "podman", "buildah", "skopeo", "trivy", "git")] + [("kubectl", False), ("jq", False)]
assert got == want, got
EOF

# --- environment defaults (the image sets them for its HEALTHCHECK) --------------------------------
IMGFACTORY_HEALTH_REQUIRE=podman,jq IMGFACTORY_HEALTH_OPTIONAL=nothing-here run hc --no-cache
expect_rc 0 "IMGFACTORY_HEALTH_REQUIRE / _OPTIONAL set the tool lists"
expect_out_contains "nothing-here" "the optional tool from the environment is listed"

# --- timeout ----------------------------------------------------------------------------------------
started=$(date +%s)
run hc --require hangs,podman --optional '' --timeout 300ms --no-cache
expect_rc 1 "a hanging tool is unhealthy"
expect_out_contains "timed out" "the hang is reported as a timeout"
if (( $(date +%s) - started < 20 )); then pass "the hanging tool did not hold the check"; else fail "took $(( $(date +%s) - started )) s"; fi

run hc --timeout 5parsecs
expect_rc 2 "an invalid duration is a usage error"
expect_err_contains "invalid duration" "the error says what is wrong"
run hc --format yaml
expect_rc 2 "an unknown format is a usage error"

# --- inside the image: storage and configuration -------------------------------------------------
etc="$T_TMP/etc-containers"
mkdir -p "$etc" "$T_TMP/home"
cp "$IMGF_SOURCE_DIR/config/storage.conf" "$IMGF_SOURCE_DIR/config/registries.conf" "$etc/"
export IMGFACTORY_CONTAINERS_DIR="$etc"
printf '[storage]\ndriver = "overlay"\ngraphroot = "%s/graph"\nrootless_storage_path = "%s/graph"\n' "$T_TMP" "$T_TMP" >"$T_TMP/storage.conf"
export CONTAINERS_STORAGE_CONF="$T_TMP/storage.conf"
run hc --require podman --optional '' --in-image --format json
expect_rc 1 "in the image without policy.json: unhealthy"
python3 - "$T_TMP/out" "$T_TMP" <<'EOF' && pass "storage, storage.conf, registries.conf, policy.json are required checks" || fail "in-image checks: $(cat "$T_TMP/out")"
import json, sys
r = json.load(open(sys.argv[1])); tmp = sys.argv[2]
by = {c["name"]: c for c in r["checks"]}
assert by["storage"]["ok"] and by["storage"]["required"] and by["storage"]["path"] == tmp + "/graph", by["storage"]
assert by["storage.conf"]["ok"] and by["storage.conf"]["path"] == tmp + "/storage.conf", by["storage.conf"]
assert by["registries.conf"]["ok"], by["registries.conf"]
assert not by["policy.json"]["ok"] and by["policy.json"]["error"] == "missing", by["policy.json"]
EOF
cp "$IMGF_SOURCE_DIR/config/policy.json" "$etc/"
IMGFACTORY_IN_IMAGE=1 run hc --require podman --optional ''
expect_rc 0 "IMGFACTORY_IN_IMAGE=1 with every file in place: healthy"
expect_out_contains "policy.json" "the configuration files are listed"

printf 'x' >"$T_TMP/a-file"
printf '[storage]\ndriver = "overlay"\ngraphroot = "%s/a-file/graph"\nrootless_storage_path = "%s/a-file/graph"\n' "$T_TMP" "$T_TMP" >"$T_TMP/storage.conf"
IMGFACTORY_IN_IMAGE=1 run hc --require podman --optional ''
expect_rc 1 "storage below a regular file is not writable: unhealthy"
expect_out_contains "is not a directory" "the storage problem is named"

done_testing
