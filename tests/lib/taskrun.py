#!/usr/bin/env python3
"""Runs a target of Taskfile.yml the way Task would, for tests (Task cannot be installed here).

    taskrun.py TASKFILE TARGET [VAR=VALUE]...

Variables come from the arguments, then the environment (as Task reads them). The commands of
the target are rendered (the Go-template subset the Taskfile uses: {{.VAR}},
{{.VAR | default "x"}}, {{if .VAR}}..{{else}}..{{end}}; global `vars`, the target's own `vars`,
`task:` calls with their `vars`, a target's `env`) and run one after the other with bash in the Taskfile's
directory (Task's default); the first command that fails stops the run and its exit status is
returned, as Task does. A `sh:` variable runs its script with bash. Each command is echoed to
stderr as "task: [TARGET] CMD" first, as Task does.
"""
import os
import re
import subprocess
import sys

import yaml

TOKEN = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.S)


def render(template, env, all_true=None, lenient=False):
    """env: var -> value. all_true: None evaluates {{if}} on env; True/False forces every
    condition (tests/cli/taskfile.sh renders both branches) and, when True, gives unset
    variables a stand-in. lenient: other functions (now | date ...) render as env["*"] or a
    stand-in instead of failing."""
    out, pos, stack = [], 0, []  # stack of (condition, in_else)

    def active():
        return all((c if not e else not c) for c, e in stack)

    for m in TOKEN.finditer(template):
        if active():
            out.append(template[pos:m.start()])
        pos = m.end()
        expr = m.group(1)
        if expr.startswith("if "):
            var = expr[3:].strip().lstrip(".")
            stack.append((bool(env.get(var)) if all_true is None else all_true, False))
        elif expr == "else":
            c, _ = stack.pop()
            stack.append((c, True))
        elif expr == "end":
            stack.pop()
        elif active():
            m2 = re.match(r'^\.(\w+)(?:\s*\|\s*default\s+"([^"]*)")?$', expr)
            if m2:
                val = env.get(m2.group(1)) or m2.group(2) or ""
                if not val and all_true and m2.group(1) != "CLI_ARGS":
                    val = "VALUE"  # every variable set
                out.append(val)
            elif lenient:
                out.append(env.get("*", "VALUE"))
            else:
                raise SystemExit(f"taskrun: unsupported template expression {{{{{expr}}}}}")
    if active():
        out.append(template[pos:])
    return "".join(out)


def main():
    taskfile, target = sys.argv[1], sys.argv[2]
    given = dict(a.split("=", 1) for a in sys.argv[3:])
    root = os.path.dirname(os.path.abspath(taskfile))
    tf = yaml.safe_load(open(taskfile))
    tasks = tf.get("tasks", {})
    # The environment, then the command line (Task: CLI vars > environment).
    env = {k: v for k, v in os.environ.items()}
    env.update(given)
    for name, spec in (tf.get("vars") or {}).items():
        if name in given:
            continue
        if isinstance(spec, dict) and "sh" in spec:
            env[name] = subprocess.run(["bash", "-c", spec["sh"]], cwd=root, capture_output=True,
                                       text=True).stdout.strip()
        else:
            env[name] = " ".join(render(str(spec), env).split())
    child_env = dict(os.environ)
    for k, v in (tf.get("env") or {}).items():
        child_env.setdefault(k, str(v))

    def run_task(name, vars_in):
        t = tasks[name]
        local = dict(vars_in)
        for k, v in (t.get("vars") or {}).items():
            local[k] = render(str(v), local)
        for var in (t.get("requires") or {}).get("vars", []):
            if not local.get(var):
                print(f"task: Task \"{name}\" cancelled because it is missing required variables: {var}",
                      file=sys.stderr)
                return 1
        task_env = dict(child_env)
        for k, v in (t.get("env") or {}).items():
            task_env[k] = render(str(v), local)
        for c in t.get("cmds", []):
            if isinstance(c, dict) and "task" in c:
                sub = dict(local)
                for k, v in (c.get("vars") or {}).items():
                    sub[k] = render(str(v), local)
                rc = run_task(render(c["task"], local), sub)
            else:
                cmd = render(str(c["cmd"] if isinstance(c, dict) else c), local)
                print(f"task: [{name}] {' '.join(cmd.split())}", file=sys.stderr, flush=True)
                rc = subprocess.run(["bash", "-c", cmd], cwd=root, env=task_env).returncode
            if rc != 0:
                return rc
        return 0

    sys.exit(run_task(target, env))


if __name__ == "__main__":
    main()
