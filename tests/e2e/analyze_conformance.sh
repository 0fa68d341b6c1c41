#!/usr/bin/env bash
# Acceptance: analyze a COPY of ../shared/fixtures/image-factory-state (the original tool's
# state repository, made at test time, never kept in the repository) whose sources are
# served by a loopback `git daemon` through url.<base>.insteadOf. State files keep the
# fixtures' keys, order and comments and their runtime fields; a second run rewrites nothing.
source "$(dirname "$0")/../lib/testlib.sh"
require_shared
source "$(dirname "$0")/../lib/gitlib.sh"
command -v git >/dev/null || { echo "SKIP: git is not installed" >&2; exit 77; }

FIX="$SHARED_DIR/fixtures/image-factory-state"
STATE="$T_TMP/state"
cp -r "$FIX" "$STATE"
export SOURCE_DATE_EPOCH=1769940000 # 2026-02-01T10:00:00Z
NOW="2026-02-01T10:00:00Z"

# The enrolled sources, with Dockerfiles at the enrolled paths.
git_daemon_start || exit 1
git_map "https://github.com/"
git_repo craigedmunds/argocd-eda
git_put craigedmunds/argocd-eda backstage/app/packages/backend/Dockerfile $'FROM node:22-bookworm-slim\nRUN yarn install\n'
git_put craigedmunds/argocd-eda apps/uv/Dockerfile $'ARG PY=3.12\nFROM python:${PY}-slim AS build\nRUN pip install uv\nFROM gcr.io/distroless/python3-debian12:latest\nCOPY --from=build /usr/local /usr/local\n'
git_put craigedmunds/argocd-eda apps/e2e-test-runner/Dockerfile $'FROM mcr.microsoft.com/playwright:v1.40.0-focal\n'
git_put craigedmunds/argocd-eda platform/kustomize/seed/supporting-applications/code-server/Dockerfile $'FROM codercom/code-server:4.96.2\n'
git_repo craigedmunds/market-making
git_put craigedmunds/market-making metrics-service/Dockerfile $'FROM python:3.12-slim AS base\nFROM base\n'

# mtimes of the fixture files before the first run (set to the past to see rewrites).
find "$STATE/state" -name '*.yaml' -exec touch -d '2020-01-01 00:00:00' {} +

run "$IMGFACTORY" --state-dir "$STATE" analyze --format json
expect_rc 0 "first analyze of the fixture copy"
cp "$T_TMP/out" "$T_TMP/first.json"
if jq -e '.summary.failed == 0 and .summary.images == 5' "$T_TMP/first.json" >/dev/null; then
  pass "all five enrolled images analysed"
else
  fail "summary: $(jq -c .summary "$T_TMP/first.json")"
fi

# images/*.yaml: exactly the fixture but for discoveryStatus (the original only wrote
# "pending"), lastDiscovery (changed now) and the original's stray blank line at the end.
for name in backstage uv e2e-test-runner metrics-service; do
  expected="$T_TMP/expected-$name.yaml"
  sed -e 's/^discoveryStatus: .*/discoveryStatus: success/' \
    -e "s/^lastDiscovery: .*/lastDiscovery: '$NOW'/" "$FIX/state/images/$name.yaml" |
    sed -e ':a' -e '/^\n*$/{$d;N;ba' -e '}' >"$expected"
  if diff -u "$expected" "$STATE/state/images/$name.yaml" >"$T_TMP/diff"; then
    pass "state/images/$name.yaml keeps the fixture's keys, order, comments and runtime fields"
  else
    fail "state/images/$name.yaml differs from the fixture: $(cat "$T_TMP/diff")"
  fi
done

# base-images: distroless needs no change (kept byte for byte, mtime too); python and
# playwright get an allowTags that matches their tag (the original double-escaped it);
# node loses the Python "None"s an older writer left.
if cmp -s "$FIX/state/base-images/distroless-python3-debian12-latest.yaml" \
  "$STATE/state/base-images/distroless-python3-debian12-latest.yaml" &&
  [[ $(stat -c %Y "$STATE/state/base-images/distroless-python3-debian12-latest.yaml") == $(date -d '2020-01-01 00:00:00' +%s) ]]; then
  pass "an unchanged base image file is not rewritten (content and mtime)"
else
  fail "distroless base image file was rewritten"
