#!/usr/bin/env bash
# The Jobs synth renders, played as a pod would run them (issue 10), without a cluster:
#   - the analyze Job (`analyze --synth PATH <synth's own options>`), run in a full clone of the
#     state repository with --git-push, regenerates exactly the bytes the operator's synth
#     wrote when nothing changed (for default and for non-default options in every
#     --build-security mode); when the Dockerfile names a new base image, one pushed commit
#     carries both the state file and the manifests with the new base Warehouse;
#   - the build Job's arguments parse as `imgfactory build` arguments (--dry-run);
#   - bad option values exit 2 before anything is written.
source "$(dirname "$0")/../lib/testlib.sh"
source "$IMGF_SOURCE_DIR/tests/lib/gitlib.sh"
if ! python3 -c 'import yaml' 2>/dev/null; then
  echo "SKIP: python3-yaml missing (scripts/setup.sh installs it)" >&2
  exit 77
fi
unset IMGFACTORY_BUILDER_IMAGE IMAGE_FACTORY_STATE_REPO IMAGE_FACTORY_STATE_DIR IMAGES_YAML REGISTRY BUILDAH_ISOLATION

# The state repository: one local image FROM alpine, analysed and synthesised by the operator.
git init -q --bare "$T_TMP/state.git"
git clone -q "$T_TMP/state.git" "$T_TMP/op" 2>/dev/null
S="$T_TMP/op"
mkdir -p "$S/apps/app"
printf 'FROM docker.io/library/alpine:3.20\nRUN true\n' >"$S/apps/app/Dockerfile"
cat >"$S/images.yaml" <<'YAML'
- name: app
  registry: reg.example:5000
  repository: team/app
  platforms: [linux/amd64]
  local:
    dir: apps/app
YAML
run "$IMGFACTORY" --state-dir "$S" analyze
expect_rc 0 "operator: analyze"

# job_args FILE TEMPLATE IMAGE STATE_DIR: the Job container's args, {{args.*}} filled as Argo
# Rollouts does (image=IMAGE, baseRef and revision at their "" defaults), /workspace/state -> STATE_DIR
job_args() {
  python3 - "$@" <<'PY'
import sys, yaml
f, name, image, state = sys.argv[1:5]
for d in yaml.safe_load_all(open(f)):
    if d and d["kind"] == "AnalysisTemplate" and d["metadata"]["name"] == name:
        defaults = {a["name"]: a.get("value", "") for a in d["spec"]["args"]}
        defaults["image"] = image
        c = d["spec"]["metrics"][0]["provider"]["job"]["spec"]["template"]["spec"]["containers"][0]
        assert c["command"] == ["imgfactory"], c["command"]
        for a in c["args"]:
            for k, v in defaults.items():
                a = a.replace("{{args.%s}}" % k, v)
            print(a.replace("/workspace/state", state))
PY
}

# analyze_job_roundtrip NAME [SYNTH FLAGS...]: the operator's synth, committed and pushed; the
# analyze Job in a fresh full clone; the manifests it pushes are byte-identical.
analyze_job_roundtrip() {
  local name=$1
  shift
  run "$IMGFACTORY" --state-dir "$S" synth "$@"
  expect_rc 0 "$name: operator's synth"
  git -C "$S" add -A && git -C "$S" commit -qm "operator: $name" && git -C "$S" push -q origin HEAD:main 2>/dev/null
  local before
  before=$(git -C "$T_TMP/state.git" rev-parse main)
  local job="$T_TMP/job-$name"
  git clone -q --single-branch --branch main -- "$T_TMP/state.git" "$job" 2>/dev/null
  mapfile -t args < <(job_args "$job/dist/image-factory.k8s.yaml" image-factory-analyze app "$job")
  if [[ " ${args[*]} " != *" --synth dist/image-factory.k8s.yaml "* ]]; then
    fail "$name: the analyze Job regenerates the manifests (${args[*]})"
    return
  fi
  IMGFACTORY_GIT_AUTHOR_NAME=job IMGFACTORY_GIT_AUTHOR_EMAIL=job@example.invalid run "$IMGFACTORY" "${args[@]}"
  expect_rc 0 "$name: the analyze Job's own arguments run"
  if cmp -s "$S/dist/image-factory.k8s.yaml" "$job/dist/image-factory.k8s.yaml"; then
    pass "$name: the Job's manifests are byte-identical to the operator's"
  else
    fail "$name: the Job regenerated different manifests: $(diff "$S/dist/image-factory.k8s.yaml" "$job/dist/image-factory.k8s.yaml" | head -20)"
  fi
  if git -C "$T_TMP/state.git" diff --quiet "$before" main -- dist/; then
    pass "$name: no manifest change pushed"
  else
    fail "$name: the Job pushed a manifest change"
  fi
  git -C "$S" pull -q --ff-only origin main 2>/dev/null
}

analyze_job_roundtrip defaults
for mode in userns rootless privileged; do
  analyze_job_roundtrip "flags-$mode" --namespace team-images --builder-image registry.example.com/tools/imgf:1.2 \
    --state-repo https://git.example.com/acme/state.git --state-branch main --registry-secret regcred \
    --git-credentials-secret gitcred --image-interval 10m --base-interval 12h --rebuild-spread 0s \
    --build-security "$mode" --cache-repo reg.example:5000/cache --git-author-name "Image Bot" \
    --git-author-email bot@example.com --namespace-label team=platform --no-original-namespace-labels
