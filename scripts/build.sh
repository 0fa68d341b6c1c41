#!/usr/bin/env bash
# Configures and builds imgfactory with warnings as errors (-DIMGF_WERROR=ON: our scripts and
# CI; a plain `cmake -S . -B build` only warns). Usage:
#   scripts/build.sh [release|asan] [TARGET...]   (default release, every target)
# e.g. `scripts/build.sh release imgfactory` builds the binary alone, not the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-release}"
shift || true
jobs="${JOBS:-$(nproc)}"
# ccache when the machine has it (developers' worktrees share one cache; CI has none).
launcher=()
if command -v ccache >/dev/null 2>&1; then
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$(pwd)}"
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
case "$kind" in
  release) cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIMGF_WERROR=ON "${launcher[@]}" >&2 ;;
  asan) cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DIMGF_SANITIZE=ON -DIMGF_WERROR=ON "${launcher[@]}" >&2 ;;
  *) echo "usage: scripts/build.sh [release|asan] [TARGET...]" >&2; exit 2 ;;
esac
targets=()
if (($# > 0)); then targets=(--target "$@"); fi
cmake --build "build/$kind" -j "$jobs" "${targets[@]}" >&2