fi
for f in python-3.12-slim mcr.microsoft.com-playwright-v1.40.0-focal node-22-bookworm-slim; do
  expected="$T_TMP/expected-$f.yaml"
  sed -e 's/\\\\\./\\./g' -e 's/: None/: null/' -e "s/^lastChecked: .*/lastChecked: '$NOW'/" \
    "$FIX/state/base-images/$f.yaml" >"$expected"
  if diff -u "$expected" "$STATE/state/base-images/$f.yaml" >"$T_TMP/diff"; then
    pass "state/base-images/$f.yaml keeps the fixture's shape and runtime fields"
  else
    fail "state/base-images/$f.yaml: $(cat "$T_TMP/diff")"
  fi
done
# The distroless base keeps the original's name (registry dropped); no second file appears.
if [[ ! -e "$STATE/state/base-images/gcr.io-distroless-python3-debian12-latest.yaml" ]] &&
  grep -q '^  - distroless-python3-debian12-latest$' "$STATE/state/images/uv.yaml"; then
  pass "an existing base-images file with the same fullImage keeps its name"
else
  fail "distroless was renamed: $(ls "$STATE/state/base-images")"
fi
# Sample files are not state: untouched.
for f in state/images/backstage.example.yaml state/base-images/node-22-bookworm-slim.example.yaml images.yaml; do
  if cmp -s "$FIX/$f" "$STATE/$f"; then pass "$f untouched"; else fail "$f was modified"; fi
done
# The image without a state file gets a new one, and its base image one too.
if grep -q '^discoveryStatus: success$' "$STATE/state/images/code-server-dev.yaml" &&
  grep -q '^  - codercom-code-server-4.96.2$' "$STATE/state/images/code-server-dev.yaml" &&
  grep -q "^enrolledAt: '$NOW'$" "$STATE/state/images/code-server-dev.yaml" &&
  grep -qxF 'allowTags: ^4\.96\.2$' "$STATE/state/base-images/codercom-code-server-4.96.2.yaml"; then
  pass "a newly enrolled image and its base image get state files"
else
  fail "code-server-dev: $(cat "$STATE/state/images/code-server-dev.yaml" "$STATE/state/base-images/codercom-code-server-4.96.2.yaml" 2>&1)"
fi
# Every written file is valid YAML whose top-level keys come in the fixture order.
if python3 - "$STATE/state" <<'EOF'
import sys, yaml, pathlib
for p in pathlib.Path(sys.argv[1]).rglob("*.yaml"):
    yaml.safe_load(p.read_text())
EOF
then pass "every state file parses as YAML (PyYAML, the original's reader)"; else fail "a state file does not parse"; fi

# Second run: nothing rewritten.
find "$STATE/state" -name '*.yaml' -exec touch -d '2021-01-01 00:00:00' {} +
sums_before=$(cd "$STATE" && find state -type f -name '*.yaml' -exec sha256sum {} + | sort)
export SOURCE_DATE_EPOCH=1772323200 # a month later
run "$IMGFACTORY" --state-dir "$STATE" analyze --format json
expect_rc 0 "second analyze"
if jq -e '.summary.created == 0 and .summary.updated == 0 and .summary.unchanged > 0' "$T_TMP/out" >/dev/null; then
  pass "second run reports every file unchanged"
else
  fail "second run changed files: $(jq -c '.files[] | select(.action != "unchanged")' "$T_TMP/out")"
fi
sums_after=$(cd "$STATE" && find state -type f -name '*.yaml' -exec sha256sum {} + | sort)
newer=$(find "$STATE/state" -name '*.yaml' -newermt '2021-01-02' | wc -l)
if [[ "$sums_before" == "$sums_after" && "$newer" == 0 ]]; then
  pass "second run rewrites nothing (content and mtimes)"
else
  fail "second run touched $newer files"
fi

# The text report and the graph.
run "$IMGFACTORY" --state-dir "$STATE" analyze --graph json
expect_rc 0 "analyze --graph json"
if jq -e '(.baseImages[] | select(.name == "python-3.12-slim") | .dependents) == ["metrics-service", "uv"]' \
  "$T_TMP/out" >/dev/null; then
  pass "graph: python-3.12-slim -> metrics-service, uv"
else
  fail "graph: $(head -c 2000 "$T_TMP/out")"
fi

done_testing
