#!/usr/bin/env python3
"""Plays a Job of an Argo Rollouts AnalysisTemplate (from `imgfactory synth`) as a Kubernetes
node would, with `podman kube play` and runc.

    kubeplay.py --manifests synth.yaml --template image-factory-build \\
        --arg image=app --arg baseRef=REF --secret gh-docker-registry-creds=DIR \\
        --host-alias 10.0.2.2=registry.imgf.test,git.imgf.test --image-map FROM=TO \\
        --node-file HOSTFILE:CTRPATH --workdir DIR --timeout 1500 [--render-only]

What it does, in the order the control plane and the kubelet would (docs/image.md, "Measured
in a pod", lists each difference to a containerd node):

1. Argo Rollouts: the template's `args` are resolved (given with --arg, else the arg's default
   `value`; an arg with neither is an error, as Argo reports it) and every `{{args.NAME}}` in
   the metric's job is replaced; a `{{args.…}}` left over is an error.
2. The Job controller: the Job's pod template becomes one pod (backoffLimit is not replayed:
   one attempt); activeDeadlineSeconds bounds the wait (with --timeout, the smaller).
3. The kubelet:
   - env `valueFrom.secretKeyRef` from --secret NAME=DIR (one file per key); a missing
     Secret or key is an error unless `optional: true` (then the variable is left out);
   - `$(VAR)` in env values, command and args expanded from the container's env, `$$` → `$`,
     unknown references kept as written (podman does none of this);
   - `secret` volumes written as files (items key → path, mode 0644) and bind-mounted
     read-only; a missing optional Secret gives an empty directory;
   - `emptyDir` volumes as fresh host directories, mode 0777 (the kubelet's emptyDir mode);
   - pod-level securityContext (runAsUser, runAsGroup, runAsNonRoot, seccompProfile) merged
     into each container that does not set its own; `runAsNonRoot` refused for uid 0 as the
     kubelet does;
   - `seccompProfile: RuntimeDefault` → Docker's default profile (what containerd's
     RuntimeDefault mirrors), through the per-container annotation
     `container.seccomp.security.alpha.kubernetes.io/NAME: localhost/PROFILE` and
     `--seccomp-profile-root`; `Unconfined` → `unconfined`; privileged containers are
     unconfined;
   - `fsGroup` as a supplementary group of every container process, and no ambient
     capabilities for a non-root process (Kubernetes gives none; podman adds the `add` list
     to the ambient set): both by a runtime wrapper around runc that edits the OCI
     config.json before `runc create` and logs what it changed;
   - `hostUsers: false` → `--userns=auto:size=65536` (a 65536-id range of the host per pod,
     as the kubelet allocates), network `slirp4netns:allow_host_loopback=true` (the host's
     127.0.0.1 is 10.0.2.2 inside), `hostAliases` from --host-alias.
4. Images by --image-map (a copy of the builder image without the `io.containers.capabilities`
   label: podman caps a container at that label's list, Kubernetes ignores image labels).
5. Waits (bounded) for the init containers and the main container; prints each container's
   log; exits with the main container's status (124 on timeout, 2 on bad input).
"""
import argparse
import copy
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time

import yaml

SECCOMP_ANNOTATION = "container.seccomp.security.alpha.kubernetes.io/"
DOCKER_PROFILE = "/usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json"
ARG_RE = re.compile(r"\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}")
VAR_RE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class Bad(Exception):
    """Bad input: exit 2 with the message."""


