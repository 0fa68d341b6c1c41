#!/usr/bin/env bash
# Taskfile.yml, checked without Task (which cannot be installed here):
#   - every target the issue names exists, every `task:` reference resolves, the scripts and
#     Containerfiles the builder targets run exist;
#   - every imgfactory call names an existing subcommand and only options it accepts. The
#     accepted options come from the binary itself (`imgfactory [SUB] --help`), so the check
#     follows the CLI as it grows. While a subcommand is still a placeholder (its --help lists
#     no options of its own), its section of CLI.md (../shared/CLI.md) stands in; whenever
#     CLI.md is present every option used must also be documented there;
#   - `task build IMAGE=x TAG=y` renders to `imgfactory build x --tag y`, and REGISTRY, CI and
#     KUBERNETES_SERVICE_HOST change the calls as documented;
#   - `task build` run for real (tests/lib/taskrun.py runs a target's commands as Task would)
#     against the CLI with a recording fake `trivy` on PATH: its scan step scans the reference
#     the build pushed (not docker.io/library/<image>) and keeps the SARIF under
#     .output/trivy-<image>-<tag>.sarif.
# Go templates are evaluated by a small interpreter for the subset the Taskfile uses
# ({{.VAR}}, {{.VAR | default "x"}}, {{if .VAR}}..{{else}}..{{end}}).
source "$(dirname "$0")/../lib/testlib.sh"

if ! python3 -c 'import yaml' 2>/dev/null; then
  echo "SKIP: python3-yaml is not installed (bash scripts/setup.sh)" >&2
  exit 77
fi

# The CLI's options, read from its --help (CLI11's format).
"$IMGFACTORY" --help >"$T_TMP/help-root.txt" 2>&1
subs=$(awk '/^Subcommands:/{on=1;next} on&&/^  [a-z]/{print $1}' "$T_TMP/help-root.txt")
if [[ -z "$subs" ]]; then fail "no subcommands in 'imgfactory --help'"; done_testing; exit; fi
for s in $subs; do "$IMGFACTORY" "$s" --help >"$T_TMP/help-$s.txt" 2>&1; done

cli_md="$SHARED_DIR/CLI.md"
[[ -f "$cli_md" ]] || { echo "# ../shared/CLI.md absent: checking against --help only" >&2; cli_md=""; }

cat >"$T_TMP/check_taskfile.py" <<'EOF'
import os, re, shlex, sys
import yaml

taskfile, src, tmp, cli_md, subs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
results = []
def check(ok, what):
    results.append((bool(ok), what))
    print(("ok - " if ok else "FAIL - ") + what)

# --- options from --help ------------------------------------------------------------------------
def parse_help(path):
    opts = {}  # name -> takes a value
    for line in open(path):
        m = re.match(r"^  (-[^\s]+)(?: ([A-Z]{2,}\S*))?", line)
        if not m:
            continue
        for name in m.group(1).split(","):
            opts[name.split("=")[0]] = m.group(2) is not None
    return opts

global_opts = parse_help(os.path.join(tmp, "help-root.txt"))
sub_opts = {s: parse_help(os.path.join(tmp, f"help-{s}.txt")) for s in subs}
check("--state-dir" in global_opts and global_opts["--state-dir"] and "--no-color" in global_opts
      and not global_opts["--no-color"], "global options read from 'imgfactory --help'")

# --- options documented in CLI.md -------------------------------------------------------------
doc_opts = None
if cli_md:
    text = open(cli_md).read()
    doc_opts = {}
    sections = re.split(r"^## ", text, flags=re.M)
    for sec in sections:
        title = sec.splitlines()[0] if sec else ""
        names = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", sec))
        m = re.match(r"`imgfactory (\w+)`", title)
        if m:
            doc_opts[m.group(1)] = names | {"--help", "-h"}
        elif title.startswith("Global options"):
            doc_opts[""] = names | {"--help", "-h", "--version"}
    check(all(s in doc_opts for s in subs) and "" in doc_opts, "CLI.md documents every subcommand the binary has")

def placeholder(sub):
    return set(sub_opts[sub]) <= {"-h", "--help"}

# --- the Go-template subset the Taskfile uses: the one interpreter of tests/lib/taskrun.py ---------
sys.path.insert(0, os.path.join(src, "tests", "lib"))
from taskrun import render as _render
def render(template, env, all_true=None):
    return _render(template, env, all_true, lenient=True)

tf = yaml.safe_load(open(taskfile))
tasks = tf.get("tasks", {})
check(str(tf.get("version")) == "3", "Taskfile schema version 3")

