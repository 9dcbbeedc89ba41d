"""Performance improvements pinned by counting (issue 13), never by timing:
copies the transform makes, files the parser reads again."""
import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adtool import pipeline
from adtool.frontend.fortran import read_fortran
from adtool.frontend.parse_cache import ParseCache
from adtool.ir.clone import clone
from adtool.ir.nodes import INT4, Bin, Lit, Ref, Span, Type

ROOT = Path(__file__).resolve().parent.parent
PROGS = ROOT / "bench" / "programs"
SW = PROGS / "shallow_water" / "model.f90"
SW_HEAD = "sw_objective(cost)/(eta0 depth0 cf fcor)"


# ------------------------------------------------------------ copies of the IR

def test_clone_copies_trees_and_shares_only_immutable_leaves():
    e = Bin("+", Ref("a", [Lit("1", INT4)], span=Span("f", 3)), Lit("2", Type("character", 1, Ref("n"))))
    c = clone(e)
    assert c == e and c is not e
    assert c.left is not e.left and c.left.subs is not e.left.subs
    assert c.left.span is e.left.span                     # frozen: shared
    assert c.right.type.length is not e.right.type.length  # a Type holding an Expr is copied
    c.left.subs[0].text = "9"
    assert e.left.subs[0].text == "1"


def test_differentiating_makes_no_deepcopy(monkeypatch):
    """The transform built derivative routines by copy.deepcopy of the IR
    (6,649 top-level calls for shallow_water, most of the transform's time);
    ir/clone.py walks the dataclasses instead."""
    calls = []
    real = copy.deepcopy

    def counting(x, memo=None, _nil=[]):
        if memo is None:
            calls.append(type(x).__name__)
        return real(x, memo)
    monkeypatch.setattr(copy, "deepcopy", counting)
    for mode in ("joint", "split"):
        pipeline.generate(pipeline.Options(files=[str(SW)], head=SW_HEAD, default_mode=mode))
    pipeline.generate(pipeline.Options(files=[str(SW)], head=SW_HEAD, mode="tangent"))
    assert calls == []


def test_routine_lookup_follows_renames_and_new_routines():
    tu = read_fortran([str(SW)])
    r = tu.routine("flux_x")
    assert r is not None and tu.routine("flux_x") is r
    r.name = "flux_x_nodiff"
    assert tu.routine("flux_x") is None
    assert tu.routine("flux_x_nodiff") is r
    new = clone(r)
    new.name = "extra"
    tu.routines.append(new)
    assert tu.routine("extra") is new
    assert clone(tu).routine("extra") is not new


# ------------------------------------------------------------ parse cache

def _copies(tmp_path, n=3):
    files = []
    for k in range(n):
        p = tmp_path / f"m{k}.f90"
        text = SW.read_text()
        for name in ("sw_params", "sw_data", "sw_kernels", "sw_objective", "sw_setup"):
            text = text.replace(name, f"{name}_{k}")
        p.write_text(text)
        files.append(str(p))
    return files


def test_parse_cache_reparses_only_the_edited_file(tmp_path):
    files = _copies(tmp_path)
    cdir = str(tmp_path / "cache")
    c1 = ParseCache(cdir)
    tu1 = read_fortran(files, cache=c1)
    assert (c1.hits, c1.misses) == (0, 3)
    c2 = ParseCache(cdir)
    tu2 = read_fortran(files, cache=c2)
    assert (c2.hits, c2.misses) == (3, 0)
    assert tu2.modules == tu1.modules and tu2.routines == tu1.routines
    with open(files[1], "a") as fh:
        fh.write("! edited\n")
    c3 = ParseCache(cdir)
    read_fortran(files, cache=c3)
    assert (c3.hits, c3.misses) == (2, 1)
    c4 = ParseCache(cdir)            # -D changes the key
    read_fortran(files, defines=["X=1"], cache=c4)
    assert c4.misses == 3
    leftovers = [f for _, _, fs in os.walk(cdir) for f in fs if not f.endswith(".pickle")]
    assert leftovers == []           # written to a temporary file, then renamed


def test_files_parsed_in_parallel_give_the_same_tree(tmp_path, monkeypatch):
    """Files of 100 lines or more are parsed by forked workers when there
    are several and more than one core: the IR must not tell."""
    from adtool.frontend import parse_cache
    files = _copies(tmp_path)
    serial = read_fortran(files, cache=ParseCache(None))
    forked = []
    real = parse_cache.parse_in_parallel

    def spy(language, jobs):
        got = real(language, jobs)
        forked.append(sorted(got))
        return got
    monkeypatch.setattr(parse_cache, "_cores", lambda: 2)
    monkeypatch.setattr(parse_cache, "parse_in_parallel", spy)
    par = read_fortran(files, cache=ParseCache(None))
    assert forked == [[0, 1, 2]]                    # all three came from workers
    assert par.modules == serial.modules and par.routines == serial.routines


