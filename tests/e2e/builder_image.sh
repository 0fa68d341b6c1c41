#!/usr/bin/env bash
# The Debian 12 builder image, built offline and checked from the inside:
#   scripts/builder-image.sh base   debootstrap -> buildah storage (cached after the first run)
#   scripts/builder-image.sh build  buildah build --isolation chroot containerfiles/Containerfile.debian
#   then, in a working container of the image as user 1000:
#   imgfactory healthcheck --require podman,buildah,skopeo,git
#
# Slow: a cold build takes about 19 minutes on this 2-core machine (2 min debootstrap, the rest
# apt and the compile of imgfactory in the build stage); with the layer cache warm it is the
# compile only. So it runs only with IMGF_SLOW_TESTS=1, and is best run on its own, outside
# ctest's 15-minute limit:
#   IMGF_SLOW_TESTS=1 IMGFACTORY=build/release/imgfactory bash tests/e2e/builder_image.sh
source "$(dirname "$0")/../lib/testlib.sh"

if [[ "${IMGF_SLOW_TESTS:-0}" != 1 ]]; then
  echo "SKIP: builds the Debian builder image (about 19 min cold); run with IMGF_SLOW_TESTS=1" >&2
  exit 77
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: needs root (debootstrap, buildah mount)" >&2
  exit 77
fi
for tool in buildah debootstrap python3; do
  if ! command -v "$tool" >/dev/null && [[ ! -x "/usr/sbin/$tool" ]]; then
    echo "SKIP: $tool is not installed (bash scripts/setup.sh)" >&2
    exit 77
  fi
done

# The image is built under the script's default name (localhost/imgfactory-builder:debian) and
# kept, like a build tree: removing it would also drop its layer cache and make the next run
# cold. `bash scripts/builder-image.sh clean` removes it and the base. The working container
# is removed on exit.
export BUILDER_IMAGE="localhost/imgfactory-builder:debian"
export BUILDAH_ISOLATION=chroot
ctr=""
t_on_exit '[[ -n "$ctr" ]] && buildah rm "$ctr" >/dev/null 2>&1'
cd "$IMGF_SOURCE_DIR"

start=$(date +%s)
run bash scripts/builder-image.sh base
expect_rc 0 "debootstrap base image (from the apt mirror) in buildah storage"
base_done=$(date +%s)
run bash scripts/builder-image.sh build
expect_rc 0 "buildah build containerfiles/Containerfile.debian"
if ((RC != 0)); then tail -n 40 "$T_TMP/err"; done_testing; exit; fi
build_done=$(date +%s)
echo "# base $((base_done - start)) s, build $((build_done - base_done)) s" >&2

# The image's configuration, as the Containerfile declares it.
buildah inspect --type image "$BUILDER_IMAGE" >"$T_TMP/inspect.json"
python3 - "$T_TMP/inspect.json" >"$T_TMP/config-check" 2>&1 <<'EOF'
import json, sys
img = json.load(open(sys.argv[1]))
docker = img["Docker"]["config"]
oci = img["OCIv1"]["config"]
env = dict(e.split("=", 1) for e in oci.get("Env", []))
problems = []
def want(cond, what):
    if not cond: problems.append(what)
want(oci.get("User") == "1000:1000", f"user 1000:1000, got {oci.get('User')!r}")
want(env.get("BUILDAH_ISOLATION") == "chroot", "ENV BUILDAH_ISOLATION=chroot")
want(env.get("IMGFACTORY_IN_IMAGE") == "1", "ENV IMGFACTORY_IN_IMAGE=1")
want(oci.get("Cmd") == ["task", "--list"], f"CMD task --list, got {oci.get('Cmd')!r}")
hc = docker.get("Healthcheck") or {}
want(hc.get("Test", [])[:3] == ["CMD", "imgfactory", "healthcheck"], f"HEALTHCHECK imgfactory healthcheck, got {hc!r}")
labels = oci.get("Labels") or {}
for key in ("org.opencontainers.image.title", "org.opencontainers.image.revision", "org.opencontainers.image.version"):
    want(key in labels, f"label {key}")
print("\n".join(problems) if problems else "config ok")
sys.exit(1 if problems else 0)
EOF
RC=$?
if ((RC == 0)); then pass "image config: user 1000, BUILDAH_ISOLATION=chroot, HEALTHCHECK, CMD, OCI labels"
else fail "image config: $(cat "$T_TMP/config-check")"; fi

ctr=$(buildah from --pull=never "$BUILDER_IMAGE")
in_image() { buildah run --isolation chroot --user 1000:1000 "$ctr" -- "$@"; }

run in_image id -u
expect_rc 0 "run as user 1000"
expect_out_contains "1000" "the process runs as uid 1000"

run in_image grep -x 'builder:1001:64535' /etc/subuid /etc/subgid
expect_rc 0 "user 1000 has subordinate uid and gid ranges"

run in_image imgfactory healthcheck --require podman,buildah,skopeo,git
expect_rc 0 "imgfactory healthcheck --require podman,buildah,skopeo,git inside the image"
cat "$T_TMP/out" >&2

run in_image imgfactory healthcheck --require podman,buildah,skopeo,git --format json
expect_rc 0 "healthcheck --format json inside the image"
python3 - "$T_TMP/out" >"$T_TMP/json-check" 2>&1 <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
checks = {c["name"]: c for c in r["checks"]}
problems = []
if r["healthy"] is not True: problems.append("not healthy")
for tool in ("podman", "buildah", "skopeo", "git"):
    c = checks.get(tool)
    if not c or not c["ok"] or not c["required"] or not c["version"] or not c["path"].startswith("/usr/bin/"):
        problems.append(f"{tool}: {c}")
for name in ("storage", "storage.conf", "registries.conf", "policy.json"):
    c = checks.get(name)
    if not c or not c["ok"] or not c["required"]:
        problems.append(f"{name}: {c}")
if checks.get("storage", {}).get("path") != "/home/builder/.local/share/containers/storage":
    problems.append(f"rootless storage path: {checks.get('storage')}")
print("\n".join(problems) if problems else "json ok")
sys.exit(1 if problems else 0)
EOF
RC=$?
if ((RC == 0)); then pass "JSON: the four tools with versions, storage writable, config in place"
else fail "JSON report: $(cat "$T_TMP/json-check")"; fi

# A required tool the image lacks makes it unhealthy, exit 1.
run in_image imgfactory healthcheck --require podman,no-such-tool --optional ''
expect_rc 1 "a missing required tool is unhealthy inside the image"
expect_out_contains "no-such-tool" "the missing tool is named"

# The HEALTHCHECK command itself (its default tool set from the image's environment).
run in_image imgfactory healthcheck --timeout 5s
expect_rc 0 "the image's HEALTHCHECK command is healthy"

echo "# total $(( $(date +%s) - start )) s" >&2
done_testing
