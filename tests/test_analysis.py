"""Data-flow facts (scopes, read/write/use, activity) on tiny Fortran sources."""
from __future__ import annotations

import textwrap

import pytest

from adtool.analysis import Scopes, Var, activity, summaries
from adtool.analysis.readwrite import (block_reads, block_summary, block_use,
                                       block_writes, snapshot, stmt_must_kill,
                                       stmt_reads, stmt_writes)
from adtool.diagnostics import AdError
from adtool.frontend.fortran import read_fortran
from adtool.ir.nodes import Assign, CallStmt, Print


def load(tmp_path, src: str, name: str = "t.f90"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(src).lstrip("\n"))
    tu = read_fortran([str(p)])
    return tu, Scopes(tu)


def V(scope: str, *names: str) -> set[Var]:
    return {Var(scope, n) for n in names}


def facts(tu, sc, name):
    s = summaries(tu, sc)[name]
    return s.reads, s.writes, s.use, s.kills


# ------------------------------------------------------------------ read/write/use

def test_loop_and_branches(tmp_path):
    tu, sc = load(tmp_path, """
        subroutine lb(a, b, n, s, t, u)
          integer n, i
          real(8) a(n), b(n), s, t, u
          s = 0
          do i = 1, n
            s = s + a(i) * b(i)
          end do
          if (s > 0) then
            t = s
          else
            t = -s
          end if
          if (n > 3) u = t
        end
        """)
    reads, writes, use, kills = facts(tu, sc, "lb")
    assert reads == V("lb", "a", "b", "n", "s", "t")
    assert writes == V("lb", "s", "t", "u")
    assert use == V("lb", "a", "b", "n")          # s, t written first on every path
    assert kills == V("lb", "s", "t")             # u only on one branch


def test_loop_may_not_run_and_sections_do_not_kill(tmp_path):
    tu, sc = load(tmp_path, """
        subroutine z(a, c, x, y, n)
          integer n, i
          real(8) a(n), c(n), x, y
          do i = 1, n
            x = 1
          end do
          a(1:n) = 0
          c = 0
          y = x + a(2) + c(3)
        end
        """)
    reads, writes, use, kills = facts(tu, sc, "z")
    assert use == V("z", "n", "x", "a")           # x: loop may run 0 times; a: section write
    assert V("z", "c") <= writes and Var("z", "c") not in use
    assert kills == V("z", "c", "y")


def test_stmt_level_sets(tmp_path):
    tu, sc = load(tmp_path, """
        subroutine s(a, b, c, i, j)
          integer i, j, k
          real(8) a(10), b(10), c
          a(i) = b(j) + c
          do k = i, j
            print *, a(k)
          end do
        end
        """)
    r = tu.routine("s")
    asg, loop = r.body
    assert stmt_reads(asg, "s", sc) == V("s", "i", "j", "b", "c")
    assert stmt_writes(asg, "s", sc) == V("s", "a")
    assert stmt_must_kill(asg, "s", sc) == set()        # element write
    assert stmt_reads(loop, "s", sc) == V("s", "i", "j")
    assert stmt_writes(loop, "s", sc) == V("s", "k")
    pr = loop.body[0]
    assert isinstance(pr, Print)
    assert stmt_reads(pr, "s", sc) == V("s", "a", "k")
    assert block_reads(r.body, "s", sc) == V("s", "i", "j", "b", "c", "a", "k")
    assert block_writes(r.body, "s", sc) == V("s", "a", "k")


