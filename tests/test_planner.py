"""The planner's cost model (checkpointing.md "Cost model") and its
optimiser: the worked example as a pure unit test, then a small end-to-end
case from measured profiles."""
import pytest

from adtool.checkpoint import costmodel as cm
from adtool.checkpoint.costmodel import Node


def worked_example() -> Node:
    """MAIN calls A (calls A1, A2) and B (calls B1), with tapes, snapshots
    and primal times (fractions of the whole primal) that give the numbers
    of checkpointing.md; T_split = 3.20 x primal."""
    a1 = Node("a/a1", [200.0], snapshot=10.0, extra=0.30)
    a2 = Node("a/a2", [0.0], snapshot=5.0, extra=0.10)
    a = Node("main/a", [100.0, 0.0, 0.0], [a1, a2], snapshot=10.0, extra=0.06 + 0.30 + 0.10)
    b1 = Node("b/b1", [280.0], snapshot=20.0, extra=0.44)
    b = Node("main/b", [0.0, 45.0], [b1], snapshot=15.0, extra=0.10 + 0.44)
    return Node("main", [50.0, 0.0, 0.0], [a, b])


def predicted(joint):
    root = worked_example()
    return cm.peak(root, set(joint)), round(cm.predicted_time(root, set(joint), 3.20), 2)


def test_worked_example_numbers():
    assert predicted([]) == (675, 3.20)
    assert predicted(["main/a", "a/a1", "a/a2", "main/b", "b/b1"]) == (350, 5.04)
    assert predicted(["main/a", "b/b1"]) == (350, 4.10)
    assert predicted(["main/a"]) == (385, 3.66)


def test_optimum_at_the_smallest_memory_is_a_and_b1():
    pytest.importorskip("highspy")
    root = worked_example()
    assert cm.minimum_peak(root) == (350, "exact (MILP, HiGHS)")
    c = cm.optimise(root, 350, 3.20)
    assert c.joint == {"main/a", "b/b1"} and c.peak == 350 and round(c.time, 2) == 4.10
    assert c.method.startswith("exact")
    assert cm.optimise(root, 349, 3.20) is None
    assert cm.optimise(root, 675, 3.20).joint == set()


def test_exact_matches_brute_force_on_every_budget():
    pytest.importorskip("highspy")
    import itertools
    root = worked_example()
    keys = cm.site_keys(root)
    plans = [set(s) for r in range(len(keys) + 1) for s in itertools.combinations(keys, r)]
    for budget in range(340, 700, 5):
        fits = [(cm.predicted_time(root, p), p) for p in plans if cm.peak(root, p) <= budget]
        c = cm.optimise(root, budget)
        if not fits:
            assert c is None
            continue
        assert c.peak <= budget
        assert c.time == pytest.approx(min(t for t, _ in fits))
    g = cm.greedy(root, 350)
    assert g is not None and cm.peak(root, g[0], bino=g[1]) <= 350


def test_frontier_runs_from_all_split_to_the_minimum():
    pytest.importorskip("highspy")
    f = cm.frontier(worked_example(), 3.20)
    assert f[0].joint == set() and f[0].peak == 675
    assert f[-1].peak == 350 and round(f[-1].time, 2) == 4.10
    assert all(x.peak > y.peak and x.time < y.time for x, y in zip(f, f[1:]))


def test_counts_multiply_contributions():
    """A site run 10 times in a loop keeps 10 snapshots (joint) or 10 tapes
    (split) on the stack while the last one's adjoint peaks."""
    step = Node("main/step", [30.0], count=10, snapshot=8.0, extra=1.0)
    root = Node("main", [5.0, 0.0], [step])
    assert cm.peak(root, set()) == 5 + 300
    assert cm.peak(root, {"main/step"}) == 5 + 9 * 8 + 30


# ---------------------------------------------------------------- end to end

import json
import subprocess
import sys
from pathlib import Path

from test_binomial import HEAT1D, PROF_DRIVER
from test_profile import run
from adtool.backend.fortran import emit_unit
from adtool.check.driver import primal_unit
from adtool.frontend.fortran import read_fortran


