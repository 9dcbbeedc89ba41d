"""Tool speed: how long `adtool differentiate` takes, and how much memory it
holds, on generated sources of about 2k, 8k and 20k lines.

The sources are copies of the four models of bench/programs, each copy in
its own file with every module and routine renamed (suffix `_cK`), all
differentiated in one run with every copy's objective as a head.  Each run
is a fresh subprocess (as a user runs the tool); its peak resident memory
comes from getrusage(RUSAGE_CHILDREN).ru_maxrss.

    python3 bench/toolspeed.py                    # 2k, 8k, 20k lines
    python3 bench/toolspeed.py --sizes 2000 --profile prof.out

Columns: cold = empty parse cache (or a tool without one); warm = the same
cache after editing one file of the set; ratio = warm / cold.
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PROGRAMS = ["reaction_diffusion", "shallow_water", "implicit_heat", "chem_column"]
_DEF = re.compile(r"^\s*(?:module|subroutine|(?:real\s*\(\s*\w+\s*\)\s*)?function)\s+(\w+)",
                  re.IGNORECASE | re.MULTILINE)
_HEAD = re.compile(r'^head\s*=\s*"([^"]+)"', re.MULTILINE)


def _model(prog: str) -> tuple[str, str]:
    with open(os.path.join(ROOT, "bench", "programs", prog, "model.f90")) as fh:
        text = fh.read()
    with open(os.path.join(ROOT, "bench", "programs", prog, "info.toml")) as fh:
        head = _HEAD.search(fh.read()).group(1)
    return text, head


def renamed(text: str, head: str, k: int) -> tuple[str, str]:
    """One copy: every module and routine name gets the suffix _c<k>."""
    names = sorted({m.group(1).lower() for m in _DEF.finditer(text)} - {"procedure"})
    pat = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b", re.IGNORECASE)
    sub = lambda m: f"{m.group(1)}_c{k}"
    return pat.sub(sub, text), pat.sub(sub, head, count=1)


def make_sources(lines: int, out: str) -> tuple[list[str], str]:
    """Files of about `lines` lines in total, and the --head spec."""
    models = [_model(p) for p in PROGRAMS]
    files, heads, total, k = [], [], 0, 0
    while total < lines:
        prog = PROGRAMS[k % len(PROGRAMS)]
        text, head = models[k % len(PROGRAMS)]
        t, h = renamed(text, head, k)
        path = os.path.join(out, f"{prog}_c{k}.f90")
        with open(path, "w") as fh:
            fh.write(t)
        files.append(path)
        heads.append(h)
        total += t.count("\n")
        k += 1
    return files, " ".join(heads)


def has_cache() -> bool:
    h = subprocess.run([sys.executable, "-m", "adtool", "differentiate", "--help"],
                       capture_output=True, text=True, env=_env(), cwd=tempfile.gettempdir())
    return "--cache-dir" in h.stdout


TOOL = ROOT      # the adtool checkout measured (--tool)


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = TOOL + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run(files, head, outdir, extra) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS in MB) of one differentiate run
    in a child (CPU time: the machine may be shared)."""
    code = ("import resource, subprocess, sys, time, json\n"
            "t = time.perf_counter()\n"
            "p = subprocess.run(sys.argv[1:])\n"
            "dt = time.perf_counter() - t\n"
            "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
            "print(json.dumps([p.returncode, dt, u.ru_utime + u.ru_stime, u.ru_maxrss]))\n")
    cmd = [sys.executable, "-c", code, sys.executable, "-m", "adtool", "differentiate",
           *files, "--head", head, "--output-dir", outdir, *extra]
    p = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=outdir)
    import json
    rc, dt, cpu, m = json.loads(p.stdout.strip().splitlines()[-1])
    if rc != 0:
        sys.exit(f"differentiate failed ({rc}):\n{p.stderr[-3000:]}")
    return dt, cpu, m / 1024.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")],
                    default=[2000, 8000, 20000])
    ap.add_argument("--profile", metavar="OUT", help="cProfile the cold run of the largest size")
    ap.add_argument("--keep", metavar="DIR")
    ap.add_argument("--tool", metavar="DIR", help="measure the adtool checkout in DIR (default: this one)")
    args = ap.parse_args(argv)
    global TOOL
    TOOL = os.path.abspath(args.tool or ROOT)
    cache = has_cache()
    print("| lines | files | cold wall [s] | cold CPU [s] | CPU s per 1k lines | warm CPU, 1 file changed [s] "
          "| warm / cold (CPU) | peak RSS cold [MB] |")
    print("|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        work = args.keep or tempfile.mkdtemp(prefix="adtool-toolspeed-")
        os.makedirs(work, exist_ok=True)
        src, outd, cdir = (os.path.join(work, d) for d in ("src", "out", "cache"))
        for d in (src, outd):
            os.makedirs(d, exist_ok=True)
        shutil.rmtree(cdir, ignore_errors=True)
        files, head = make_sources(n, src)
        lines = sum(open(f).read().count("\n") for f in files)
        extra = ["--cache-dir", cdir] if cache else []
        if args.profile and n == max(args.sizes):
            prof = [sys.executable, "-m", "cProfile", "-o", args.profile, "-m", "adtool",
                    "differentiate", *files, "--head", head, "--output-dir", outd,
                    *(["--no-cache"] if cache else [])]
            subprocess.run(prof, check=True, env=_env(), cwd=outd, stdout=subprocess.DEVNULL)
        cold, cold_cpu, mem = run(files, head, outd, extra)
        with open(files[len(files) // 2], "a") as fh:      # edit one file
            fh.write(f"! edited {time.time()}\n")
        _, warm, _ = run(files, head, outd, extra)
        warm_s = f"{warm:.2f}" if cache else "n/a (no cache)"
        ratio = f"{warm / cold_cpu:.2f}" if cache else "n/a"
        print(f"| {lines} | {len(files)} | {cold:.2f} | {cold_cpu:.2f} | {cold_cpu / lines * 1000:.3f} "
              f"| {warm_s} | {ratio} | {mem:.0f} |", flush=True)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