def test_calls_through_three_levels(tmp_path):
    tu, sc = load(tmp_path, """
        module st
          implicit none
          real(8) :: gsum, scale
        end module
        subroutine leaf(v, w)
          use st
          real(8) v, w
          w = v * scale
          gsum = gsum + w
        end
        subroutine mid(p, q, n)
          integer n, i
          real(8) p(n), q(n)
          do i = 1, n
            call leaf(p(i), q(i))
          end do
        end
        subroutine top(x, y, z, n)
          integer n
          real(8) x(n), y(n), z
          call mid(x, y, n)
          z = 2 * z
        end
        """)
    s = summaries(tu, sc)
    g = {Var("module:st", "gsum"), Var("module:st", "scale")}
    assert s["leaf"].reads == V("leaf", "v", "w") | g      # w read after its write
    assert s["leaf"].use == V("leaf", "v") | g
    assert s["leaf"].writes == V("leaf", "w") | {Var("module:st", "gsum")}
    assert s["leaf"].kills == V("leaf", "w") | {Var("module:st", "gsum")}
    assert s["mid"].writes == V("mid", "q") | {Var("module:st", "gsum")}
    assert s["mid"].use == V("mid", "p", "n") | g
    assert s["mid"].kills == set()                     # loop may not run
    top = s["top"]
    assert top.reads == V("top", "x", "y", "n", "z") | g
    assert top.writes == V("top", "y", "z") | {Var("module:st", "gsum")}
    assert top.use == V("top", "x", "n", "z") | g
    assert top.kills == V("top", "z")
    call = tu.routine("top").body[0]
    assert isinstance(call, CallStmt)
    assert stmt_writes(call, "top", sc) == V("top", "y") | {Var("module:st", "gsum")}


def test_module_use_rename_only_and_own_module(tmp_path):
    tu, sc = load(tmp_path, """
        module m
          implicit none
          real(8) :: g, h
        contains
          subroutine bump(x)
            real(8), intent(inout) :: x
            x = x + h
          end subroutine
        end module
        subroutine user(a)
          use m, only: gg => g, bump
          real(8) a
          real(8) h
          h = 1
          a = gg + h
          call bump(a)
        end
        """)
    assert sc.var("user", "gg") == Var("module:m", "g")
    assert sc.var("user", "h") == Var("user", "h")          # local, not m's h
    assert sc.var("bump", "h") == Var("module:m", "h")
    reads, writes, use, kills = facts(tu, sc, "user")
    assert use == {Var("module:m", "g"), Var("module:m", "h")}
    assert writes == V("user", "a")
    assert kills == V("user", "a")


def test_common_members_named_differently(tmp_path):
    tu, sc = load(tmp_path, """
        subroutine setc(v)
          real(8) v, p, q
          common /blk/ p, q
          q = v
        end
        subroutine getc(w)
          real(8) w, x, y
          common /blk/ x, y
          w = y + x
        end
        subroutine both(v, w)
          real(8) v, w
          call setc(v)
          call getc(w)
        end
        """)
    assert sc.var("setc", "q") == sc.var("getc", "y") == Var("common:blk", "blk#2")
    assert sc.var("getc", "x") == Var("common:blk", "blk#1")
    s = summaries(tu, sc)
    assert s["setc"].kills == {Var("common:blk", "blk#2")}
    assert s["getc"].use == {Var("common:blk", "blk#1"), Var("common:blk", "blk#2")}
    # blk#2 is written by setc before getc reads it: not upward exposed in `both`
    assert s["both"].use == V("both", "v") | {Var("common:blk", "blk#1")}
    assert s["both"].writes == V("both", "w") | {Var("common:blk", "blk#2")}


def test_function_side_effects_and_expression_actuals(tmp_path):
    tu, sc = load(tmp_path, """
        module cnt
          implicit none
          integer :: ncall
        end module
        real(8) function f(x)
          use cnt
          real(8) x
          ncall = ncall + 1
          f = x * x
        end
        subroutine out(o)
          real(8) o
          o = 3
        end
        subroutine caller(a, b)
          real(8) a, b, f
          b = f(a)
          call out(a + b)
        end
        """)
    asg, call = tu.routine("caller").body
    assert stmt_reads(asg, "caller", sc) == V("caller", "a") | {Var("module:cnt", "ncall")}
    assert stmt_writes(asg, "caller", sc) == V("caller", "b") | {Var("module:cnt", "ncall")}
    assert stmt_writes(call, "caller", sc) == set()     # expression actual: only read
    assert stmt_reads(call, "caller", sc) == V("caller", "a", "b")
    s = summaries(tu, sc)
    assert s["f"].writes == V("f", "f") | {Var("module:cnt", "ncall")}


