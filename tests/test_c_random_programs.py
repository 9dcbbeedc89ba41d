"""Differential testing of the C path with random programs (tests/cprogen.py).

Each batch puts PER_BATCH generated programs (prefixes c000_, c001_, ...)
in one file; adtool differentiates all their heads at once (tangent,
reverse joint, reverse split), the outputs are compiled with
gcc -std=c99 -Wall -Wextra -Werror, and a check driver made from the
file's main runs, per program: adjoint vs central finite differences
(rel < 1e-6), tangent vs adjoint dot products (rel < 1e-10), an empty
stack, and joint vs split (rel < 1e-12).  Program k of batch b has seed
BASE * 1_000_000 + b * 1000 + k, so `python tests/cprogen.py SEED --prefix
cNNN_` reproduces one.  When a batch fails, its programs are retried one by
one so that the message names the culprit.

Environment: ADTOOL_RANDOM_SEED (0), ADTOOL_C_RANDOM_BATCHES (5),
ADTOOL_C_RANDOM_PER_BATCH (20).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import cprogen
from adcheck import PARSE_CACHE, run
from c_adcheck import STRICT, USER
from adtool.check.c_driver import c_check_many
from adtool.frontend.c import read_c
from adtool.pipeline import Options, generate
from adtool.runtime_files import install_runtime

BASE = int(os.environ.get("ADTOOL_RANDOM_SEED", "0"))
NBATCH = int(os.environ.get("ADTOOL_C_RANDOM_BATCHES", "5"))
PER_BATCH = int(os.environ.get("ADTOOL_C_RANDOM_PER_BATCH", "20"))
FD_TOL, DOT_TOL, MODE_TOL = 1e-6, 1e-10, 1e-12
FD_FLOOR = 1e-10
SPEC = "(y r)/(x y s)"


def seed_of(batch: int, k: int) -> int:
    return BASE * 1_000_000 + batch * 1000 + k


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def _check(progs: list[cprogen.Program], work: Path) -> list[str]:
    """Build and run one file of programs; the list of problems found."""
    work.mkdir(parents=True, exist_ok=True)
    src = work / "progs.c"
    src.write_text(cprogen.source(progs))
    spec = " ".join(p.head + SPEC for p in progs)
    rt = work / "rt"
    install_runtime(str(rt))
    run(["gcc", "-O1", "-c", "adstack.c", "-o", "adstack.o"], rt)
    outs = {}
    for tag, mode, dm in (("d", "tangent", None), ("j", "reverse", "joint"), ("s", "reverse", "split")):
        text, out = generate(Options(files=[str(src)], head=spec, mode=mode, default_mode=dm,
                                     cache_dir=PARSE_CACHE))
        (work / f"{tag}.c").write_text(text)
        run(["gcc", *STRICT, "-I", str(rt), "-c", f"{tag}.c"], work)
        outs[tag] = {r.name: r for r in out.all_routines()}
    tu = read_c([str(src)])
    drv = c_check_many(tu, [(p.head, outs["j"][p.head + "_b"], outs["d"][p.head + "_d"]) for p in progs])
    (work / "driver.c").write_text(drv)
    run(["gcc", *USER, "-w", "-I", str(rt), "-c", "driver.c"], work)
    res = {}
    for tag in ("j", "s"):
        run(["gcc", "-o", f"run_{tag}", "driver.o", "d.o", f"{tag}.o", "rt/adstack.o", "-lm"], work)
        p = run([f"./run_{tag}"], work, timeout=60)
        for m in re.finditer(r"ADCHECK (\S+) (\S+) (\S+) (\S+) (\S+)", p.stdout):
            res[(tag, m.group(1))] = [float(x) for x in m.groups()[1:]]
        for m in re.finditer(r"ADSTACK (\S+) (\d+) (-?\d+)", p.stdout):
            res[(tag, m.group(1), "left")] = int(m.group(3))
    problems = []
    for p in progs:
        for tag in ("j", "s"):
            lhs, rhs, fd, _ = res[(tag, p.head)]
            if _rel(lhs, rhs) > DOT_TOL:
                problems.append(f"{p.head} {tag}: dot test {lhs!r} vs {rhs!r}")
            # Central differences carry an absolute rounding error of about
            # eps * |<W, f>| / h ~ 1e-10 (values are bounded by 2): a gradient
            # that nearly vanishes along D is held to that, not to 1e-6 of itself.
            if abs(fd - rhs) > max(FD_TOL * max(abs(fd), abs(rhs)), FD_FLOOR):
                problems.append(f"{p.head} {tag}: adjoint {rhs!r} vs finite difference {fd!r}")
            if res[(tag, p.head, "left")] != 0:
                problems.append(f"{p.head} {tag}: {res[(tag, p.head, 'left')]} bytes left on the stack")
        j, s = res[("j", p.head)], res[("s", p.head)]
        if _rel(j[1], s[1]) > MODE_TOL or _rel(j[3], s[3]) > MODE_TOL:
            problems.append(f"{p.head}: joint {j[1]!r} vs split {s[1]!r}")
    return problems


@pytest.mark.parametrize("batch", range(NBATCH))
def test_c_random_batch(batch, tmp_path):
    progs = [cprogen.generate(seed_of(batch, k), prefix=f"c{batch * PER_BATCH + k:03d}_")
             for k in range(PER_BATCH)]
    try:
        problems = _check(progs, tmp_path / "all")
    except Exception as exc:            # find the program that breaks the batch
        culprits = []
        for k, p in enumerate(progs):
            try:
                _check([p], tmp_path / p.prefix)
            except Exception as one:
                culprits.append(f"seed {seed_of(batch, k)} --prefix {p.prefix}: {one}"[:2000])
        raise AssertionError("\n".join(culprits) or str(exc)) from None
    seeds = {p.head: seed_of(batch, k) for k, p in enumerate(progs)}
    assert not problems, "\n".join(f"{x}  (seed {seeds[x.split()[0].rstrip(':')]})" for x in problems)
