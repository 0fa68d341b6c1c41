#!/usr/bin/env bash
# `cmake --install` of the build under test into a DESTDIR: the binary runs from there, and the
# man page generated from --help (help2man) is installed and renders with `man -l`, listing
# every subcommand and the exit codes. Without help2man the install still succeeds, without
# the page (the configure step says so).
source "$(dirname "$0")/../lib/testlib.sh"
: "${IMGF_BUILD_DIR:?IMGF_BUILD_DIR must name the build directory (ctest sets it)}"
dest="$T_TMP/dest"

run env DESTDIR="$dest" cmake --install "$IMGF_BUILD_DIR" --prefix /usr/local
expect_rc 0 "DESTDIR=... cmake --install $IMGF_BUILD_DIR --prefix /usr/local"
installed="$dest/usr/local/bin/imgfactory"
[[ -x "$installed" ]] && pass "the binary is installed to bin/" || fail "no $installed: $(cat "$T_TMP/out")"
run "$installed" --version
expect_rc 0 "the installed binary runs"
expect_out_contains "imgfactory " "it prints its version"

page="$dest/usr/local/share/man/man1/imgfactory.1"
manpage_on=$(sed -n 's/^IMGF_MANPAGE:BOOL=//p' "$IMGF_BUILD_DIR/CMakeCache.txt")
help2man=$(sed -n 's/^HELP2MAN_EXECUTABLE:FILEPATH=//p' "$IMGF_BUILD_DIR/CMakeCache.txt")
if [[ "$manpage_on" == OFF || -z "$help2man" || "$help2man" == *NOTFOUND ]]; then
  # Configured without help2man (or -DIMGF_MANPAGE=OFF): the install above succeeded anyway.
  [[ ! -e "$page" ]] && pass "no help2man at configure time: binary installed, no man page" || fail "a stale man page"
  echo "note: the man page checks need help2man at configure time (scripts/setup.sh installs it)" >&2
  done_testing
  exit
fi
[[ -s "$page" ]] && pass "the man page is installed to share/man/man1/" || fail "no $page"
if ! command -v man >/dev/null 2>&1; then
  fail "man is not installed (scripts/setup.sh installs man-db)"
  done_testing
  exit
fi
run env MANWIDTH=100 LC_ALL=C.UTF-8 man -l "$page"
expect_rc 0 "man -l renders it"
expect_out_contains "imgfactory - keep a fleet of container images built, current and safe" "NAME"
expect_out_contains "imgfactory [OPTIONS] SUBCOMMAND" "SYNOPSIS from --help"
expect_out_contains "--state-dir" "global options from --help"
for sub in analyze synth build scan healthcheck; do
  expect_out_contains "imgfactory $sub" "SUBCOMMANDS has $sub"
done
expect_out_contains "--dockerfile" "a subcommand's own options (analyze --dockerfile)"
expect_out_contains "--fail-on" "a subcommand's own options (scan --fail-on)"
expect_out_contains "EXIT STATUS" "exit codes"
expect_out_contains "scan policy violated" "exit 3 is explained"
"$IMGFACTORY" --version >"$T_TMP/version"
grep -qF "$(cat "$T_TMP/version")" "$T_TMP/out" && pass "the page names the version ($(cat "$T_TMP/version"))" ||
  fail "version $(cat "$T_TMP/version") not on the page"
# roff requests in help text must not leak: no line of the rendered page starts with a dot.
grep -nE '^\s*\.[A-Za-z]{1,2}( |$)' "$T_TMP/out" && fail "raw roff requests in the rendered page" ||
  pass "no raw roff requests in the rendered page"
run env MANWIDTH=100 LC_ALL=C.UTF-8 man --warnings -l "$page"
[[ ! -s "$T_TMP/err" ]] && pass "groff renders it without warnings" || fail "groff warnings: $(head -c 1000 "$T_TMP/err")"
done_testing