def test_early_return_exit_and_goto(tmp_path):
    tu, sc = load(tmp_path, """
        subroutine er(c, x, y)
          real(8) c, x, y
          if (c > 0) return
          x = 1
          y = x
        end
        subroutine ex(x, y, n)
          integer n, i
          real(8) x, y
          y = 0
          do i = 1, n
            if (y > 1) exit
            y = y + x
          end do
          x = y
        end
        subroutine g1(x, y)
          real(8) x, y
          integer i
          do 10 i = 1, 3
            if (x > 1) goto 20
            x = x * 2
        10 continue
        20 y = x
        end
        """)
    s = summaries(tu, sc)
    assert s["er"].kills == set()
    assert s["er"].use == V("er", "c")
    assert s["ex"].kills == V("ex", "y", "x")
    assert s["ex"].use == V("ex", "n", "x")
    assert s["g1"].use == V("g1", "x")
    assert s["g1"].kills == V("g1", "y")


def test_recursion_reaches_fixpoint(tmp_path):
    tu, sc = load(tmp_path, """
        module acc_m
          implicit none
          real(8) :: total
        end module
        recursive subroutine walk(n, x)
          use acc_m
          integer n
          real(8) x
          if (n <= 1) then
            total = total + x
            return
          end if
          call walk(n - 1, x)
        end
        subroutine drive(y)
          real(8) y
          call walk(5, y)
        end
        """)
    s = summaries(tu, sc)
    t = Var("module:acc_m", "total")
    assert s["walk"].use == V("walk", "n", "x") | {t}
    assert s["walk"].writes == {t}
    assert s["drive"].use == V("drive", "y") | {t}
    assert s["drive"].writes == {t}


def test_internal_procedure_host_association_and_saved_locals(tmp_path):
    tu, sc = load(tmp_path, """
        subroutine host(a, r)
          real(8) a, r, tmp
          tmp = a * 2
          call inner()
        contains
          subroutine inner()
            integer, save :: calls = 0
            calls = calls + 1
            r = tmp + 1
          end subroutine
        end
        """)
    assert sc.var("inner", "tmp") == Var("host", "tmp")
    s = summaries(tu, sc)
    saved = Var("inner", "calls")
    assert s["inner"].use == {Var("host", "tmp"), saved}
    assert s["inner"].writes == {Var("host", "r"), saved}
    # host's own local tmp disappears from its summary; the saved counter stays
    assert s["host"].use == V("host", "a") | {saved}
    assert s["host"].writes == V("host", "r") | {saved}


def test_unknown_external_is_conservative(tmp_path):
    tu, sc = load(tmp_path, """
        subroutine ue(x, y)
          real(8) x, y
          call mystery(x, y + 1)
        end
        """)
    reads, writes, use, kills = facts(tu, sc, "ue")
    assert reads == V("ue", "x", "y") and use == V("ue", "x", "y")
    assert writes == V("ue", "x") and kills == set()


def test_region_use_and_snapshot(tmp_path):
    tu, sc = load(tmp_path, """
        subroutine reg(x, y, w, n)
          integer n, i
          real(8) x(n), y, w, t
          t = 0
          do i = 1, n
            t = t + x(i) * w
          end do
          y = t
          w = 2 * w
          x(1) = 0
        end
        """)
    body = tu.routine("reg").body
    c, d = body[:3], body[3:]
    bs = block_summary(c, "reg", sc)
    assert bs.use == V("reg", "n", "x", "w")
    assert bs.kills == V("reg", "t", "i", "y")
    assert block_use(d, "reg", sc) == V("reg", "w")
    # C reads n, x, w first; D overwrites w and x: both must be saved.
    assert snapshot(c, d, "reg", sc) == V("reg", "w", "x")


def test_visible_names_and_c_like_lookup(tmp_path):
    tu, sc = load(tmp_path, """
        module m2
          implicit none
          real(8) :: a, b
          integer, parameter :: k = 3
        end module
        subroutine v(x)
          use m2, b2 => b
          real(8) x
          x = a + b2 + k
        end
        """)
    names = {n: v for n, _, v in sc.visible("v")}
    assert names["x"] == Var("v", "x")
    assert names["a"] == Var("module:m2", "a")
    assert names["b2"] == Var("module:m2", "b")
    assert "b" not in names and "k" not in names      # renamed away; constant
    reads, *_ = facts(tu, sc, "v")
    assert reads == {Var("module:m2", "a"), Var("module:m2", "b")}


