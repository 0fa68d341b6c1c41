# A private containers storage under a directory, selected with CONTAINERS_STORAGE_CONF, so that
# buildah, skopeo and imgfactory (its children inherit the environment) neither use nor leave
# anything in the default storage (/var/lib/containers/storage), which other runs share.
# Sourced by tests/lib/build_e2e.sh and scripts/demo-build.sh.
#
#   storage_private DIR   DIR/storage.conf: graphroot DIR/storage, runroot DIR/runroot (overlay);
#                         exports CONTAINERS_STORAGE_CONF
#   storage_remove DIR    removes the containers and images of that storage only (buildah's --root
#                         and --runroot name it: never the default storage, even without the
#                         conf file), unmounts what a killed build left mounted under DIR, and
#                         deletes DIR/storage, DIR/runroot, DIR/storage.conf. Safe to call twice.

storage_private() {
  local dir="$1"
  mkdir -p "$dir/storage" "$dir/runroot" || return 1
  cat >"$dir/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$dir/storage"
runroot = "$dir/runroot"
CONF
  export CONTAINERS_STORAGE_CONF="$dir/storage.conf"
}

storage_remove() {
  local dir="$1" m
  [[ -n "$dir" && "$dir" != / ]] || return 1
  if [[ -d "$dir/storage" ]]; then
    local b=(buildah --root "$dir/storage" --runroot "$dir/runroot" --storage-driver overlay)
    "${b[@]}" rm --all >/dev/null 2>&1 || true
    "${b[@]}" rmi --all --force >/dev/null 2>&1 || true
  fi
  awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$dir/storage" "$dir/runroot" "$dir/storage.conf"
}
