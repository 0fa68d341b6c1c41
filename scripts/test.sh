#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds a release and an ASan+UBSan build,
# and runs every test (unit, cli, e2e) in both. Usage: scripts/test.sh
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
echo "== asan+ubsan build: all tests" >&2
ctest --test-dir build/asan --output-on-failure -j "$jobs" || status=1
exit $status
