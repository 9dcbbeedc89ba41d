"""Mixed checkpointing strategies on the benchmark programs (bench/programs/):
all-joint, all-split, the plans each program's info.toml names and random
mixed plans (every call site joint or split at random) give the same
gradient, to 1e-12 relative, and each passes the driver's finite-difference
check along a fixed direction.  Small sizes (info.toml's check_args) and -O0:
this is about the code, bench/ measures the speed."""
from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from adcheck import build_runtime
from adtool.cli import _diff_options, make_parser
from adtool.pipeline import differentiate

ROOT = Path(__file__).resolve().parent.parent
PROGS = ROOT / "bench" / "programs"
NAMES = sorted(p.name for p in PROGS.iterdir() if (p / "info.toml").is_file())
RANDOM_PLANS = 20
FLAGS = ["-O0", "-Wall", "-Wno-unused-dummy-argument", "-Werror"]
TOL = 1e-12


def run(cmd, cwd):
    p = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p.stdout


def info(name):
    return tomllib.loads((PROGS / name / "info.toml").read_text())


def site_keys(name):
    out = run([sys.executable, "-m", "adtool.cli", "plan", "show", PROGS / name / "model.f90",
               "--head", info(name)["head"], "--format", "json"], ROOT)
    return [s["key"] for s in json.loads(out)["sites"]]


def plans(name):
    """(label, adtool flags): all-joint first (the reference)."""
    inf = info(name)
    out = [("all-joint", ["--default-mode", "joint"]), ("all-split", ["--default-mode", "split"])]
    out += [(p["name"], p["flags"]) for p in inf.get("plans", [])
            if p["name"] not in ("all-joint", "all-split")]
    keys = site_keys(name)
    rng = random.Random(name)
    for k in range(RANDOM_PLANS):
        split = [s for s in keys if rng.random() < 0.5]
        out.append((f"random{k}", ["--default-mode", "joint"] + (["--split", ",".join(split)] if split else [])))
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Per program: the runtime, the model's object and the driver's, once."""
    cache = {}

    def get(name):
        if name not in cache:
            d = tmp_path_factory.mktemp(f"bench_{name}")
            objs, rt = build_runtime(d)
            run(["gfortran", "-O0", "-I", rt, "-c", PROGS / name / "model.f90", "-o", "model.o"], d)
            run(["gfortran", "-O0", "-c", PROGS / "driver_util.f90", "-o", "driver_util.o"], d)
            cache[name] = (d, rt, objs)
        return cache[name]
    return get


def check(name, label, flags, d, rt, objs):
    pd = d / label
    pd.mkdir(exist_ok=True)
    inf = info(name)
    # The flags go through the CLI's own parser, in this process: a fresh
    # interpreter per plan spent more time importing adtool than
    # differentiating (the CLI itself is tested in test_cli.py).
    args = make_parser().parse_args(["differentiate", str(PROGS / name / "model.f90"),
                                     "--head", inf["head"], *flags, "-o", str(pd / "adj.f90")])
    differentiate(_diff_options(args))
    inc = ["-I", rt, "-I", d]
    run(["gfortran", *FLAGS, *inc, "-c", "adj.f90", "-o", "adj.o"], pd)
    run(["gfortran", "-O0", *inc, "-c", PROGS / name / "driver.f90", "-o", "driver.o"], pd)
    run(["gfortran", "-o", "prog", "driver.o", d / "model.o", d / "driver_util.o", "adj.o", *objs], pd)
    p = subprocess.run(["./prog", *map(str, inf["check_args"])], cwd=pd, capture_output=True, text=True)
    out = p.stdout + p.stderr
    assert p.returncode == 0 and re.search(r"^\s*OK\s*$", out, re.M), f"{label}: {flags}\n{out}"
    fd = re.search(r"^\s*FD\s+(\S+)\s+(\S+)\s+(\S+)", out, re.M)
    gn = re.search(r"^\s*GRADNORM\s+(\S+)", out, re.M)
    left = re.search(r"^\s*STACK_LEFT\s+(\d+)", out, re.M)
    assert int(left.group(1)) == 0, out
    return float(fd.group(1)), float(gn.group(1))


def rel(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


@pytest.mark.parametrize("name", NAMES)
def test_strategies_agree(name, built):
    d, rt, objs = built(name)
    ps = plans(name)
    ref = None
    for label, flags in ps:
        adj, gnorm = check(name, label, flags, d, rt, objs)
        if ref is None:
            ref = (adj, gnorm)
            continue
        assert rel(ref[0], adj) < TOL, f"{label} {flags}: <grad, d> {adj} vs all-joint {ref[0]}"
        assert rel(ref[1], gnorm) < TOL, f"{label} {flags}: |grad| {gnorm} vs all-joint {ref[1]}"
