# Shared setup of the build benchmarks (bench/build/run.sh, bench/inputs/run.sh): a scratch
# directory, private containers storage, a docker-registry on a free 127.0.0.1 port marked
# insecure by a drop-in, and the two-platform busybox base pushed to it; all undone at exit.
# Sourced from the repository root.
#
#   bench_env_start NAME   sets work, port, reg, base; exports CONTAINERS_STORAGE_CONF, TMPDIR
#   bench_empty_storage    removes every container and image of the private storage
source scripts/lib/registry.sh
source scripts/lib/binfmt.sh
source scripts/lib/busybox-base.sh

bench_empty_storage() {
  buildah rm --all >/dev/null 2>&1 || true
  buildah rmi --all --force >/dev/null 2>&1 || true
}

bench_env_stop() {
  bench_empty_storage
  registry_stop "$work/registry"
  registry_dropin_remove "$port"
  rm -rf "$work"
}

bench_env_start() {
  binfmt_ensure_aarch64 || exit 1
  work=$(mktemp -d "${TMPDIR:-/tmp}/imgf-bench-$1-XXXXXX")
  port=$(registry_free_port)
  trap bench_env_stop EXIT
  cat >"$work/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$work/storage"
runroot = "$work/runroot"
CONF
  export CONTAINERS_STORAGE_CONF="$work/storage.conf" TMPDIR="$work/tmp"
  mkdir -p "$TMPDIR"
  unset BUILDAH_ISOLATION SOURCE_DATE_EPOCH
  registry_start "$work/registry" "$port"
  registry_dropin_write "$port"
  reg="127.0.0.1:$port"
  base="$reg/imgfactory-bench/busybox:1.35"
  busybox_base_push "$base" "${IMGF_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imgfactory}"
}
