#!/usr/bin/env bash
# The generated Jobs, played as a Kubernetes node would play them (tests/lib/kubeplay.py:
# `podman kube play` with runc, Docker's default seccomp profile for RuntimeDefault, the
# kubelet's $(VAR) expansion, Secrets as files, fsGroup, no ambient capabilities, a pod user
# namespace for hostUsers: false), in the Debian builder image (scripts/builder-image.sh):
#
#   - a loopback docker-registry holding a two-platform busybox base, reached from the pod as
#     registry.imgf.test (hostAliases → 10.0.2.2, the host's loopback through slirp4netns);
#   - a loopback smart-HTTP git server (git http-backend, Basic auth; tests/lib/git_http_server.py)
#     holding the state repository (images.yaml enrolling a `local` image "app": Dockerfile
#     FROM the base, a RUN step, VERSION 1.0.0), reached as git.imgf.test; the token is in the
#     git credentials Secret, as a cluster would provide it (synth refuses git:// URLs: Kargo
#     does not take them);
#   - `imgfactory synth --build-security userns` renders the AnalysisTemplates (another mode:
#     IMGF_BUILD_SECURITY=privileged|rootless, to measure it: docs/image.md's table);
#   - the build Job (args image=app, baseRef=<base repo:tag@digest>) must clone the state,
#     build linux/amd64 and linux/arm64 (arm64 under the host's qemu-user-static binfmt entry),
#     push 1.0.0 and push the state commit: the remote's images/app.yaml currentDigest is the
#     registry's manifest list digest, and the base is recorded at the baseRef digest;
#   - the analyze Job (args image=app) must clone, analyze and push its state commit.
#
# Slow (the builder image, when not built yet, takes ~20 min cold; the Jobs a few minutes), so
# it runs only with IMGF_SLOW_TESTS=1, best on its own:
#   IMGF_SLOW_TESTS=1 IMGFACTORY=build/release/imgfactory bash tests/e2e/job_pod.sh
# Needs root (podman kube play with runc, binfmt_misc, registries.conf.d, /etc/subuid).
IMGF_SOURCE_DIR="${IMGF_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
source "$IMGF_SOURCE_DIR/tests/lib/build_e2e.sh"

if [[ "${IMGF_SLOW_TESTS:-0}" != 1 ]]; then
  echo "SKIP: plays the generated Jobs in the builder image (slow); run with IMGF_SLOW_TESTS=1" >&2
  exit 77
fi
be_require
for t in podman runc slirp4netns catatonit git buildah; do
  command -v "$t" >/dev/null 2>&1 || { echo "SKIP: $t is not installed (scripts/setup.sh installs it)" >&2; exit 77; }
done
DOCKER_PROFILE=/usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json
[[ -r "$DOCKER_PROFILE" ]] || { echo "SKIP: $DOCKER_PROFILE missing (apt-get install golang-github-docker-docker-dev)" >&2; exit 77; }
python3 -c 'import yaml' 2>/dev/null || { echo "SKIP: python3-yaml is not installed" >&2; exit 77; }

KUBEPLAY="$IMGF_SOURCE_DIR/tests/lib/kubeplay.py"
BUILDER_IMAGE="${BUILDER_IMAGE:-localhost/imgfactory-builder:debian}"
PLAY_IMAGE="localhost/imgfactory-builder:kubeplay-$$"
JOB_TIMEOUT="${IMGF_JOB_TIMEOUT:-2400}"
MODE="${IMGF_BUILD_SECURITY:-userns}"
start=$(date +%s)

# The node's id range for pod user namespaces (podman --userns=auto takes it from the
# "containers" entry; a kubelet from its own): added once, as a node would be set up.
for f in /etc/subuid /etc/subgid; do
  grep -q '^containers:' "$f" || echo 'containers:2147483648:2147483648' >>"$f"
done

# The builder image (the default storage; cached when it is there and the sources did not change).
unset CONTAINERS_STORAGE_CONF
if [[ "${IMGF_REBUILD_BUILDER:-1}" == 1 ]] || ! buildah inspect --type image "$BUILDER_IMAGE" >/dev/null 2>&1; then
  (cd "$IMGF_SOURCE_DIR" && BUILDER_IMAGE="$BUILDER_IMAGE" bash scripts/builder-image.sh base &&
    BUILDER_IMAGE="$BUILDER_IMAGE" BUILDAH_ISOLATION=chroot bash scripts/builder-image.sh build) >"$T_TMP/builder-image.log" 2>&1
  RC=$?
  expect_rc 0 "builder image $BUILDER_IMAGE built (scripts/builder-image.sh)"
  ((RC == 0)) || { tail -n 30 "$T_TMP/builder-image.log"; done_testing; exit 1; }