def global_vars(env, all_true=None):
    env = dict(env)
    for name, spec in tf.get("vars", {}).items():
        if isinstance(spec, dict) and "sh" in spec:
            # IMGFACTORY: the binary; the rest (BUILDER_TAG) take their environment value or a stand-in.
            env[name] = "imgfactory" if name == "IMGFACTORY" else env.get(name) or "VALUE"
        else:
            env[name] = " ".join(render(str(spec), env, all_true).split())
    return env

def commands(task_name, env, all_true=None):
    """The shell commands a task runs (`task:` calls followed), rendered."""
    out = []
    t = tasks[task_name]
    local = dict(env)
    for k, v in (t.get("vars") or {}).items():
        local[k] = render(str(v), local, all_true)
    for c in t.get("cmds", []):
        if isinstance(c, dict) and "task" in c:
            sub_env = dict(local)
            for k, v in (c.get("vars") or {}).items():
                sub_env[k] = render(str(v), local, all_true)
            out += commands(render(c["task"], local, all_true), sub_env, all_true)
        else:
            cmd = c["cmd"] if isinstance(c, dict) else c
            out.append(render(str(cmd), local, all_true))
    return out

def split_shell(cmd):
    lex = shlex.shlex(cmd, posix=True, punctuation_chars=";&|")
    lex.whitespace_split = True
    cur, cmds = [], []
    for tok in lex:
        if tok and set(tok) <= set(";&|"):
            if cur: cmds.append(cur)
            cur = []
        else:
            cur.append(tok)
    if cur: cmds.append(cur)
    return cmds

# --- 1. the targets of the issue ------------------------------------------------------------------
wanted = ["build", "build:local", "build:scan-only", "analyze", "synth", "scan", "healthcheck", "status",
          "builder:build", "builder:push", "builder:test", "builder", "test"]
missing = [t for t in wanted if t not in tasks]
check(not missing, f"targets {', '.join(wanted)} exist" + (f" (missing: {missing})" if missing else ""))
check(all(tasks[t].get("desc") for t in wanted if t in tasks), "every target has a description (task --list)")

# every `task:` reference resolves, for each builder VARIANT
bad_refs = []
for variant in ("ubi", "debian"):
    for name, t in tasks.items():
        for c in t.get("cmds", []):
            if isinstance(c, dict) and "task" in c:
                ref = render(c["task"], {"VARIANT": variant})
                if ref not in tasks: bad_refs.append(f"{name} -> {ref}")
check(not bad_refs, "every task: reference resolves (VARIANT=ubi and debian)" + (f": {bad_refs}" if bad_refs else ""))

# --- 2. every imgfactory call: known subcommand, accepted options --------------------------------
def check_call(argv, where):
    errors, sub, i = [], None, 1
    while i < len(argv):
        tok = argv[i]
        if tok.startswith("-") and tok != "-":
            name = tok.split("=")[0]
            table = dict(global_opts)
            if sub:
                table.update(sub_opts[sub])
            known = name in table
            documented = True
            if sub and placeholder(sub):
                # The binary's option set is a placeholder: CLI.md is the reference.
                known = name in global_opts or (doc_opts is not None and name in doc_opts.get(sub, set()))
                # No arity from the binary: a following word that is not an option is its value.
                takes_value = table.get(name, i + 1 < len(argv) and not argv[i + 1].startswith("-"))
            else:
                takes_value = table.get(name, False)
            if doc_opts is not None:
                documented = name in doc_opts.get("", set()) or (sub and name in doc_opts.get(sub, set()))
            if not known:
                errors.append(f"{name} is not an option of 'imgfactory {sub or ''}'")
            elif not documented:
                errors.append(f"{name} is not documented for 'imgfactory {sub}' in CLI.md")
            if takes_value and "=" not in tok:
                i += 1
        elif sub is None:
            if tok not in subs:
                errors.append(f"'{tok}' is not an imgfactory subcommand")
                break
            sub = tok
        i += 1
    if sub is None and not errors:
        errors.append("no subcommand")
    return sub, errors

calls = {}
problems = []
for mode in (True, False):
    env = global_vars({"KUBERNETES_SERVICE_HOST": "10.0.0.1", "CI": "true", "STATE_DIR": "/state"} if mode else {}, mode)
    for name in tasks:
        for cmd in commands(name, env, mode):
            for argv in split_shell(cmd):
                if argv and os.path.basename(argv[0]) == "imgfactory":
                    sub, errs = check_call(argv, name)
                    calls.setdefault(name, set()).add(sub)
                    problems += [f"{name}: {e} in: {' '.join(argv)}" for e in errs]
check(not problems, "every imgfactory call names a subcommand and only options it accepts" +
      ("".join("\n    " + p for p in sorted(set(problems))) if problems else ""))
for t, sub in [("build", "build"), ("build:local", "build"), ("build:scan-only", "scan"), ("analyze", "analyze"),
               ("synth", "synth"), ("scan", "scan"), ("healthcheck", "healthcheck"), ("status", "status")]:
    check(sub in calls.get(t, set()), f"'task {t}' wraps 'imgfactory {sub}'")