def test_parse_errors_keep_file_order_when_parsed_in_parallel(tmp_path, monkeypatch):
    from adtool.diagnostics import AdError
    from adtool.frontend import parse_cache
    files = _copies(tmp_path)
    for f in files[1:]:                             # two bad files: the first is named
        Path(f).write_text(Path(f).read_text().replace("end subroutine", "end subroutin x", 1))
    monkeypatch.setattr(parse_cache, "_cores", lambda: 2)
    with pytest.raises(AdError) as err:
        read_fortran(files, cache=ParseCache(None))
    assert "m1.f90" in str(err.value) and "m2.f90" not in str(err.value)


def test_unreadable_cache_entry_is_parsed_again(tmp_path):
    files = _copies(tmp_path, 1)
    cdir = str(tmp_path / "cache")
    read_fortran(files, cache=ParseCache(cdir))
    entry = next(os.path.join(d, f) for d, _, fs in os.walk(cdir) for f in fs)
    with open(entry, "wb") as fh:
        fh.write(b"truncated")
    c = ParseCache(cdir)
    read_fortran(files, cache=c)
    assert c.misses == 1
    c = ParseCache(cdir)
    read_fortran(files, cache=c)
    assert c.hits == 1


def test_c_parse_cache(tmp_path):
    cfile = str(ROOT / "fixtures" / "c" / "heat2d.c")
    from adtool.frontend.c import read_c
    cdir = str(tmp_path / "cache")
    tu1 = read_c([cfile], cache=ParseCache(cdir))
    c = ParseCache(cdir)
    tu2 = read_c([cfile], cache=c)
    assert (c.hits, c.misses) == (1, 0)
    assert tu1.routines == tu2.routines


def _cli(*args, env=None, cwd=None):
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "adtool", *map(str, args)],
                          capture_output=True, text=True, env=e, cwd=cwd)


def test_cli_cache_options(tmp_path):
    xdg = tmp_path / "xdg"
    out = [tmp_path / f"o{k}.f90" for k in range(3)]
    p = _cli("differentiate", SW, "--head", SW_HEAD, "-o", out[0], env={"XDG_CACHE_HOME": str(xdg)})
    assert p.returncode == 0, p.stderr
    assert list((xdg / "adtool" / "fortran").rglob("*.pickle"))      # the default place
    p = _cli("differentiate", SW, "--head", SW_HEAD, "-o", out[1], "--cache-dir", tmp_path / "c")
    assert p.returncode == 0, p.stderr
    assert list((tmp_path / "c").rglob("*.pickle"))
    p = _cli("differentiate", SW, "--head", SW_HEAD, "-o", out[2], "--no-cache",
             env={"XDG_CACHE_HOME": str(tmp_path / "none")})
    assert p.returncode == 0, p.stderr
    assert not (tmp_path / "none").exists()
    assert out[0].read_text() == out[1].read_text() == out[2].read_text()
    p = _cli("differentiate", SW, "--head", SW_HEAD, "--no-cache", "--cache-dir", tmp_path)
    assert p.returncode == 2


# ------------------------------------------------------------ loop trip counts

HEAT2D = ROOT / "examples" / "heat2d" / "model.f90"
HEAT2D_HEAD = "simulate(cost)/(t0 kappa qsrc)"


@pytest.mark.parametrize("mode,pushes", [("joint", 9), ("split", 9)])
def test_stable_loop_bounds_are_evaluated_again_not_pushed(mode, pushes):
    """heat2d's inner loops run over nx, ny and a stride nobody writes: the
    backward sweep computes their trip counts again.  Before, each loop
    pushed its trip count (and a non-constant step) at every entry:
    22 push statements in joint mode, 20 in split mode.  (Joint 11 -> 10:
    cost, read by no adjoint that runs after its overwrite, is not
    recorded; issue 13 item 2.  Joint 10 -> 9: apply_bc_b no longer runs
    the boundary updates again and pushes t around them, since the
    seeds of its array sections are IR allocations the dead-work sweep
    reads, not opaque text it had to keep everything for.)"""
    text, _ = pipeline.generate(pipeline.Options(files=[str(HEAT2D)], head=HEAT2D_HEAD,
                                                 default_mode=mode))
    assert text.count("call ad_push") == pushes
    assert "ad_count" not in text and "ad_step" not in text


