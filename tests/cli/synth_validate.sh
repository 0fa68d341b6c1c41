#!/usr/bin/env bash
# Acceptance: every document synth writes (in every --build-security mode) for the bundled example, for our own test state
# repository and for the original tool's state repository (../shared) validates against
# Kargo v1.11's schemas with ../shared/tools/validate-kargo.py.
source "$(dirname "$0")/../lib/testlib.sh"
require_shared
VALIDATOR="$SHARED_DIR/tools/validate-kargo.py"
if ! python3 -c 'import yaml, jsonschema' 2>/dev/null; then
  echo "SKIP: python3-yaml / python3-jsonschema missing (scripts/setup.sh installs them)" >&2
  exit 77
fi

validate() { # name state-dir [synth flags...]
  local name=$1 dir=$2
  shift 2
  run "$IMGFACTORY" --state-dir "$dir" synth -o "$T_TMP/$name.yaml" "$@"
  expect_rc 0 "synth $name"
  run python3 "$VALIDATOR" "$T_TMP/$name.yaml"
  expect_rc 0 "validate-kargo accepts every document of $name"
  expect_out_contains ", 0 invalid of" "$name: $(tail -1 "$T_TMP/out")"
  run "$IMGFACTORY" --state-dir "$dir" synth -o - "$@"
  if cmp -s "$T_TMP/out" "$T_TMP/$name.yaml"; then pass "$name: re-run is byte-identical"; else fail "$name: re-run differs"; fi
}

# The original's own output fails (9 of 23 documents), ours does not.
run python3 "$VALIDATOR" "$SHARED_DIR/fixtures/image-factory-state/dist-image-factory.k8s.yaml"
expect_rc 1 "the original's CDK8s output is refused (reference check of the validator)"

validate fixture "$SHARED_DIR/fixtures/image-factory-state"
validate fixture-flags "$SHARED_DIR/fixtures/image-factory-state" --state-repo https://github.com/craigedmunds/argocd-eda.git \
  --state-path image-factory --namespace-label kargo.deps/ghcr=true --namespace-label secrets/gh-docker-registry=true
validate testdata "$IMGF_SOURCE_DIR/tests/data/synth/state"
validate testdata-secret-mode "$IMGF_SOURCE_DIR/tests/data/synth/state" --state-repo ""
validate testdata-no-spread "$IMGF_SOURCE_DIR/tests/data/synth/state" --rebuild-spread 0s --no-original-namespace-labels
validate testdata-state-path "$IMGF_SOURCE_DIR/tests/data/synth/state" \
  --state-repo https://github.com/acme/platform.git --state-path image-factory

# Every --build-security mode (the build Job's pod spec differs), with the Jobs' other options.
for mode in userns rootless privileged; do
  validate "testdata-$mode" "$IMGF_SOURCE_DIR/tests/data/synth/state" --build-security "$mode" \
    --cache-repo ghcr.io/acme/image-factory-cache --git-author-name "Image Bot" --git-author-email bot@example.com
  validate "fixture-$mode" "$SHARED_DIR/fixtures/image-factory-state" --build-security "$mode" --manifests-path ""
done

# The credential skeletons are Secrets with valid names.
run "$IMGFACTORY" --state-dir "$IMGF_SOURCE_DIR/tests/data/synth/state" synth -o "$T_TMP/m.yaml" \
  --credentials-skeleton "$T_TMP/creds.yaml"
run python3 "$VALIDATOR" "$T_TMP/creds.yaml"
expect_rc 0 "validate-kargo accepts the credential skeletons"

# The original's base images recorded as SemVer (strictSemvers: false where their tags are not
# strict) and an external image that is also a base image.
cp -r "$SHARED_DIR/fixtures/image-factory-state" "$T_TMP/semver-state"
sed -i 's/^imageSelectionStrategy: Lexical/imageSelectionStrategy: SemVer/' "$T_TMP/semver-state"/state/base-images/*.yaml
cat >>"$T_TMP/semver-state/images.yaml" <<'EOF'

- name: python
  registry: docker.io
  repository: library/python
  allowTags: ^3\.12-slim$
  imageSelectionStrategy: SemVer
EOF
validate fixture-semver "$T_TMP/semver-state"
n=$(grep -c "repoURL: docker.io/library/python$" "$T_TMP/fixture-semver.yaml")
if [[ $n == 1 ]]; then pass "the external image python and the base image python-3.12-slim share one Warehouse"
else fail "docker.io/library/python is watched by $n Warehouses"; fi

if [[ -f "$IMGF_SOURCE_DIR/examples/state/images.yaml" ]]; then
  validate example "$IMGF_SOURCE_DIR/examples/state"
else
  echo "note: examples/state not present yet; the bundled example is not validated" >&2
fi

done_testing
