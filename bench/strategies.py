#!/usr/bin/env python3
"""Run benchmark programs under a list of checkpointing plans and print one
row per plan: stack peak, peak RSS, primal and adjoint time (medians of
several runs), their ratio, and how many times each routine's primal runs
per forward execution of its call site (1 + joint call sites on its path).

    python3 bench/strategies.py                                 # every program, every plan of its info.toml
    python3 bench/strategies.py --programs implicit_heat --repeat 5
    python3 bench/strategies.py --out docs/strategies.md        # also write the markdown table

The programs and their plans are in bench/programs/<name>/info.toml; the
build and the driver's output format are those of bench/programs/run.py.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "programs"))
import run as progs  # noqa: E402  (bench/programs/run.py: build helpers, output parser)


def timed_run(cmd, cwd) -> tuple[str, int]:
    """Run cmd; return its stdout and its own peak resident set (bytes)."""
    with tempfile.TemporaryFile("w+") as out:
        p = subprocess.Popen([str(c) for c in cmd], cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if p.returncode != 0:
        raise RuntimeError(f"{cmd} failed:\n{text}")
    return text, usage.ru_maxrss * 1024


def reruns(head_spec: str, model: Path, flags: list[str], cwd: Path) -> dict[str, int]:
    """Primal executions of each routine per execution of its call site,
    from the resolved plan: 1 + the joint call sites on its root path."""
    out = progs.must(["adtool", "plan", "show", model, "--head", head_spec, *flags,
                      "--format", "json"], cwd)
    doc = json.loads(out)
    doc = doc[0] if isinstance(doc, list) else doc
    joint_above: dict[int, int] = {}
    best: dict[str, int] = {}
    for s in doc["sites"]:
        depth = s["depth"]
        above = joint_above.get(depth - 1, 0)
        mine = above + (1 if s["mode"] == "joint" else 0)
        joint_above[depth] = mine
        best[s["callee"]] = max(best.get(s["callee"], 0), 1 + mine)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--programs", default=",".join(progs.programs()))
    ap.add_argument("--plans", default="", help="comma-separated plan names (default: all)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per plan (medians)")
    ap.add_argument("--args", default="", help="driver arguments overriding info.toml")
    ap.add_argument("--out", help="markdown file for the table")
    a = ap.parse_args(argv)
    tmp = tempfile.TemporaryDirectory(prefix="adtool-strategies-")
    work = Path(tmp.name)
    rt = work / "rt"
    progs.must(["adtool", "runtime", rt], work)
    progs.must([progs.CC, "-O2", "-c", "adstack.c", "-o", "adstack.o"], rt)
    progs.must([progs.FC, *progs.FFLAGS, "-c", "adstack_mod.f90", "-o", "adstack_mod.o"], rt)
    rt_objs = [rt / "adstack_mod.o", rt / "adstack.o"]
    wanted = {p for p in a.plans.split(",") if p}
    lines = ["| program | plan | stack peak | peak RSS | primal [s] | adjoint [s] | ratio "
             "| primal runs per routine (max over its sites) |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for name in [p for p in a.programs.split(",") if p]:
        src = HERE / "programs" / name
        info = tomllib.loads((src / "info.toml").read_text())
        d = work / name
        d.mkdir()
        progs.must([progs.FC, *progs.FFLAGS, "-I", rt, "-I", d, "-c", src / "model.f90",
                    "-o", "model.o"], d)
        progs.must([progs.FC, *progs.FFLAGS, "-c", progs.HERE / "driver_util.f90", "-o", "driver_util.o"], d)
        args = shlex.split(a.args) if a.args else [str(x) for x in info["run_args"]]
        if not args or args[0] == "0":
            sys.exit("strategies.py: the drivers' first argument (nrep) must be >= 1: "
                     "this script reports times")
        for plan in info["plans"]:
            if wanted and plan["name"] not in wanted:
                continue
            pd = d / re.sub(r"\W+", "_", plan["name"]).strip("_")
            pd.mkdir()
            progs.must(["adtool", "differentiate", src / "model.f90", "--head", info["head"],
                        *plan["flags"], "-o", "adj.f90"], pd)
            inc = ["-I", rt, "-I", d, "-I", pd]
            progs.must([progs.FC, *progs.FFLAGS, *inc, "-c", "adj.f90", "-o", "adj.o"], pd)
            progs.must([progs.FC, *progs.FFLAGS, *inc, "-c", src / "driver.f90", "-o", "driver.o"], pd)
            progs.must([progs.FC, *progs.FFLAGS, "-o", "prog", "driver.o", d / "model.o", d / "driver_util.o", "adj.o",
                        *rt_objs], pd)
            samples = []
            for _ in range(a.repeat):
                out, rss = timed_run(["./prog", *args], pd)
                res = progs.parse(out)
                if not res["OK"]:
                    raise RuntimeError(f"{name}/{plan['name']}: driver check failed:\n{out}")
                samples.append((res, rss))
            peak = samples[0][0]["STACK_PEAK"]
            rss = statistics.median(s[1] for s in samples)
            tp = statistics.median(s[0]["PRIMAL_TIME"] for s in samples)
            ta = statistics.median(s[0]["ADJOINT_TIME"] for s in samples)
            rr = reruns(info["head"], src / "model.f90", plan["flags"], pd)
            rr_text = ", ".join(f"{k} {v}" for k, v in sorted(rr.items(), key=lambda kv: -kv[1]) if v > 1) \
                or "none re-run"
            row = (f"| {name} | {plan['name']} | {progs.fmt_bytes(peak)} | {progs.fmt_bytes(rss)} "
                   f"| {tp:.3f} | {ta:.3f} | {ta / tp:.2f} | {rr_text} |")
            print(row, flush=True)
            lines.append(row)
    print()
    print("\n".join(lines))
    if a.out:
        Path(a.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