def test_changing_loop_bounds_are_still_recorded(tmp_path):
    src = tmp_path / "m.f90"
    src.write_text("""subroutine f(x, n, y)
  integer, intent(inout) :: n
  real(8), intent(in) :: x(100)
  real(8), intent(out) :: y
  integer :: i, k
  y = 0
  do k = 1, 3
    do i = 1, n
      y = y + sin(x(i)) * y
    end do
    n = n - 1
  end do
end subroutine
""")
    text, _ = pipeline.generate(pipeline.Options(files=[str(src)], head="f(y)/(x)"))
    assert "ad_count" in text and "call ad_push_integer4(ad_count" in text


# ------------------------------------------------------------ --no-primal-outputs

def _stmts(text: str, routine: str) -> int:
    body = text.split(f"subroutine {routine}(", 1)[1].split(f"end subroutine {routine}", 1)[0]
    return sum(1 for l in body.splitlines() if l.strip() and not l.strip().startswith("!"))


@pytest.mark.parametrize("name,mode", [("intrinsics", "joint"), ("advect", "split"),
                                       ("mixedprec", "joint"), ("control", "split")])
def test_no_primal_outputs_drops_head_work_and_keeps_the_gradient(name, mode, tmp_path):
    from adcheck import Harness, fixture_table
    fix = fixture_table()[name]
    h = Harness(name, tmp_path)
    keep = h.plan(mode)
    drop = h.plan(mode, primal_outputs=False)
    head_b = fix["head"] + "_b"
    assert _stmts((tmp_path / "b2.f90").read_text(), head_b) < _stmts((tmp_path / "b1.f90").read_text(), head_b)
    for res in (keep, drop):
        assert res.rel(res.tangent_dot, res.adjoint_dot) < fix.get("dot_tolerance", 1e-11), res.output
        assert res.rel(res.fd, res.adjoint_dot) < fix.get("fd_tolerance", 1e-6), res.output
        assert res.stack_left == 0
    assert drop.rel(keep.adjoint_dot, drop.adjoint_dot) < 1e-13


def test_no_primal_outputs_cli(tmp_path):
    p = _cli("differentiate", HEAT2D, "--head", HEAT2D_HEAD, "--no-primal-outputs", "--no-cache",
             "-o", tmp_path / "a.f90")
    assert p.returncode == 0, p.stderr
    p = _cli("differentiate", HEAT2D, "--head", HEAT2D_HEAD, "--no-primal-outputs", "--no-cache",
             "--mode", "tangent", "-o", tmp_path / "b.f90")
    assert p.returncode == 2 and "--no-primal-outputs" in p.stderr


def test_fortran_cache_hits_under_another_path(tmp_path):
    files = _copies(tmp_path, 1)
    cdir = str(tmp_path / "cache")
    read_fortran(files, cache=ParseCache(cdir))
    c = ParseCache(cdir)
    read_fortran([os.path.relpath(files[0])], cache=c)
    assert (c.hits, c.misses) == (1, 0)


# ------------------------------------------------------------ integer indices

STENCIL_C = r"""
#include <stdio.h>

void stencil(int n, int steps, double *u, double *v, double *cost)
{
    for (int t = 0; t < steps; t++) {
        for (int i = 1; i < n - 1; i++) {
            for (int j = 1; j < n - 1; j++) {
                int c = i * n + j;
                int w = c - 1;
                int e = c + 1;
                int s = c - n;
                v[c] = u[c] + 0.1 * (u[w] + u[e] + u[s] - 3.0 * u[c]) * u[c];
            }
        }
        for (int k = 0; k < n * n; k++) u[k] = v[k];
    }
    *cost = 0.0;
    for (int k = 0; k < n * n; k++) *cost += u[k] * u[k];
}

int main(void)
{
    double u[36], v[36], cost;
    for (int k = 0; k < 36; k++) { u[k] = 0.1 + 0.01 * k; v[k] = 0.0; }
    stencil(6, 4, u, v, &cost);
    printf("%.15e\n", cost);
    return 0;
}
"""


@pytest.mark.parametrize("mode", ["joint", "split"])
def test_integer_indices_are_assigned_again_not_pushed(mode, tmp_path):
    """c, w, e, s (an index and its neighbours) are overwritten every cell:
    before, 4 pushes per cell (9 push statements in the code); now the
    backward sweep assigns them again, and the gradient is unchanged."""
    from c_adcheck import CHarness
    src = tmp_path / "stencil.c"
    src.write_text(STENCIL_C)
    fix = {"files": [src.name], "base": str(tmp_path), "head": "stencil",
           "independents": ["u"], "dependents": ["cost"]}
    h = CHarness("stencil", tmp_path / "w", fix)
    res = h.plan(mode)
    from c_adcheck import recorded
    text = (tmp_path / "w" / "b1.c").read_text()
    pushed = recorded(text)
    assert not {"c", "w", "e", "s"} & set(pushed), pushed
    assert len(pushed) <= 1, pushed
    assert res.rel(res.tangent_dot, res.adjoint_dot) < 1e-11, res.output
    assert res.rel(res.fd, res.adjoint_dot) < 1e-6, res.output
    assert res.stack_left == 0