def adtool(*args, cwd):
    return subprocess.run([sys.executable, "-m", "adtool", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True)


def _profiled_run(tmp_path, tag, *plan):
    run([sys.executable, "-m", "adtool", "differentiate", HEAT1D, "--head", HEAD, *plan,
         "--profile", "-o", f"{tag}.f90"], tmp_path)
    run(["gfortran", "-O1", "-o", tag, "primal.o", f"{tag}.f90", "prof.f90", "adstack.o",
         "adstack_mod.o"], tmp_path)
    run([f"./{tag}"], tmp_path)
    (tmp_path / f"{tag}.prof.json").write_text((tmp_path / "prof.json").read_text())
    prof = json.loads((tmp_path / "prof.json").read_text())
    return {"sites": f"{tag}.sites.json", "profile": f"{tag}.prof.json"}, prof["peak_bytes"]


HEAD = "simulate(u)/(u0 kappa)"


def test_optimize_end_to_end(tmp_path):
    """Profile heat1d all split and all joint, ask for plans at three budgets:
    each plan, generated and run, peaks within its budget and at most its
    prediction (the model counts a routine's own tape before its calls)."""
    pytest.importorskip("highspy")
    run([sys.executable, "-m", "adtool", "runtime", "rt"], tmp_path)
    (tmp_path / "primal.f90").write_text(emit_unit(primal_unit(read_fortran([str(HEAT1D)]))))
    (tmp_path / "prof.f90").write_text(PROF_DRIVER)
    run(["gcc", "-O2", "-DADSTACK_PROFILE", "-c", "rt/adstack.c"], tmp_path)
    run(["gfortran", "-c", "rt/adstack_mod.f90"], tmp_path)
    run(["gfortran", "-O1", "-c", "primal.f90"], tmp_path)
    split, split_peak = _profiled_run(tmp_path, "s", "--default-mode", "split")
    joint, joint_peak = _profiled_run(tmp_path, "j", "--default-mode", "joint")
    (tmp_path / "data.json").write_text(json.dumps({"runs": [split, joint]}))
    assert joint_peak < split_peak
    p = adtool("plan", "optimize", HEAT1D, "--head", HEAD, "--profile-data", "data.json",
               "--memory", "10B", cwd=tmp_path)
    assert p.returncode == 1 and "smallest predicted peak is" in p.stderr, p.stderr
    low = int(p.stderr.split("smallest predicted peak is ")[1].split("(")[1].split()[0])
    # the model errs high, by little
    assert joint_peak <= low <= 1.1 * joint_peak
    budgets = [split_peak, (split_peak + low) // 2, low]
    for k, budget in enumerate(budgets):
        p = adtool("plan", "optimize", HEAT1D, "--head", HEAD, "--profile-data", "data.json",
                   "--memory", str(budget), "-o", f"plan{k}.toml", cwd=tmp_path)
        assert p.returncode == 0, p.stderr
        assert "all-split" in p.stdout and "all-joint" in p.stdout and "chosen" in p.stdout
        assert "exact (MILP, HiGHS)" in p.stdout
        row = next(line for line in p.stdout.splitlines() if line.startswith("chosen"))
        predicted = float(row.split()[3])
        text = (tmp_path / f"plan{k}.toml").read_text()
        assert text.startswith("# adtool plan optimize") and "predicted peak" in text
        _, measured = _profiled_run(tmp_path, f"c{k}", "--checkpoint-file", f"plan{k}.toml")
        assert measured <= budget, (budget, measured, text)
        assert measured <= predicted


def test_pareto_csv_without_matplotlib(tmp_path, monkeypatch):
    pytest.importorskip("highspy")
    from adtool.checkpoint import planner
    import builtins
    real_import = builtins.__import__

    def no_mpl(name, *a, **k):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", no_mpl)
    monkeypatch.setattr(planner, "_model", lambda *a: (planner.Model(worked_example(), 3.2, 1.0),
                                                       "main"))
    out, msg = planner.pareto([], "main", [], [], "x", str(tmp_path / "f.png"), None)
    assert out.splitlines()[0] == "peak_bytes,predicted_time,joint_sites,method"
    assert out.splitlines()[1].startswith("675,3.2,")
    assert "matplotlib is not installed" in msg and "adtool[plot]" in msg
    assert (tmp_path / "f.csv").read_text() == out
    assert not (tmp_path / "f.png").exists()


@pytest.mark.parametrize("text,n", [("64MB", 64 * 10**6), ("1.5GiB", 3 * 2**29),
                                    ("200000000", 200000000), ("12 KiB", 12288)])
def test_sizes(text, n):
    from adtool.checkpoint.planner import parse_size
    assert parse_size(text) == n


def test_mode_dependent_terms_stay_exact():
    """The caller's recording around a split call (record) and what of it
    is pushed back during a joint adjoint (held, by the subtree's modes), its own
    tape's change when its callees are joint (delta, adding or saving),
    and a joint site's extra time under a joint parent (nested, less or
    more): the MILP's optimum is the brute force's on every budget."""
    pytest.importorskip("highspy")
    import itertools

    def tree(d):
        l1 = Node("s/l1", [40.0], count=3, snapshot=6.0, extra=0.2, record=5.0, nested=0.05)
        l2 = Node("s/l2", [25.0], count=2, snapshot=30.0, extra=0.1, record=10.0, nested=0.3,
                  held=0.0)
        s = Node("m/s", [20.0, 0.0, 0.0], [l1, l2], count=4, snapshot=12.0, extra=0.5,
                 record=12.0, delta=d, held=3.0)
        o = Node("m/o", [8.0], snapshot=2.0, extra=0.05)
        return Node("m", [3.0, 0.0, 0.0], [s, o], delta=-d / 2)
    for d in (15.0, -15.0):
        root = tree(d)
        keys = cm.site_keys(root)
        plans = [set(c) for r in range(len(keys) + 1) for c in itertools.combinations(keys, r)]
        assert cm.peak(root, {"s/l1"}) - cm.peak(root, set()) != 0
        # held: the recording pushed back during a joint adjoint, measured
        # with the site's subtree all joint, the bound otherwise
        s = root.children[0]
        assert cm._held(s, {"m/s", "s/l1", "s/l2"}) == 3.0
        assert cm._held(s, {"m/s", "s/l1"}) == 12.0
        assert cm._held(s.children[1], {"s/l2"}) == 0.0
        assert cm.predicted_time(root, {"m/s", "s/l1"}) == pytest.approx(0.5 + 0.05)
        for budget in range(0, 1000, 7):
            fits = [cm.predicted_time(root, p) for p in plans if cm.peak(root, p) <= budget]
            c = cm.optimise(root, budget)
            assert (c is None) == (not fits), budget
            if fits:
                assert c.peak <= budget and c.time == pytest.approx(min(fits)), budget
        assert cm.minimum_peak(root)[0] == min(cm.peak(root, p) for p in plans)


def test_repeated_siblings_count_whole():
    """Two sites repeated in one loop interleave: at the last step's adjoint
    the other site's snapshots are all on the stack (counted whole)."""
    step = Node("main/step", [30.0], count=10, snapshot=8.0, extra=1.0)
    obs = Node("main/obs", [4.0], count=5, snapshot=2.0, extra=1.0)
    root = Node("main", [0.0, 0.0, 0.0], [step, obs])
    joint = {"main/step", "main/obs"}
    assert cm.peak(root, joint) == 9 * 8 + 5 * 2 + 30
    pytest.importorskip("highspy")
    c = cm.optimise(root, 9 * 8 + 5 * 2 + 30)
    assert c is not None and c.peak == 9 * 8 + 5 * 2 + 30


def test_measured_times_leave_coarse_sites_as_profiled():
    """Sites that are not called per cell keep their profiled extras
    whatever all-joint measured: their timers are a small part of them,
    and a factor fitted to a plan the model describes less well would
    carry its misfit into every other prediction."""
    from adtool.checkpoint.planner import _calibrate
    root = worked_example()
    runs = [{"all": "split", "time": 3.2}, {"all": "joint", "time": 3.2 + 2 * 1.84}]
    _calibrate(root, runs, 3.2)
    assert cm.predicted_time(root, set(cm.site_keys(root)), 3.2) == pytest.approx(5.04)
    assert cm.predicted_time(root, {"main/a"}, 3.2) == pytest.approx(3.66)


def test_callees_plain_runs_fit_in_their_callers():
    """Profiled plain-run times of tiny callees (their timer dominates) are
    scaled down until they fit in their caller's plain run, top down from
    the unprofiled primal time."""
    from adtool.checkpoint.planner import _cap_plain
    leaf = Node("s/leaf", [0.0], count=1000, extra=3.0 + 0.5, plain=3.0)
    step = Node("m/step", [0.0, 0.0], [leaf], count=10, extra=2.0 + 0.1, plain=2.0)
    root = Node("m", [0.0, 0.0], [step])
    _cap_plain(root, 4.0)                       # step fits: unchanged
    assert step.plain == 2.0 and step.extra == pytest.approx(2.1)
    assert leaf.plain == pytest.approx(2.0) and leaf.extra == pytest.approx(2.5)
    _cap_plain(root, 1.0)
    assert step.plain == pytest.approx(1.0) and leaf.plain == pytest.approx(1.0)


def test_one_factor_for_fine_sites():
    """Measured plans besides all-split fit one factor for the sites called
    per cell (their profiled time mostly the timer's), on what the other
    sites, kept as profiled, leave of each plan's extra time."""
    from adtool.checkpoint.planner import _calibrate
    leaf = Node("s/leaf", [0.0], count=1000, extra=1.0, fine=True)
    step = Node("m/step", [0.0, 0.0], [leaf], count=10, extra=0.8)
    root = Node("m", [0.0, 0.0], [step])

    def table(*joint):
        return {k: {"mode": "joint" if k in joint else "split"} for k in ("m/step", "s/leaf")}
    runs = [{"all": "split", "time": 2.0, "table": table()},
            {"all": "joint", "time": 2.0 + 0.1 + 0.8, "table": table("m/step", "s/leaf")},
            {"all": None, "time": 2.0 + 0.8, "table": table("m/step")},
            {"all": None, "time": 2.0 + 0.1, "table": table("s/leaf")}]
    _calibrate(root, runs, 2.0)
    assert leaf.extra == pytest.approx(0.1) and step.extra == pytest.approx(0.8)
    assert leaf.scale == pytest.approx(0.1) and step.scale == 1.0


def test_bad_profile_data(tmp_path):
    p = adtool("plan", "optimize", HEAT1D, "--head", HEAD, "--profile-data", "none.json",
               "--memory", "1MB", cwd=tmp_path)
    assert p.returncode == 2 and "cannot read profile data" in p.stderr, p.stderr
    (tmp_path / "d.json").write_text('{"runs": []}')
    p = adtool("plan", "optimize", HEAT1D, "--head", HEAD, "--profile-data", "d.json",
               "--memory", "lots", cwd=tmp_path)
    assert p.returncode == 2 and "expected a size" in p.stderr, p.stderr
    p = adtool("plan", "optimize", HEAT1D, "--head", HEAD, "--profile-data", "d.json",
               "--memory", "1MB", cwd=tmp_path)
    assert p.returncode == 2 and "profile data must be" in p.stderr, p.stderr
    assert "Traceback" not in p.stderr


def test_workflow_from_check_profiles(tmp_path):
    """README's three steps: profile with `adtool check --profile` (all
    split, all joint), optimize from those two files as they are, run the
    chosen plan with `adtool check`: it passes and peaks within budget."""
    pytest.importorskip("highspy")
    for mode in ("split", "joint"):
        p = adtool("check", HEAT1D, "--head", HEAD, "--default-mode", mode,
                   "--profile", f"{mode}.json", cwd=tmp_path)
        assert p.returncode == 0, p.stdout + p.stderr
        doc = json.loads((tmp_path / f"{mode}.json").read_text())
        assert doc["adjoint_time_s"] > 0 and doc["call_sites"]
    split_peak = json.loads((tmp_path / "split.json").read_text())["peak_bytes"]
    joint_peak = json.loads((tmp_path / "joint.json").read_text())["peak_bytes"]
    budget = (split_peak + joint_peak) // 2
    p = adtool("plan", "optimize", HEAT1D, "--head", HEAD, "--profile-data", "split.json",
               "--profile-data", "joint.json", "--memory", str(budget), "-o", "plan.toml",
               cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    p = adtool("check", HEAT1D, "--head", HEAD, "--checkpoint-file", "plan.toml",
               "--json", "r.json", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    rep = json.loads((tmp_path / "r.json").read_text())
    stack = next(c for c in rep["checks"] if c["name"] == "stack")
    assert stack["values"]["peak_bytes"] <= budget


OBSERVED = """\
! simulate observes u after every step: its own backward sweep reads u, so
! it records u before each call of step that overwrites it.
module obs_params
  implicit none
  integer, parameter :: dp = kind(1.d0)
  integer, parameter :: nx = 16
  integer, parameter :: nsteps = 40
end module obs_params

module obs_kernels
  use obs_params
  implicit none
contains

  subroutine flux(u, kappa, f)
    real(kind=dp), intent(in) :: u(nx), kappa
    real(kind=dp), intent(out) :: f(nx)
    integer :: i
    f(1) = 0.0_dp
    do i = 2, nx
      f(i) = -kappa * (1.0_dp + 0.5_dp * u(i)**2) * (u(i) - u(i-1))
    end do
  end subroutine flux

  subroutine step(u, kappa)
    real(kind=dp), intent(inout) :: u(nx)
    real(kind=dp), intent(in) :: kappa
    real(kind=dp) :: f(nx)
    call flux(u, kappa, f)
    u(2:nx-1) = u(2:nx-1) - 0.1_dp * (f(3:nx) - f(2:nx-1))
  end subroutine step

end module obs_kernels

subroutine simulate(u0, kappa, cost)
  use obs_params
  use obs_kernels, only: step
  implicit none
  real(kind=dp), intent(in) :: u0(nx), kappa
  real(kind=dp), intent(out) :: cost
  real(kind=dp) :: u(nx)
  integer :: n
  u = u0
  cost = 0.0_dp
  do n = 1, nsteps
    call step(u, kappa)
    cost = cost + sum(u**3)
  end do
end subroutine simulate
"""

OBS_DRIVER = """\
program prof
  use adstack
  implicit none
  real(8) :: u0(16), kappa, cost, u0b(16), kappab, costb
  integer :: i
  do i = 1, 16
    u0(i) = 0.05d0 * i
  end do
  kappa = 0.8d0
  u0b = 0.0d0
  kappab = 0.0d0
  costb = 1.0d0
  call simulate_b(u0, u0b, kappa, kappab, cost, costb)
  call ad_prof_json('prof.json')
end program prof
"""


def test_caller_recording_depends_on_the_call_sites_mode(tmp_path):
    """simulate observes u after every step, so it records u before each
    call of step (which overwrites it): around a split call as its own
    push, around a joint call merged with step's snapshot (pushed back
    while step_b runs only if step_b may write u: with flux joint too,
    step_b leaves u alone and one pop restores it; with flux split it
    does not).  The model takes that recording as a per-site term
    of the caller's tape that depends on the site's mode, and predicts the
    measured peak of all-split, all-joint and each site joint alone
    byte for byte (counted, not timed).  flux's snapshot depends on step's
    mode (a joint step's adjoint does not redo the update of u): with only
    the all-split and all-joint runs it is unmeasured under a split step,
    and flux is not offered joint there; a levels run measures it.  Likewise
    step's snapshot with flux split, measured by the run with step joint
    alone."""
    pytest.importorskip("highspy")
    from adtool.checkpoint import planner
    (tmp_path / "obs.f90").write_text(OBSERVED)
    run([sys.executable, "-m", "adtool", "runtime", "rt"], tmp_path)
    (tmp_path / "primal.f90").write_text(
        emit_unit(primal_unit(read_fortran([str(tmp_path / "obs.f90")]))))
    (tmp_path / "prof.f90").write_text(OBS_DRIVER)
    run(["gcc", "-O2", "-DADSTACK_PROFILE", "-c", "rt/adstack.c"], tmp_path)
    run(["gfortran", "-c", "rt/adstack_mod.f90"], tmp_path)
    run(["gfortran", "-O1", "-c", "primal.f90"], tmp_path)
    head = "simulate(cost)/(u0 kappa)"

    def profiled(tag, *plan):
        run([sys.executable, "-m", "adtool", "differentiate", "obs.f90", "--head", head, *plan,
             "--profile", "-o", f"{tag}.f90"], tmp_path)
        run(["gfortran", "-O1", "-o", tag, "primal.o", f"{tag}.f90", "prof.f90", "adstack.o",
             "adstack_mod.o"], tmp_path)
        run([f"./{tag}"], tmp_path)
        (tmp_path / f"{tag}.prof.json").write_text((tmp_path / "prof.json").read_text())
        prof = json.loads((tmp_path / "prof.json").read_text())
        return {"sites": f"{tag}.sites.json", "profile": f"{tag}.prof.json"}, prof["peak_bytes"]
    split, split_peak = profiled("s", "--default-mode", "split")
    joint, joint_peak = profiled("j", "--default-mode", "joint")
    (tmp_path / "data.json").write_text(json.dumps({"runs": [split, joint]}))
    model, _ = planner._model([str(tmp_path / "obs.f90")], head, [], [],
                              str(tmp_path / "data.json"))
    # flux's snapshot is measured only under a joint step, whose adjoint
    # re-runs flux but not the update of u (dead work: step_b never reads
    # the new u), so nothing is snapshotted; step's split forward sweep
    # does overwrite u.  Unmeasured there: not offered joint under it.
    flux = next(n for n in model.root.walk() if n.key.startswith("step/flux"))
    assert flux.snapshot == 0 and flux.under_joint_only
    assert cm.peak(model.root, {flux.key}) == float("inf")
    # the levels run of bench/planner.py (flux joint, step split) measures it
    lv, _ = profiled("lv", "--default-mode", "split", "--joint", "flux")
    (tmp_path / "data.json").write_text(json.dumps({"runs": [split, joint, lv]}))
    model, _ = planner._model([str(tmp_path / "obs.f90")], head, [], [],
                              str(tmp_path / "data.json"))
    root = model.root
    flux = next(n for n in root.walk() if n.key.startswith("step/flux"))
    assert flux.snapshot == 16 * 8 and flux.nested_snapshot == 0      # u, per call
    step = next(n for n in root.walk() if n.key.startswith("simulate/step"))
    assert step.count == 40 and step.record == 16 * 8          # u, per call
    assert step.held == 0                  # all-joint: u popped once, not pushed back
    keys = cm.site_keys(root)
    assert cm.peak(root, set()) == split_peak
    assert cm.peak(root, set(keys)) == joint_peak
    alone = {}                         # each site joint alone, the others split
    for k in keys:
        callee = k.split("/")[1].split("#")[0]
        alone[k] = profiled("m" + callee, "--default-mode", "split", "--joint", callee)
    # step joint with flux split: no run above has that mix, where step's
    # snapshot may differ (its adjoint re-runs flux's split forward sweep):
    # not offered, until its own run measures it
    assert step.joint_kids_only
    assert cm.peak(root, {flux.key}) == alone[flux.key][1]
    assert cm.peak(root, {step.key}) == float("inf")
    (tmp_path / "data.json").write_text(json.dumps({"runs": [split, joint, lv,
                                                             alone[step.key][0]]}))
    model, _ = planner._model([str(tmp_path / "obs.f90")], head, [], [],
                              str(tmp_path / "data.json"))
    root = model.root
    step = next(n for n in root.walk() if n.key.startswith("simulate/step"))
    assert not step.joint_kids_only and step.kids_split_snapshot is not None
    assert cm.peak(root, set()) == split_peak
    assert cm.peak(root, set(keys)) == joint_peak
    for k in keys:
        assert cm.peak(root, {k}) == alone[k][1], k
    # without the term (the caller's own tape taken whole from the split
    # run, as before), all-joint counts u twice per step: once in the
    # caller's tape, once in the snapshot
    root.own[0] += step.count * step.record
    step.record = 0.0
    assert cm.peak(root, set(keys)) >= joint_peak + (step.count - 1) * 16 * 8


# ---------------------------------------------------------------- binomial loops

def loop_tree(fixed=3.0) -> Node:
    """main: a setup call, then a 12-step time loop calling step (which
    calls flux twice, one repeated) and obs every step, then a final call.
    The loop may be binomial with 1, 2, 3, 5 or 11 snapshots."""
    fl = Node("step/flux", [30.0], count=2, snapshot=4.0, extra=0.02, record=2.0)
    st = Node("main/step", [10.0, 0.0], [fl], count=12, snapshot=9.0, extra=0.1, record=6.0,
              plain=0.05)
    ob = Node("main/obs", [5.0], count=12, snapshot=1.0, extra=0.01, plain=0.01)
    su = Node("main/setup", [40.0], snapshot=2.0, extra=0.3)
    fi = Node("main/final", [25.0], snapshot=3.0, extra=0.2)
    lp = cm.LoopNode("main:7", [1, 2], trip=12, snapshot=16.0, candidates=[1, 2, 3, 5, 11],
                     fixed=fixed, step_time=0.01)
    return Node("main", [7.0, 0.0, 0.0, 0.0, 0.0], [su, st, ob, fi], loops=[lp])


def test_binomial_loop_peak_and_time():
    """Binomial with s snapshots: the loop keeps s snapshots (and fixed)
    and one step's tape where it kept twelve; t(12, s) plain steps re-run."""
    root = loop_tree()
    st, ob = root.children[1], root.children[2]
    step_tape = st.record + 10 + 2 * (2 + 30) + 5           # one iteration, all split
    assert cm.peak(root, set()) == 7 + 40 + 12 * step_tape + 25
    p = cm.peak(root, set(), bino={"main:7": 3})
    assert p == 7 + 40 + 3 * 16 + 3.0 + step_tape + 25
    assert cm.predicted_time(root, set(), 1.0, {"main:7": 3}) == \
        pytest.approx(1.0 + cm.binomial_steps(12, 3) * 0.01)
    # calls inside keep their modes: step joint in a binomial loop, its
    # adjoint (its caller's recording held, its own tape) on one snapshot
    j = {"main/step"}
    assert cm.peak(root, j, bino={"main:7": 1}) == 7 + 40 + 16 + 3.0 + 6 + (10 + 2 * 32)
    assert st.count / root.loops[0].trip == 1 and ob.count == 12


@pytest.mark.parametrize("kids", ["same", "larger", "unmeasured"])
def test_binomial_loops_stay_exact(kids):
    """One binary per candidate snapshot count: the MILP's optimum equals
    the brute force's over every joint set and every loop choice, at every
    budget, and the smallest peak too; also with step's snapshot larger
    when flux is split, or unmeasured then (step joint only with flux)."""
    pytest.importorskip("highspy")
    import itertools
    root = loop_tree()
    st = root.children[1]
    st.kids_split_snapshot = 40.0 if kids == "larger" else None
    st.joint_kids_only = kids == "unmeasured"
    keys = cm.site_keys(root)
    sets = [set(c) for r in range(len(keys) + 1) for c in itertools.combinations(keys, r)]
    plans = [(j, {} if s == 0 else {"main:7": s}) for j in sets for s in (0, 1, 2, 3, 5, 11)]
    pts = [(cm.peak(root, j, bino=b), cm.predicted_time(root, j, 1.0, b)) for j, b in plans]
    low = min(p for p, _ in pts)
    assert low < min(cm.peak(root, j) for j in sets)         # binomial lowers the minimum
    assert cm.minimum_peak(root)[0] == low
    chose_binomial = 0
    high = max(p for p, _ in pts if p < float("inf"))
    for budget in range(int(low) - 5, int(high) + 10, 3):
        fits = [t for p, t in pts if p <= budget]
        c = cm.optimise(root, budget, 1.0)
        assert (c is None) == (not fits), budget
        if fits:
            assert c.peak <= budget and c.time == pytest.approx(min(fits)), budget
            assert c.peak == cm.peak(root, c.joint, bino=c.loops)
            chose_binomial += bool(c.loops)
    assert chose_binomial > 0
    f = cm.frontier(root, 1.0)
    assert f[-1].peak == low and any(x.loops for x in f)


def test_greedy_chooses_binomial_when_only_binomial_fits(monkeypatch):
    """Below the smallest peak of any joint/split plan only a binomial
    loop fits: the greedy (forced by a lower EXACT_LIMIT) finds one, says
    it is greedy, and its plan fits; so does its smallest peak."""
    pytest.importorskip("highspy")
    import itertools
    root = loop_tree()
    keys = cm.site_keys(root)
    calls_only = min(cm.peak(root, set(c)) for r in range(len(keys) + 1)
                     for c in itertools.combinations(keys, r))
    low, _ = cm.minimum_peak(root)
    assert low < calls_only
    monkeypatch.setattr(cm, "EXACT_LIMIT", 3)
    budget = (low + calls_only) / 2
    c = cm.optimise(root, budget, 1.0)
    assert c is not None and c.method == "greedy" and c.loops, c
    assert c.peak == cm.peak(root, c.joint, bino=c.loops) <= budget
    assert c.time == pytest.approx(cm.predicted_time(root, c.joint, 1.0, c.loops))
    g_low, how = cm.minimum_peak(root)
    assert how == "greedy" and low <= g_low < calls_only
    g = cm.optimise(root, g_low, 1.0)
    assert g is not None and g.peak <= g_low


def random_loop_tree(rng) -> Node:
    """loop_tree's shape with random sizes, times and trip count."""
    trip = rng.choice([5, 8, 12, 20])

    def leaf(name, count):
        return Node(name, [rng.uniform(5, 60)], count=count, snapshot=rng.uniform(1, 25),
                    extra=rng.uniform(0.01, 0.3), record=rng.uniform(0, 8))
    kids = [leaf(f"step/k{i}", rng.choice([1, 2])) for i in range(rng.choice([1, 2]))]
    st = Node("main/step", [rng.uniform(0, 20)] + [0.0] * len(kids), kids, count=trip,
              snapshot=rng.uniform(5, 40), extra=rng.uniform(0.05, 0.4), record=rng.uniform(0, 10))
    lp = cm.LoopNode("main:7", [1, 2], trip, snapshot=rng.uniform(5, 60),
                     candidates=list(range(1, trip)), fixed=rng.uniform(0, 5),
                     step_time=rng.uniform(0.002, 0.05))
    root = Node("main", [rng.uniform(0, 10)] + [0.0] * 4,
                [leaf("main/setup", 1), st, leaf("main/obs", trip), leaf("main/final", 1)],
                loops=[lp])
    # step's snapshot with a child split: larger, or never measured
    # (drawn last: the sizes above stay those of each seed)
    how = rng.choice(["same", "larger", "unmeasured"])
    if how == "larger":
        st.kids_split_snapshot = st.snapshot + rng.uniform(5, 60)
    st.joint_kids_only = how == "unmeasured"
    return root


def test_greedy_against_exact_on_random_loop_trees():
    """On small random trees with a loop that may be binomial, at budgets
    from the smallest peak to all-split's: wherever the MILP finds a plan
    the greedy finds one too (none exactly at the smallest peak is
    allowed), within the budget and never faster than the optimum; it
    chooses binomial at some budgets, and stays near the optimum."""
    pytest.importorskip("highspy")
    import random
    ratios, binomial = [], 0
    for seed in range(8):
        root = random_loop_tree(random.Random(seed))
        low, _ = cm.minimum_peak(root)
        high = cm.peak(root, set())
        for k in range(6):
            budget = low + (high - low) * (k + 0.5) / 6
            c = cm.optimise(root, budget)
            g = cm.greedy(root, budget)
            assert c is not None and g is not None, (seed, budget)
            joint, bino = g
            assert cm.peak(root, joint, bino=bino) <= budget
            t = cm.predicted_time(root, joint, 0.0, bino)
            assert t >= c.time - 1e-12 * max(1.0, c.time), (seed, budget)
            ratios.append(t / c.time if c.time > 0 else 1.0)
            binomial += bool(bino)
    assert binomial >= 5
    assert sum(ratios) / len(ratios) < 1.05 and max(ratios) < 1.5, ratios


def test_optimize_picks_a_binomial_loop_end_to_end(tmp_path):
    """heat1d's 40-step time loop (simulate:60): profiled all split, all
    joint, and once binomial (3 snapshots: trip count and snapshot bytes).
    Without the binomial run the loop is not offered (the table says so)
    and no plan fits below all-joint's peak; with it, a budget below that
    makes the planner choose binomial: the plan file has interface.md's
    [loops] entry, `plan show` shows it, and the plan, generated and run,
    gives the plain adjoint's gradient to 1e-12 and peaks within budget
    and at most the prediction (counted, not timed)."""
    pytest.importorskip("highspy")
    from adcheck import Harness
    run([sys.executable, "-m", "adtool", "runtime", "rt"], tmp_path)
    (tmp_path / "primal.f90").write_text(emit_unit(primal_unit(read_fortran([str(HEAT1D)]))))
    (tmp_path / "prof.f90").write_text(PROF_DRIVER)
    run(["gcc", "-O2", "-DADSTACK_PROFILE", "-c", "rt/adstack.c"], tmp_path)
    run(["gfortran", "-c", "rt/adstack_mod.f90"], tmp_path)
    run(["gfortran", "-O1", "-c", "primal.f90"], tmp_path)
    split, _ = _profiled_run(tmp_path, "s", "--default-mode", "split")
    joint, joint_peak = _profiled_run(tmp_path, "j", "--default-mode", "joint")
    (tmp_path / "b3.toml").write_text('[loops]\n"simulate:60" = { binomial = { snapshots = 3 } }\n')
    bino, _ = _profiled_run(tmp_path, "b", "--default-mode", "split", "--checkpoint-file", "b3.toml")
    (tmp_path / "plain.json").write_text(json.dumps({"runs": [split, joint]}))
    (tmp_path / "data.json").write_text(json.dumps({"runs": [split, joint, bino]}))
    budget = joint_peak // 2
    p = adtool("plan", "optimize", HEAT1D, "--head", HEAD, "--profile-data", "plain.json",
               "--memory", str(budget), cwd=tmp_path)
    assert p.returncode == 1 and "no plan fits" in p.stderr, p.stderr
    p = adtool("plan", "optimize", HEAT1D, "--head", HEAD, "--profile-data", "plain.json",
               "--memory", str(10 * joint_peak), cwd=tmp_path)
    assert p.returncode == 0 and "simulate:60" in p.stdout.split("not offered binomial")[1]
    p = adtool("plan", "optimize", HEAT1D, "--head", HEAD, "--profile-data", "data.json",
               "--memory", str(budget), "-o", "plan.toml", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "loop simulate:60: offered binomial: 40 iterations, 128 B per snapshot" in p.stdout
    row = next(line for line in p.stdout.splitlines() if line.startswith("chosen"))
    predicted = float(row.split()[3])
    text = (tmp_path / "plan.toml").read_text()
    snaps = int(text.split('"simulate:60" = { binomial = { snapshots = ')[1].split()[0])
    assert "[loops]" in text and 1 <= snaps <= 39
    show = adtool("plan", "show", HEAT1D, "--head", HEAD, "--checkpoint-file", "plan.toml",
                  cwd=tmp_path)
    assert f"loop simulate:60  binomial, {snaps} snapshot" in show.stdout, show.stdout + show.stderr
    _, measured = _profiled_run(tmp_path, "c", "--checkpoint-file", "plan.toml")
    assert measured <= budget and measured <= predicted, (measured, predicted, budget)
    h = Harness("heat1d", tmp_path / "h")
    ref = h.plan("joint")
    res = h.plan("split", checkpoint_file=str(tmp_path / "plan.toml"))
    assert res.rel(ref.adjoint_dot, res.adjoint_dot) < 1e-12
    assert res.rel(ref.grad_norm2, res.grad_norm2) < 1e-12
    assert res.stack_left == 0 and res.stack_peak <= budget


def _same_gradient(ref, res):
    assert res.stack_left == 0
    assert res.rel(ref.adjoint_dot, res.adjoint_dot) < 1e-12
    assert res.rel(ref.grad_norm2, res.grad_norm2) < 1e-12


def _chosen_peak(report: str) -> float:
    return float(next(line for line in report.splitlines()
                      if line.startswith("chosen")).split()[3])


def test_optimize_picks_a_binomial_loop_in_c_end_to_end(tmp_path, monkeypatch):
    """C: fixtures/c/fluxsteps.c's 30-step time loop (simulate:33, step
    calling flux per face), built with gcc and profiled all split, all
    joint and once with the loop binomial (3 snapshots).  At half
    all-joint's peak no plan of joint and split calls fits (the first two
    runs alone: exit 1); with the third the planner chooses binomial, and
    the plan, generated, compiled and run, peaks exactly at the prediction
    (the loop body is one call: nothing of the model errs there) with the
    plain adjoint's gradient to 1e-12.  The same for the greedy's plan
    (forced by a lower EXACT_LIMIT)."""
    pytest.importorskip("highspy")
    from c_adcheck import FIXTURES, CHarness
    src, head = FIXTURES / "fluxsteps.c", "simulate(u cost)/(u0 dt)"
    (tmp_path / "b3.toml").write_text('[loops]\n"simulate:33" = { binomial = { snapshots = 3 } }\n')
    h = CHarness("fluxsteps", tmp_path / "h")
    split = h.plan("split", profile=True)
    joint = h.plan("joint", profile=True)
    bino = h.plan("split", checkpoint_file=str(tmp_path / "b3.toml"), profile=True)
    (tmp_path / "plain.json").write_text(json.dumps({"runs": [split.run, joint.run]}))
    (tmp_path / "data.json").write_text(json.dumps({"runs": [split.run, joint.run, bino.run]}))
    budget = joint.stack_peak // 2
    p = adtool("plan", "optimize", src, "--head", head, "--profile-data", "plain.json",
               "--memory", budget, cwd=tmp_path)
    assert p.returncode == 1 and "no plan fits" in p.stderr, p.stderr
    p = adtool("plan", "optimize", src, "--head", head, "--profile-data", "data.json",
               "--memory", budget, "-o", "plan.toml", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "loop simulate:33: offered binomial: 30 iterations" in p.stdout, p.stdout
    text = (tmp_path / "plan.toml").read_text()
    snaps = int(text.split('"simulate:33" = { binomial = { snapshots = ')[1].split()[0])
    assert 1 <= snaps <= 29
    # the plan file holds the count the report gives for the chosen plan
    assert f"loop simulate:33 binomial, {snaps} snapshot" in p.stdout, p.stdout
    res = h.plan("split", checkpoint_file=str(tmp_path / "plan.toml"))
    _same_gradient(split, res)
    assert res.stack_peak == _chosen_peak(p.stdout) <= budget, (res.stack_peak, p.stdout)
    # the greedy (beyond EXACT_LIMIT nodes) chooses binomial too
    from adtool.checkpoint import planner
    monkeypatch.setattr(cm, "EXACT_LIMIT", 2)
    out = planner.optimize([str(src)], head, [], [], str(tmp_path / "data.json"), str(budget),
                           str(tmp_path / "greedy.toml"))
    assert "method: greedy;" in out and "loop simulate:33 binomial" in out, out
    res = h.plan("split", checkpoint_file=str(tmp_path / "greedy.toml"))
    _same_gradient(split, res)
    assert res.stack_peak == _chosen_peak(out) <= budget, (res.stack_peak, out)


def test_optimize_decides_a_directive_loop_end_to_end(tmp_path):
    """tests/binomial/timeloop.c has `// $AD BINOMIAL-CKP 3` before run's
    17-step loop (run:27).  Profiles with the directive in force only
    measure the loop: the planner says which runs to add, naming the loop
    "plain".  With the all-split and all-joint runs made under a plan
    turning it plain and the directive's own run as the loop run, the plan
    written names the loop either way: "plain" at a roomy budget (the
    directive does not decide), binomial with the planner's count at a
    tight one.  Both, generated, compiled with gcc and
    run, give the plain adjoint's gradient to 1e-12 and peak within budget
    and at most the prediction (run's own recording inside the loop body
    is counted whole: high by a few bytes per step)."""
    pytest.importorskip("highspy")
    from c_adcheck import CHarness
    from adtool.checkpoint import planner
    from adtool.diagnostics import AdError
    base = Path(__file__).resolve().parent / "binomial"
    src, head = base / "timeloop.c", "run(u v cost)/(u v c)"
    fix = {"files": ["timeloop.c"], "head": "run", "independents": ["u", "v", "c"],
           "dependents": ["u", "v", "cost"], "base": str(base)}
    (tmp_path / "plain.toml").write_text('[loops]\n"run:27" = "plain"\n')
    h = CHarness("timeloop", tmp_path / "h", fix)
    split = h.plan("split", checkpoint_file=str(tmp_path / "plain.toml"), profile=True)
    joint = h.plan("joint", checkpoint_file=str(tmp_path / "plain.toml"), profile=True)
    loop = h.plan("split", profile=True)
    assert loop.stack_peak < joint.stack_peak < split.stack_peak
    (tmp_path / "loop.json").write_text(json.dumps({"runs": [loop.run]}))
    with pytest.raises(AdError) as e:
        planner.read_runs(str(tmp_path / "loop.json"))
    assert e.value.code == 2 and "every run has binomial loops (run:27)" in e.value.message
    assert "--checkpoint-file" in e.value.message
    assert '[loops]\n"run:27" = "plain"' in e.value.message, e.value.message
    (tmp_path / "data.json").write_text(json.dumps({"runs": [split.run, joint.run, loop.run]}))
    for name, budget in (("roomy", split.stack_peak), ("tight", joint.stack_peak // 2)):
        p = adtool("plan", "optimize", src, "--head", head, "--profile-data", "data.json",
                   "--memory", budget, "-o", f"{name}.toml", cwd=tmp_path)
        assert p.returncode == 0, p.stderr
        assert "loop run:27: offered binomial: 17 iterations" in p.stdout, p.stdout
        text = (tmp_path / f"{name}.toml").read_text()
        res = h.plan("split", checkpoint_file=str(tmp_path / f"{name}.toml"))
        _same_gradient(split, res)
        assert res.stack_peak <= min(budget, _chosen_peak(p.stdout)), (res.stack_peak, p.stdout)
        if name == "roomy":
            assert '[loops]\n"run:27" = "plain"' in text, text
            assert "loop run:27 plain (over its $AD BINOMIAL-CKP)" in p.stdout
            assert res.stack_peak == split.stack_peak
        else:
            snaps = int(text.split('"run:27" = { binomial = { snapshots = ')[1].split()[0])
            assert 1 <= snaps <= 16 and res.stack_peak < joint.stack_peak
            assert f"loop run:27 binomial, {snaps} snapshot" in p.stdout, p.stdout


def test_own_time_difference_of_a_site():
    """A site's extra as its own time joint minus split (its three regions
    less its child sites'), the split side from a run other than all-split
    (whose single call page-faults the fresh stack in), children reached
    along two paths counted by half; a negative own time is timer noise:
    None.  Synthetic profile numbers, no clock."""
    from adtool.checkpoint.planner import _own_difference

    def run(mode, kid_mode, t, kid_t, all_=None):
        table = {"m/s": {"id": 4, "mode": mode}, "s/k": {"id": 8, "mode": kid_mode}}
        sites = {4 + i: {"time_s": x, "count": 1} for i, x in enumerate(t)}
        sites.update({8 + i: {"time_s": x, "count": 1} for i, x in enumerate(kid_t)})
        return {"table": table, "sites": sites, "all": all_}
    all_split = run("split", "split", (9.0, 0.0, 9.0), (1.0, 0.0, 1.0), "split")
    levels_s = run("split", "joint", (0.5, 0.1, 1.0), (0.2, 0.0, 0.2))      # own 1.2
    levels_j = run("joint", "split", (0.4, 0.1, 1.4), (0.2, 0.0, 0.2))      # own 1.5
    all_joint = run("joint", "joint", (0.0, 0.1, 1.2), (0.2, 0.0, 0.2), "joint")  # own 0.9
    runs = [all_split, all_joint, levels_s, levels_j]
    kids = [("s/k", 1)]
    d = _own_difference("m/s", kids, (None, all_joint), (None, levels_j), runs)
    assert d == pytest.approx((1.5 - 1.2, 0.9 - 1.2))
    # the child's regions shared with another path: half here
    assert _own_difference("m/s", [("s/k", 2)], (None, all_joint), None, runs) == \
        pytest.approx((1.1 - 1.4, None))
    assert _own_difference("m/s", [("s/k", 1)], (None, all_joint), None, [all_split, all_joint]) \
        == pytest.approx((0.9 - 16.0, None))
    noisy = run("split", "joint", (0.1, 0.0, 0.1), (0.5, 0.0, 0.5))
    assert _own_difference("m/s", kids, (None, all_joint), None, [noisy, all_joint]) is None


def test_pareto_lists_binomial_loops(monkeypatch):
    """With a loop that may be binomial the frontier's CSV says, per point,
    which loops are binomial with how many snapshots."""
    pytest.importorskip("highspy")
    from adtool.checkpoint import planner
    monkeypatch.setattr(planner, "_model", lambda *a: (planner.Model(loop_tree(), 1.0, 0.0),
                                                       "main"))
    out, _ = planner.pareto([], "main", [], [], "x", None, None)
    lines = out.splitlines()
    assert lines[0] == "peak_bytes,predicted_time,joint_sites,method,binomial_loops"
    assert lines[1].endswith(",")                       # all split, no binomial loop
    assert any("main:7=" in line for line in lines[1:])


def test_a_call_in_some_iterations_counts_whole_in_the_step():
    """obs runs in 3 of 12 iterations: one step's tape may hold it (the
    count per step rounds up), and the MILP still matches brute force."""
    pytest.importorskip("highspy")
    import itertools
    root = loop_tree()
    ob = root.children[2]
    ob.count = 3
    lp = root.loops[0]
    lp.candidates = [1, 3, 11]
    assert cm.per_step(ob, lp) == 1 and cm.per_step(root.children[1], lp) == 1
    keys = cm.site_keys(root)
    sets = [set(c) for r in range(len(keys) + 1) for c in itertools.combinations(keys, r)]
    plans = [(j, {} if s == 0 else {"main:7": s}) for j in sets for s in (0, 1, 3, 11)]
    pts = [(cm.peak(root, j, bino=b), cm.predicted_time(root, j, 0.0, b)) for j, b in plans]
    for budget in range(int(min(p for p, _ in pts)) - 3, int(max(p for p, _ in pts)) + 5, 11):
        fits = [t for p, t in pts if p <= budget]
        c = cm.optimise(root, budget)
        assert (c is None) == (not fits), budget
        if fits:
            assert c.time == pytest.approx(min(fits)), budget


def test_own_tape_change_per_child_stays_exact():
    """A routine's own tape measured with each child joint alone (child_delta)
    and with all joint (delta): counted exactly at none, one and all, and
    the MILP's optimum is the brute force's on every budget, for a mix that
    adds and one that saves."""
    pytest.importorskip("highspy")
    import itertools

    def tree(d1, d2, d):
        l1 = Node("s/l1", [40.0], count=3, snapshot=6.0, extra=0.2, record=5.0)
        l2 = Node("s/l2", [25.0], count=2, snapshot=30.0, extra=0.1, record=10.0)
        s = Node("m/s", [20.0, 0.0, 0.0], [l1, l2], count=4, snapshot=12.0, extra=0.5,
                 record=12.0, delta=d, child_delta={"s/l1": d1, "s/l2": d2})
        o = Node("m/o", [8.0], snapshot=2.0, extra=0.05)
        return Node("m", [3.0, 0.0, 0.0], [s, o])
    for d1, d2, d in ((15.0, -4.0, 0.0), (-6.0, 3.0, 9.0), (20.0, 20.0, -5.0)):
        root = tree(d1, d2, d)
        s = root.children[0]
        assert cm._own_delta(s, set()) == 0
        assert cm._own_delta(s, {"s/l1"}) == d1 and cm._own_delta(s, {"s/l2"}) == d2
        assert cm._own_delta(s, {"s/l1", "s/l2"}) == d
        keys = cm.site_keys(root)
        plans = [set(c) for r in range(len(keys) + 1) for c in itertools.combinations(keys, r)]
        for budget in range(0, 1200, 9):
            fits = [cm.predicted_time(root, p) for p in plans if cm.peak(root, p) <= budget]
            c = cm.optimise(root, budget)
            assert (c is None) == (not fits), (d1, d2, d, budget)
            if fits:
                assert c.peak <= budget and c.time == pytest.approx(min(fits)), budget
        assert cm.minimum_peak(root)[0] == min(cm.peak(root, p) for p in plans)


# ---------------------------------------------------------------- snapshots, children's modes

def heat2d_tree(**step) -> Node:
    """fixtures/c/heat2d.c as profiled: simulate calls step 25 times, step
    calls laplace 80 times (8 B of tape each, split).  step joint
    snapshots nothing when laplace is joint, 1,920 B when it is split;
    laplace's snapshot was measured under a joint step only."""
    lap = Node("step/laplace#1", [8.0], count=80, snapshot=4.0, extra=0.01,
               under_joint_only=True)
    st = Node("simulate/step#1", [0.0, 0.0], [lap], count=25, snapshot=0.0, extra=0.1, **step)
    return Node("simulate", [0.0, 0.0], [st])


def test_snapshot_depends_on_the_childrens_modes():
    """A joint site's snapshot with a child split is another number than
    with all children joint; unmeasured, the site is offered joint only
    with its children joint (infinite peak alone, x_site <= x_child in the
    MILP), and the greedy moves the two together."""
    both = {"simulate/step#1", "step/laplace#1"}
    root = heat2d_tree(kids_split_snapshot=1920.0)
    assert cm.peak(root, {"simulate/step#1"}) == 25 * 1920     # the forward sweep's end
    assert cm.peak(root, both) == 24 * 0 + 79 * 4 + 8
    root = heat2d_tree(joint_kids_only=True)
    assert cm.peak(root, {"simulate/step#1"}) == float("inf")
    assert cm.peak(root, both) == 79 * 4 + 8
    pytest.importorskip("highspy")
    for budget in (400, 640, 700, 15000):
        c = cm.optimise(root, budget)
        assert c is not None and c.joint == both and c.peak == 79 * 4 + 8, budget
        g = cm.greedy(root, budget)
        assert g is not None and g[0] == both, budget
    assert cm.minimum_peak(root)[0] == 79 * 4 + 8


def random_tree(rng) -> Node:
    """Up to three levels below the head, each site with random sizes,
    times, recording and counts; its snapshot may depend on the parent's
    mode (nested_snapshot), be unmeasured under a split parent
    (under_joint_only), and depend on its children's modes: larger or
    smaller with one split, under either parent mode, or unmeasured
    (joint_kids_only)."""
    names = iter(range(1, 100))

    def site(parent: int, depth: int) -> Node:
        k = next(names)
        kids = [site(k, depth + 1) for _ in range(rng.choice([0, 1, 2] if depth < 3 else [0]))]
        n = Node(f"r{parent}/r{k}", [rng.uniform(0, 40)] + [0.0] * len(kids), kids,
                 count=rng.choice([1, 1, 2, 3]), snapshot=rng.uniform(0, 30),
                 extra=rng.uniform(0.01, 1.0), record=rng.choice([0.0, rng.uniform(0, 10)]))
        if depth > 1:
            if rng.random() < 0.4:
                n.nested_snapshot = rng.uniform(0, 30)
            n.under_joint_only = rng.random() < 0.2
        if kids:
            how = rng.random()
            if how < 0.3:
                n.joint_kids_only = True
            elif how < 0.8:
                n.kids_split_snapshot = rng.choice([None, rng.uniform(0, 90)])
                n.nested_kids_split_snapshot = rng.choice([None, rng.uniform(0, 60)])
            if rng.random() < 0.3:
                n.held = rng.uniform(0, 5)
        return n
    kids = [site(0, 1) for _ in range(rng.choice([1, 2]))]
    return Node("r0", [rng.uniform(0, 10)] + [0.0] * len(kids), kids)


def test_snapshots_by_mode_mix_stay_exact_on_random_trees():
    """The MILP against every joint set on random trees whose snapshots
    depend on the parent's and the children's modes, some mixes never
    measured: the same fastest plan at every budget, the same smallest
    peak; the greedy's plans fit; some plans are ruled out."""
    pytest.importorskip("highspy")
    import itertools
    import random
    tested = ruled_out = 0
    for seed in range(40):
        root = random_tree(random.Random(seed))
        keys = cm.site_keys(root)
        if len(keys) > 7:
            continue
        tested += 1
        plans = [set(c) for r in range(len(keys) + 1) for c in itertools.combinations(keys, r)]
        pts = [(cm.peak(root, p), cm.predicted_time(root, p)) for p in plans]
        finite = [p for p, _ in pts if p < float("inf")]
        ruled_out += len(pts) - len(finite)
        assert cm.minimum_peak(root)[0] == pytest.approx(min(finite)), seed
        # a budget between each two distinct peaks (clear of the solver's
        # tolerance), one below all, one above
        ps = sorted(set(finite))
        budgets = [ps[0] - 1, ps[-1] + 1] \
            + [(a + b) / 2 for a, b in zip(ps, ps[1:]) if b - a > 1e-3]
        for budget in budgets:
            fits = [t for p, t in pts if p <= budget]
            c = cm.optimise(root, budget)
            assert (c is None) == (not fits), (seed, budget)
            if fits:
                assert c.peak <= budget and c.time == pytest.approx(min(fits)), (seed, budget)
            g = cm.greedy(root, budget)
            assert g is None or cm.peak(root, g[0], bino=g[1]) <= budget, (seed, budget)
    assert tested >= 25 and ruled_out > 100, (tested, ruled_out)


def test_heat2d_step_joint_with_laplace_split_end_to_end(tmp_path):
    """fixtures/c/heat2d.c, built with gcc: step joint snapshots nothing
    with laplace joint (step_b then reads no primal value), all of u with
    laplace split (laplace's split forward sweep records, so step_b reads
    u).  Profiled all split and all joint only, that mix is unmeasured:
    step is offered joint only with laplace, the report says so, and the
    plans chosen, generated, compiled and run, peak within budget and at
    most the prediction (the old model took step's snapshot from the
    all-joint run for every mix, chose step alone at 8,000 B and predicted
    640 B where the run peaked at 48,000 B).  With a run that has step
    joint and laplace split, the model predicts that plan's peak, and an
    unprofiled build of it peaks there."""
    pytest.importorskip("highspy")
    from c_adcheck import FIXTURES, CHarness
    from adtool.checkpoint import planner
    src, head = FIXTURES / "heat2d.c", "simulate(u energy)/(u)"
    step, lap = "simulate/step#1", "step/laplace#1"
    h = CHarness("heat2d", tmp_path / "h")
    split = h.plan("split", profile=True)
    joint = h.plan("joint", profile=True)
    (tmp_path / "plain.json").write_text(json.dumps({"runs": [split.run, joint.run]}))
    for budget in (split.stack_peak, split.stack_peak // 2, 4 * joint.stack_peak):
        p = adtool("plan", "optimize", src, "--head", head, "--profile-data", "plain.json",
                   "--memory", budget, "-o", "plan.toml", cwd=tmp_path)
        assert p.returncode == 0, p.stderr
        assert "offered joint only with all their child sites joint" in p.stdout, p.stdout
        assert f"--joint SITE): {step}\n" in p.stdout, p.stdout
        text = (tmp_path / "plan.toml").read_text()
        assert not (f'"{step}" = "joint"' in text and f'"{lap}" = "joint"' not in text), text
        res = h.plan("split", checkpoint_file=str(tmp_path / "plan.toml"))
        _same_gradient(split, res)
        assert res.stack_peak <= min(budget, _chosen_peak(p.stdout)), (res.stack_peak, p.stdout)
    # one more run: step joint, laplace split
    mix = h.plan("split", joint=[step], profile=True)
    (tmp_path / "data.json").write_text(json.dumps({"runs": [split.run, joint.run, mix.run]}))
    model, _ = planner._model([str(src)], head, [], [], str(tmp_path / "data.json"))
    assert not model.notes or "child sites joint" not in model.notes[-1], model.notes
    predicted = cm.peak(model.root, {step})
    assert predicted == pytest.approx(mix.stack_peak, rel=0.03), (predicted, mix.stack_peak)
    assert predicted > split.stack_peak                # worse than all split: never chosen
    alone = h.plan("split", joint=[step])
    _same_gradient(split, alone)
    assert alone.stack_peak == pytest.approx(predicted, rel=0.03), (alone.stack_peak, predicted)
    p = adtool("plan", "optimize", src, "--head", head, "--profile-data", "data.json",
               "--memory", split.stack_peak // 2, "-o", "plan.toml", cwd=tmp_path)
    assert p.returncode == 0 and "child sites joint" not in p.stdout, p.stdout + p.stderr
    res = h.plan("split", checkpoint_file=str(tmp_path / "plan.toml"))
    assert res.stack_peak <= min(split.stack_peak // 2, _chosen_peak(p.stdout))