fi
image_done=$(date +%s)
# A copy without io.containers.capabilities: podman limits a container to that label's list,
# Kubernetes ignores image labels.
ctr=$(buildah from --pull=never "$BUILDER_IMAGE") &&
  buildah config --label io.containers.capabilities- "$ctr" &&
  buildah commit -q "$ctr" "$PLAY_IMAGE" >/dev/null && buildah rm "$ctr" >/dev/null
t_on_exit 'env -u CONTAINERS_STORAGE_CONF buildah rmi "$PLAY_IMAGE" >/dev/null 2>&1'
label=$(buildah inspect --type image --format '{{index .OCIv1.Config.Labels "io.containers.capabilities"}}' "$PLAY_IMAGE")
[[ -z "$label" ]] && pass "play copy $PLAY_IMAGE has no io.containers.capabilities label" || fail "label still there: $label"

# Registry (127.0.0.1, insecure drop-in on the host), busybox base; git daemon.
be_setup
source "$IMGF_SOURCE_DIR/tests/lib/gitlib.sh"
backend=$(git --exec-path)/git-http-backend
[[ -x "$backend" ]] || { echo "SKIP: git-http-backend is not installed" >&2; exit 77; }
GIT_TOKEN="imgf-e2e-$RANDOM$RANDOM"
python3 "$IMGF_SOURCE_DIR/tests/lib/git_http_server.py" "$GIT_SRV" "$backend" x-access-token "$GIT_TOKEN" \
  "$T_TMP/http.port" $((JOB_TIMEOUT * 2 + 600)) >"$T_TMP/http.log" 2>&1 &
HTTP_PID=$!
t_on_exit "kill $HTTP_PID 2>/dev/null"
for i in $(seq 1 50); do [[ -s "$T_TMP/http.port" ]] && break; sleep 0.1; done
[[ -s "$T_TMP/http.port" ]] || { fail "git http server did not start: $(cat "$T_TMP/http.log")"; done_testing; exit 1; }
GIT_PORT=$(cat "$T_TMP/http.port")
RNAME="registry.imgf.test:$PORT"
GNAME="git.imgf.test:$GIT_PORT"
POD_BASE="$RNAME/imgfactory-e2e/busybox:1.35"
base_digest=$(skopeo inspect --raw "docker://$BASE" | sha256sum | cut -d' ' -f1)
base_digest="sha256:$base_digest"

# The state repository.
git init -q --bare "$GIT_SRV/state.git"
W="$T_TMP/work/state"
git init -q -b main "$W"
mkdir -p "$W/app"
printf 'FROM %s\nCOPY hello.txt /hello.txt\nRUN ["/bin/sh", "-c", "uname -m > /arch.txt && chown 1234:1234 /arch.txt"]\n' "$POD_BASE" >"$W/app/Dockerfile"
echo hello >"$W/app/hello.txt"
echo 1.0.0 >"$W/app/VERSION"
cat >"$W/images.yaml" <<YAML
- name: app
  registry: $RNAME
  repository: e2e/app
  local:
    dir: app
    versionFile: VERSION   # relative to local.dir, as in the original
YAML
git -C "$W" add -A && git -C "$W" commit -q -m "enrol app" &&
  git -C "$W" push -q "$GIT_SRV/state.git" HEAD:refs/heads/main
RC=$?
expect_rc 0 "state repository pushed to the git daemon"

# synth: the manifests the cluster would apply.
run "$IMGFACTORY" --state-dir "$W" synth -o "$T_TMP/synth.yaml" --namespace imgf-e2e \
  --builder-image "$BUILDER_IMAGE" --state-repo "http://$GNAME/state.git" --build-security "$MODE"
expect_rc 0 "imgfactory synth --build-security $MODE"
((RC == 0)) || { done_testing; exit 1; }

# The Secrets the Jobs mount, and the node's registries.conf.d entry for the plain-HTTP registry
# (a cluster's registry has a certificate the image trusts).
mkdir -p "$T_TMP/secrets/registry" "$T_TMP/secrets/git"
printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$RNAME" "$(printf 'e2e:e2e' | base64)" >"$T_TMP/secrets/registry/.dockerconfigjson"
printf 'http://x-access-token:%s@%s\n' "$GIT_TOKEN" "$GNAME" >"$T_TMP/secrets/git/git-credentials"
printf '[[registry]]\nlocation = "%s"\ninsecure = true\n' "$RNAME" >"$T_TMP/registry-insecure.conf"
play() { # TEMPLATE NAME ARGS...
  local template="$1" name="$2"; shift 2
  env -u CONTAINERS_STORAGE_CONF -u TMPDIR python3 "$KUBEPLAY" --manifests "$T_TMP/synth.yaml" --template "$template" \
    --name "$name" --workdir "$T_TMP/play-$name" --timeout "$JOB_TIMEOUT" \
    --image-map "$BUILDER_IMAGE=$PLAY_IMAGE" \
    --secret "gh-docker-registry-creds=$T_TMP/secrets/registry" --secret "github-credentials=$T_TMP/secrets/git" \
    --host-alias "10.0.2.2=registry.imgf.test,git.imgf.test" \
    --node-file "$T_TMP/registry-insecure.conf:/etc/containers/registries.conf.d/90-imgf-e2e.conf" "$@"
}
t_on_exit 'env -u CONTAINERS_STORAGE_CONF podman pod rm -f imgf-e2e-build-$$ imgf-e2e-analyze-$$ >/dev/null 2>&1'

