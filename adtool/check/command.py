"""`adtool check`: the gradient check of the test suite, as a user command.

The user's own program is the driver: the check block of driver.py /
c_driver.py replaces (precedes, in C) the first call of the head in the main
program, so inputs, array shapes and set-up come from the program itself.
Everything is built with the user's compiler and flags in a build directory
that is removed on success and kept (and named) when something fails, so
that a compile error can be read next to the generated file it is about.

Exit status: 0 every check within tolerance, 3 a check failed or the
gradient departs from the reference, 1 a compile or run failure (or an
unsupported construct), 2 bad input.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from typing import Optional

from .. import pipeline
from ..diagnostics import AdError, UNSUPPORTED, bad_input

CHECK_FAILED = 3
DOT_TOL = 1e-10     # tangent vs adjoint: both exact up to rounding
FD_TOL = 1e-5       # central differences with h = 1e-6: truncation + rounding
# A head with single-precision real arguments: float's rounding (6e-8)
# swamps a 1e-6 difference, so the step is 1e-3 (error h^2 + eps/h, about
# 1e-4 at best) and both tolerances are float-sized.
SINGLE = dict(h=1e-3, dot_tol=1e-5, fd_tol=2e-3)


@dataclass
class CheckOptions:
    diff: pipeline.Options
    with_files: list[str] = field(default_factory=list)
    fc: str = "gfortran"
    cc: str = "gcc"
    flags: Optional[str] = None
    rtol: float = 1e-9
    dot_tol: Optional[float] = None     # None: DOT_TOL, or SINGLE's for a single-precision head
    fd_tol: Optional[float] = None
    save_reference: Optional[str] = None
    reference: Optional[str] = None
    profile: Optional[str] = None
    json: Optional[str] = None
    junit: Optional[str] = None
    keep: bool = False


@dataclass
class Check:
    """One line of the report: a name, the numbers, pass or fail."""
    name: str
    passed: bool
    summary: str
    values: dict = field(default_factory=dict)
    details: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    head: str
    checks: list[Check]
    build_dir: Optional[str]
    gradient: Optional[dict] = None

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def run_check(opts: CheckOptions) -> int:
    from .. import deps
    from .report import write_json, write_junit
    _check_tools(opts)
    with deps.recording() as read:
        outcome = _build_and_run(opts)
    for c in outcome.checks:
        print(("  ok    " if c.passed else "  FAIL  ") + c.summary)
        for d in c.details:
            print("        " + d)
    if opts.json:
        write_json(opts.json, outcome, opts)
    if opts.junit:
        write_junit(opts.junit, outcome)
    target = next((p for p in (opts.json, opts.junit, opts.save_reference, opts.profile) if p), None)
    d = opts.diff
    if (d.make_deps or d.dep_file) and not (target or d.dep_targets):
        raise bad_input("-MD/-MF on check need -MT TARGET or an output file "
                        "(--json, --junit, --save-reference or --profile)")
    if d.make_deps or d.dep_file:
        deps.write_depfile(target or d.dep_targets[0],
                           read + [p for p in opts.with_files if p not in read],
                           d.make_deps, d.dep_file, d.dep_targets, d.dep_phony)
    if outcome.passed:
        print(f"adtool check: {outcome.head}: all checks passed")
        return 0
    print(f"adtool check: {outcome.head}: FAILED", flush=True)
    return CHECK_FAILED


def _check_tools(opts: CheckOptions) -> None:
    lang = _language(opts.diff.files)
    for what, cmd in (("--cc", opts.cc),) + ((("--fc", opts.fc),) if lang == "fortran" else ()):
        words = shlex.split(cmd) if cmd else []
        if not words or shutil.which(words[0]) is None:
            raise bad_input(f"{what} '{cmd}': no such compiler on PATH")
    for f in opts.with_files:
        if not os.path.isfile(f):
            raise bad_input("no such file (given with --with)", _span(f))
    if opts.reference:
        from .reference import load_reference
        load_reference(opts.reference)      # malformed: say so before building anything


def _span(path: str):
    from ..ir.nodes import Span
    return Span(path, 0, 0)


def _language(files: list[str]) -> str:
    from ..frontend.source import language_of
    return language_of(files[0]) if files else "fortran"


class _Build:
    """The build directory and the commands run in it."""

    def __init__(self, opts: CheckOptions):
        self.opts = opts
        self.dir = tempfile.mkdtemp(prefix="adtool-check-")
        self.flags = shlex.split(opts.flags) if opts.flags is not None else ["-O2"]
        self.objs: list[str] = []

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def write(self, name: str, text: str) -> str:
        with open(self.path(name), "w") as fh:
            fh.write(text)
        return self.path(name)

    def compile(self, compiler: str, src: str, extra: list[str], generated: bool,
                flags: Optional[list[str]] = None) -> None:
        """flags: instead of the user's (the runtime, and C files of a
        Fortran program, are not what --flags is written for)."""
        obj = self.path(f"{len(self.objs):02d}_{os.path.splitext(os.path.basename(src))[0]}.o")
        cmd = [*shlex.split(compiler), *(self.flags if flags is None else flags), *extra,
               "-c", src, "-o", obj]
        p = subprocess.run(cmd, cwd=self.dir, capture_output=True, text=True)
        if p.returncode != 0:
            what = "the generated file" if generated else "the file"
            raise AdError(f"compiling {what} {src} failed:\n  {shlex.join(cmd)}\n"
                          f"{(p.stdout + p.stderr).rstrip()}\n"
                          f"adtool check: build directory kept: {self.dir}", None, UNSUPPORTED)
        self.objs.append(obj)

    def link_and_run(self, linker: str, libs: list[str], env: dict) -> str:
        exe = self.path("adcheck")
        cmd = [*shlex.split(linker), *self.flags, "-o", exe, *self.objs, *libs]
        p = subprocess.run(cmd, cwd=self.dir, capture_output=True, text=True)
        if p.returncode != 0:
            raise AdError(f"linking failed:\n  {shlex.join(cmd)}\n{(p.stdout + p.stderr).rstrip()}\n"
                          f"adtool check: build directory kept: {self.dir}", None, UNSUPPORTED)
        p = subprocess.run([exe], cwd=os.getcwd(), capture_output=True, text=True,
                           env={**os.environ, **env})
        if p.returncode != 0:
            raise AdError(f"the check program {exe} failed (exit {p.returncode}):\n"
                          f"{(p.stdout + p.stderr).rstrip()[-4000:]}\n"
                          f"adtool check: build directory kept: {self.dir}", None, UNSUPPORTED)
        return p.stdout

    def done(self, keep: bool) -> Optional[str]:
        if keep:
            return self.dir
        shutil.rmtree(self.dir, ignore_errors=True)
        return None


def _build_and_run(opts: CheckOptions) -> Outcome:
    import dataclasses
    from ..headspec import parse_heads
    from ..runtime_files import install_runtime
    d = opts.diff
    heads = parse_heads(d.head)
    if len(heads) != 1:
        raise bad_input("adtool check takes one head routine; run it once per head")
    head = heads[0].name
    lang = _language(d.files)
    tu = pipeline.read_sources(d.files, d.include_dirs, d.defines)
    from ..externals import install, read_externals
    install(tu, read_externals(d.externals, d.checkpoint_file))
    if not any(r.kind == "program" for r in tu.routines):
        raise bad_input("adtool check builds your own program: give the file with the main "
                        f"program among the FILEs (none of {', '.join(d.files)} has one)")
    text_d, out_d = pipeline.generate(dataclasses.replace(d, mode="tangent", profile=False))
    text_b, out_b = pipeline.generate(dataclasses.replace(d, mode="reverse",
                                                          profile=bool(opts.profile)))
    rd = next(r for r in out_d.all_routines() if r.name == head + "_d")
    rb = next(r for r in out_b.all_routines() if r.name == head + "_b")
    f = tu.routine(head)
    single = any(f.symbols[a].type.base == "real" and f.symbols[a].type.kind == 4
                 for a in f.args + ([f.result] if f.result else []))
    h = SINGLE["h"] if single else 1e-6
    opts = dataclasses.replace(
        opts, dot_tol=opts.dot_tol if opts.dot_tol is not None else (SINGLE["dot_tol"] if single else DOT_TOL),
        fd_tol=opts.fd_tol if opts.fd_tol is not None else (SINGLE["fd_tol"] if single else FD_TOL))
    want_gradient = bool(opts.save_reference or opts.reference)
    roles = out_b.head_roles.get(head) if want_gradient else None
    b = _Build(opts)
    ok = False
    try:
        rt = b.path("rt")
        install_runtime(rt)
        inc = [f"-I{x}" for x in [rt, *d.include_dirs, *sorted({os.path.dirname(os.path.abspath(f))
                                                                  for f in d.files})]]
        defs = [f"-D{x}" for x in d.defines]
        prof = ["-DADSTACK_PROFILE"] if opts.profile else []
        b.compile(opts.cc, os.path.join(rt, "adstack.c"), ["-I" + rt, *prof], True, ["-O2"])
        if lang == "fortran":
            from ..backend.fortran import emit_unit
            from .driver import check_driver, primal_unit
            b.compile(opts.fc, os.path.join(rt, "adstack_mod.f90"), [], True)
            for f in opts.with_files:
                b.compile(opts.cc if f.endswith(".c") else opts.fc, os.path.abspath(f), inc + defs,
                          False, ["-O2"] if f.endswith(".c") else None)
            b.compile(opts.fc, b.write("primal.f90", emit_unit(primal_unit(tu))), inc, True)
            b.compile(opts.fc, b.write(f"{head}_d.f90", text_d), inc, True)
            b.compile(opts.fc, b.write(f"{head}_b.f90", text_b), inc, True)
            drv = check_driver(tu, head, rb, rd, h=h, roles=roles)
            b.compile(opts.fc, b.write("check_main.f90", emit_unit(drv)), inc, True)
            linker, libs = opts.fc, []
        else:
            from .c_driver import c_check_program
            for f in opts.with_files:
                b.compile(opts.fc if not f.endswith(".c") else opts.cc, os.path.abspath(f),
                          inc + defs, False)
            b.compile(opts.cc, b.write(f"{head}_d.c", text_d), inc, True)
            b.compile(opts.cc, b.write(f"{head}_b.c", text_b), inc, True)
            b.compile(opts.cc, b.write("check_main.c", c_check_program(tu, head, rb, rd, h=h, roles=roles)),
                      inc + defs, True)
            linker, libs = opts.cc, ["-lm"]
        env = {}
        if opts.profile:
            env["ADTOOL_PROFILE"] = b.path("runtime-profile.json")
        stdout = b.link_and_run(linker, libs, env)
        outcome = _read_results(stdout, head, lang, opts)
        if opts.profile:
            from .profile import merge_profile
            times = next((c.values for c in outcome.checks if c.name == "time"), None) or {}
            merge_profile(env["ADTOOL_PROFILE"], out_b.profile_sites, opts.profile, head,
                          times.get("adjoint_s"), times.get("primal_s"))
            outcome.checks.append(Check("profile", True, f"profile written to {opts.profile}"))
        if opts.save_reference:
            from .reference import save_reference
            save_reference(opts.save_reference, outcome.gradient, d, opts, head, roles)
            outcome.checks.append(Check("reference", True,
                                        f"reference saved to {opts.save_reference}"))
        if opts.reference:
            from .reference import compare_reference
            outcome.checks.append(compare_reference(opts.reference, outcome.gradient, head,
                                                    roles, opts.rtol))
        ok = outcome.passed
        return outcome
    finally:
        kept = b.done(opts.keep or not ok)
        if kept and ok:
            print(f"adtool check: build directory kept: {kept}")


_NUM = r"([-+0-9.eEdDnNaAiIfF]+)"


def _read_results(stdout: str, head: str, lang: str, opts: CheckOptions) -> Outcome:
    """The numbers the check block printed, judged."""
    tag = r"\s+" + re.escape(head) if lang == "c" else ""
    m = re.search(r"ADCHECK" + tag + r"\s+" + r"\s+".join([_NUM] * 4), stdout)
    st = re.search(r"ADSTACK" + tag + r"\s+(-?\d+)\s+(-?\d+)", stdout)
    tm = re.search(r"ADTIME" + tag + r"\s+(-?\d+)\s+(-?\d+)\s+(\d+)", stdout)
    if not (m and st and tm):
        raise AdError(f"the check program printed no result:\n{stdout[-2000:]}", None, UNSUPPORTED)
    lhs, rhs, fd, nrm = (float(x.replace("D", "e").replace("d", "e")) for x in m.groups())
    peak, left = int(st.group(1)), int(st.group(2))
    t_adj, t_prim, rate = (int(x) for x in tm.groups())
    checks = []
    dot = _rel(lhs, rhs)
    checks.append(Check("dot-product test", dot <= opts.dot_tol and rhs == rhs,
                        f"dot-product test: <W, J.D> = {lhs:.16e}, <J^T.W, D> = {rhs:.16e}, "
                        f"rel. difference {dot:.2e} (tolerance {opts.dot_tol:.0e})",
                        dict(tangent=lhs, adjoint=rhs, rel=dot, tolerance=opts.dot_tol)))
    fde = _rel(fd, rhs)
    checks.append(Check("finite differences", fde <= opts.fd_tol,
                        f"finite differences (central, random direction): FD = {fd:.16e}, "
                        f"adjoint = {rhs:.16e}, rel. difference {fde:.2e} (tolerance {opts.fd_tol:.0e})",
                        dict(fd=fd, adjoint=rhs, rel=fde, tolerance=opts.fd_tol)))
    if rhs == 0.0 and nrm == 0.0:
        checks.append(Check("nonzero gradient", False,
                            "the gradient is exactly zero: nothing connects the independents "
                            "to the dependents at this point"))
    checks.append(Check("stack", left == 0,
                        f"stack peak {peak} bytes, {left} bytes left after the adjoint"
                        + ("" if left == 0 else " (the adjoint must leave the stack empty)"),
                        dict(peak_bytes=peak, left_bytes=left)))
    ta, tp = t_adj / max(rate, 1), t_prim / max(rate, 1)
    ratio = ta / tp if tp > 0 else float("nan")
    checks.append(Check("time", True,
                        f"time adjoint/primal {ratio:.2f} (adjoint {ta * 1e3:.3f} ms, "
                        f"primal {tp * 1e3:.3f} ms; the first adjoint call of a process also "
                        "pays for the stack's memory)" if tp > 0 else
                        f"time adjoint {ta * 1e3:.3f} ms, primal below the clock's resolution",
                        dict(adjoint_s=ta, primal_s=tp, ratio=ratio if tp > 0 else None)))
    return Outcome(head, checks, None, _read_gradient(stdout, head, lang))


def _read_gradient(stdout: str, head: str, lang: str) -> Optional[dict]:
    """`ADGRAD [head] name` followed by one value per line -> {name: [values]}."""
    grad: dict[str, list[float]] = {}
    cur = None
    for line in stdout.splitlines():
        w = line.split()
        if w and w[0] == "ADGRAD-END":
            break
        if w and w[0] == "ADGRAD":
            cur = grad.setdefault(w[-1], [])
            continue
        if cur is not None:
            try:
                cur.append(float(line.strip().replace("D", "e").replace("d", "e")))
            except ValueError:
                cur = None
    return grad or None


def _rel(a: float, b: float) -> float:
    if a != a or b != b:
        return float("inf")
    return abs(a - b) / max(abs(a), abs(b), 1e-300)