# ------------------------------------------------------------ element per trip

def _body(text: str, routine: str) -> str:
    return text.split(f"subroutine {routine}(", 1)[1].split(f"end subroutine {routine}", 1)[0]


@pytest.mark.parametrize("mode,routine,pushes,peak", [("joint", "step_b", 0, 5760),
                                                      ("split", "step_fwd", 1, 22320)])
def test_element_written_once_per_trip_is_not_recorded(mode, routine, pushes, peak, tmp_path):
    """fluxsteps' `f(i) = flux(u(i), u(i+1))` over faces: no trip overwrites
    what an earlier trip wrote, and f is a local written nowhere before the
    loop, so f(i)'s old value is garbage nobody reads.  Before, it was pushed
    every face: 3 push statements in step_b (stack peak 6,504 bytes), 2 in
    step_fwd (33,792 bytes).  Then 6,320 and 28,272 bytes until u stopped
    being recorded around every step (simulate reads it only after the
    loop; issue 13 item 2): 5,936 and 22,320; step_b's two other pushes,
    u(i) and u(i+1) before each flux, went with adjoint liveness (item 1,
    below): 5,760 joint."""
    from adcheck import Harness
    h = Harness("fluxsteps", tmp_path)
    res = h.plan(mode)
    text = (tmp_path / "b1.f90").read_text()
    assert _body(text, routine).count("call ad_push") == pushes
    assert "ad_push_real8(f(i))" not in text
    assert res.stack_peak == peak
    assert res.rel(res.tangent_dot, res.adjoint_dot) < 1e-11, res.output
    assert res.rel(res.fd, res.adjoint_dot) < 1e-6, res.output
    assert res.stack_left == 0


# ------------------------------------------------------------ snapshots and recording (item 2, 3)

def _pushes_by_routine(text: str) -> dict:
    import re
    out = {}
    for m in re.finditer(r"subroutine (\w+)\(.*?end subroutine \1", text, re.S):
        out[m.group(1)] = m.group(0).count("call ad_push")
    return out


@pytest.mark.parametrize("mode,pushes,peak", [
    ("joint", {"relax_b": 1, "gs_sweep_b": 0, "smooth_b": 0}, 1920),
    ("split", {"relax_b": 1, "gs_sweep_fwd": 0, "smooth_fwd": 0}, 1920)])
def test_snapshot_holds_what_the_adjoint_reads(mode, pushes, peak, tmp_path):
    """gsweep: a linear Gauss-Seidel sweep and a smoother in a time loop.
    gs_sweep_b reads no primal value (its statements are linear), so the
    joint call takes no snapshot of x or b; smooth_b reads x and depth
    but not b; depth is written once before the loop, never between a call
    and its adjoint: not snapshotted; x, read by the cost after the loop,
    is not recorded at each step (nothing that runs after those overwrites'
    adjoints reads it).  Before: relax_b had 6 push statements (x and b for
    gs_sweep, x re-pushed around gs_sweep_b, b and depth for smooth, x at
    the start), stack peak 7,840 bytes; split: 2 in relax_b, 4,000 bytes.
    Now one array (x, for smooth_b) per step.  In split mode smooth_fwd
    also pushed depth at its exit for smooth_bwd (3,840 bytes): relax writes
    depth only before the loop, so smooth_bwd finds it in place."""
    from adcheck import Harness
    h = Harness("gsweep", tmp_path)
    res = h.plan(mode)
    text = (tmp_path / "b1.f90").read_text()
    got = _pushes_by_routine(text)
    assert {k: got[k] for k in pushes} == pushes
    assert "ad_push_real8_array(b," not in text and "ad_push_real8_array(depth," not in _body(text, "relax_b")
    assert res.stack_peak == peak
    assert res.rel(res.tangent_dot, res.adjoint_dot) < 1e-11, res.output
    assert res.rel(res.fd, res.adjoint_dot) < 1e-6, res.output
    assert res.stack_left == 0


@pytest.mark.parametrize("mode,pushes", [("joint", {"head_b": 1}),
                                         ("split", {"head_b": 0, "step_fwd": 1})])