for s in subs:
    check(placeholder(s) is False or doc_opts is not None,
          f"'imgfactory {s}' options checked against " + ("CLI.md (placeholder in the binary)" if placeholder(s) else "its --help"))

# --- 3. the builder and test targets run files that exist ----------------------------------------
needed = set()
for name in ("builder:build", "builder:push", "builder:test", "builder", "test"):
    for variant in ("ubi", "debian"):
        for cmd in commands(name, global_vars({"VARIANT": variant}), None):
            for argv in split_shell(cmd):
                for tok in argv:
                    if re.match(r"^(scripts|containerfiles|\.ci)/", tok):
                        needed.add(tok)
missing = sorted(p for p in needed if not os.path.exists(os.path.join(src, p)))
check(needed and not missing, f"builder/test targets use existing files {sorted(needed)}" + (f", missing {missing}" if missing else ""))

# --- 4. rendering as CLI.md's example and the environment variables ---------------------------------
def first_imgfactory(task, env):
    for cmd in commands(task, global_vars(env)):
        for argv in split_shell(cmd):
            if argv and os.path.basename(argv[0]) == "imgfactory":
                return " ".join(argv)
    return None
got = first_imgfactory("build", {"IMAGE": "x", "TAG": "y"})
check(got == "imgfactory build x --tag y", f"task build IMAGE=x TAG=y runs 'imgfactory build x --tag y' (got {got!r})")
got = first_imgfactory("build", {"IMAGE": "x", "REGISTRY": "registry.example:5000"})
check(got == "imgfactory build x --registry registry.example:5000", f"REGISTRY becomes --registry (got {got!r})")
got = first_imgfactory("build", {"IMAGE": "x", "KUBERNETES_SERVICE_HOST": "10.0.0.1"})
check(got == "imgfactory --log-format json build x", f"in a pod, logs are JSON lines (got {got!r})")
got = first_imgfactory("healthcheck", {"CI": "true"})
check(got == "imgfactory --no-color healthcheck --format text", f"CI turns colour off (got {got!r})")
got = first_imgfactory("status", {"IMAGE": "x", "CI": "true"})
check(got == "imgfactory --no-color status --image x --format table", f"task status IMAGE=x (got {got!r})")
got = first_imgfactory("build:local", {"IMAGE": "x"})
check(got == "imgfactory build x --local", f"task build:local IMAGE=x (got {got!r})")
got = first_imgfactory("scan", {"REPORT": "r.json", "FAIL_ON": "HIGH"})
check(got == "imgfactory scan --report r.json --format table --fail-on HIGH", f"task scan REPORT=r.json FAIL_ON=HIGH (got {got!r})")
push = [" ".join(a) for c in commands("builder:push", global_vars({"VARIANT": "ubi", "REGISTRY": "reg.example/team", "BUILDER_TAG": "t1"})) for a in split_shell(c)]
check(push == ["buildah manifest push --all reg.example/team/imgfactory-builder:t1 docker://reg.example/team/imgfactory-builder:t1"],
      f"builder:push pushes every platform of the builder image to REGISTRY ({push})")

failed = [w for ok, w in results if not ok]
sys.exit(1 if failed else 0)
EOF

python3 "$T_TMP/check_taskfile.py" "$IMGF_SOURCE_DIR/Taskfile.yml" "$IMGF_SOURCE_DIR" "$T_TMP" "$cli_md" $subs
RC=$?
if ((RC == 0)); then pass "Taskfile.yml checks"; else fail "Taskfile.yml checks (see above)"; fi

# The checker itself catches what it is for: an unknown option, an unknown subcommand, an
# option of another subcommand.
sed -e 's/--local$/--local --bogus-flag/' \
    -e 's/ synth$/ frobnicate/' \
    -e 's/--require {{.REQUIRE}}/--fail-on {{.REQUIRE}}/' \
    "$IMGF_SOURCE_DIR/Taskfile.yml" >"$T_TMP/Taskfile.broken.yml"
run python3 "$T_TMP/check_taskfile.py" "$T_TMP/Taskfile.broken.yml" "$IMGF_SOURCE_DIR" "$T_TMP" "$cli_md" $subs
expect_rc 1 "a broken Taskfile fails the check"
expect_out_contains "--bogus-flag is not an option of 'imgfactory build'" "an unknown option is caught"
expect_out_contains "'frobnicate' is not an imgfactory subcommand" "an unknown subcommand is caught"
expect_out_contains "--fail-on is not an option of 'imgfactory healthcheck'" "another subcommand's option is caught"