# --- the build Job --------------------------------------------------------------------------
t0=$(date +%s)
run play image-factory-build "imgf-e2e-build-$$" --arg image=app --arg "baseRef=$POD_BASE@$base_digest"
build_secs=$(($(date +%s) - t0))
cat "$T_TMP/out" >&2
expect_rc 0 "build Job played to completion in ${build_secs} s"
if ((RC != 0)); then tail -n 20 "$T_TMP/err" >&2; fi
grep -h '"noNewPrivileges"' "$T_TMP/play-imgf-e2e-build-$$/runtime.jsonl" >&2 2>/dev/null

raw="$T_TMP/app.json"
if skopeo inspect --raw "docker://$REG/e2e/app:1.0.0" >"$raw" 2>"$T_TMP/skopeo.err"; then
  pass "pushed $REG/e2e/app:1.0.0"
  list_digest="sha256:$(sha256sum <"$raw" | cut -d' ' -f1)"
  platforms=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(" ".join(sorted(p["platform"]["os"]+"/"+p["platform"]["architecture"] for p in m.get("manifests",[]))))' "$raw")
  [[ "$platforms" == "linux/amd64 linux/arm64" ]] && pass "a manifest list of linux/amd64 and linux/arm64" || fail "platforms: '$platforms'"
  latest=$(skopeo inspect --raw "docker://$REG/e2e/app:latest" 2>/dev/null | sha256sum | cut -d' ' -f1)
  [[ "sha256:$latest" == "$list_digest" ]] && pass "latest is the same manifest list" || fail "latest is not pushed as $list_digest (got sha256:$latest)"
else
  fail "nothing pushed as $REG/e2e/app:1.0.0: $(cat "$T_TMP/skopeo.err")"
  list_digest=none
fi

check_remote() { # DIR: a fresh clone of the state repository
  rm -rf "$1" && git clone -q "$GIT_SRV/state.git" "$1"  # the bare repository the server serves
}
R="$T_TMP/remote"
check_remote "$R"
if [[ -f "$R/images/app.yaml" ]]; then
  pass "the state commit reached the remote (images/app.yaml)"
  got=$(python3 -c 'import yaml,sys; print(yaml.safe_load(open(sys.argv[1])).get("currentDigest"))' "$R/images/app.yaml")
  [[ "$got" == "$list_digest" ]] && pass "currentDigest on the remote is the registry's manifest list digest" ||
    fail "currentDigest $got, registry $list_digest"
  grep -q "$base_digest" "$R/images/app.yaml" && pass "the base is recorded at the baseRef digest" ||
    fail "base digest $base_digest not in images/app.yaml: $(cat "$R/images/app.yaml")"
  msg=$(git -C "$R" log -1 --format='%an <%ae>: %s')
  echo "# remote tip: $msg" >&2
  [[ "$msg" == *"build app 1.0.0"* ]] && pass "the commit message names the build" || fail "last commit: $msg"
  [[ "$(cat "$R/app/VERSION" 2>/dev/null)" == "1.0.1" ]] && pass "the version file is bumped to 1.0.1 in the same push" ||
    fail "app/VERSION on the remote: $(cat "$R/app/VERSION" 2>&1)"
else
  fail "no images/app.yaml on the remote: $(git -C "$R" log --oneline | head -3)"
fi

# --- the analyze Job ------------------------------------------------------------------------
before=$(git -C "$R" rev-parse HEAD)
t0=$(date +%s)
run play image-factory-analyze "imgf-e2e-analyze-$$" --arg image=app
analyze_secs=$(($(date +%s) - t0))
cat "$T_TMP/out" >&2
expect_rc 0 "analyze Job played to completion in ${analyze_secs} s"
check_remote "$R"
after=$(git -C "$R" rev-parse HEAD)
if [[ "$after" != "$before" ]]; then
  pass "analyze pushed a state commit: $(git -C "$R" log -1 --format=%s)"
else
  fail "analyze pushed nothing (remote tip still $before)"
fi

echo "# mode $MODE: builder image $((image_done - start)) s, build Job ${build_secs} s, analyze Job ${analyze_secs} s, total $(($(date +%s) - start)) s" >&2
done_testing
