#!/usr/bin/env python3
"""Build and run the checkpointing benchmark programs under several plans.

Each program lives in bench/programs/<name>/ with
    model.f90    modules + routines (no main program); the head takes the
                 controls as real(8) inputs and returns a scalar cost
    driver.f90   main program (with driver_util.f90, shared by all four):
                 primal, adjoint <head>_b with seed 1, FD
                 check along a fixed direction, stack peak, timings
    info.toml    head spec, independents, dependents, call tree, driver
                 arguments and a list of plans (adtool flags)

For every program and plan this script runs `adtool differentiate` with the
plan's flags, compiles the runtime, the model, the adjoint and the driver
(-O2 unless FFLAGS says otherwise), runs the executable and prints

    program | plan | stack peak | primal [s] | adjoint [s] | ratio | FD rel. err | grad norm

Usage (from anywhere):
    python3 bench/programs/run.py                         # all programs, all plans
    python3 bench/programs/run.py --programs shallow_water --plans all-joint,all-split
    python3 bench/programs/run.py --quick                 # the small check sizes, no timing
    python3 bench/programs/run.py --keep /tmp/progs       # keep the build directories

Exit status 1 if any build fails or any driver reports a failed check
(FD relative error > 1e-6 or a non-empty stack after the adjoint).
Needs the installed `adtool`, gfortran and gcc (override with FC, CC).
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
FC = os.environ.get("FC", "gfortran")
CC = os.environ.get("CC", "gcc")
FFLAGS = shlex.split(os.environ.get("FFLAGS", "-O2"))


def sh(cmd, cwd, timeout=1800):
    p = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def must(cmd, cwd):
    rc, out, err = sh(cmd, cwd)
    if rc != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} (in {cwd}) failed with status {rc}:\n"
                           f"{out}\n{err}")
    return out


def programs():
    return sorted(p.name for p in HERE.iterdir() if (p / "info.toml").is_file())


def parse(out: str) -> dict:
    res = {}
    for key in ("STACK_PEAK", "STACK_LEFT"):
        m = re.search(rf"^\s*{key}\s+(-?\d+)", out, re.M)
        res[key] = int(m.group(1)) if m else None
    for key in ("COST", "GRADNORM"):
        m = re.search(rf"^\s*{key}\s+(\S+)", out, re.M)
        res[key] = float(m.group(1)) if m else None
    m = re.search(r"^\s*FD\s+(\S+)\s+(\S+)\s+(\S+)", out, re.M)
    res["FD"] = tuple(float(x) for x in m.groups()) if m else None
    for key in ("PRIMAL_TIME", "ADJOINT_TIME"):
        m = re.search(rf"^\s*{key}\s+(\S+)\s+(\S+)", out, re.M)
        res[key] = float(m.group(1)) if m else None
    m = re.search(r"^\s*SIZE\s+(.*)$", out, re.M)
    res["SIZE"] = m.group(1).strip() if m else ""
    res["OK"] = bool(re.search(r"^\s*OK\s*$", out, re.M))
    return res


def fmt_bytes(b):
    if b is None:
        return "-"
    for unit, f in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= f:
            return f"{b / f:.1f} {unit}"
    return f"{b} B"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--programs", default=",".join(programs()))
    ap.add_argument("--plans", default="", help="comma-separated plan names (default: all)")
    ap.add_argument("--quick", action="store_true",
                    help="use each program's check_args (small, no timing)")
    ap.add_argument("--args", default="", help="driver arguments overriding info.toml")
    ap.add_argument("--keep", metavar="DIR", help="build in DIR (created) and keep it")
    a = ap.parse_args(argv)
    for tool in ("adtool", FC, CC):
        if shutil.which(tool) is None:
            sys.exit(f"run.py: '{tool}' not found on PATH")
    if a.keep:
        work = Path(a.keep).resolve()
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="adtool-progs-")
        work = Path(tmp.name)
    rt = work / "rt"
    must(["adtool", "runtime", rt], work)
    must([CC, "-O2", "-c", "adstack.c", "-o", "adstack.o"], rt)
    must([FC, *FFLAGS, "-c", "adstack_mod.f90", "-o", "adstack_mod.o"], rt)
    rt_objs = [rt / "adstack_mod.o", rt / "adstack.o"]
    wanted = {p for p in a.plans.split(",") if p}

    rows, failed = [], False
    for name in [p for p in a.programs.split(",") if p]:
        src = HERE / name
        info = tomllib.loads((src / "info.toml").read_text())
        d = work / name
        d.mkdir(exist_ok=True)
        inc = ["-I", rt, "-I", d]
        must([FC, *FFLAGS, *inc, "-c", src / "model.f90", "-o", "model.o"], d)
        must([FC, *FFLAGS, "-c", HERE / "driver_util.f90", "-o", "driver_util.o"], d)
        args = shlex.split(a.args) if a.args else [str(x) for x in
                                                   info["check_args" if a.quick else "run_args"]]
        for plan in info["plans"]:
            if wanted and plan["name"] not in wanted:
                continue
            tag = re.sub(r"\W+", "_", plan["name"]).strip("_")
            pd = d / tag
            pd.mkdir(exist_ok=True)
            print(f"{name} / {plan['name']}: {' '.join(plan['flags'])}", flush=True)
            try:
                must(["adtool", "differentiate", src / "model.f90", "--head", info["head"],
                      *plan["flags"], "-o", "adj.f90"], pd)
                incp = ["-I", rt, "-I", d, "-I", pd]
                must([FC, *FFLAGS, *incp, "-c", "adj.f90", "-o", "adj.o"], pd)
                must([FC, *FFLAGS, *incp, "-c", src / "driver.f90", "-o", "driver.o"], pd)
                must([FC, *FFLAGS, "-o", "prog", "driver.o", d / "model.o", d / "driver_util.o", "adj.o", *rt_objs],
                     pd)
            except RuntimeError as e:
                print(e, flush=True)
                rows.append((name, plan["name"], None))
                failed = True
                continue
            rc, out, err = sh(["./prog", *args], pd)
            res = parse(out)
            res["rc"] = rc
            if rc != 0 or not res["OK"]:
                failed = True
                print(out + err, flush=True)
            rows.append((name, plan["name"], res))

    head = ("| program | plan | size | stack peak | primal [s] | adjoint [s] | ratio "
            "| FD rel. err | vs first plan | grad norm | ok |")
    lines = [head, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    first = {}
    for name, plan, res in rows:
        if res is None:
            lines.append(f"| {name} | {plan} | build failed | | | | | | | | no |")
            continue
        # the adjoint's directional derivative against the program's first plan:
        # every plan must give the same gradient, to rounding
        if res["FD"]:
            ref = first.setdefault(name, res["FD"][0])
            vs = f"{abs(res['FD'][0] - ref) / max(abs(ref), 1e-300):.1e}"
        else:
            vs = "-"
        tp, ta = res["PRIMAL_TIME"], res["ADJOINT_TIME"]
        ratio = f"{ta / tp:.2f}" if tp and ta else "-"
        fd = f"{res['FD'][2]:.1e}" if res["FD"] else "-"
        gn = f"{res['GRADNORM']:.6e}" if res["GRADNORM"] is not None else "-"
        lines.append(f"| {name} | {plan} | {res['SIZE']} | {fmt_bytes(res['STACK_PEAK'])} "
                     f"| {tp if tp is not None else '-'} | {ta if ta is not None else '-'} "
                     f"| {ratio} | {fd} | {vs} | {gn} | {'yes' if res['OK'] else 'NO'} |")
    print()
    print("\n".join(lines))
    # the spread of the strategies: largest over smallest stack peak
    for name in dict.fromkeys(r[0] for r in rows):
        peaks = [(p, r["STACK_PEAK"]) for n, p, r in rows if n == name and r and r["STACK_PEAK"]]
        if len(peaks) >= 2:
            lo = min(peaks, key=lambda x: x[1])
            hi = max(peaks, key=lambda x: x[1])
            print(f"{name}: stack peak {hi[0]} / {lo[0]} = {hi[1] / lo[1]:.1f}x")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