# --- `task build` for real: the scan step scans what the build pushed (issue 11) ----------------
W="$T_TMP/work"
mkdir -p "$W/state/app" "$W/bin" "$W/tmp"
cp "$IMGF_SOURCE_DIR/Taskfile.yml" "$W/"  # Task runs in the Taskfile's directory: .output lands here
printf 'FROM scratch\nCOPY hello.txt /\n' >"$W/state/app/Dockerfile"
echo hello >"$W/state/app/hello.txt"
echo 1.4.0 >"$W/state/app/VERSION"
printf -- '- name: app\n  registry: 127.0.0.1:5999\n  repository: team/app\n  local:\n    dir: app\n    dockerfile: Dockerfile\n    versionFile: VERSION\n' >"$W/state/images.yaml"
ln -s "$IMGF_SOURCE_DIR/tests/lib/fake-trivy" "$W/bin/trivy"
taskrun() {
  (cd "$W" && env -u TRIVY -u REGISTRY -u CI -u KUBERNETES_SERVICE_HOST PATH="$W/bin:$PATH" TMPDIR="$W/tmp" \
    FAKE_TRIVY_LOG="$W/trivy.argv" FAKE_TRIVY_REPORT="$IMGF_SOURCE_DIR/tests/data/trivy/filters.json" \
    STATE_DIR="$W/state" python3 "$IMGF_SOURCE_DIR/tests/lib/taskrun.py" "$W/Taskfile.yml" "$@") \
    >"$T_TMP/out" 2>"$T_TMP/err"
  RC=$?
}

# The state as a build left it: the pushed digest recorded.
mkdir -p "$W/state/images"
D="sha256:$(printf '%064d' 7)"
printf 'name: app\ncurrentVersion: 1.4.0\ncurrentDigest: %s\n' "$D" >"$W/state/images/app.yaml"

# TAG given; the build itself a dry run (CLI_ARGS), so nothing is pushed: the scan is what counts.
taskrun build IMAGE=app TAG=1.4.0 CLI_ARGS=--dry-run
expect_rc 0 "task build IMAGE=app TAG=1.4.0 -- --dry-run"
expect_err_contains "] $IMGFACTORY --state-dir $W/state build app --tag 1.4.0 --dry-run" "the build runs first"
expect_out_contains "docker://127.0.0.1:5999/team/app:1.4.0" "(its plan)"
if [[ "$(cat "$W/trivy.argv" 2>/dev/null)" == *" 127.0.0.1:5999/team/app@$D" ]]; then
  pass "trivy scanned what the build pushed: 127.0.0.1:5999/team/app@<recorded digest>"
else
  fail "trivy was run as: $(cat "$W/trivy.argv" 2>/dev/null)"
fi
[[ $(wc -l <"$W/trivy.argv") -eq 1 ]] && pass "Trivy ran once" || fail "Trivy ran $(wc -l <"$W/trivy.argv") times"
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["version"]=="2.1.0" and d["runs"][0]["tool"]["driver"]["name"]=="Trivy"' "$W/.output/trivy-app-1.4.0.sarif"; then
  pass "SARIF kept as .output/trivy-app-1.4.0.sarif"
else
  fail "no SARIF at .output/trivy-app-1.4.0.sarif: $(ls -A "$W/.output" 2>&1)"
fi
expect_err_contains "vulnerabilities" "the log says the counts"

# No TAG, REGISTRY given: the recorded digest in that registry, as the build pushed it.
rm -f "$W/trivy.argv"
taskrun build IMAGE=app REGISTRY=127.0.0.1:5998 CLI_ARGS=--dry-run
expect_rc 0 "task build IMAGE=app REGISTRY=... -- --dry-run"
expect_out_contains "docker://127.0.0.1:5998/team/app:" "(the build's plan pushes there)"
if [[ "$(cat "$W/trivy.argv" 2>/dev/null)" == *" 127.0.0.1:5998/team/app@$D" ]]; then
  pass "without TAG: the recorded digest, in REGISTRY"
else
  fail "trivy was run as: $(cat "$W/trivy.argv" 2>/dev/null)"
fi
[[ -s "$W/.output/trivy-app-latest.sarif" ]] && pass "SARIF as .output/trivy-app-latest.sarif" ||
  fail "no .output/trivy-app-latest.sarif: $(ls -A "$W/.output")"

# FAIL_ON gates (exit 3) after the SARIF was written; Task stops there.
rm -rf "$W/.output"
taskrun build:scan-only IMAGE=app TAG=1.4.0 FAIL_ON=CRITICAL
expect_rc 3 "FAIL_ON=CRITICAL with a critical finding: exit 3"
[[ -s "$W/.output/trivy-app-1.4.0.sarif" ]] && pass "the SARIF is there all the same" || fail "no SARIF"
taskrun build TAG=1
expect_rc 1 "IMAGE is required"
done_testing
