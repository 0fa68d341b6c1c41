# qemu-user-static registered for arm64 binaries in /proc/sys/fs/binfmt_misc, with the F
# (fix binary) flag so that RUN steps inside a chroot find the interpreter.
# Sourced by tests/e2e/build_*.sh, scripts/demo-build.sh and bench/build/run.sh.
#
#   binfmt_ensure_aarch64   0 when registered (registering it if needed); 1 with a reason on stderr

BINFMT_DIR=/proc/sys/fs/binfmt_misc

binfmt_ensure_aarch64() {
  local entry="$BINFMT_DIR/qemu-aarch64" line=""
  if [[ ! -e "$BINFMT_DIR/register" ]]; then
    mount -t binfmt_misc binfmt_misc "$BINFMT_DIR" 2>/dev/null || {
      echo "binfmt_misc is not mounted at $BINFMT_DIR and cannot be mounted here (needs root)" >&2
      return 1
    }
  fi
  if [[ -e "$entry" ]] && grep -q '^enabled' "$entry" && grep -q '^flags:.*F' "$entry"; then return 0; fi
  if [[ -e "$entry" ]] && ! grep -q '^flags:.*F' "$entry"; then
    # Registered without F: the interpreter would be looked up inside the build's chroot.
    echo -1 >"$entry" 2>/dev/null || { echo "cannot re-register $entry with the F flag" >&2; return 1; }
  fi
  if [[ -e "$entry" ]] && ! grep -q '^enabled' "$entry"; then
    echo 1 >"$entry" 2>/dev/null && return 0
  fi
  if [[ ! -e "$entry" ]] && command -v update-binfmts >/dev/null 2>&1; then
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
    if [[ -e "$entry" ]] && grep -q '^flags:.*F' "$entry"; then return 0; fi
  fi
  if [[ ! -e "$entry" ]]; then
    if [[ -r /usr/lib/binfmt.d/qemu-aarch64.conf ]]; then
      line=$(grep -m1 '^:qemu-aarch64:' /usr/lib/binfmt.d/qemu-aarch64.conf)
    fi
    if [[ -z "$line" || "${line##*:}" != *F* ]]; then
      [[ -x /usr/bin/qemu-aarch64-static ]] || { echo "qemu-user-static is not installed" >&2; return 1; }
      line=':qemu-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:F'
    fi
    # A concurrent caller may have registered it meanwhile: the check below decides.
    printf '%s' "$line" >"$BINFMT_DIR/register" 2>/dev/null || true
  fi
  if [[ -e "$entry" ]] && grep -q '^enabled' "$entry" && grep -q '^flags:.*F' "$entry"; then return 0; fi
  echo "cannot register qemu-aarch64 with the F flag in $BINFMT_DIR/register (needs root)" >&2
  return 1
}
