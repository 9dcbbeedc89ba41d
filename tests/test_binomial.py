"""Binomial (revolve) checkpointing of counted loops (interface.md "$AD
BINOMIAL-CKP", plan file [loops]; checkpointing.md "Binomial checkpointing
of a time loop"): the runtime's schedule re-runs exactly t(l, s) plain steps
with at most s snapshots for any l and s (no cap), and the generated
adjoints give the plain adjoint's gradient, pass the finite-difference and
dot-product tests, in Fortran and C, in joint and split parents."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from adcheck import Harness, run
from c_adcheck import CHarness
from adtool.checkpoint.costmodel import binomial_steps
from adtool.runtime_files import install_runtime

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent / "binomial"
DRIVERS = Path(__file__).resolve().parent / "runtime_drivers"
HEAT1D = ROOT / "fixtures" / "fortran" / "heat1d.f90"

PAIRS = [(0, 1), (0, 5), (1, 1), (1, 3), (2, 1), (2, 2), (3, 1), (5, 1), (10, 3), (10, 9),
         (10, 10), (10, 11), (20, 4), (40, 2), (100, 99), (100, 100), (100, 200), (150, 99),
         (500, 120), (1000, 3), (1000, 30), (5000, 2), (12345, 7), (300, 1)]


def test_cost_formula_examples():
    assert binomial_steps(10, 3) == 15          # checkpointing.md's example
    assert binomial_steps(0, 1) == binomial_steps(1, 1) == 0
    assert binomial_steps(7, 1) == 21           # one snapshot: l(l-1)/2
    assert binomial_steps(50, 49) == binomial_steps(50, 500) == 49


def test_schedule_counts_equal_t(tmp_path):
    rt = tmp_path / "rt"
    install_runtime(str(rt))
    run(["gcc", "-O2", "-I", str(rt), "-o", "sched", str(DRIVERS / "binomial_schedule.c"),
         str(rt / "adstack.c")], tmp_path)
    args = [str(x) for p in PAIRS for x in p]
    out = run(["./sched", *args], tmp_path).stdout.split("\n")
    got = [tuple(int(x) for x in line.split()) for line in out if line.strip()]
    assert len(got) == len(PAIRS)
    for (l, s), (l2, s2, plain, rec, peak, cost) in zip(PAIRS, got):
        assert (l2, s2) == (l, s)
        assert plain == cost == binomial_steps(l, s), (l, s)
        assert rec == l
        assert peak <= s and (l <= 1 or peak == min(s, l - 1) or peak <= s)


# ---------------------------------------------------------------- Fortran

def _plan(tmp_path, name, entries):
    p = tmp_path / name
    p.write_text("[loops]\n" + "".join(f'"{k}" = "plain"\n' if n == "plain" else
                                         f'"{k}" = {{ binomial = {{ snapshots = {n} }} }}\n'
                                         for k, n in entries.items()))
    return str(p)


def _agree(ref, res, fd_tol=1e-6):
    assert res.stack_left == 0
    assert res.rel(ref.adjoint_dot, res.adjoint_dot) < 1e-12
    assert res.rel(ref.grad_norm2, res.grad_norm2) < 1e-12
    assert res.rel(res.tangent_dot, res.adjoint_dot) < 1e-11
    assert res.rel(res.fd, res.adjoint_dot) < fd_tol


def test_heat1d_plan_file_loops(tmp_path):
    """heat1d's 40-step time loop through [loops], every snapshot count from
    one to more than the steps, under joint and split; memory falls with
    the snapshot count."""
    h = Harness("heat1d", tmp_path)
    ref = h.plan("joint")
    peaks = {}
    for s in (1, 3, 39, 40, 120):
        plan = _plan(tmp_path, f"p{s}.toml", {"simulate:60": s})
        for mode in ("joint", "split"):
            res = h.plan(mode, checkpoint_file=plan)
            _agree(ref, res)
            peaks[s, mode] = res.stack_peak
    assert peaks[1, "joint"] < peaks[3, "joint"] < peaks[39, "joint"] <= ref.stack_peak
    assert peaks[40, "joint"] == peaks[120, "joint"] == peaks[39, "joint"]


def _without_directives(src: Path, dst: Path) -> Path:
    dst.write_text("".join(line for line in src.read_text().splitlines(True)
                           if "$AD" not in line and "pragma ad" not in line))
    return dst


FIX_F = {"files": ["timeloop.f90"], "head": "model", "independents": ["u", "v", "c"],
         "dependents": ["u", "v", "cost"], "base": str(HERE)}


def test_fortran_directives_nested_and_split_parents(tmp_path):
    """Tapenade's spelling on an outer loop with a run-time stride, an inner
    binomial loop in a routine the body calls, the loop's routine joint or
    split; [loops] overrides a directive's snapshot count, and "plain"
    turns the directive off."""
    plain = _without_directives(HERE / "timeloop.f90", tmp_path / "timeloop.f90")
    ref = Harness("timeloop", tmp_path / "ref", dict(FIX_F, base=str(tmp_path))).plan("joint")
    h = Harness("timeloop", tmp_path / "bin", FIX_F)
    for mode, split in (("joint", ()), ("split", ()), ("joint", ("run",)),
                        ("joint", ("run/advance",))):
        _agree(ref, h.plan(mode, split=split))
    for s in (1, 2, 100):
        plan = _plan(tmp_path, f"q{s}.toml", {"run:48": s, "advance:31": 1})
        _agree(ref, h.plan("joint", checkpoint_file=plan))
    # "plain" over both directives: the directive-free program's adjoint,
    # byte for byte on the stack
    plan = _plan(tmp_path, "plain.toml", {"run:48": "plain", "advance:31": "plain"})
    res = h.plan("joint", checkpoint_file=plan)
    _agree(ref, res)
    assert res.stack_peak == ref.stack_peak


def test_c_directive(tmp_path):
    plain = _without_directives(HERE / "timeloop.c", tmp_path / "timeloop.c")
    fix = {"files": ["timeloop.c"], "head": "run", "independents": ["u", "v", "c"],
           "dependents": ["u", "v", "cost"]}
    ref = CHarness("timeloop", tmp_path / "ref", dict(fix, base=str(tmp_path))).plan("joint")
    h = CHarness("timeloop", tmp_path / "bin", dict(fix, base=str(HERE)))
    for mode in ("joint", "split"):
        _agree(ref, h.plan(mode))


def test_c_nested_in_one_routine(tmp_path):
    _without_directives(HERE / "nested.c", tmp_path / "nested.c")
    fix = {"files": ["nested.c"], "head": "run", "independents": ["u"],
           "dependents": ["u", "cost"]}
    ref = CHarness("nested", tmp_path / "ref", dict(fix, base=str(tmp_path))).plan("joint")
    h = CHarness("nested", tmp_path / "bin", dict(fix, base=str(HERE)))
    for mode in ("joint", "split"):
        res = h.plan(mode)
        _agree(ref, res)
        assert res.stack_peak < ref.stack_peak


# ---------------------------------------------------------------- profile

PROF_DRIVER = """\
program prof
  use adstack
  implicit none
  real(8) :: u0(16), kappa, u(16), u0b(16), kappab, ub(16)
  integer :: i
  do i = 1, 16
    u0(i) = 0.1d0 * i
  end do
  kappa = 0.8d0
  u0b = 0.0d0
  kappab = 0.0d0
  ub = 1.0d0
  call simulate_b(u0, u0b, kappa, kappab, u, ub)
  call ad_prof_json('prof.json')
