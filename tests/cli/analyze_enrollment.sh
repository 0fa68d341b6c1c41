#!/usr/bin/env bash
# `imgfactory analyze` over an enrollment of local sources: output formats, --image,
# --dry-run, input errors with FILE:LINE and exit 2, an unreadable state file.
source "$(dirname "$0")/../lib/testlib.sh"

S="$T_TMP/state"
mkdir -p "$S/apps/api" "$S/apps/web"
printf 'FROM python:3.12-slim\n' >"$S/apps/api/Dockerfile"
printf 'FROM ghcr.io/team/api:1\nCOPY --from=alpine /etc/os-release /\n' >"$S/apps/web/Dockerfile"
cat >"$S/images.yaml" <<'EOF2'
- name: api
  registry: ghcr.io
  repository: team/api
  local:
    dir: apps/api
- name: web
  registry: ghcr.io
  repository: team/web
  local:
    dir: apps/web
EOF2
export SOURCE_DATE_EPOCH=1769940000

run "$IMGFACTORY" --state-dir "$S" analyze --dry-run
expect_rc 0 "--dry-run"
expect_out_contains "would create  images/api.yaml" "--dry-run says what it would write"
expect_out_contains "(dry run: nothing written)" "--dry-run says nothing was written"
[[ ! -e "$S/images" ]] && pass "--dry-run wrote nothing" || fail "--dry-run wrote files"

run "$IMGFACTORY" --state-dir "$S" analyze --image web --format json
expect_rc 0 "--image web --format json"
if jq -e '(.images | length) == 1 and .images[0].baseImages == ["ghcr.io-team-api-1", "alpine"]' "$T_TMP/out" >/dev/null; then
  pass "--image analyses only that image"
else
  fail "--image: $(cat "$T_TMP/out")"
fi
[[ ! -e "$S/images/api.yaml" ]] && pass "--image leaves other images alone" || fail "api.yaml written"

run "$IMGFACTORY" --state-dir "$S" analyze
expect_rc 0 "whole enrollment"
expect_out_contains "created       images/api.yaml" "text report lists created files"
expect_out_contains "analyzed 2 images: 2 created, 0 updated, 3 unchanged" "text report summary"
grep -qx "enrolledAt: '2026-02-01T10:00:00Z'" "$S/images/api.yaml" && pass "SOURCE_DATE_EPOCH sets the time" || fail "time: $(cat "$S/images/api.yaml")"

run "$IMGFACTORY" --state-dir "$S" analyze --graph dot
expect_rc 0 "--graph dot"
expect_out_contains '"image:api" -> "base:ghcr.io-team-api-1" [style=dashed];' "dot: api publishes the base web is built on"
expect_out_contains '"base:ghcr.io-team-api-1" -> "image:web";' "dot: base -> dependent"
expect_err_contains "analyzed 2 images: 0 created, 0 updated, 5 unchanged" "the summary goes to the log with --graph"
run "$IMGFACTORY" --state-dir "$S" analyze --graph mermaid
expect_out_contains "graph LR" "--graph mermaid"
run "$IMGFACTORY" --state-dir "$S" analyze --graph json
if jq -e '.order == ["api", "web"]' "$T_TMP/out" >/dev/null; then pass "--graph json: build order"; else fail "$(cat "$T_TMP/out")"; fi
if jq -e '[.baseImages[] | {name, ref, canonical}] == [
    {"name": "alpine", "ref": "alpine", "canonical": "docker.io/library/alpine:latest"},
    {"name": "ghcr.io-team-api-1", "ref": "ghcr.io/team/api:1", "canonical": "ghcr.io/team/api:1"},
    {"name": "python-3.12-slim", "ref": "python:3.12-slim", "canonical": "docker.io/library/python:3.12-slim"}]' \
    "$T_TMP/out" >/dev/null; then
  pass "--graph json: each base image as written (ref) and as pulled (canonical, implicit :latest)"
else
  fail "--graph json base images: $(jq -c '.baseImages' "$T_TMP/out")"
fi

# Usage and input errors: exit 2, nothing written.
run "$IMGFACTORY" --state-dir "$S" analyze --graph json --format json
expect_rc 2 "--graph with --format json"
run "$IMGFACTORY" --state-dir "$S" analyze --graph svg
expect_rc 2 "an unknown graph format"
run "$IMGFACTORY" --state-dir "$S" analyze --image nope
expect_rc 2 "an unknown --image"
expect_err_contains "enrolled images: api, web" "the error lists the enrolled images"
run "$IMGFACTORY" --state-dir "$S" analyze --git-timeout soon
expect_rc 2 "a bad --git-timeout"
run "$IMGFACTORY" --state-dir "$S" analyze --format ast
expect_rc 2 "--format ast without --dockerfile"
printf -- '- name: api\n  repository: team/api\n  autoRebuild: maybe\n' >"$T_TMP/bad.yaml"
run "$IMGFACTORY" --state-dir "$S" --images "$T_TMP/bad.yaml" analyze
expect_rc 2 "an invalid images.yaml"
expect_err_contains "bad.yaml:3:" "the error names FILE:LINE"

# A state file that is not YAML: that image fails (exit 1), the file is left as it was.
printf 'name: api\nbaseImages: [unclosed\n' >"$S/images/api.yaml"
run "$IMGFACTORY" --state-dir "$S" analyze
expect_rc 1 "an unreadable state file fails the run"
expect_err_contains "images/api.yaml:" "the error names the state file"
grep -q unclosed "$S/images/api.yaml" && pass "the unreadable file is left alone" || fail "it was overwritten"

done_testing
