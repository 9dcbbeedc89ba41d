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


def _parse_cache_dir() -> str:
    """The harnesses differentiate each fixture once per plan (twenty random
    plans and more): its parse trees are kept by content hash, as the CLI
    does by default, in a directory of this test process's own, removed at
    exit."""
    import atexit
    import shutil
    import tempfile
    d = tempfile.mkdtemp(prefix="adtool-test-parse-")
    atexit.register(shutil.rmtree, d, True)
    return d


PARSE_CACHE = _parse_cache_dir()


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
    run: dict | None = None    # a profiled run: {"sites": TABLE, "profile": PROF} (paths)

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


class Harness:
    """One fixture built once (primal, tangent, driver, runtime); each plan
    then costs one adjoint generation, one compile and one run."""

    def __init__(self, name: str, work: Path, fix: dict | None = None, files=None, head=None):
        fix = fix or fixture_table()[name]
        self.fix = fix
        base = Path(fix.get("base", FIXTURES))
        self.files = files or [str(base / f) for f in fix["files"]]
        self.inc = [str(base / d) for d in fix.get("include_dirs", [])]
        self.defines = list(fix.get("defines", []))
        self.head = head or fix["head"]
        # Code built with -fdefault-real-8 is differentiated with --default-real-kind 8.
        self.real_kind = fix.get("default_real_kind", 4)
        self.kflags = ["-fdefault-real-8", "-fdefault-double-8"] if self.real_kind == 8 else []
        indeps, deps = fix.get("independents"), fix.get("dependents")
        self.spec = f"{self.head}({' '.join(deps)})/({' '.join(indeps)})" if indeps and deps \
            else self.head
        self.work = work
        self.count = 0
        work.mkdir(parents=True, exist_ok=True)
        self.tu = read_fortran(self.files, self.inc, self.defines, self.real_kind)
        (work / "primal.f90").write_text(emit_unit(primal_unit(self.tu)))
        text_d, out_d = generate(Options(mode="tangent", **self._opts()))
        (work / "deriv_d.f90").write_text(text_d)
        self.rd = next(r for r in out_d.all_routines() if r.name == self.head + "_d")
        self.objs, self.rtdir = build_runtime(work)
        # The user's code and the test driver with relaxed warnings; what
        # adtool generates must compile warning-free (the bar).
        run(["gfortran", *FFLAGS, *self.kflags, "-c", "primal.f90"], work)
        run(["gfortran", *STRICT, *self.kflags, "-I", self.rtdir, "-c", "deriv_d.f90"], work)
        self.driver_built = False

    def _opts(self) -> dict:
        return dict(files=self.files, head=self.spec, include_dirs=self.inc, defines=self.defines,
                    default_real_kind=self.real_kind, cache_dir=PARSE_CACHE)

    def plan(self, default_mode: str = "joint", split=(), joint=(), checkpoint_file=None,
             strict: bool = True, primal_outputs: bool = True) -> CheckResult:
        self.count += 1
        tag = f"b{self.count}"
        text_b, out_b = generate(Options(mode="reverse", default_mode=default_mode, split=list(split),
                                         joint=list(joint), checkpoint_file=checkpoint_file,
                                         primal_outputs=primal_outputs, **self._opts()))
        (self.work / f"{tag}.f90").write_text(text_b)
        # The adjoint first: the driver may use its derivative types' module.
        run(["gfortran", *(STRICT if strict else ["-O0"]), *self.kflags, "-I", self.rtdir, "-c", f"{tag}.f90"],
            self.work)
        if not self.driver_built:
            rb = next(r for r in out_b.all_routines() if r.name == self.head + "_b")
            drv = check_driver(self.tu, self.head, rb, self.rd, h=self.fix.get("fd_step", 1e-6))
            (self.work / "driver.f90").write_text(emit_unit(drv))
            run(["gfortran", *FFLAGS, *self.kflags, "-I", self.rtdir, "-c", "driver.f90"], self.work)
            self.driver_built = True
        run(["gfortran", "-o", tag, "primal.o", "deriv_d.o", f"{tag}.o", "driver.o", *self.objs],
            self.work)
        p = run([f"./{tag}"], self.work, timeout=120)
        m = re.search(r"ADCHECK\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", p.stdout)
        st = re.search(r"ADSTACK\s+(\d+)\s+(-?\d+)", p.stdout)
        assert m and st, p.stdout
        return CheckResult(*(float(x) for x in m.groups()), int(st.group(1)), int(st.group(2)),
                           p.stdout)


def call_site_keys(h: "Harness") -> list[str]:
    """Every call site in the head's call tree, as caller/callee#k."""
    from adtool import callgraph
    import networkx as nx
    g = callgraph.build(h.tu)
    reach = {h.head} | nx.descendants(g, h.head)
    return sorted(d["site"].key for u, _, d in g.edges(data=True) if u in reach)


def check(name: str, work: Path, default_mode: str = "joint", split=(), joint=(),
          fix: dict | None = None, files=None, head=None) -> CheckResult:
    return Harness(name, work, fix, files, head).plan(default_mode, split, joint)
