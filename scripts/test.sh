#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds a release and an ASan+UBSan build,
# runs every test (unit, cli, e2e) in the release build and the unit and cli tests in the
# ASan+UBSan build (IMGF_ASAN_E2E=1: e2e there too). Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs="${JOBS:-$(nproc)}"

if [[ -d ../shared ]]; then
  echo "test: reference data found at ../shared" >&2
else
  echo "test: ../shared is not present: the reference-data tests will be skipped" >&2
fi

bash scripts/build.sh release
bash scripts/build.sh asan

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
status=0
echo "== release build: all tests" >&2
ctest --test-dir build/release --output-on-failure -j "$jobs" || status=1
# The real-tool e2e tests (buildah builds under qemu, git daemon) run once, in the release
# build, to keep CI well under 30 minutes on 2 cores; IMGF_ASAN_E2E=1 runs them under
# ASan+UBSan too (each passed there when written).
asan_filter=(-LE e2e)
if [[ "${IMGF_ASAN_E2E:-0}" == 1 ]]; then asan_filter=(); fi
echo "== asan+ubsan build: unit and cli tests${asan_filter:+ (e2e: IMGF_ASAN_E2E=1)}" >&2
ctest --test-dir build/asan --output-on-failure -j "$jobs" "${asan_filter[@]}" || status=1
exit $status
