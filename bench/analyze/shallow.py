#!/usr/bin/env python3
"""Benchmark: the first and the second fetch of a source repository with a long history.

Generates a repository whose history holds tens of MB of old revisions (COMMITS commits, each
rewriting one of 20 incompressible BLOB-byte files) and whose tip is small (a Dockerfile and
one source file: the old files are deleted), serves it with `git daemon` on 127.0.0.1, and
times, interleaved, RUNS runs each:

  original   the original's tip-only fetch: git init, a sparse checkout of the Dockerfile,
             `git fetch --depth 1 origin <branch>`, `git checkout`
  ours       `imgfactory analyze` of an image built from that repository, reached through
             url.<base>.insteadOf: libgit2 connects and lists, `git fetch --depth 1` fetches,
             libgit2 checks out
  libgit2    the same with IMGFACTORY_GIT_SHALLOW=0: libgit2 fetches the whole history (the
             behaviour before, and the fallback when git is not on PATH)

first: an empty cache (a Job's emptyDir); second: again, nothing new on the server. Prints the
medians and the ratios ours/original (goal: first run at most 1.5x).

    python3 bench/analyze/shallow.py [--runs 5] [--commits 400] [--blob 131072]
"""
import argparse, os, shutil, socket, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def fast_import_stream(commits, blob, out):
    t, mark = 1700000000, 0

    def commit(files, deletes=(), msg="c"):
        nonlocal t, mark
        mark += 1
        t += 60
        out.write(b"commit refs/heads/main\nmark :%d\n" % mark)
        out.write(b"author A <a@example.invalid> %d +0000\ncommitter A <a@example.invalid> %d +0000\n" % (t, t))
        m = msg.encode()
        out.write(b"data %d\n%s\n" % (len(m), m))
        if mark > 1:
            out.write(b"from :%d\n" % (mark - 1))
        for d in deletes:
            out.write(b"D %s\n" % d.encode())
        for path, data in files:
            out.write(b"M 100644 inline %s\ndata %d\n" % (path.encode(), len(data)))
            out.write(data)
            out.write(b"\n")

    for i in range(commits):
        commit([("assets/blob-%d.bin" % (i % 20), os.urandom(blob)), ("CHANGELOG", b"release %d\n" % i)],
               msg="revision %d" % i)
    commit([("Dockerfile", b"FROM python:3.12-slim\nCOPY app /app\n"), ("app/main.py", b"print('hello')\n")],
           deletes=["assets"], msg="tip")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def timed(argv, env, cwd=None):
    t = time.perf_counter()
    r = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode != 0:
        sys.exit("failed: %s\n%s" % (" ".join(argv), r.stderr.decode(errors="replace")))
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--commits", type=int, default=400)
    ap.add_argument("--blob", type=int, default=131072)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "release", "imgfactory"))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="imgf-bench-shallow-")
    daemon = None
    try:
        home = os.path.join(work, "home")
        os.makedirs(home)
        env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"), GIT_CONFIG_NOSYSTEM="1",
                   SOURCE_DATE_EPOCH="1738368000", NO_COLOR="1")
        for k in ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_COUNT", "GITHUB_TOKEN", "GITLAB_TOKEN", "IMGFACTORY_GIT_SHALLOW"):
            env.pop(k, None)
        srv = os.path.join(work, "srv")
        bare = os.path.join(srv, "team", "app.git")
        subprocess.run(["git", "init", "-q", "--bare", bare], check=True, env=env)
        fi = subprocess.Popen(["git", "-C", bare, "fast-import", "--quiet"], stdin=subprocess.PIPE, env=env)
        fast_import_stream(args.commits, args.blob, fi.stdin)
        fi.stdin.close()
        if fi.wait() != 0:
            sys.exit("git fast-import failed")
        subprocess.run(["git", "-C", bare, "symbolic-ref", "HEAD", "refs/heads/main"], check=True, env=env)
        pack = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(os.path.join(bare, "objects")) for f in fs)

        port = free_port()
        daemon = subprocess.Popen(["git", "daemon", "--export-all", "--reuseaddr", "--base-path=" + srv,
                                   "--listen=127.0.0.1", "--port=%d" % port, srv],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        url = "git://127.0.0.1:%d/" % port
        subprocess.run(["git", "config", "--global", "url.%s.insteadOf" % url, "https://github.com/"], check=True, env=env)

        state = os.path.join(work, "state")
        os.makedirs(state)
        with open(os.path.join(state, "images.yaml"), "w") as f:
            f.write("- name: app\n  registry: ghcr.io\n  repository: team/app\n  source:\n    provider: github\n"
                    "    repo: team/app\n    branch: main\n    dockerfile: Dockerfile\n")

        def original(dest, first):
            if first:
                shutil.rmtree(dest, ignore_errors=True)
                t = timed(["git", "init", "-q", dest], env)
                t += timed(["git", "-C", dest, "remote", "add", "origin", url + "team/app.git"], env)
                t += timed(["git", "-C", dest, "sparse-checkout", "set", "--no-cone", "/Dockerfile"], env)
            else:
                t = 0.0
            t += timed(["git", "-C", dest, "fetch", "-q", "--depth", "1", "origin", "main"], env)
            t += timed(["git", "-C", dest, "checkout", "-q", "--detach", "FETCH_HEAD"], env)
            return t

        def ours(cache, first, shallow=True):
            e = dict(env)
            if not shallow:
                e["IMGFACTORY_GIT_SHALLOW"] = "0"
            if first:
                shutil.rmtree(cache, ignore_errors=True)
                for d in ("images", "base-images"):
                    shutil.rmtree(os.path.join(state, d), ignore_errors=True)
            return timed([args.binary, "--state-dir", state, "analyze", "--cache-dir", cache], e)

        cands = {
            "original": lambda first: original(os.path.join(work, "orig"), first),
            "ours": lambda first: ours(os.path.join(work, "cache"), first),
            "libgit2": lambda first: ours(os.path.join(work, "cache-full"), first, shallow=False),
        }
        times = {(c, k): [] for c in cands for k in ("first", "second")}
        for c in cands:  # warm-up: page cache, the daemon's first pack
            cands[c](True)
        for _ in range(args.runs):
            for c, fn in cands.items():
                times[(c, "first")].append(fn(True))
                times[(c, "second")].append(fn(False))
        size = lambda d: sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(d) for f in fs)
        med = {k: statistics.median(v) for k, v in times.items()}
        print("repository: %d commits, %.1f MiB packed; tip: 2 small files" % (args.commits + 1, pack / 2**20))
        print("cache after one run: ours %.0f KiB, libgit2 %.0f KiB, original %.0f KiB"
              % (size(os.path.join(work, "cache")) / 1024, size(os.path.join(work, "cache-full")) / 1024,
                 size(os.path.join(work, "orig")) / 1024))
        print("medians of %d interleaved runs (s):" % args.runs)
        print("| run | original (git --depth 1, sparse) | ours (libgit2 + git --depth 1) | libgit2 alone (whole history) | ours / original | libgit2 / original |")
        print("|---|---:|---:|---:|---:|---:|")
        for k in ("first", "second"):
            print("| %s | %.3f | %.3f | %.3f | %.2fx | %.2fx |" % (
                k, med[("original", k)], med[("ours", k)], med[("libgit2", k)],
                med[("ours", k)] / med[("original", k)], med[("libgit2", k)] / med[("original", k)]))
        for k in ("first", "second"):
            print("%s, all runs: " % k + "; ".join("%s %s" % (c, " ".join("%.3f" % x for x in times[(c, k)])) for c in cands))
    finally:
        if daemon:
            daemon.terminate()
            daemon.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
