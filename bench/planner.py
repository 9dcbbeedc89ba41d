#!/usr/bin/env python3
"""Predicted against measured: `adtool plan optimize` on the benchmark
programs of bench/programs, three memory budgets each.

For each program: two profiled runs (all split, all joint; runtime built
with -DADSTACK_PROFILE, the profile written at exit by a destructor linked
in here), two with the call tree's levels alternately joint (they
measure how a routine's own recording changes when its callees are
joint) and a few with one child of each routine joint alone (the same,
per child), plain all-split, all-joint and levels runs for the baseline
times (they calibrate the profiled extra times), then for each budget the
planner's plan is generated and built without profiling.  All these plain
binaries are then timed together in interleaved rounds, the model is
calibrated again from that timing of its calibration plans, and each chosen
plan's measured stack peak and adjoint time are set against its prediction
(the time predicted at the choice is listed too).

    python3 bench/planner.py                         # all programs
    python3 bench/planner.py --programs shallow_water --repeat 3
    python3 bench/planner.py --out docs/planner_table.md

Budgets: the smallest predicted peak, the geometric mean of it and
all-split's predicted peak, and a quarter of the way up from the smallest
(the plans there differ the most).  Needs gfortran, gcc and adtool
importable (run from the repository root or install it).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE / "programs"))
sys.path.insert(0, str(ROOT))
import run as progs  # noqa: E402

AT_EXIT = """\
#include <stdlib.h>
#include "adstack.h"
/* bench only: write the profile when the program ends */
__attribute__((destructor)) static void bench_profile_at_exit(void)
{
    const char *p = getenv("ADTOOL_PROFILE");
    ad_prof_json(p && *p ? p : "adtool-profile.json");
}
"""


def adtool(*args, cwd):
    return progs.must([sys.executable, "-m", "adtool", *map(str, args)], cwd)


def build(d: Path, src: Path, info: dict, flags: list[str], rt: list, profile: bool) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    adtool("differentiate", src / "model.f90", "--head", info["head"], *flags,
           *(["--profile"] if profile else []), "-o", "adj.f90", cwd=d)
    inc = ["-I", rt[0].parent, "-I", d.parent, "-I", d]
    progs.must([progs.FC, *progs.FFLAGS, *inc, "-c", "adj.f90", "-o", "adj.o"], d)
    progs.must([progs.FC, *progs.FFLAGS, *inc, "-c", src / "driver.f90", "-o", "driver.o"], d)
    progs.must([progs.FC, *progs.FFLAGS, "-o", "prog", "driver.o", d.parent / "model.o",
                d.parent / "driver_util.o", "adj.o", *rt], d)
    return d / "prog"


def run(prog: Path, args: list[str], env=None) -> dict:
    rc, out, err = progs.sh([prog, *args], prog.parent)
    if rc != 0:
        raise RuntimeError(f"{prog} failed:\n{out}\n{err}")
    res = progs.parse(out)
    if STAT == "min":                # the drivers print the median and the min of nrep
        for k in ("PRIMAL_TIME", "ADJOINT_TIME"):
            m = re.search(rf"^\s*{k}\s+\S+\s+(\S+)", out, re.M)
            if m:
                res[k] = float(m.group(1))
    return res


RUNS = 5
STAT = "min"


def timed(progs_: dict, args: list[str], rounds: int) -> dict:
    """Each binary run once per round, in turn, `rounds` times; per binary
    the median (or, with --stat min, the smallest) of its runs.  The
    machine's speed drifts by tens of percent over minutes (the same
    binary, run after run on a quiet machine: user time 4.7 to 6.4 s), so
    binaries timed one after the other compare the machine's moments as
    much as the plans; interleaved, each round puts every plan on the same
    machine.  The stack peak does not vary."""
    res: dict = {k: [] for k in progs_}
    for _ in range(max(1, rounds)):
        for k, prog in progs_.items():
            res[k].append(run(prog, args))
    pick = min if STAT == "min" else statistics.median
    out = {}
    for k, rs in res.items():
        out[k] = dict(rs[0])
        for key in ("ADJOINT_TIME", "PRIMAL_TIME"):
            if key in out[k]:
                out[k][key] = pick(r[key] for r in rs)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--programs", default=",".join(progs.programs()))
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per measurement (nrep)")
    ap.add_argument("--runs", type=int, default=5,
                    help="rounds: every binary of a program is run once per round, in turn")
    ap.add_argument("--stat", choices=("median", "min"), default="min",
                    help="time statistic over repeats and rounds: min (default: what a plan "
                         "costs when nothing disturbs it) or median")
    ap.add_argument("--work", default="/tmp/adtool-bench-planner")
    ap.add_argument("--out", help="also write the markdown table here")
    a = ap.parse_args(argv)
    global RUNS, STAT
    RUNS = max(1, a.runs)
    STAT = a.stat
    load0 = os.getloadavg()
    from adtool.checkpoint import costmodel as cm
    from adtool.checkpoint import planner

    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    rts = {}
    for kind, defs in (("plain", []), ("prof", ["-DADSTACK_PROFILE"])):
        rt = work / f"rt_{kind}"
        adtool("runtime", rt, cwd=work)
        progs.must([progs.CC, "-O2", *defs, "-c", "adstack.c", "-o", "adstack.o"], rt)
        progs.must([progs.FC, *progs.FFLAGS, "-c", "adstack_mod.f90", "-o", "adstack_mod.o"], rt)
        objs = [rt / "adstack_mod.o", rt / "adstack.o"]
        if kind == "prof":
            (rt / "at_exit.c").write_text(AT_EXIT)
            progs.must([progs.CC, "-O2", "-I", rt, "-c", "at_exit.c", "-o", "at_exit.o"], rt)
            objs.append(rt / "at_exit.o")
        rts[kind] = objs

    rows = []
    for name in [p for p in a.programs.split(",") if p]:
        src = HERE / "programs" / name
        info = tomllib.loads((src / "info.toml").read_text())
        args = [str(x) for x in info["run_args"]]
        d = work / name
        d.mkdir(exist_ok=True)
        progs.must([progs.FC, *progs.FFLAGS, "-I", work / "rt_plain", "-c", src / "model.f90",
                    "-o", "model.o"], d)
        progs.must([progs.FC, *progs.FFLAGS, "-c", HERE / "programs" / "driver_util.f90",
                    "-o", "driver_util.o"], d)
        runs = []
        for mode in ("split", "joint"):
            prog = build(d / f"prof_{mode}", src, info, ["--default-mode", mode], rts["prof"], True)
            os.environ["ADTOOL_PROFILE"] = str(prog.parent / "prof.json")
            run(prog, ["0", *args[1:]])          # nrep 0: one adjoint call (the check)
            runs.append({"sites": str(prog.parent / "adj.sites.json"),
                         "profile": str(prog.parent / "prof.json")})
        # Two more profiled runs, the call-tree levels alternately joint:
        # every split site with children has all of them joint in one, which
        # measures how its own recording changes with its children's modes.
        data = d / "profile_data.json"
        data.write_text(json.dumps({"runs": runs}, indent=1))
        model, head = planner._model([str(src / "model.f90")], info["head"], [], [], str(data))
        depth: dict[str, int] = {}

        def levels(n, k):
            for c in n.children:
                depth.setdefault(c.key, k)
                levels(c, k + 1)
        levels(model.root, 1)
        for parity in (0, 1):
            plan = d / f"levels{parity}.toml"
            plan.write_text('default = "split"\n\n[calls]\n' + "".join(
                f'"{k}" = "joint"\n' for k, v in depth.items() if v % 2 == parity))
            prog = build(d / f"prof_levels{parity}", src, info, ["--checkpoint-file", plan],
                         rts["prof"], True)
            os.environ["ADTOOL_PROFILE"] = str(prog.parent / "prof.json")
            run(prog, ["0", *args[1:]])
            runs.append({"sites": str(prog.parent / "adj.sites.json"),
                         "profile": str(prog.parent / "prof.json")})
        # Runs with one child of each site joint alone (the k-th child of
        # every site at one depth parity, the other children split): they
        # measure how a site's own recording changes with each child's
        # mode, where the levels runs see all its children joint at once
        # (planner.py, child_delta).  Profiled, not timed.
        kids: dict[str, list[str]] = {}

        def parents(n, k):
            if n is not model.root and len({c.key for c in n.children}) > 1:
                kids.setdefault(n.key, [c.key for c in n.children])
            for c in n.children:
                parents(c, k + 1)
        parents(model.root, 0)
        most = max((len(v) for v in kids.values()), default=0)
        for k in range(most):
            for parity in (0, 1):
                sel = {v[k] for p, v in kids.items() if depth[p] % 2 == parity and k < len(v)}
                if not sel:
                    continue
                plan = d / f"one{k}_{parity}.toml"
                plan.write_text('default = "split"\n\n[calls]\n'
                                + "".join(f'"{x}" = "joint"\n' for x in sorted(sel)))
                prog = build(d / f"prof_one{k}_{parity}", src, info, ["--checkpoint-file", plan],
                             rts["prof"], True)
                os.environ["ADTOOL_PROFILE"] = str(prog.parent / "prof.json")
                run(prog, ["0", *args[1:]])
                runs.append({"sites": str(prog.parent / "adj.sites.json"),
                             "profile": str(prog.parent / "prof.json")})
        os.environ.pop("ADTOOL_PROFILE", None)
        timing = [str(a.repeat), *args[1:]]
        calib = {"split": build(d / "split", src, info, ["--default-mode", "split"],
                                rts["plain"], False),
                 "joint": build(d / "joint", src, info, ["--default-mode", "joint"],
                                rts["plain"], False)}
        for parity in (0, 1):            # the levels plans timed too: they calibrate
            calib[f"levels{parity}"] = build(d / f"levels{parity}", src, info,
                                             ["--checkpoint-file", d / f"levels{parity}.toml"],
                                             rts["plain"], False)
        order = ["split", "joint", "levels0", "levels1"]     # runs[0..3]

        def fit(times: dict):
            """The model with these calibration times (unprofiled adjoint
            times of all-split, all-joint and the levels plans)."""
            for k, name in enumerate(order):
                runs[k]["adjoint_time_s"] = times[name]["ADJOINT_TIME"]
            runs[0]["primal_time_s"] = times["split"]["PRIMAL_TIME"]
            data.write_text(json.dumps({"runs": runs}, indent=1))
            return planner._model([str(src / "model.f90")], info["head"], [], [], str(data))[0]

        model = fit(timed(calib, timing, RUNS))
        low, how = cm.minimum_peak(model.root)
        high = cm.peak(model.root, set())
        budgets = [low, low + (high - low) / 4, math.sqrt(low * high)]
        chosen = []
        for k, budget in enumerate(budgets):
            c = cm.optimise(model.root, budget, model.base_time)
            plan = d / f"plan{k}.toml"
            plan.write_text(planner.plan_text(head, str(int(budget)), int(budget), c, model,
                                              cm.site_keys(model.root)))
            chosen.append((budget, c, build(d / f"chosen{k}", src, info,
                                            ["--checkpoint-file", plan], rts["plain"], False)))
        # The chosen plans timed in the same rounds as the calibration's
        # plans, and each predicted again from those calibration times: a
        # prediction and its measurement see the same machine.  The plans
        # stay the ones chosen above.
        both = timed({**calib, **{f"chosen{k}": x[2] for k, x in enumerate(chosen)}},
                     timing, RUNS)
        model = fit(both)
        # kept for evaluating the model offline against the same timings
        (d / "measured.json").write_text(json.dumps(
            {k: {"adjoint_time_s": v["ADJOINT_TIME"], "stack_peak": v["STACK_PEAK"]}
             for k, v in both.items()}, indent=1))
        for k, (budget, c, _) in enumerate(chosen):
            res = both[f"chosen{k}"]
            then = c.time
            c.time = cm.predicted_time(model.root, c.joint, model.base_time, c.loops)
            rows.append((name, int(budget), c, res, then))
            print(f"{name}: budget {budget:.0f} B: predicted {c.peak:.0f} B {c.time:.3f} s "
                  f"({then:.3f} s at the choice); measured {res['STACK_PEAK']} B "
                  f"{res['ADJOINT_TIME']:.3f} s; {len(c.joint)} joint; {c.method}", flush=True)

    lines = ["| program | budget | joint sites | predicted peak | measured peak | peak error "
             "| predicted time [s] | measured time [s] | time error | predicted at the choice [s] |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, budget, c, res, then in rows:
        mp, mt = res["STACK_PEAK"], res["ADJOINT_TIME"]
        lines.append(f"| {name} | {planner.show_size(budget)} | {len(c.joint)} "
                     f"| {planner.show_size(c.peak)} | {planner.show_size(mp)} "
                     f"| {100 * (mp - c.peak) / c.peak:+.1f}% | {c.time:.3f} | {mt:.3f} "
                     f"| {100 * (mt - c.time) / c.time:+.1f}% | {then:.3f} |")
    load1 = os.getloadavg()
    lines.append("")
    lines.append(f"load average (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in load0)} at the "
                 f"start, {' '.join(f'{x:.2f}' for x in load1)} at the end; times are the "
                 + ("median" if STAT == "median" else "smallest")
                 + f" of {RUNS} interleaved rounds (each run: the "
                 + ("median" if STAT == "median" else "smallest") + f" of {a.repeat} repeats)")
    table = "\n".join(lines) + "\n"
    print(table)
    if a.out:
        Path(a.out).write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
