#!/usr/bin/env bash
# `imgfactory analyze --digests` with a fake skopeo on PATH (it records its argv and serves a
# manifest per reference from files): the digest recorded, a change with previousDigest,
# history and rebuildEligibleAt, a registry that cannot tell named with its file left as it
# was and exit 1, the JSON report, and the input errors.
source "$(dirname "$0")/../lib/testlib.sh"

S="$T_TMP/state"
mkdir -p "$S/apps/api" "$S/apps/web" "$T_TMP/bin" "$T_TMP/served"
printf 'FROM registry.example/team/base:1\n' >"$S/apps/api/Dockerfile"
printf 'FROM registry.example/team/base:1\nCOPY --from=gone.example/x/tool:2 /t /t\n' >"$S/apps/web/Dockerfile"
cat >"$S/images.yaml" <<'EOF2'
- name: api
  registry: ghcr.io
  repository: team/api
  rebuildDelay: 2d
  local:
    dir: apps/api
- name: web
  registry: ghcr.io
  repository: team/web
  rebuildDelay: 12h
  local:
    dir: apps/web
EOF2
# The fake: `skopeo [--command-timeout D] inspect --raw docker://REF` prints served/<REF with / and : as _>.
cat >"$T_TMP/bin/skopeo" <<FAKE
#!/bin/sh
echo "\$*" >>"$T_TMP/skopeo.calls"
for a in "\$@"; do ref="\$a"; done
f="$T_TMP/served/\$(echo "\${ref#docker://}" | tr '/:' '__')"
if [ -f "\$f" ]; then cat "\$f"; exit 0; fi
echo "time=\"x\" level=fatal msg=\"reading manifest in \${ref#docker://}: manifest unknown: manifest unknown\"" >&2
exit 1
FAKE
chmod +x "$T_TMP/bin/skopeo"
index() { printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"digest":"sha256:%064d","platform":{"os":"linux","architecture":"amd64"}}]}' "$1"; }
index 1 >"$T_TMP/served/registry.example_team_base_1"
sha() { python3 -c 'import hashlib,sys; print("sha256:"+hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"; }
D1=$(sha "$T_TMP/served/registry.example_team_base_1")
base="$S/base-images/registry.example-team-base-1.yaml"
gone="$S/base-images/gone.example-x-tool-2.yaml"

export SOURCE_DATE_EPOCH=1769940000  # 2026-02-01T10:00:00Z
PATH="$T_TMP/bin:$PATH" run "$IMGFACTORY" --state-dir "$S" analyze --digests
expect_rc 1 "a base image whose registry cannot tell: exit 1"
expect_err_contains "base image 'gone.example-x-tool-2' (base-images/gone.example-x-tool-2.yaml): cannot ask the registry for gone.example/x/tool:2: reading manifest in gone.example/x/tool:2: manifest unknown" "names the image, its file and skopeo's error"
expect_out_contains "failed        base-images/gone.example-x-tool-2.yaml" "the report lists the failure"
expect_out_contains "digest        base-images/registry.example-team-base-1.yaml ${D1:0:19}… (first recorded)" "the report lists the digest"
grep -qx "currentDigest: $D1" "$base" && pass "currentDigest recorded" || fail "$(cat "$base")"
grep -qx "lastChecked: '2026-02-01T10:00:00Z'" "$base" && pass "lastChecked" || fail "$(cat "$base")"
grep -qx "currentDigest: null" "$gone" && pass "the failed image's file is left as analyze wrote it" || fail "$(cat "$gone")"
[[ $(grep -c "gone.example/x/tool:2" "$T_TMP/skopeo.calls") == 1 ]] && pass "manifest unknown is not retried" ||
  fail "calls: $(cat "$T_TMP/skopeo.calls")"
grep -q -- "--command-timeout 30s inspect --raw docker://registry.example/team/base:1" "$T_TMP/skopeo.calls" &&
  pass "skopeo argv with its per-attempt timeout" || fail "calls: $(cat "$T_TMP/skopeo.calls")"

# The base changes; the unknown tool now exists.
index 2 >"$T_TMP/served/registry.example_team_base_1"
index 3 >"$T_TMP/served/gone.example_x_tool_2"
D2=$(sha "$T_TMP/served/registry.example_team_base_1")
export SOURCE_DATE_EPOCH=1770026400  # 2026-02-02T10:00:00Z
PATH="$T_TMP/bin:$PATH" run "$IMGFACTORY" --state-dir "$S" analyze --digests --format json
expect_rc 0 "all registries answer: exit 0"
if python3 - "$T_TMP/out" "$D1" "$D2" <<'PY'; then pass "json: digests with the change and the eligibility"; else fail "json: $(cat "$T_TMP/out")"; fi
import json, sys
d = {x["name"]: x for x in json.load(open(sys.argv[1]))["digests"]}
b = d["registry.example-team-base-1"]
assert b["changed"] and b["previousDigest"] == sys.argv[2] and b["digest"] == sys.argv[3], b
assert b["rebuildEligibleAt"] == "2026-02-02T22:00:00Z", b  # + 12h, web's (the shortest)
assert d["gone.example-x-tool-2"]["previousDigest"] is None and not d["gone.example-x-tool-2"]["changed"]
PY
grep -qx "previousDigest: $D1" "$base" && pass "previousDigest" || fail "$(cat "$base")"
grep -qx "lastUpdated: '2026-02-02T10:00:00Z'  # Will be set when digest first changes" "$base" && pass "lastUpdated" ||
  fail "$(cat "$base")"
python3 - "$base" "$D1" "$D2" <<'PY' && pass "updateHistory entry and per-image eligibility" || fail "$(cat "$base")"
import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
assert d["updateHistory"] == [{"digest": sys.argv[3], "previousDigest": sys.argv[2], "detectedAt": "2026-02-02T10:00:00Z"}], d
assert d["rebuildEligibleAt"] == {"default": "2026-02-02T22:00:00Z", "api": "2026-02-04T10:00:00Z", "web": "2026-02-02T22:00:00Z"}, d
PY
# A later analyze without --digests leaves the recorded fields alone.
before=$(cat "$base")
run "$IMGFACTORY" --state-dir "$S" analyze
expect_rc 0 "analyze without --digests"
[[ "$(cat "$base")" == "$before" ]] && pass "the canonical writer keeps what --digests wrote" || fail "$(diff <(echo "$before") "$base")"

run "$IMGFACTORY" --state-dir "$S" analyze --digests --offline
expect_rc 2 "--digests with --offline"
run "$IMGFACTORY" analyze --digests --dockerfile "$S/apps/api/Dockerfile"
expect_rc 2 "--digests with --dockerfile"

done_testing
