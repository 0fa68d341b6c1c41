#!/usr/bin/env bash
# `imgfactory synth` as a user runs it: default output file, --output -, determinism,
# write-if-changed, FILE:LINE errors (bad regex -> exit 2), bad flags.
source "$(dirname "$0")/../lib/testlib.sh"

DATA="$IMGF_SOURCE_DIR/tests/data/synth/state"
STATE="$T_TMP/state"
cp -r "$DATA" "$STATE"
OUT="$STATE/dist/image-factory.k8s.yaml"

run "$IMGFACTORY" --state-dir "$STATE" synth
expect_rc 0 "synth writes the default output"
if [[ -s "$OUT" ]]; then pass "default output is <state-dir>/dist/image-factory.k8s.yaml"; else fail "no $OUT"; fi
expect_err_contains "Warehouses" "a summary is logged to stderr"
cp "$OUT" "$T_TMP/first.yaml"
mtime1=$(stat -c %Y.%N "$OUT" 2>/dev/null || stat -c %Y "$OUT")

sleep 1
run "$IMGFACTORY" --state-dir "$STATE" synth
expect_rc 0 "second run"
if cmp -s "$OUT" "$T_TMP/first.yaml"; then pass "two runs are byte-identical"; else fail "output changed between runs"; fi
mtime2=$(stat -c %Y.%N "$OUT" 2>/dev/null || stat -c %Y "$OUT")
if [[ "$mtime1" == "$mtime2" ]]; then pass "an unchanged file is not rewritten"; else fail "file rewritten ($mtime1 -> $mtime2)"; fi
expect_err_contains "unchanged" "the log says unchanged"

run "$IMGFACTORY" synth --state-dir "$STATE" --output -
expect_rc 0 "--output -"
if cmp -s "$T_TMP/out" "$T_TMP/first.yaml"; then pass "stdout equals the file"; else fail "stdout differs from the file"; fi

run "$IMGFACTORY" synth --state-dir "$STATE" -o "$T_TMP/custom/dir/k8s.yaml"
expect_rc 0 "--output FILE in a new directory"
if cmp -s "$T_TMP/custom/dir/k8s.yaml" "$T_TMP/first.yaml"; then pass "--output FILE"; else fail "--output FILE differs"; fi

# The state layout of the original tool (state/images, state/base-images) reads the same.
mkdir -p "$T_TMP/orig/state"
cp "$DATA/images.yaml" "$T_TMP/orig/"
cp -r "$DATA/images" "$DATA/base-images" "$T_TMP/orig/state/"
run "$IMGFACTORY" synth --state-dir "$T_TMP/orig" -o -
expect_rc 0 "state/ layout"
if cmp -s "$T_TMP/out" "$T_TMP/first.yaml"; then pass "state/ layout gives the same manifests"; else fail "state/ layout differs"; fi

# Flags reach the manifests.
run "$IMGFACTORY" synth --state-dir "$STATE" -o - --namespace team-images --builder-image registry.example.com/b:2 \
  --state-repo https://github.com/acme/state.git --state-path image-factory --namespace-label secrets/gh-docker-registry=true
expect_rc 0 "synth with flags"
expect_out_contains "  name: team-images" "--namespace"
expect_out_contains "image: registry.example.com/b:2" "--builder-image"
expect_out_contains "value: https://github.com/acme/state.git" "--state-repo"
expect_out_contains "- /workspace/state/image-factory" "--state-path"
expect_out_contains "secrets/gh-docker-registry: \"true\"" "--namespace-label"
run env IMGFACTORY_BUILDER_IMAGE=registry.example.com/from-env:1 "$IMGFACTORY" synth --state-dir "$STATE" -o -
expect_out_contains "image: registry.example.com/from-env:1" "IMGFACTORY_BUILDER_IMAGE"

# The original's Namespace labels are kept by default and dropped on request.
expect_out_contains "    kargo.deps/ghcr: \"true\"" "kargo.deps/ghcr kept by default"
expect_out_contains "    secrets/gh-docker-registry: \"true\"" "secrets/gh-docker-registry kept by default"
run "$IMGFACTORY" synth --state-dir "$STATE" -o - --no-original-namespace-labels
expect_rc 0 "--no-original-namespace-labels"
if grep -q "kargo.deps/ghcr\|secrets/gh-docker-registry" "$T_TMP/out"; then fail "original labels still written"; else
  pass "--no-original-namespace-labels drops both labels"; fi

# --rebuild-spread: 0s leaves the soak at exactly rebuildDelay (web: 7d = 168h).
run "$IMGFACTORY" synth --state-dir "$STATE" -o - --rebuild-spread 0s
expect_rc 0 "--rebuild-spread 0s"
if awk '/name: rebuild-trigger-web-from-node-22-bookworm-slim$/{f=1} f&&/requiredSoakTime:/{print; exit}' "$T_TMP/out" |
  grep -q "requiredSoakTime: 168h$"; then pass "rebuildDelay 7d is requiredSoakTime 168h"; else fail "soak of web is not 168h"; fi
run "$IMGFACTORY" synth --state-dir "$STATE" -o - --rebuild-spread 1d
expect_rc 2 "--rebuild-spread takes a Kargo duration"

