#!/usr/bin/env python3
"""Driver of bench/dockerfile_parse.sh: generates the corpora, times each tool, prints a table."""
import os
import resource
import statistics
import subprocess
import sys
import time

bin_, out, runs, peer = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]


def write(name, text):
    path = os.path.join(out, name)
    with open(path, "w") as f:
        f.write(text)
    return path


corpora = {
    "200k continuation lines": write("cont200k.Dockerfile", "FROM alpine\nRUN true" + " \\\n && x" * 200000 + "\n"),
    "20k stages": write("stages20k.Dockerfile",
                        "FROM alpine AS s0\n" + "".join(f"FROM s{i-1} AS s{i}\nRUN echo {i}\n" for i in range(1, 20000))),
    "realistic 60k lines": write("realistic.Dockerfile", "ARG BASE=node:22-bookworm-slim\n" + "".join(
        f"FROM ${{BASE}} AS s{i}\nWORKDIR /app\nCOPY --from={'s' + str(i-1) if i else 'busybox:1.36'} package.json ./\n"
        "RUN apt-get update && \\\n    apt-get install -y curl && \\\n    rm -rf /var/lib/apt/lists/*\n"
        'ENV A=1 B="two words"\nCMD ["node", "index.js"]\n' for i in range(6000))),
}

peer_js = write("peer.js", """
const {DockerfileParser} = require('dockerfile-ast');
const fs = require('fs');
const t0 = process.hrtime.bigint();
const df = DockerfileParser.parse(fs.readFileSync(process.argv[2], 'utf8'));
const n = df.getInstructions().length + df.getFROMs().length;
const t1 = process.hrtime.bigint();
process.stdout.write(String(n) + ' ' + String(Number(t1 - t0) / 1e6) + '\\n');
""")


def median_wall(cmd, env=None):
    """(median wall seconds, median CPU seconds user+sys) of the whole child process."""
    times, cpus = [], []
    for _ in range(runs):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    return statistics.median(times), statistics.median(cpus)


def median_peer_inproc(path, env):
    vals = []
    for _ in range(runs):
        r = subprocess.run(["node", peer_js, path], check=True, capture_output=True, text=True, env=env)
        vals.append(float(r.stdout.split()[1]) / 1000)
    return statistics.median(vals)


print(f"median of {runs} runs of the whole process, ms of wall time (CPU time user+sys in parentheses);")
print("peer: npm dockerfile-ast 0.7.1 on node; 'peer parse' is its in-process parse time alone")
print(f"{'corpus':24} {'imgf --format ast':>18} {'imgf --format json':>19} {'peer':>18} {'peer parse':>10} {'ast/peer (CPU)':>15}")
env = dict(os.environ)
if peer:
    env["NODE_PATH"] = os.path.abspath(peer)
for name, path in corpora.items():
    ast = median_wall([bin_, "analyze", "--dockerfile", path, "--format", "ast"])
    js = median_wall([bin_, "analyze", "--dockerfile", path, "--format", "json"])
    cell = lambda w: f"{w[0]*1000:8.0f} ({w[1]*1000:6.0f})"
    if peer:
        p = median_wall(["node", peer_js, path], env)
        pin = median_peer_inproc(path, env)
        ratio = f"{ast[0]/p[0]:.3f} ({ast[1]/p[1]:.3f})"
        print(f"{name:24} {cell(ast):>18} {cell(js):>19} {cell(p):>18} {pin*1000:10.0f} {ratio:>15}")
    else:
        print(f"{name:24} {cell(ast):>18} {cell(js):>19} {'-':>18} {'-':>10} {'-':>15}")