done
analyze_job_roundtrip secret-mode --state-repo "" --github-token-secret tok --state-repo-secret st

# A new base image in the Dockerfile: the analyze Job pushes the state file and the manifests
# with the base's new Warehouse in one commit.
run "$IMGFACTORY" --state-dir "$S" synth --rebuild-spread 0s
git -C "$S" add -A && git -C "$S" commit -qm "operator: synth" && git -C "$S" push -q origin HEAD:main 2>/dev/null
printf 'FROM docker.io/library/alpine:3.20 AS a\nFROM docker.io/library/debian:12-slim\nRUN true\n' >"$S/apps/app/Dockerfile"
git -C "$S" commit -qam "app: debian" && git -C "$S" push -q origin HEAD:main 2>/dev/null
before=$(git -C "$T_TMP/state.git" rev-parse main)
job="$T_TMP/job-newbase"
git clone -q --single-branch --branch main -- "$T_TMP/state.git" "$job" 2>/dev/null
mapfile -t args < <(job_args "$job/dist/image-factory.k8s.yaml" image-factory-analyze app "$job")
IMGFACTORY_GIT_AUTHOR_NAME=job IMGFACTORY_GIT_AUTHOR_EMAIL=job@example.invalid run "$IMGFACTORY" "${args[@]}"
expect_rc 0 "new base: the analyze Job runs"
after=$(git -C "$T_TMP/state.git" rev-parse main)
n=$(git -C "$T_TMP/state.git" rev-list --count "$before..$after")
files=$(git -C "$T_TMP/state.git" diff --name-only "$before" "$after" | sort | tr '\n' ' ')
if [[ $n == 1 && $files == *"dist/image-factory.k8s.yaml"* && $files == *"images/app.yaml"* && $files == *"base-images/debian-12-slim.yaml"* ]]; then
  pass "new base: one commit with the state and the manifests ($files)"
else
  fail "new base: $n commit(s), files: $files"
fi
if git -C "$T_TMP/state.git" show "$after:dist/image-factory.k8s.yaml" | grep -q "repoURL: docker.io/library/debian$"; then
  pass "new base: the pushed manifests watch the new base image"
else
  fail "new base: no Warehouse for docker.io/library/debian in the pushed manifests"
fi
[[ "$(git -C "$T_TMP/state.git" log -1 --format='%an <%ae>' main)" == "job <job@example.invalid>" ]] &&
  pass "new base: the commit carries the Job's author" || fail "new base: author $(git -C "$T_TMP/state.git" log -1 --format='%an <%ae>' main)"
git -C "$S" pull -q --ff-only origin main 2>/dev/null
run "$IMGFACTORY" --state-dir "$S" synth --rebuild-spread 0s
if git -C "$S" diff --quiet; then pass "new base: the operator's synth agrees with the Job's commit"; else fail "new base: the operator's synth differs from the Job's"; fi

# The build Job's arguments are build's (dry run, in a clone with a remote for --git-push).
mapfile -t args < <(job_args "$S/dist/image-factory.k8s.yaml" image-factory-build app "$S")
if "$IMGFACTORY" build --help 2>&1 | grep -q -- '--revision'; then
  note="every flag"
else
  # `build --revision` comes with the compat branch; until then the Job's --revision is left out here.
  for i in "${!args[@]}"; do
    if [[ ${args[i]} == --revision ]]; then unset 'args[i]' "args[$((i + 1))]"; fi
  done
  args=("${args[@]}")
  note="every flag but --revision (not in this build yet)"
fi
run "$IMGFACTORY" "${args[@]}" --dry-run
expect_rc 0 "the build Job's arguments parse as build's ($note)"
expect_out_contains "buildah build --isolation chroot --platform linux/amd64 " "the dry run plans the image's platforms: linux/amd64"
if grep -q "linux/arm64" "$T_TMP/out"; then fail "platforms: [linux/amd64] still plans arm64"; else pass "platforms: [linux/amd64] plans no arm64"; fi
run "$IMGFACTORY" --state-dir "$S" build app --dry-run --platform linux/arm64
expect_out_contains "--platform linux/arm64 " "--platform overrides the image's platforms"

# Bad option values: exit 2, nothing written.
cp "$S/dist/image-factory.k8s.yaml" "$T_TMP/keep.yaml"
for bad in "--build-security root" "--cache-repo reg.example:5000/cache:latest" "--git-author-email nobody" \
  "--manifests-path ../out.yaml"; do
  # shellcheck disable=SC2086
  run "$IMGFACTORY" --state-dir "$S" synth --rebuild-spread 1m $bad
  expect_rc 2 "synth $bad is refused"
done
cmp -s "$T_TMP/keep.yaml" "$S/dist/image-factory.k8s.yaml" && pass "nothing written on bad options" || fail "a refused run wrote"
run "$IMGFACTORY" --state-dir "$S" analyze --image app --synth dist/x.yaml --build-security root
expect_rc 2 "analyze --synth with a bad synth option is refused"
[[ ! -e "$S/dist/x.yaml" ]] && pass "analyze --synth: nothing written on a bad option" || fail "analyze --synth wrote on a bad option"
run "$IMGFACTORY" --state-dir "$S" analyze --image app --synth dist/x.yaml --dry-run
expect_rc 2 "analyze --synth --dry-run is refused"

done_testing