def test_one_copy_of_the_state_per_step(mode, pushes):
    """bench/programs/issues/redundant_pushes.f90: x is pushed once per time
    step.  Before, twice in joint mode (the snapshot for step_b and again as
    the value step overwrites, because the cost after the loop reads x) and
    three times in split mode (head_b before step_fwd, step_fwd before the
    assignment and at its exit)."""
    src = ROOT / "bench" / "programs" / "issues" / "redundant_pushes.f90"
    text, _ = pipeline.generate(pipeline.Options(files=[str(src)], head="head(f)/(x0)",
                                                 default_mode=mode))
    got = _pushes_by_routine(text)
    assert {k: got[k] for k in pushes} == pushes
    if mode == "split":
        assert sum(got.values()) == 1


@pytest.mark.parametrize("mode,pushes,peak", [
    ("joint", {"simulate_b": 1, "step_b": 2, "flux_b": 0}, 5936),
    ("split", {"simulate_b": 0, "step_fwd": 1, "flux_fwd": 3}, 22320)])
def test_c_split_keeps_what_the_backward_sweep_reads(mode, pushes, peak, tmp_path):
    """fixtures/c/fluxsteps.c (a flux function per face, u = unew, time
    loop, issue 13 item 3).  simulate's backward sweep reads u only in the
    adjoint of the cost after the loop, which runs before any step's
    adjoint: the u pushed before each step_fwd (and before u = u0) was
    popped and never read.  Before: simulate_b 2 push statements, split
    peak 28,272 bytes (joint 6,320)."""
    import re
    from c_adcheck import CHarness
    h = CHarness("fluxsteps", tmp_path)
    res = h.plan(mode)
    text = (tmp_path / "b1.c").read_text()
    from c_adcheck import recorded
    got = {m.group(1): len(recorded(m.group(0)))
           for m in re.finditer(r"\n(?:static )?void (\w+)\([^;{]*\)\n\{.*?\n\}", text, re.S)}
    assert {k: got[k] for k in pushes} == pushes
    assert res.stack_peak == peak
    assert res.rel(res.tangent_dot, res.adjoint_dot) < 1e-11, res.output
    assert res.rel(res.fd, res.adjoint_dot) < 1e-6, res.output
    assert res.stack_left == 0


def test_recorded_and_snapshotted_value_is_popped_once(tmp_path):
    """fixtures/fortran/snapshot_once.f90: x is recorded by top (c writes
    it, the adjoint of sin(x) before the call reads it) and snapshotted for
    c_b (which reads it).  c_b writes no x (its re-run of x = 2x is dead),
    so after one pop x holds the call's input for c_b and for top alike.
    Before: `pop x; push x; call c_b; pop x` (3 push statements in top_b,
    stack peak 48 bytes); now one push, one pop (24 bytes)."""
    from adcheck import Harness
    h = Harness("snapshot_once", tmp_path)
    res = h.plan("joint")
    body = _body((tmp_path / "b1.f90").read_text(), "top_b")
    assert body.count("call ad_push") == 1 and body.count("call ad_pop") == 1
    assert res.stack_peak == 24
    assert res.rel(res.fd, res.adjoint_dot) < 1e-6, res.output
    assert res.rel(res.tangent_dot, res.adjoint_dot) < 1e-11, res.output
    assert res.stack_left == 0

# ------------------------------------------------------------ adjoint liveness

def _forward_sweeps(monkeypatch, **opts) -> dict:
    """routine -> (statements, push statements) in the forward sweep of its
    joint f_b, as deadfwd.py leaves it."""
    from adtool.ir.nodes import CallStmt
    from adtool.ir.visit import walk_stmts
    from adtool.transform import reverse
    got = {}
    real = reverse.drop_dead_forward

    def spy(tu, r, *a, **k):
        fwd, bwd = real(tu, r, *a, **k)
        stmts = list(walk_stmts(fwd))
        got[r.name] = (len(stmts), sum(isinstance(x, CallStmt) and x.name.startswith("ad_push")
                                       for x in stmts))
        return fwd, bwd
    monkeypatch.setattr(reverse, "drop_dead_forward", spy)
    pipeline.generate(pipeline.Options(**opts))
    return got


FLUX = str(ROOT / "fixtures" / "fortran" / "fluxsteps.f90")


