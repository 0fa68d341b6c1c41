#!/usr/bin/env bash
# Configures and builds imgfactory. Usage: scripts/build.sh [release|asan] (default release).
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-release}"
jobs="${JOBS:-$(nproc)}"
case "$kind" in
  release) cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2 ;;
  asan) cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DIMGF_SANITIZE=ON >&2 ;;
  *) echo "usage: scripts/build.sh [release|asan]" >&2; exit 2 ;;
esac
cmake --build "build/$kind" -j "$jobs" >&2