end program prof
"""


def test_profile_reports_binomial_loops(tmp_path):
    """Trip count, snapshots, steps re-run (= t(40, 3)) and the bytes of one
    snapshot (u: 16 reals, nothing else) per binomial loop."""
    from adtool.backend.fortran import emit_unit
    from adtool.check.driver import primal_unit
    from adtool.frontend.fortran import read_fortran
    plan = _plan(tmp_path, "p.toml", {"simulate:60": 3})
    run([sys.executable, "-m", "adtool", "differentiate", HEAT1D, "--head",
         "simulate(u)/(u0 kappa)", "--checkpoint-file", plan, "--profile", "-o", "h_b.f90"],
        tmp_path)
    install_runtime(str(tmp_path / "rt"))
    (tmp_path / "primal.f90").write_text(emit_unit(primal_unit(read_fortran([str(HEAT1D)]))))
    (tmp_path / "prof.f90").write_text(PROF_DRIVER)
    run(["gcc", "-O2", "-DADSTACK_PROFILE", "-c", "rt/adstack.c"], tmp_path)
    run(["gfortran", "-c", "rt/adstack_mod.f90"], tmp_path)
    run(["gfortran", "-O1", "-o", "prof", "primal.f90", "h_b.f90", "prof.f90", "adstack.o",
         "adstack_mod.o"], tmp_path)
    run(["./prof"], tmp_path)
    prof = json.loads((tmp_path / "prof.json").read_text())
    table = json.loads((tmp_path / "h_b.sites.json").read_text())["sites"]
    loop = next(t for t in table if t["mode"] == "binomial")
    assert loop["key"] == "simulate:60" and loop["snapshots"] == 3
    b = next(x for x in prof["binomial"] if x["site"] == loop["id"])
    assert b == {"site": loop["id"], "count": 1, "trip_count": 40, "snapshots": 3,
                 "peak_snapshots": 3, "steps_rerun": binomial_steps(40, 3),
                 "snapshot_bytes": 16 * 8}


# ---------------------------------------------------------------- errors

def adtool(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "adtool", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize("directive,body,code,text", [
    ("!$AD BINOMIAL-CKP 0", "do k = 1, n\n    x = x * 2.0d0\n  end do", 2, "positive integer"),
    ("!$AD BINOMIAL-CKP 3 4", "do k = 1, n\n    x = x * 2.0d0\n  end do", 2, "nsnaps"),
    ("!$AD BINOMIAL-CKP 3", "x = x * 2.0d0", 2, "counted DO/for loop"),
    ("!$AD BINOMIAL-CKP 3", "do k = 1, n\n    x = x * 2.0d0\n    if (x > 5.0d0) exit\n  end do",
     1, "EXIT/break leaving a binomial"),
])
def test_bad_binomial_directives(tmp_path, directive, body, code, text):
    src = tmp_path / "f.f90"
    src.write_text(f"subroutine f(x, n)\n  real(8) :: x\n  integer :: n, k\n  {directive}\n"
                   f"  {body}\nend subroutine f\n")
    p = adtool("differentiate", src, "--head", "f", "-o", tmp_path / "f_b.f90")
    assert p.returncode == code, p.stderr
    assert text in p.stderr and "f.f90:" in p.stderr, p.stderr
    assert not (tmp_path / "f_b.f90").exists()


def test_plan_show_lists_binomial_loops(tmp_path):
    plan = _plan(tmp_path, "p.toml", {"run:48": 7})
    p = adtool("plan", "show", HERE / "timeloop.f90", "--head", "model", "--checkpoint-file", plan)
    assert p.returncode == 0, p.stderr
    assert "loop advance:31  binomial, 2 snapshots  (directive at" in p.stdout
    assert f"loop run:48  binomial, 7 snapshots  (plan file {plan}:2)" in p.stdout
    p = adtool("plan", "show", HERE / "timeloop.c", "--head", "run", "--format", "json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["loops"][0]["key"] == "run:27" and doc["loops"][0]["snapshots"] == 3
    # "plain" turns a directive's loop off (the plan file over directives)
    plain = tmp_path / "plain.toml"
    plain.write_text('[loops]\n"advance:31" = "plain"\n')
    p = adtool("plan", "show", HERE / "timeloop.f90", "--head", "model", "--checkpoint-file", plain)
    assert p.returncode == 0, p.stderr
    assert f"loop advance:31  plain  (plan file {plain}:2)" in p.stdout, p.stdout
    assert "loop run:48  binomial, 4 snapshots  (directive at" in p.stdout, p.stdout
    plain.write_text('[loops]\n"run:27" = "plain"\n')
    p = adtool("plan", "show", HERE / "timeloop.c", "--head", "run", "--format", "json",
               "--checkpoint-file", plain)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["loops"] == [{"key": "run:27", "routine": "run", "line": 27,
                             "file": str(HERE / "timeloop.c"), "mode": "plain",
                             "snapshots": None, "origin": f"plan file {plain}:2"}]