# --credentials-skeleton writes the Secrets to fill in, never into the manifests.
run "$IMGFACTORY" synth --state-dir "$STATE" -o "$T_TMP/with-creds.yaml" --credentials-skeleton "$T_TMP/creds.yaml"
expect_rc 0 "--credentials-skeleton"
if cmp -s "$T_TMP/with-creds.yaml" "$T_TMP/first.yaml"; then pass "the manifests do not change"; else fail "manifests changed"; fi
if grep -q "kargo.akuity.io/cred-type: image" "$T_TMP/creds.yaml" && grep -q "kargo.akuity.io/cred-type: git" "$T_TMP/creds.yaml" &&
  grep -qF 'repoURL: ^ghcr\.io/acme/' "$T_TMP/creds.yaml"; then pass "skeletons carry Kargo's label and a repoURL regex"
else fail "skeleton content: $(head -c 600 "$T_TMP/creds.yaml")"; fi
if grep -q "kind: Secret" "$T_TMP/with-creds.yaml"; then fail "a Secret in the manifests"; else pass "no Secret in the manifests"; fi

# Every document parses with a YAML 1.1 reader to the strings we meant (PyYAML, as kubectl's reader).
if python3 -c 'import yaml' 2>/dev/null; then
  run python3 - "$T_TMP/first.yaml" <<'EOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]
def walk(x, path):
    if isinstance(x, dict):
        for k, v in x.items():
            assert isinstance(k, str), f"{path}: non-string key {k!r}"
            walk(v, f"{path}.{k}")
    elif isinstance(x, list):
        for i, v in enumerate(x):
            walk(v, f"{path}[{i}]")
    else:
        ints = ("runAsUser", "runAsGroup", "fsGroup", "discoveryLimit", "backoffLimit", "activeDeadlineSeconds",
                "defaultMode")
        bools = ("direct", "autoPromotionEnabled", "optional", "readOnly", "runAsNonRoot", "allowPrivilegeEscalation",
                 "strictSemvers", "automountServiceAccountToken", "hostUsers", "privileged")
        leaf = path.rsplit(".", 1)[-1]
        if leaf in ints: assert type(x) is int, f"{path}: {x!r}"
        elif leaf in bools: assert type(x) is bool, f"{path}: {x!r}"
        else: assert isinstance(x, str), f"{path}: {x!r} is {type(x).__name__}, not a string"
for d in docs: walk(d, d["kind"] + "/" + d["metadata"]["name"])
print(len(docs))
EOF
  expect_rc 0 "PyYAML reads every scalar with the intended type"
else
  echo "python3-yaml missing: YAML 1.1 type check skipped" >&2
fi

# A bad regex in a base-image state file: exit 2, FILE:LINE.
sed -i 's/^allowTags: .*/allowTags: ^(22-bookworm-slim$/' "$STATE/base-images/node-22-bookworm-slim.yaml"
line=$(grep -n '^allowTags:' "$STATE/base-images/node-22-bookworm-slim.yaml" | cut -d: -f1)
run "$IMGFACTORY" --state-dir "$STATE" synth -o "$T_TMP/bad.yaml"
expect_rc 2 "bad regex in a state file"
expect_err_contains "base-images/node-22-bookworm-slim.yaml:$line: allowTags '^(22-bookworm-slim\$' is not a valid regular expression" "error names FILE:LINE"
if [[ ! -e "$T_TMP/bad.yaml" ]]; then pass "nothing written on error"; else fail "output written despite the error"; fi
if cmp -s "$OUT" "$T_TMP/first.yaml"; then pass "previous output untouched"; else fail "previous output changed"; fi
cp "$DATA/base-images/node-22-bookworm-slim.yaml" "$STATE/base-images/"

# A bad regex in images.yaml: exit 2 at its line.
sed -i 's/^  allowTags: \^nightly.*/  allowTags: ^nightly-([0-9]{8}$/' "$STATE/images.yaml"
line=$(grep -n 'allowTags: ^nightly' "$STATE/images.yaml" | cut -d: -f1)
run "$IMGFACTORY" --state-dir "$STATE" synth -o -
expect_rc 2 "bad regex in images.yaml"
expect_err_contains "images.yaml:$line:" "error names images.yaml:LINE"
cp "$DATA/images.yaml" "$STATE/images.yaml"

# A base image referenced without a state file.
rm "$STATE/base-images/golang-1.22.yaml"
run "$IMGFACTORY" --state-dir "$STATE" synth -o -
expect_rc 2 "missing base-image state"
expect_err_contains "images/api.yaml:4: base image 'golang-1.22' has no state file" "error names the referencing line"
expect_err_contains "imgfactory analyze" "hint says what to do"
cp "$DATA/base-images/golang-1.22.yaml" "$STATE/base-images/"

# Bad flags are usage errors.
run "$IMGFACTORY" --state-dir "$STATE" synth --namespace Not_A_Namespace -o -
expect_rc 2 "invalid --namespace"
expect_err_contains "not a valid Kubernetes namespace name" "says why"
run "$IMGFACTORY" --state-dir "$STATE" synth --base-interval 1d -o -
expect_rc 2 "invalid --base-interval"
run "$IMGFACTORY" --state-dir "$STATE" synth --namespace-label novalue -o -
expect_rc 2 "invalid --namespace-label"

done_testing
