#!/usr/bin/env bash
# scripts/demo-analyze.sh (the README's first command runs it): analyze on the bundled
# example state repository through a loopback git daemon, then the graph; the daemon is
# gone afterwards.
source "$(dirname "$0")/../lib/testlib.sh"
command -v git >/dev/null || { echo "SKIP: git is not installed" >&2; exit 77; }
export HOME="$T_TMP/home" GIT_CONFIG_NOSYSTEM=1
mkdir -p "$HOME"

run env IMGFACTORY="$IMGFACTORY" bash "$IMGF_SOURCE_DIR/scripts/demo-analyze.sh" "$T_TMP/demo"
expect_rc 0 "scripts/demo-analyze.sh"
expect_out_contains "created       images/app.yaml" "the first run creates the state files"
expect_out_contains "analyzed 3 images: 0 created, 0 updated, 6 unchanged" "the second run changes nothing"
expect_out_contains "graph LR" "the graph is printed as mermaid"
expect_out_contains "b1 --> i0" "the graph shows busybox -> app"
expect_out_contains "i0 -.-> b0" "the graph shows app publishing the base of tools"
port=$(grep -o 'git://127.0.0.1:[0-9]*' "$T_TMP/out" | head -1 | cut -d: -f3)
if [[ -n "$port" ]] && ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  pass "the git daemon was stopped"
else
  fail "the git daemon on port '$port' still answers"
fi
[[ -d "$T_TMP/demo/state/.image-factory-cache" ]] && pass "the source cache is kept for later demo steps" || fail "no cache"
if git -C "$IMGF_SOURCE_DIR" status --porcelain -- examples | grep -q .; then
  fail "the demo modified examples/: $(git -C "$IMGF_SOURCE_DIR" status --porcelain -- examples)"
else
  pass "examples/ is left as it was"
fi
done_testing
