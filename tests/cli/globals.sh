#!/usr/bin/env bash
# Global options, exit codes and logging of CLI.md.
source "$(dirname "$0")/../lib/testlib.sh"

run "$IMGFACTORY" --version
expect_rc 0 "--version"
expect_out_contains "imgfactory " "--version prints the name and version"

run "$IMGFACTORY" --help
expect_rc 0 "--help"
for sub in analyze synth build scan healthcheck; do
  expect_out_contains "$sub" "--help lists $sub"
done

run "$IMGFACTORY"
expect_rc 2 "no subcommand is a usage error"

run "$IMGFACTORY" --no-such-flag analyze
expect_rc 2 "an unknown flag is a usage error"

run "$IMGFACTORY" --log-level loud analyze
expect_rc 2 "an unknown log level is a usage error"

run "$IMGFACTORY" frobnicate
expect_rc 2 "an unknown subcommand is a usage error"

# Global options are accepted after the subcommand too.
run "$IMGFACTORY" healthcheck --help --no-color
expect_rc 0 "global option after the subcommand"

# Errors name the file: a missing images.yaml
mkdir -p "$T_TMP/state"
run env IMAGE_FACTORY_STATE_DIR="$T_TMP/state" "$IMGFACTORY" synth
if [[ $RC -ne 0 ]]; then pass "synth without images.yaml fails (exit $RC)"; else fail "synth without images.yaml succeeded"; fi

# JSON logs when running in Kubernetes: every stderr line that is a log line is one JSON object.
run env KUBERNETES_SERVICE_HOST=10.0.0.1 IMGFACTORY_LOG_LEVEL=debug "$IMGFACTORY" --images "$T_TMP/state/none.yaml" synth
if grep -q '^{' "$T_TMP/err"; then
  if grep '^{' "$T_TMP/err" | python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin]'; then
    pass "json log lines parse"
  else
    fail "json log lines do not parse: $(cat "$T_TMP/err")"
  fi
else
  fail "no JSON log line in json mode: $(cat "$T_TMP/err")"
fi

done_testing