@pytest.mark.parametrize("head,fwd", [("simulate(u cost)/(u0 dt)", 3), ("simulate(u cost)/(u0)", 0)])
def test_joint_step_runs_no_dead_forward_work(head, fwd, monkeypatch):
    """fluxsteps' step_b (issue 13 item 1): the backward sweep reads u(i) and
    u(i+1) only right after popping them, so the new u (`u = unew`), unew
    and the pushes that protected u from it are dead: the pops restored the
    values u already holds, and go with their pushes.  With dt active the
    backward sweep reads f (dt's adjoint), so the fluxes stay; with dt
    passive nothing is left, as in Tapenade's step_b.  Before: 10 statements
    and 2 pushes (u(i), u(i+1) per face) either way."""
    got = _forward_sweeps(monkeypatch, files=[FLUX], head=head, default_mode="joint")
    assert got["step"] == (fwd, 0)
    # the head keeps its primal outputs (u is no longer pushed around each
    # step: simulate reads it only after the loop, issue 13 item 2)
    assert got["simulate"] == (5, 1)


def test_joint_step_forward_sweep_text(tmp_path):
    text, _ = pipeline.generate(pipeline.Options(files=[FLUX], head="simulate(u cost)/(u0 dt)",
                                                 default_mode="joint"))
    body = _body(text, "step_b")
    assert "u = unew" not in body and "unew(1) = u(1)" not in body and "unew(i) = u(i)" not in body
    assert "call ad_push" not in body and "call ad_pop" not in body
    assert body.count("flux(u(i), u(i + 1))") == 1     # f feeds dtb


@pytest.mark.parametrize("indeps,mode,peak", [(["u0", "dt"], "joint", 5760), (["u0"], "joint", 5760),
                                              (["u0"], "split", 16560)])
def test_dead_forward_work_gradients(indeps, mode, peak, tmp_path):
    """FD and dot-product tests with what step_b no longer does; stack peak
    pinned (before, joint: 6,320 bytes; 5,952 with liveness alone, 5,760
    with the recording of item 2 too; split 22,512 -> 16,560)."""
    from adcheck import Harness, fixture_table
    fix = dict(fixture_table()["fluxsteps"], independents=indeps)
    h = Harness("fluxsteps", tmp_path, fix)
    res = h.plan(mode)
    assert res.stack_peak == peak
    assert res.rel(res.tangent_dot, res.adjoint_dot) < 1e-11, res.output
    assert res.rel(res.fd, res.adjoint_dot) < 1e-6, res.output
    assert res.stack_left == 0


SQUARE_F90 = """\
subroutine square(n, x)
  implicit none
  integer, intent(in) :: n
  real(8), intent(inout) :: x(n)
  integer :: i
  do i = 1, n
    x(i) = x(i) * x(i)
  end do
end subroutine square

subroutine run(n, x, cost)
  implicit none
  integer, intent(in) :: n
  real(8), intent(inout) :: x(n)
  real(8), intent(out) :: cost
  integer :: k
  do k = 1, 3
    call square(n, x)
    x = 0.5d0 * x + 0.25d0
  end do
  cost = sum(x)
end subroutine run

program main
  implicit none
  real(8) :: x(5), cost
  x = (/0.1d0, 0.2d0, 0.3d0, 0.4d0, 0.5d0/)
  call run(5, x, cost)
  print *, cost
end program main
"""


@pytest.mark.parametrize("mode,peak", [("joint", 120), ("split", 240)])
def test_element_updated_in_place_needs_no_forward_sweep(mode, peak, monkeypatch, tmp_path):
    """square_b: `x(i) = x(i) * x(i)` over i, pushed and popped per element.
    Each trip writes its own element, so the push of the next trip does not
    read what this trip wrote: the update is dead (a callee's primal outputs
    are not needed), the pushes then protect nothing, and square_b's
    forward sweep is empty; its backward sweep reads x untouched.  Before:
    3 statements (the loop, the push, the update), 1 push.  The stack peak
    is run_b's (square_b runs while run_b's recording is popped): 120 bytes
    joint, 240 split, before and after."""
    from adcheck import Harness
    src = tmp_path / "square.f90"
    src.write_text(SQUARE_F90)
    if mode == "joint":
        got = _forward_sweeps(monkeypatch, files=[str(src)], head="run(cost)/(x)", default_mode="joint")
        assert got["square"] == (0, 0)
    fix = {"files": [src.name], "base": str(tmp_path), "head": "run",
           "independents": ["x"], "dependents": ["cost"]}
    h = Harness("square", tmp_path / "w", fix)
    res = h.plan(mode)
    assert res.rel(res.tangent_dot, res.adjoint_dot) < 1e-11, res.output
    assert res.rel(res.fd, res.adjoint_dot) < 1e-6, res.output
    assert res.stack_left == 0
    assert res.stack_peak == peak

# ------------------------------------------------------------ counters undone

