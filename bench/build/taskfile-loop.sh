#!/usr/bin/env bash
# The peer: the original Image Factory Taskfile's plain loop — buildah per architecture in
# sequence into one manifest list, then one manifest push.
#   bench/build/taskfile-loop.sh REFERENCE CONTEXT BASE
set -euo pipefail
ref="$1" context="$2" base="$3"
isolation="${BUILDAH_ISOLATION:-chroot}"
buildah manifest rm "$ref" >/dev/null 2>&1 || true
buildah manifest create "$ref" >/dev/null
for platform in linux/amd64 linux/arm64; do
  buildah build --isolation "$isolation" --platform "$platform" --manifest "$ref" --layers \
    --file "$context/Dockerfile" --build-arg "BASE=$base" "$context"
done
buildah manifest push --all "$ref" "docker://$ref"
