#!/usr/bin/env bash
# Installs everything imgfactory builds with and its tests run against, from Debian's
# packages. Idempotent: packages already present are not fetched again.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  # the man page: generated from --help at build time, rendered by tests/cli/install.sh
  help2man man-db
  # libraries (see README "Dependencies")
  libcli11-dev libgit2-dev nlohmann-json3-dev libyaml-cpp-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libre2-dev libssl-dev
  # real tools the tests and the demo use
  buildah podman skopeo docker-registry git qemu-user-static busybox-static uidmap
  fuse-overlayfs python3 python3-yaml python3-jsonschema jq hyperfine debootstrap
  # tests/e2e/job_pod.sh: plays the generated Job with runc under Docker's default seccomp profile
  runc golang-github-docker-docker-dev catatonit slirp4netns
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} > 0)); then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  echo "setup: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
else
  echo "setup: all packages present" >&2
fi

# The other architecture's packages (busybox-static for the two-platform base image of the
# build e2e tests and demo: `apt-get download busybox-static:arm64`).
other_arch=arm64
[[ $(dpkg --print-architecture) == arm64 ]] && other_arch=amd64
if ! dpkg --print-foreign-architectures | grep -qx "$other_arch"; then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  echo "setup: adding the $other_arch architecture" >&2
  $SUDO dpkg --add-architecture "$other_arch"
  $SUDO apt-get update -qq
fi