def log(msg):
    print(f"kubeplay: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# 1. Argo Rollouts: args
# ---------------------------------------------------------------------------------------------
def find_template(docs, name):
    for d in docs:
        if isinstance(d, dict) and d.get("kind") == "AnalysisTemplate" and d.get("metadata", {}).get("name") == name:
            return d
    names = [d["metadata"]["name"] for d in docs if isinstance(d, dict) and d.get("kind") == "AnalysisTemplate"]
    raise Bad(f"no AnalysisTemplate {name!r} in the manifests (there: {', '.join(names) or 'none'})")


def resolve_args(template, given):
    values = {}
    declared = template.get("spec", {}).get("args", []) or []
    names = {a["name"] for a in declared}
    for k in given:
        if k not in names:
            raise Bad(f"--arg {k}: the AnalysisTemplate declares no arg {k!r} (it has: {', '.join(sorted(names))})")
    for a in declared:
        n = a["name"]
        if n in given:
            values[n] = given[n]
        elif "value" in a:
            values[n] = a["value"]
        elif "valueFrom" in a:
            raise Bad(f"arg {n!r} takes valueFrom, which kubeplay does not resolve; give it with --arg")
        else:
            raise Bad(f"args.{n} was not resolved: the Stage passes no value and the template has no default")
    return values


def fill_args(node, values):
    if isinstance(node, str):
        def sub(m):
            if m.group(1) not in values:
                raise Bad(f"failed to resolve {{{{args.{m.group(1)}}}}}")
            return values[m.group(1)]
        return ARG_RE.sub(sub, node)
    if isinstance(node, list):
        return [fill_args(x, values) for x in node]
    if isinstance(node, dict):
        return {k: fill_args(v, values) for k, v in node.items()}
    return node


# ---------------------------------------------------------------------------------------------
# 3. kubelet
# ---------------------------------------------------------------------------------------------
def expand(s, env):
    """Kubernetes' $(VAR) expansion (third_party/forked/golang/expansion)."""
    def sub(m):
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env[name] if name in env else m.group(0)
    return VAR_RE.sub(sub, s)


def read_secret(secrets, name, key, optional, what):
    d = secrets.get(name)
    if d is None:
        if optional:
            return None
        raise Bad(f"{what}: secret {name!r} not found (CreateContainerConfigError); give it with --secret {name}=DIR")
    p = os.path.join(d, key)
    if not os.path.isfile(p):
        if optional:
            return None
        raise Bad(f"{what}: couldn't find key {key} in Secret {name}")
    with open(p, encoding="utf-8") as f:
        return f.read()


def resolve_env(ctr, secrets):
    env = {}
    out = []
    for e in ctr.get("env", []) or []:
        name = e["name"]
        if "value" in e:
            v = expand(str(e["value"]), env)
        elif "valueFrom" in e:
            vf = e["valueFrom"]
            if "secretKeyRef" in vf:
                r = vf["secretKeyRef"]
                v = read_secret(secrets, r["name"], r["key"], r.get("optional", False), f"container {ctr['name']} env {name}")
                if v is None:
                    continue
            else:
                raise Bad(f"container {ctr['name']} env {name}: valueFrom {list(vf)} is not emulated")
        else:
            v = ""
        env[name] = v
        out.append({"name": name, "value": v})
    return env, out


def merged_security(pod_sc, ctr_sc):
    sc = copy.deepcopy(ctr_sc or {})
    for k in ("runAsUser", "runAsGroup", "runAsNonRoot", "seccompProfile", "appArmorProfile"):
        if k not in sc and k in (pod_sc or {}):
            sc[k] = copy.deepcopy(pod_sc[k])
    return sc


def image_user(image):
    r = subprocess.run(["podman", "image", "inspect", "--format", "{{.Config.User}}", image],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise Bad(f"image {image} is not in the local store: {r.stderr.strip()}")
    return r.stdout.strip()


def effective_uid(sc, image):
    if "runAsUser" in sc:
        return int(sc["runAsUser"])
    u = image_user(image).split(":")[0]
    if u in ("", "root", "0"):
        return 0
    if u.isdigit():
        return int(u)
    return -1  # a user name: the kubelet refuses runAsNonRoot for it too ("non-numeric user")


def seccomp_value(sc, profile_name):
    if sc.get("privileged"):
        return "unconfined"
    p = (sc.get("seccompProfile") or {}).get("type")
    if p in (None, "Unconfined"):
        # The kubelet's default without a profile is Unconfined (SeccompDefault off).
        return "unconfined"
    if p == "RuntimeDefault":
        return f"localhost/{profile_name}"
    if p == "Localhost":
        return "localhost/" + sc["seccompProfile"]["localhostProfile"]
    raise Bad(f"seccompProfile type {p!r} is not known")


RUNTIME_WRAPPER = r'''#!/usr/bin/env python3
# Generated by tests/lib/kubeplay.py: runc as containerd's CRI plugin would configure it.
# Before `runc create`/`runc run`: (1) a process that is not uid 0 gets no ambient capabilities
# (Kubernetes sets none; podman copies capabilities.add into the ambient set), (2) the pod's
# fsGroup is a supplementary group of the process (the kubelet adds it; podman does not).
# Every change is appended to LOG as one JSON line.
import json, os, sys
RUNC = %(runc)r
LOG = %(log)r
FS_GROUP = %(fs_group)r
SECRET_DIRS = %(secret_dirs)r
args = sys.argv[1:]
sub = next((i for i, a in enumerate(args) if a in ("create", "run")), None)
if sub is not None:
    bundle = "."
    for i in range(sub + 1, len(args)):
        if args[i] in ("--bundle", "-b") and i + 1 < len(args):
            bundle = args[i + 1]
        elif args[i].startswith("--bundle="):
            bundle = args[i].split("=", 1)[1]
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        spec = json.load(f)
    proc = spec.get("process", {})
    user = proc.setdefault("user", {})
    caps = proc.get("capabilities", {})
    change = {"id": args[-1], "uid": user.get("uid", 0), "gid": user.get("gid", 0)}
    if user.get("uid", 0) != 0 and caps.get("ambient"):
        change["ambient_removed"] = caps["ambient"]
        caps["ambient"] = []
    if FS_GROUP is not None and spec.get("annotations", {}).get("io.kubernetes.cri-o.ContainerType") != "sandbox" \
            and not proc.get("args", [""])[0].endswith("catatonit"):
        extra = user.setdefault("additionalGids", [])
        if FS_GROUP not in extra:
            extra.append(FS_GROUP)
            change["fsGroup_added"] = FS_GROUP
    # Secret volumes: owned by root and the fsGroup as the pod sees them (the kubelet sets their
    # ownership in the pod's user namespace): the host ids those map to.
    def host_id(maps, cid):
        for m in maps:
            if m["containerID"] <= cid < m["containerID"] + m["size"]:
                return m["hostID"] + cid - m["containerID"]
        return None
    umaps = spec.get("linux", {}).get("uidMappings") or []
    gmaps = spec.get("linux", {}).get("gidMappings") or []
    if umaps:
        owner, group = host_id(umaps, 0), host_id(gmaps, FS_GROUP if FS_GROUP is not None else 0)
        for d in SECRET_DIRS:
            for root, dirs, files in os.walk(d):
                for n in dirs + files:
                    os.lchown(os.path.join(root, n), owner, group)
        if SECRET_DIRS:
            change["secret_owner"] = [owner, group]
    change["capabilities"] = {k: sorted(v) for k, v in caps.items()}
    change["noNewPrivileges"] = proc.get("noNewPrivileges", False)
    change["seccomp"] = "none" if "seccomp" not in spec.get("linux", {}) else spec["linux"]["seccomp"].get("defaultAction")
    change["uidMappings"] = spec.get("linux", {}).get("uidMappings", [])
    change["args"] = proc.get("args", [])
    with open(path, "w") as f:
        json.dump(spec, f)
    with open(LOG, "a") as f:
        f.write(json.dumps(change) + "\n")
os.execv(RUNC, [RUNC] + args)
'''


def write_node_files(workdir, fs_group, runc, secret_dirs):
    """containers.conf for the node's podman + the runc wrapper + the seccomp profile dir."""
    rt = os.path.join(workdir, "runc-k8s")
    with open(rt, "w") as f:
        f.write(RUNTIME_WRAPPER % {"runc": runc, "log": os.path.join(workdir, "runtime.jsonl"), "fs_group": fs_group,
                                  "secret_dirs": secret_dirs})
    os.chmod(rt, 0o755)
    conf = os.path.join(workdir, "containers.conf")
    with open(conf, "w") as f:
        f.write(f"""# the node's runtime: runc (this machine's crun refuses), cgroupfs, Kubernetes-like ulimits
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc-k8s"
[engine.runtimes]
runc-k8s = ["{rt}"]
""")
    return conf


def build_pod(args, docs):
    tmpl = find_template(docs, args.template)
    values = resolve_args(tmpl, dict(args.arg))
    metrics = tmpl["spec"].get("metrics", [])
    if not metrics or "job" not in metrics[0].get("provider", {}):
        raise Bad(f"AnalysisTemplate {args.template}: its first metric has no job provider")
    job = fill_args(copy.deepcopy(metrics[0]["provider"]["job"]), values)
    jspec = job["spec"]
    template = jspec["template"]
    spec = copy.deepcopy(template["spec"])
    secrets = dict(args.secret)
    workdir = args.workdir
    os.makedirs(workdir, exist_ok=True)
    profile_dir = os.path.join(workdir, "seccomp")
    os.makedirs(profile_dir, exist_ok=True)
    profile_name = "docker-default.json"
    shutil.copyfile(args.seccomp_profile, os.path.join(profile_dir, profile_name))

    notes = []
    pod_sc = spec.pop("securityContext", {}) or {}
    fs_group = pod_sc.get("fsGroup")
    host_users = spec.pop("hostUsers", True)
    for k in ("serviceAccountName", "automountServiceAccountToken", "imagePullSecrets"):
        if k in spec:
            spec.pop(k)
            notes.append(f"{k}: dropped (nothing to pull or mount here)")
    annotations = {}

    # volumes
    vols = []
    secret_dirs = []
    for v in spec.get("volumes", []) or []:
        name = v["name"]
        host = os.path.join(workdir, "volumes", name)
        if os.path.exists(host):
            shutil.rmtree(host)
        os.makedirs(host)
        if "emptyDir" in v:
            os.chmod(host, 0o777)
        elif "secret" in v:
            s = v["secret"]
            d = secrets.get(s["secretName"])
            if d is None:
                if not s.get("optional", False):
                    raise Bad(f"volume {name}: secret {s['secretName']!r} not found; give it with --secret {s['secretName']}=DIR")
            else:
                items = s.get("items") or [{"key": k, "path": k} for k in sorted(os.listdir(d))]
                for it in items:
                    src = os.path.join(d, it["key"])
                    if not os.path.isfile(src):
                        if s.get("optional", False):
                            continue
                        raise Bad(f"volume {name}: couldn't find key {it['key']} in Secret {s['secretName']}")
                    dst = os.path.join(host, it["path"])
                    os.makedirs(os.path.dirname(dst), exist_ok=True)
                    shutil.copyfile(src, dst)
                    os.chmod(dst, it.get("mode", s.get("defaultMode", 0o644)))
                    os.chown(dst, 0, fs_group if fs_group is not None else 0)
            secret_dirs.append(host)
            os.chmod(host, 0o755)
        elif "hostPath" in v:
            vols.append(v)
            continue
        else:
            raise Bad(f"volume {name}: kind {sorted(set(v) - {'name'})} is not emulated")
        vols.append({"name": name, "hostPath": {"path": host, "type": "Directory"}})
    node_files = []
    for i, (hostfile, ctrpath) in enumerate(args.node_file):
        vname = f"kubeplay-node-{i}"
        vols.append({"name": vname, "hostPath": {"path": os.path.abspath(hostfile), "type": "File"}})
        node_files.append({"name": vname, "mountPath": ctrpath, "readOnly": True})
    spec["volumes"] = vols

    image_map = dict(args.image_map)
    for kind in ("initContainers", "containers"):
        for c in spec.get(kind, []) or []:
            env, literal = resolve_env(c, secrets)
            c["env"] = literal
            for k in ("command", "args"):
                if k in c:
                    c[k] = [expand(str(x), env) for x in c[k]]
            c["image"] = image_map.get(c["image"], c["image"])
            sc = merged_security(pod_sc, c.get("securityContext"))
            uid = effective_uid(sc, c["image"])
            if sc.get("runAsNonRoot") and uid == 0:
                raise Bad(f"container {c['name']}: container has runAsNonRoot and image will run as root (CreateContainerConfigError)")
            annotations[SECCOMP_ANNOTATION + c["name"]] = seccomp_value(sc, profile_name)
            sc.pop("seccompProfile", None)
            if sc.pop("appArmorProfile", None) is not None:
                notes.append(f"{c['name']}: appArmorProfile dropped (no AppArmor on this kernel)")
            sc.pop("runAsNonRoot", None)
            c["securityContext"] = sc
            for k in ("livenessProbe", "readinessProbe", "startupProbe", "resources"):
                c.pop(k, None)
            c["imagePullPolicy"] = "Never"
            c.setdefault("volumeMounts", []).extend(copy.deepcopy(node_files))
    if args.host_alias:
        spec["hostAliases"] = [{"ip": ip, "hostnames": names.split(",")} for ip, names in args.host_alias]
    spec["restartPolicy"] = "Never"

    labels = dict((job.get("metadata") or {}).get("labels") or {})
    labels.update((template.get("metadata") or {}).get("labels") or {})
    # Keep init containers (and their logs) after they ran, to report them.
    annotations["io.podman.annotations.init.container.type"] = "always"
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": args.name, "labels": labels, "annotations": annotations},
           "spec": spec}
    deadline = jspec.get("activeDeadlineSeconds")
    return pod, host_users, fs_group, deadline, values, notes, secret_dirs


def podman(argv, env, timeout=120, check=False):
    r = subprocess.run(["podman"] + argv, env=env, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"podman {' '.join(argv)}: {r.stderr.strip()}")
    return r


def state_of(name, env):
    r = podman(["inspect", "--type", "container", "--format", "{{.State.Status}} {{.State.ExitCode}}", name], env, 60)
    if r.returncode != 0:
        return None, None
    status, code = r.stdout.split()
    return status, int(code)


def play(args, pod, host_users, fs_group, deadline, secret_dirs):
    runc = shutil.which("runc")
    if not runc:
        raise Bad("runc is not installed (apt-get install runc; scripts/setup.sh)")
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = write_node_files(args.workdir, fs_group, runc, secret_dirs)
    podfile = os.path.join(args.workdir, "pod.yaml")
    argv = ["kube", "play", "--replace", "--seccomp-profile-root", os.path.join(args.workdir, "seccomp"),
            "--network", "slirp4netns:allow_host_loopback=true", "--log-driver", "k8s-file"]
    if host_users is False:
        argv += ["--userns", "auto:size=65536"]
    log(f"podman {' '.join(argv)} {podfile}")
    bound = args.timeout if not deadline else min(args.timeout, int(deadline))
    started = time.monotonic()
    r = podman(argv + [podfile], env, timeout=300)
    if r.returncode != 0:
        # podman reports a container that failed to start (e.g. an init container's error) here
        log(f"podman kube play: exit {r.returncode}: {r.stderr.strip()}")
    spec = pod["spec"]
    inits = [f"{args.name}-{c['name']}" for c in spec.get("initContainers", []) or []]
    mains = [f"{args.name}-{c['name']}" for c in spec["containers"]]
    result = None
    while result is None:
        failed_init = None
        for n in inits:
            st, code = state_of(n, env)
            if st == "exited" and code != 0:
                failed_init = (n, code)
        states = [state_of(n, env) for n in mains]
        if failed_init:
            log(f"init container {failed_init[0]} exited {failed_init[1]}")
            result = 1 if failed_init[1] == 0 else failed_init[1]
        elif states and all(s[0] == "exited" for s in states):
            result = max(s[1] for s in states)
        elif r.returncode != 0 and all(s[0] in (None, "created", "configured") for s in states) \
                and time.monotonic() - started > 30:
            result = 125
        elif time.monotonic() - started > bound:
            log(f"timed out after {bound} s (activeDeadlineSeconds / --timeout): DeadlineExceeded")
            result = 124
        else:
            time.sleep(2)
    elapsed = time.monotonic() - started
    for n in inits + mains:
        lr = podman(["logs", n], env, 120)
        path = os.path.join(args.workdir, f"{n}.log")
        with open(path, "w") as f:
            f.write(lr.stdout + lr.stderr)
        st, code = state_of(n, env)
        print(f"===== {n}: {st} {code} ({path})", flush=True)
        sys.stdout.write(lr.stdout + lr.stderr)
    print(f"===== pod {args.name}: exit {result} after {elapsed:.0f} s", flush=True)
    if not args.keep:
        for attempt in range(3):
            d = podman(["pod", "rm", "--force", "--time", "5", args.name], env, 120)
            if d.returncode == 0:
                break
            time.sleep(2)
        else:
            log(f"could not remove pod {args.name}: {d.stderr.strip()}")
    return result


def pair(sep):
    def parse(s):
        if sep not in s:
            raise argparse.ArgumentTypeError(f"{s!r}: expected A{sep}B")
        a, b = s.split(sep, 1)
        return a, b
    return parse


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--manifests", required=True, help="imgfactory synth output (multi-document YAML)")
    p.add_argument("--template", required=True, help="AnalysisTemplate name, e.g. image-factory-build")
    p.add_argument("--arg", action="append", type=pair("="), default=[], help="NAME=VALUE (as the Stage passes it)")
    p.add_argument("--secret", action="append", type=pair("="), default=[], help="SECRET=DIR (a file per key)")
    p.add_argument("--host-alias", action="append", type=pair("="), default=[], help="IP=NAME[,NAME...]")
    p.add_argument("--image-map", action="append", type=pair("="), default=[], help="FROM=TO")
    p.add_argument("--node-file", action="append", type=pair(":"), default=[],
                   help="HOSTFILE:CTRPATH, mounted read-only in every container (node configuration)")
    p.add_argument("--seccomp-profile", default=DOCKER_PROFILE, help="the RuntimeDefault stand-in")
    p.add_argument("--name", default="kubeplay-job")
    p.add_argument("--workdir", required=True)
    p.add_argument("--timeout", type=int, default=1800, help="seconds (also bounded by activeDeadlineSeconds)")
    p.add_argument("--render-only", action="store_true", help="write WORKDIR/pod.yaml and stop")
    p.add_argument("--keep", action="store_true", help="leave the pod for inspection")
    args = p.parse_args()
    try:
        if not os.path.isfile(args.seccomp_profile):
            raise Bad(f"{args.seccomp_profile}: no such seccomp profile (apt-get install golang-github-docker-docker-dev)")
        with open(args.manifests, encoding="utf-8") as f:
            try:
                docs = [d for d in yaml.safe_load_all(f) if d]
            except yaml.YAMLError as e:
                raise Bad(f"{args.manifests}: {e}")
        for _, d in args.secret:
            if not os.path.isdir(d):
                raise Bad(f"--secret: {d} is not a directory")
        args.workdir = os.path.abspath(args.workdir)
        pod, host_users, fs_group, deadline, values, notes, secret_dirs = build_pod(args, docs)
    except Bad as e:
        print(f"kubeplay: error: {e}", file=sys.stderr)
        return 2
    with open(os.path.join(args.workdir, "pod.yaml"), "w") as f:
        yaml.safe_dump(pod, f, sort_keys=False)
    log(f"{args.template}: args {json.dumps(values)}; hostUsers {host_users}; fsGroup {fs_group}; "
        f"activeDeadlineSeconds {deadline}")
    for n in notes:
        log(n)
    if args.render_only:
        return 0
    return play(args, pod, host_users, fs_group, deadline, secret_dirs)


if __name__ == "__main__":
    sys.exit(main())
