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


@pytest.mark.parametrize("mode,pushes", [("joint", 11), ("split", 9)])
def test_stable_loop_bounds_are_evaluated_again_not_pushed(mode, pushes):
    """heat2d's inner loops run over nx, ny and a stride nobody writes: the
    backward sweep computes their trip counts again.  Before, each loop
    pushed its trip count (and a non-constant step) at every entry:
    22 push statements in joint mode, 20 in split mode."""
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
    text = (tmp_path / "w" / "b1.c").read_text()
    assert "ad_push_integer4" not in text
    assert text.count("ad_push") <= 1
    assert res.rel(res.tangent_dot, res.adjoint_dot) < 1e-11, res.output
    assert res.rel(res.fd, res.adjoint_dot) < 1e-6, res.output
    assert res.stack_left == 0


# ------------------------------------------------------------ element per trip

def _body(text: str, routine: str) -> str:
    return text.split(f"subroutine {routine}(", 1)[1].split(f"end subroutine {routine}", 1)[0]


@pytest.mark.parametrize("mode,routine,pushes,peak", [("joint", "step_b", 2, 6320),
                                                      ("split", "step_fwd", 1, 28272)])
def test_element_written_once_per_trip_is_not_recorded(mode, routine, pushes, peak, tmp_path):
    """fluxsteps' `f(i) = flux(u(i), u(i+1))` over faces: no trip overwrites
    what an earlier trip wrote, and f is a local written nowhere before the
    loop, so f(i)'s old value is garbage nobody reads.  Before, it was pushed
    every face: 3 push statements in step_b (stack peak 6,504 bytes), 2 in
    step_fwd (33,792 bytes)."""
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
    assert text.count("ad_push_integer4(k)") == (1 if mode == "split" else 0)
    assert "ad_push_integer4(m)" in text
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
    assert text.count("ad_push_real8(s)") == (1 if mode == "split" else 0)
    assert "ad_push_real8(g[" not in text
    assert "ad_push_real8(m)" in text
    assert res.rel(res.tangent_dot, res.adjoint_dot) < 1e-11, res.output
    assert res.rel(res.fd, res.adjoint_dot) < 1e-6, res.output
    assert res.stack_left == 0
