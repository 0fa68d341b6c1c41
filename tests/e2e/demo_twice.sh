#!/usr/bin/env bash
# The README's first command, twice in a row on the same machine: both runs succeed and end
# with the summary; neither leaves a registry, a drop-in, mounts or a containers storage
# behind, and the default containers storage gets no demo image (the first run of the old demo
# left its images there, and the second failed: "image name ... is already associated").
source "$IMGF_SOURCE_DIR/tests/lib/build_e2e.sh"
be_require
out_dir="$IMGF_SOURCE_DIR/build/demo"
demo_images() { buildah images --format '{{.Name}}' 2>/dev/null | grep -c 'imgfactory-demo' || true; }
before=$(demo_images)

for n in 1 2; do
  run bash "$IMGF_SOURCE_DIR/scripts/demo.sh"
  cp "$T_TMP/out" "$T_TMP/demo$n.out"
  cp "$T_TMP/err" "$T_TMP/demo$n.err"
  expect_rc 0 "demo run $n"
  expect_out_contains "demo summary" "run $n ends with the summary"
  expect_out_contains " 5. scan: " "run $n: the summary covers all five steps"
  expect_out_contains "build/demo/build/result.json" "run $n: the summary says where the build result is"
  [[ -s "$out_dir/build/result.json" && -s "$out_dir/scan.sarif" && -s "$out_dir/state/dist/image-factory.k8s.yaml" ]] &&
    pass "run $n: the results are where the summary says" || fail "run $n: results missing under $out_dir"
  port=$(grep -oE ' 4\. build: 127\.0\.0\.1:[0-9]+/' "$T_TMP/out" | grep -oE '[0-9]+/$' | tr -d /)
  [[ -n "$port" ]] && pass "run $n pushed to 127.0.0.1:$port" || fail "run $n: no registry port in the summary"
  [[ -n "$port" && ! -e "$(registry_dropin_path "$port")" ]] && pass "run $n: its registries.conf.d drop-in is gone" ||
    fail "run $n: drop-in $(registry_dropin_path "$port") left"
  if [[ -n "$port" ]] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    fail "run $n: something still answers on 127.0.0.1:$port"
  else
    pass "run $n: the registry is stopped"
  fi
  [[ ! -e "$out_dir/build/storage" && ! -e "$out_dir/build/registry" ]] && pass "run $n: private storage and registry data removed" ||
    fail "run $n: left $(ls "$out_dir/build")"
  grep -qF "$out_dir/" /proc/mounts && fail "run $n: mounts left under $out_dir" || pass "run $n: no mounts left"
done
[[ "$(demo_images)" == "$before" ]] && pass "no demo image in the default containers storage" ||
  fail "default storage: $before demo images before, $(demo_images) after"
[[ -z "$(be_leftovers "$out_dir")" ]] && pass "no process left working in $out_dir" || fail "left: $(be_leftovers "$out_dir")"
done_testing