COUNTER_C = r"""
#include <stdio.h>

/* k walks a packed lower triangle: written once before the loops, then
   only k = k + 1; the backward sweep undoes each step (k = k - 1). */
static void packed(int n, const double *L, const double *x, double *y)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        y[i] = 0.0;
        for (int j = 0; j <= i; j++) {
            y[i] = y[i] + L[k] * x[j] * x[j];
            k = k + 1;
        }
    }
}

/* m is reset inside the loop: its old value is still recorded. */
static void rows(int n, const double *L, double *z)
{
    for (int i = 0; i < n; i++) {
        int m = i * (i + 1) / 2;
        z[i] = 0.0;
        for (int j = 0; j <= i; j++) {
            z[i] = z[i] + L[m] * L[m];
            m = m + 1;
        }
    }
}

void tri(int n, const double *L, const double *x, double *cost)
{
    double y[4], z[4];
    packed(n, L, x, y);
    rows(n, L, z);
    *cost = 0.0;
    for (int i = 0; i < n; i++)
        *cost += y[i] * y[i] + z[i] * x[i];
}

int main(void)
{
    double L[10], x[4], cost;
    for (int k = 0; k < 10; k++) L[k] = 0.3 + 0.05 * k;
    for (int i = 0; i < 4; i++) x[i] = 0.7 - 0.1 * i;
    tri(4, L, x, &cost);
    printf("%.15e\n", cost);
    return 0;
}
"""


@pytest.mark.parametrize("mode", ["joint", "split"])
def test_counter_steps_are_undone_not_pushed(mode, tmp_path):
    """gmm's Qtimesx shape: `k = k + 1` after each packed element read.
    Before, k was pushed every trip (one ad_push_integer4 per element and
    a pop the next subscript waited for); now the backward sweep assigns
    k = k - 1.  A counter reset inside the loop (rows' m) keeps its
    pushes, and the gradient is unchanged."""
    from c_adcheck import CHarness
    src = tmp_path / "tri.c"
    src.write_text(COUNTER_C)
    fix = {"files": [src.name], "base": str(tmp_path), "head": "tri",
           "independents": ["L", "x"], "dependents": ["cost"]}
    h = CHarness("tri", tmp_path / "w", fix)
    res = h.plan(mode)
    text = (tmp_path / "w" / "b1.c").read_text()
    assert "k = k - 1;" in text
    # split: packed_fwd hands its final k to packed_bwd (one push per call)
    from c_adcheck import recorded
    assert recorded(text).count("k") == (1 if mode == "split" else 0)
    assert "m" in recorded(text)
    assert res.rel(res.tangent_dot, res.adjoint_dot) < 1e-11, res.output
    assert res.rel(res.fd, res.adjoint_dot) < 1e-6, res.output
    assert res.stack_left == 0


# ------------------------------------------------------------ dead records

DEAD_RECORDS_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <math.h>

/* s: its backward sweep reads only the final value (1/s), so restoring it
   trip by trip is dead; m: each trip's adjoint reads the m it restored. */
static double lse(int n, const double *x)
{
    double m = x[0];
    for (int i = 1; i < n; i++)
        m = fmax(m, x[i]);
    double s = 0.0;
    for (int i = 0; i < n; i++)
        s = s + exp(x[i] - m);
    return log(s) + m;
}

/* g: filled by a first loop, read by a second; nothing reads it after the
   first loop's adjoint, so its old values are never needed. */
static void cell(int n, const double *w, double *h)
{
    double *g = malloc(2 * n * sizeof(double));
    for (int i = 0; i < n; i++) {
        g[i] = 1.0 / (1.0 + exp(-w[i] * h[i]));
        g[n + i] = tanh(w[n + i] + h[i]);
    }
    for (int i = 0; i < n; i++)
        h[i] = g[i] * g[n + i] + 0.5 * h[i];
    free(g);
}

void dead(int n, const double *w, double *h, double *cost)
{
    cell(n, w, h);
    *cost = lse(n, h);
}

