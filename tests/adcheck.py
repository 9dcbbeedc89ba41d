"""Build-and-run helpers for end-to-end derivative tests: generate tangent and
adjoint code for a fixture, compile it with the runtime and a check driver
made from the fixture's own main program, run it, and read the numbers."""
from __future__ import annotations

import os
import re
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

from adtool.backend.fortran import emit_unit
from adtool.check.driver import check_driver, primal_unit
from adtool.frontend.fortran import read_fortran
from adtool.pipeline import Options, generate
from adtool.runtime_files import install_runtime

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "fortran"
FFLAGS = ["-O1", "-Wall", "-Wno-unused-dummy-argument", "-Wno-unused-variable",
          "-Wno-conversion", "-Wno-maybe-uninitialized", "-Wno-unused-label",
          "-Wno-compare-reals", "-Wno-function-elimination"]


STRICT = ["-O2", "-Wall", "-Wno-unused-dummy-argument", "-Werror"]


def fixture_table() -> dict:
    with open(FIXTURES / "fixtures.toml", "rb") as fh:
        return tomllib.load(fh)


@dataclass
class CheckResult:
    tangent_dot: float     # <W, J D>
    adjoint_dot: float     # <J^T W, D>
    fd: float              # central difference of <W, f(x + hD)>
    grad_norm2: float      # |J^T W|^2
    stack_peak: int
    stack_left: int
    output: str

    def rel(self, a: float, b: float) -> float:
        return abs(a - b) / max(abs(a), abs(b), 1e-300)


def run(cmd, cwd, **kw):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def build_runtime(work: Path) -> list[str]:
    rt = work / "rt"
    install_runtime(str(rt))
    run(["gcc", "-O2", "-c", "adstack.c", "-o", "adstack.o"], rt)
    run(["gfortran", "-c", "adstack_mod.f90", "-o", "adstack_mod.o"], rt)
    return [str(rt / "adstack.o"), str(rt / "adstack_mod.o")], str(rt)


def check(name: str, work: Path, default_mode: str = "joint", split=(), joint=(),
          fix: dict | None = None, files=None, head=None) -> CheckResult:
    fix = fix or fixture_table()[name]
    base = Path(fix.get("base", FIXTURES))
    files = files or [str(base / f) for f in fix["files"]]
    inc = [str(base / d) for d in fix.get("include_dirs", [])]
    defines = list(fix.get("defines", []))
    head = head or fix["head"]
    indeps = fix.get("independents")
    deps = fix.get("dependents")
    spec = head
    if indeps and deps:
        spec = f"{head}({' '.join(deps)})/({' '.join(indeps)})"
    work.mkdir(parents=True, exist_ok=True)
    tu = read_fortran(files, inc, defines)
    (work / "primal.f90").write_text(emit_unit(primal_unit(tu)))
    opts = dict(files=files, head=spec, include_dirs=inc, defines=defines)
    text_b, out_b = generate(Options(mode="reverse", default_mode=default_mode,
                                     split=list(split), joint=list(joint), **opts))
    text_d, out_d = generate(Options(mode="tangent", **opts))
    (work / "deriv_b.f90").write_text(text_b)
    (work / "deriv_d.f90").write_text(text_d)
    rb = next(r for r in out_b.all_routines() if r.name == head + "_b")
    rd = next(r for r in out_d.all_routines() if r.name == head + "_d")
    drv = check_driver(tu, head, rb, rd, h=fix.get("fd_step", 1e-6))
    (work / "driver.f90").write_text(emit_unit(drv))
    objs, rtdir = build_runtime(work)
    # The user's code and the test driver with relaxed warnings; what adtool
    # generates must compile warning-free (the bar).
    run(["gfortran", *FFLAGS, "-c", "primal.f90"], work)
    for gen in ("deriv_d.f90", "deriv_b.f90"):
        run(["gfortran", *STRICT, "-I", rtdir, "-c", gen], work)
    run(["gfortran", *FFLAGS, "-I", rtdir, "-o", "check", "primal.o", "deriv_d.o",
         "deriv_b.o", "driver.f90", *objs], work)
    p = run(["./check"], work, timeout=120)
    m = re.search(r"ADCHECK\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", p.stdout)
    s = re.search(r"ADSTACK\s+(\d+)\s+(-?\d+)", p.stdout)
    assert m and s, p.stdout
    return CheckResult(*(float(x) for x in m.groups()), int(s.group(1)), int(s.group(2)), p.stdout)
