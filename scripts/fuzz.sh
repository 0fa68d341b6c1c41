#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for SECONDS
# (default 300). Seed corpora are generated at run time from ../shared's BuildKit parser
# fixtures and the bundled example; nothing is copied into the repository.
# Usage: scripts/fuzz.sh [seconds] [target...]   (targets: reference_fuzz dockerfile_fuzz)
# Crash inputs land in build/fuzz/artifacts/; add each to tests/data/fuzz-regressions/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-300}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(reference_fuzz dockerfile_fuzz)
command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ is needed (apt-get install clang)" >&2; exit 2; }
out=build/fuzz
CXX=clang++ CC=clang cmake -S . -B "$out" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DIMGF_FUZZ=ON -DIMGF_TESTS=OFF -DIMGF_WERROR=OFF >&2
cmake --build "$out" -j "${JOBS:-2}" --target "${targets[@]}" >&2

shared="${IMGF_SHARED_DIR:-$(cd .. && pwd)/shared}"
mkdir -p "$out/corpus/dockerfile" "$out/corpus/reference" "$out/artifacts"
n=0
if [ -d "$shared/fixtures/dockerfile-parser" ]; then
  for f in "$shared"/fixtures/dockerfile-parser/testfiles*/*/Dockerfile; do
    n=$((n + 1)); cp "$f" "$out/corpus/dockerfile/seed-$n"
  done
else
  echo "fuzz.sh: $shared is absent: dockerfile seeds are the bundled example only" >&2
fi
cp examples/app/Dockerfile "$out/corpus/dockerfile/seed-example"
for f in tests/data/fuzz-regressions/dockerfile/*; do [ -f "$f" ] && cp "$f" "$out/corpus/dockerfile/"; done
i=0
for r in alpine debian:12 node:22-bookworm-slim 127.0.0.1:5000/team/app:1.0 '[::1]:5000/a/b:c' \
  localhost/x gcr.io/distroless/python3-debian12:latest mcr.microsoft.com/playwright:v1.40.0-focal \
  "busybox@sha256:$(printf '%064d' 7)" "a:b@sha512:$(printf '%0128d' 1)" Foo/bar index.docker.io/x; do
  i=$((i + 1)); printf '%s' "$r" > "$out/corpus/reference/seed-$i"
done
for f in tests/data/fuzz-regressions/reference/*; do [ -f "$f" ] && cp "$f" "$out/corpus/reference/"; done

for t in "${targets[@]}"; do
  [ -x "$out/tests/fuzz/$t" ] || { echo "fuzz.sh: $out/tests/fuzz/$t was not built" >&2; exit 1; }
  corpus="$out/corpus/${t%_fuzz}"
  echo "== $t for ${secs}s (corpus $corpus)" >&2
  "$out/tests/fuzz/$t" -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$out/artifacts/$t-" "$corpus" 2>&1 | tee "$out/$t.log" | grep -E "stat::number_of_executed_units|ERROR|SUMMARY|Done" || true
  if grep -q "ERROR: libFuzzer\|SUMMARY: .*Sanitizer" "$out/$t.log"; then
    echo "fuzz.sh: $t found a problem; see $out/$t.log and $out/artifacts/" >&2
    exit 1
  fi
done
