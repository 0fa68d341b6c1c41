#!/usr/bin/env bash
# Black-box test of `imgfactory analyze --dockerfile`: the six base-image cases of issue #2,
# BuildKit's parser fixtures through --format ast, and hostile input (each must end with
# exit 2 and a FILE:LINE message, never a crash or a hang).
set -uo pipefail
bin="${IMGFACTORY:?IMGFACTORY must point at the binary}"
src="${IMGF_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
shared="$src/../shared"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/imgf-analyze-df.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
fails=0
passes=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# run NAME EXPECTED_RC ARGS... : runs the binary with a time bound, keeps stdout/stderr.
run() {
  local name="$1" want="$2"; shift 2
  timeout 60 "$bin" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
  local rc=$?
  if [ "$rc" -ne "$want" ]; then
    bad "$name: exit $rc, want $want; stderr: $(head -c 400 "$tmp/$name.err")"
    return 1
  fi
  ok
}

# expect_error NAME FILE LINE TEXT: exit 2, message "imgfactory: FILE:LINE: ...TEXT..."
expect_error() {
  local name="$1" file="$2" line="$3" text="$4"
  run "$name" 2 analyze --dockerfile "$file" --format json || return
  if ! grep -qF "imgfactory: $file:$line: " "$tmp/$name.err" || ! grep -qF -- "$text" "$tmp/$name.err"; then
    bad "$name: message $(head -c 400 "$tmp/$name.err") lacks '$file:$line:' or '$text'"
  else
    ok
  fi
  [ -s "$tmp/$name.out" ] && bad "$name: printed to stdout on error"
}

# base_images FILE -> the "ref=canonical" pairs of baseImages, one per line
base_images() {
  "$bin" analyze --dockerfile "$1" --format json "${@:2}" |
    python3 -c 'import json,sys; [print(b["ref"]+"="+b["canonical"]) for b in json.load(sys.stdin)["baseImages"]]'
}

check_images() {
  local name="$1" content="$2" want="$3"
  printf '%b' "$content" >"$tmp/$name"
  local got
  got="$(base_images "$tmp/$name")"
  if [ "$got" = "$want" ]; then ok; else bad "$name: baseImages [$got], want [$want]"; fi
}

# ---- the six cases ---------------------------------------------------------------------------
# canonical is the reference as pulled: the implicit :latest written out (CLI.md)
check_images alpine 'FROM alpine\n' 'alpine=docker.io/library/alpine:latest'
check_images lower 'from debian\n' 'debian=docker.io/library/debian:latest'
check_images stage 'FROM ubuntu:22.04 AS build\nRUN make\nFROM build\n' 'ubuntu:22.04=docker.io/library/ubuntu:22.04'
check_images arg 'ARG BASE=node:22\nFROM ${BASE}\n' 'node:22=docker.io/library/node:22'
check_images platform 'FROM --platform=$BUILDPLATFORM golang:1.22 AS gob\n' 'golang:1.22=docker.io/library/golang:1.22'
check_images registry 'FROM 127.0.0.1:5000/team/app:1.0\n' '127.0.0.1:5000/team/app:1.0=127.0.0.1:5000/team/app:1.0'

# The implicit tag in canonical only: tag stays null, the state name stays the original's; a
# digest alone is pulled by digest (no tag); COPY --from images and the text output likewise.
printf 'FROM alpine\nFROM busybox@sha256:%064d AS b\nCOPY --from=debian /etc/os-release /\n' 0 >"$tmp/implicit"
run implicit 0 analyze --dockerfile "$tmp/implicit" --format json &&
  python3 - "$tmp/implicit.out" <<'PY' && ok || bad "implicit tag: $(cat "$tmp/implicit.out")"
import json, sys
d = json.load(open(sys.argv[1]))
a, b = d["baseImages"]
assert a["ref"] == "alpine" and a["tag"] is None and a["name"] == "alpine", a
assert a["canonical"] == "docker.io/library/alpine:latest", a
assert b["tag"] is None and b["canonical"] == "docker.io/library/busybox@sha256:" + "0" * 64, b
[c] = d["copyFromImages"]
assert c["ref"] == "debian" and c["tag"] is None and c["name"] == "debian", c
assert c["canonical"] == "docker.io/library/debian:latest", c
PY
run implicit-text 0 analyze --dockerfile "$tmp/implicit" &&
  grep -qF "  alpine  docker.io/library/alpine:latest  state: alpine" "$tmp/implicit-text.out" &&
  grep -qF "  debian  docker.io/library/debian:latest  state: debian" "$tmp/implicit-text.out" && ok ||
  bad "implicit tag, text: $(cat "$tmp/implicit-text.out")"
# alpine and docker.io/library/alpine:latest are one image: listed once
check_images same 'FROM alpine AS a\nFROM docker.io/library/alpine:latest AS b\n' 'alpine=docker.io/library/alpine:latest'

# --build-arg, --platform (repeatable and comma-separated), --target
printf 'ARG TAG=1\nFROM example.com/a-${TARGETARCH}:${TAG} AS one\nFROM debian AS two\n' >"$tmp/multi"
got="$(base_images "$tmp/multi" --build-arg TAG=2 --platform linux/amd64,linux/arm64 --target one | tr '\n' ' ')"
want='example.com/a-amd64:2=example.com/a-amd64:2 example.com/a-arm64:2=example.com/a-arm64:2 '
[ "$got" = "$want" ] && ok || bad "multi: got [$got], want [$want]"
run text 0 analyze --dockerfile "$tmp/multi" && grep -q "^Base images:" "$tmp/text.out" && ok || bad "text output"
run json-shape 0 analyze --dockerfile "$src/examples/app/Dockerfile" --format json &&
  python3 - "$tmp/json-shape.out" <<'PY' && ok || bad "json shape of the bundled example"
