#!/usr/bin/env bash
# `imgfactory build` as the Kargo build Job runs it, with a fake buildah on PATH (issue 10):
#   - a platform this machine cannot run (no binfmt_misc handler) stops the build before any
#     buildah process, naming the platform and the fix; a Dockerfile without RUN is not held up;
#   - buildah's cause line (Error during unshare(CLONE_NEWUSER) ...) reaches the error, not
#     only its generic "(Unable to determine exit status)".
source "$(dirname "$0")/../lib/testlib.sh"
unset REGISTRY BUILDAH_ISOLATION IMGFACTORY_BINFMT_MISC IMGFACTORY_BINFMT_EXEC_PROBE

S="$T_TMP/state"
mkdir -p "$S/run" "$S/norun" "$T_TMP/bin" "$T_TMP/tmp"
export TMPDIR="$T_TMP/tmp"
printf 'FROM scratch\nRUN ["/true"]\n' >"$S/run/Dockerfile"
printf 'FROM scratch\nCOPY Dockerfile /\n' >"$S/norun/Dockerfile"
cat >"$S/images.yaml" <<'YAML'
- name: run
  registry: reg.example:5000
  repository: team/run
  platforms: [linux/amd64, linux/s390x]
  local:
    dir: run
- name: norun
  registry: reg.example:5000
  repository: team/norun
  platforms: [linux/s390x]
  local:
    dir: norun
YAML

# buildah: logs its argv; `manifest create` fails as rootless buildah does under RuntimeDefault.
cat >"$T_TMP/bin/buildah" <<FAKE
#!/bin/sh
echo "\$*" >>"$T_TMP/buildah.log"
if [ "\$1" = manifest ] && [ "\$2" = create ]; then
  echo "Error during unshare(CLONE_NEWUSER): Operation not permitted" >&2
  echo 'time="2026-01-01T00:00:00Z" level=error msg="(Unable to determine exit status)"' >&2
  exit 1
fi
exit 0
FAKE
chmod +x "$T_TMP/bin/buildah"
export PATH="$T_TMP/bin:$PATH"

# A fake binfmt_misc: mounted (register, status), qemu-aarch64 only.
B="$T_TMP/binfmt"
mkdir -p "$B"
: >"$B/register"
echo enabled >"$B/status"
printf 'enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POCF\noffset 0\nmagic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n' >"$B/qemu-aarch64"
export IMGFACTORY_BINFMT_MISC="$B" IMGFACTORY_BINFMT_EXEC_PROBE=0

if [[ $(uname -m) != x86_64 ]]; then
  echo "SKIP: the fixture assumes an x86_64 host (linux/s390x and linux/arm64 foreign)" >&2
  exit 77
fi

rm -f "$T_TMP/buildah.log"
run "$IMGFACTORY" --state-dir "$S" build run --no-push
expect_rc 1 "a platform without binfmt fails"
expect_err_contains "cannot build run for linux/s390x on this linux/amd64 machine" "the error names the platform and the host"
expect_err_contains "no enabled binfmt_misc entry in $B matches linux/s390x" "it says what was looked at"
expect_err_contains "qemu-user-static" "it says how to fix it"
expect_err_contains "platforms:" "or to drop the platform"
[[ ! -s "$T_TMP/buildah.log" ]] && pass "no buildah process was started" || fail "buildah ran: $(cat "$T_TMP/buildah.log")"

run "$IMGFACTORY" --state-dir "$S" build run --no-push --platform linux/amd64,linux/arm64
expect_rc 1 "with a handler for arm64 the build reaches buildah (which fails here)"
[[ -s "$T_TMP/buildah.log" ]] && pass "buildah was started" || fail "buildah never ran"
expect_err_contains "Error during unshare(CLONE_NEWUSER): Operation not permitted" "buildah's cause line reaches the error"
expect_err_contains "(Unable to determine exit status)" "and its generic last line after it"
if grep -q 'level=error' "$T_TMP/err"; then fail "logrus decoration in the error"; else pass "no logrus decoration in the error"; fi

rm -f "$T_TMP/buildah.log"
run "$IMGFACTORY" --state-dir "$S" build norun --no-push
expect_rc 1 "a Dockerfile without RUN needs no emulation: it reaches buildah"
[[ -s "$T_TMP/buildah.log" ]] && pass "norun: buildah was started" || fail "norun: held up by the binfmt check"

echo disabled >"$B/status"
run "$IMGFACTORY" --state-dir "$S" build run --no-push --platform linux/arm64
expect_rc 1 "binfmt_misc disabled"
expect_err_contains "binfmt_misc is disabled" "the disabled state is named"

# binfmt_misc not mounted and no exec probe: cannot tell, warns, goes on.
rm -f "$T_TMP/buildah.log"
run env IMGFACTORY_BINFMT_MISC="$T_TMP/none" "$IMGFACTORY" --state-dir "$S" build run --no-push --platform linux/arm64
expect_err_contains "cannot tell whether this machine runs linux/arm64 binaries" "undecidable: a warning"
[[ -s "$T_TMP/buildah.log" ]] && pass "undecidable: the build goes on" || fail "undecidable: held up"

done_testing