# ------------------------------------------------------------------ activity

ACT_SRC = """
module gm
  implicit none
  real(8) :: gstate, gpassive
end module
subroutine scale(a, b)
  real(8) a, b
  b = 3 * a
end
subroutine stash(v)
  use gm
  real(8) v
  gstate = v * v
  gpassive = 1
end
real(8) function sq(z)
  real(8) z
  sq = z * z
end
subroutine logit(n)
  integer n
  print *, n
end
subroutine head(x, y, n)
  use gm
  integer n, k
  real(8) x(n), y, w, c1, c2, c3, zidx, sq
  k = n * 2
  w = real(k, 8)
  c1 = 2.0d0
  call scale(x(1), c3)
  call scale(c1, c2)
  print *, c2
  call stash(x(2))
  zidx = x(1) * 2
  y = c3 * w + gstate + sq(x(nint(zidx))) + gpassive
  call logit(k)
end
"""


@pytest.fixture
def act(tmp_path):
    tu, sc = load(tmp_path, ACT_SRC)
    return activity(tu, [("head", ["y"], ["x"])], scopes=sc)


def test_activity_passive_branch_from_integers(act):
    assert not act.is_active("head", "w")        # computed only from integers
    assert not act.is_active("head", "k")
    assert act.is_active("head", "x") and act.is_active("head", "y")
    assert act.is_active("head", "c3")


def test_activity_routine_called_with_passive_and_active_args(act):
    assert act.active_args("scale") == ["a", "b"]
    assert not act.is_active("head", "c1")       # only ever read by scale
    assert not act.is_active("head", "c2")       # varied through b, but never useful
    assert Var("head", "c2") in act.varied and Var("head", "c1") in act.useful


def test_activity_global_through_callee(act):
    assert act.is_active("stash", "gstate")
    assert act.is_active("head", "gstate")
    assert not act.is_active("head", "gpassive")
    assert act.active_args("stash") == ["v"]
    assert "gstate" in act.active_vars("stash") and "gpassive" not in act.active_vars("stash")


def test_activity_function_result(act):
    assert act.active_args("sq") == ["z", "sq"]
    asg = [s for s in act.scopes.routine("head").body if isinstance(s, Assign)][-1]
    assert act.expr_is_active(asg.rhs, "head")


def test_activity_index_only_variable_stays_inactive(act):
    assert not act.is_active("head", "zidx")     # real, varied, but only an index
    assert Var("head", "zidx") in act.varied
    assert act.active_vars("head") == {"x", "y", "c3", "gstate"}
    assert act.active_routines() == {"head", "scale", "stash", "sq"}   # not logit


def test_activity_default_heads_and_conditions(tmp_path):
    tu, sc = load(tmp_path, """
        real(8) function pick(a, b, s)
          real(8) a, b, s
          pick = merge(a, 2 * b, s > 0)
        end
        """)
    act = activity(tu, [("pick", None, None)], scopes=sc)
    assert act.heads == [("pick", ["pick"], ["a", "b", "s"])]
    # s only selects (the mask), but the default spec names it independent:
    # the head's signature follows the spec, so it keeps its adjoint.
    assert act.active_args("pick") == ["a", "b", "s", "pick"]
    assert Var("pick", "s") not in act.useful


def test_activity_unknown_head_variable(tmp_path):
    tu, sc = load(tmp_path, """
        subroutine h(x)
          real(8) x
          x = x * x
        end
        """)
    with pytest.raises(AdError):
        activity(tu, [("h", ["nosuch"], ["x"])], scopes=sc)


def test_activity_common_through_differently_named_members(tmp_path):
    tu, sc = load(tmp_path, """
        subroutine put(v)
          real(8) v, p, q
          common /cb/ p, q
          q = v
          p = 1
        end
        subroutine get(w)
          real(8) w, x, y
          common /cb/ x, y
          w = y * x
        end
        subroutine hd(v, w)
          real(8) v, w
          call put(v)
          call get(w)
        end
        """)
    act = activity(tu, [("hd", ["w"], ["v"])], scopes=sc)
    assert act.is_active("put", "q") and act.is_active("get", "y")
    assert not act.is_active("get", "x")
    assert act.active_args("get") == ["w"]