import json, sys
d = json.load(open(sys.argv[1]))
assert list(d)[:4] == ["dockerfile", "stages", "baseImages", "copyFromImages"], list(d)
s = d["stages"][0]
assert [k for k in s][:6] == ["index", "name", "from", "resolved", "platform", "kind"], s
assert s["name"] == "toolchain" and s["platform"] == "$BUILDPLATFORM" and s["kind"] == "image"
b = d["baseImages"][1]
assert b == {**b, "ref": "127.0.0.1:5000/imgfactory-demo/busybox:1.35", "registry": "127.0.0.1:5000",
             "repository": "imgfactory-demo/busybox", "tag": "1.35", "digest": None,
             "name": "127.0.0.1-5000-imgfactory-demo-busybox-1.35"}, b
PY

# ---- BuildKit's fixtures through the CLI ---------------------------------------------------------
if [ -d "$shared/fixtures/dockerfile-parser/testfiles" ]; then
  for d in "$shared"/fixtures/dockerfile-parser/testfiles/*/; do
    n="$(basename "$d")"
    if timeout 20 "$bin" analyze --dockerfile "$d/Dockerfile" --format ast >"$tmp/ast.out" 2>"$tmp/ast.err" &&
      cmp -s "$tmp/ast.out" "$d/result"; then ok; else bad "ast $n differs from BuildKit's result"; fi
  done
  for d in "$shared"/fixtures/dockerfile-parser/testfiles-negative/*/; do
    n="$(basename "$d")"
    run "neg-$n" 2 analyze --dockerfile "$d/Dockerfile" --format ast &&
      { grep -qE "^imgfactory: $d/?Dockerfile:[0-9]+: " "$tmp/neg-$n.err" && ok || bad "neg-$n: no FILE:LINE in $(cat "$tmp/neg-$n.err")"; }
  done
else
  echo "note: $shared is absent: BuildKit fixture checks skipped" >&2
fi

# ---- hostile input --------------------------------------------------------------------------------
: >"$tmp/empty"
expect_error empty "$tmp/empty" 1 "file with no instructions"
head -c 65536 /dev/urandom | tr -d '\n' | head -c 30000 >"$tmp/garbage"
run garbage 2 analyze --dockerfile "$tmp/garbage" && grep -q "^imgfactory: $tmp/garbage:1: " "$tmp/garbage.err" && ok || bad "garbage: $(head -c 300 "$tmp/garbage.err")"
{ printf 'FROM alpine\nRUN '; head -c $((10 * 1024 * 1024)) /dev/zero | tr '\0' 'x'; printf '\n'; } >"$tmp/bigline"
expect_error bigline "$tmp/bigline" 2 "dockerfile line greater than max allowed size of 65535"
printf 'FROM alpine\nRUN <<EOF\necho never ends\n' >"$tmp/heredoc"
expect_error heredoc "$tmp/heredoc" 2 "unterminated heredoc"
printf 'FROM alpine:${TAG\n' >"$tmp/brace"
expect_error brace "$tmp/brace" 1 "missing '}'"
printf 'FROM alpine\nFROBNICATE now\n' >"$tmp/unknown"
expect_error unknown "$tmp/unknown" 2 "unknown instruction: FROBNICATE"
printf 'ARG BASE\nFROM ${BASE}\n' >"$tmp/blank"
expect_error blank "$tmp/blank" 2 "base name (\${BASE}) should not be blank"
printf 'FROM alpine\nRUN echo caf\xe9\n' >"$tmp/latin1"
expect_error latin1 "$tmp/latin1" 2 "invalid UTF-8"
printf 'FROM alpine\nRUN echo a\0b\n' >"$tmp/nul"
expect_error nul "$tmp/nul" 2 "NUL byte"
printf 'FROM Alpine\n' >"$tmp/upper"
expect_error upper "$tmp/upper" 1 "must be lowercase"
run missing 2 analyze --dockerfile "$tmp/does-not-exist"
run badformat 2 analyze --dockerfile "$tmp/alpine" --format yaml
run badplatform 2 analyze --dockerfile "$tmp/alpine" --platform linux/z80
run enrollment 2 analyze

# 200,000 continuation lines and 20,000 stages (time is measured in bench/, here only bounded).
python3 - "$tmp" <<'PY'
import sys
d = sys.argv[1]
with open(d + "/cont", "w") as f:
    f.write("FROM alpine\nRUN true" + " \\\n && x" * 200000 + "\n")
with open(d + "/stages", "w") as f:
    f.write("FROM alpine AS s0\n" + "".join(f"FROM s{i-1} AS s{i}\n" for i in range(1, 20000)))
PY
got="$(base_images "$tmp/cont")"; [ "$got" = "alpine=docker.io/library/alpine:latest" ] && ok || bad "cont: [$got]"
got="$(base_images "$tmp/stages")"; [ "$got" = "alpine=docker.io/library/alpine:latest" ] && ok || bad "stages: [$got]"

echo "analyze_dockerfile: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