int main(void)
{
    double w[8], h[4], cost;
    for (int i = 0; i < 8; i++) w[i] = 0.2 + 0.1 * i;
    for (int i = 0; i < 4; i++) h[i] = 0.3 - 0.05 * i;
    dead(4, w, h, &cost);
    printf("%.15e\n", cost);
    return 0;
}
"""


@pytest.mark.parametrize("mode", ["joint", "split"])
def test_dead_records_are_dropped(mode, tmp_path):
    """logsumexp's running sum and an LSTM cell's gate buffer: before, s was
    pushed every trip and g every element (lstm.c's gates: 4 pushes per
    element); their pops restored values nothing read.  m is still
    recorded, and the gradient is unchanged."""
    from c_adcheck import CHarness
    src = tmp_path / "dead.c"
    src.write_text(DEAD_RECORDS_C)
    fix = {"files": [src.name], "base": str(tmp_path), "head": "dead",
           "independents": ["w", "h"], "dependents": ["cost"]}
    h = CHarness("dead", tmp_path / "w", fix)
    res = h.plan(mode)
    text = (tmp_path / "w" / "b1.c").read_text()
    # split: lse_fwd hands the final s to lse_bwd once (it reads 1/s)
    from c_adcheck import recorded
    pushed = recorded(text)
    assert pushed.count("s") == (1 if mode == "split" else 0)
    assert not [x for x in pushed if x.startswith("g[")]
    assert "m" in pushed
    assert res.rel(res.tangent_dot, res.adjoint_dot) < 1e-11, res.output
    assert res.rel(res.fd, res.adjoint_dot) < 1e-6, res.output
    assert res.stack_left == 0


@pytest.mark.parametrize("mode,pushes,peak", [("split", 1, 1298), ("joint", 1, 32)])
def test_exit_values_every_element_of_which_is_popped_are_not_kept(mode, pushes, peak, tmp_path):
    """fixtures/c/real/bundle.c: project and radial_distort overwrite
    proj[0] and proj[1] one by one, so their backward sweeps pop both
    elements before reading either; the exit value of proj that project_fwd
    and radial_distort_fwd pushed for their _bwd was never read (split:
    3 pushes of the whole proj before, 1 now: compute_reproj_error's, whose
    backward sweep reads it).  Split peak of the fixture's 6 observations:
    1,490 bytes before, 1,298 now.  Joint: project_b sets proj[0] and
    proj[1] before reading proj, so compute_reproj_error's call of project
    no longer snapshots it (2 call snapshots of proj before, 1 now:
    radial_distort's, whose adjoint reads proj on entry)."""
    from c_adcheck import CHarness
    h = CHarness("real_bundle", tmp_path)
    res = h.plan(mode)
    text = (tmp_path / "b1.c").read_text()
    from c_adcheck import recorded
    assert recorded(text).count("proj") == pushes
    assert recorded(text, "pop").count("proj") == pushes
    assert res.stack_peak == peak
    assert res.rel(res.tangent_dot, res.adjoint_dot) < 1e-11, res.output
    assert res.rel(res.fd, res.adjoint_dot) < 1e-6, res.output
    assert res.stack_left == 0


def test_output_filled_by_a_loop_is_not_snapshotted(tmp_path):
    """fixtures/c/real/lstm.c: lstm_predict fills x2[i] for i < b (x2's
    extent) before reading it, so its joint call takes no snapshot of ypred
    (before: a push and a pop of b doubles per time step)."""
    from c_adcheck import CHarness
    h = CHarness("real_lstm", tmp_path)
    res = h.plan("joint")
    text = (tmp_path / "b1.c").read_text()
    from c_adcheck import recorded
    assert recorded(text).count("ypred") == 1
    assert res.rel(res.tangent_dot, res.adjoint_dot) < 1e-11, res.output
    assert res.rel(res.fd, res.adjoint_dot) < 1e-6, res.output
    assert res.stack_left == 0


def test_dead_forward_sweep_reads_each_expression_once(monkeypatch):
    """The dead-work sweep of a joint f_b runs loops to a fixpoint, nested
    loops once per trip of every enclosing fixpoint (shallow_water: 2,612
    statement visits), and asked each time what every expression reads: a
    walk of the expression per visit, a fifth of the tool's time on the
    bench programs.  What an expression reads is now computed once per
    sweep object; a statement visited again with the same live set is not
    swept again."""
    from adtool.transform import deadfwd
    asked: dict = {}
    real = deadfwd._Names._reads

    alive = []         # (ids of freed objects are reused)

    def counting(self, e):
        alive.append((self, e))
        key = (id(self), id(e))
        asked[key] = asked.get(key, 0) + 1
        return real(self, e)
    monkeypatch.setattr(deadfwd._Names, "_reads", counting)
    visits = []
    real_stmt = deadfwd._Sweep.stmt

    def stmt(self, s, live):
        alive.append((self, s))
        visits.append((id(self), id(s), frozenset(live)))
        return real_stmt(self, s, live)
    monkeypatch.setattr(deadfwd._Sweep, "stmt", stmt)
    pipeline.generate(pipeline.Options(files=[str(SW)], head=SW_HEAD, default_mode="joint"))
    assert asked and max(asked.values()) == 1
    assert len(visits) == len(set(visits))
