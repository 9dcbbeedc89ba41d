"""What the tape no longer holds, on fixtures/fortran/recompute.f90 (whose
gradients test_derivatives checks in both modes): argument temporaries the
backward sweep re-evaluates, and forward work a joint adjoint skips.  These
facts are what bench/results.md's stack peaks and times rest on."""
from pathlib import Path

from adtool.analysis.readwrite import summaries
from adtool.analysis.recompute import restorable_temporaries
from adtool.analysis.scope import Scopes
from adtool.backend.fortran_expr import fexpr
from adtool.ir.nodes import Assign, Call, CallStmt
from adtool.ir.visit import calls_in, stmt_exprs, walk_stmts
from adtool.pipeline import Options, generate, read_sources
from adtool.transform.normalize import normalize_unit

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "fortran" / "recompute.f90"
HEAD = "model(u cost)/(u c)"


def _variants(mode):
    _, out = generate(Options([str(FIX)], HEAD, default_mode=mode))
    return {r.name: r for r in out.all_routines()}


def _calls(r):
    names = []
    for s in walk_stmts(r.body):
        if isinstance(s, CallStmt):
            names.append(s.name)
        for e in stmt_exprs(s):
            names.extend(c.name for c in calls_in(e) if isinstance(c, Call) and not c.intrinsic)
    return names


def test_which_temporaries_are_restorable():
    tu = normalize_unit(read_sources([str(FIX)], [], []), {"sweep", "model", "pair", "soft", "mix", "damp"})
    scopes = Scopes(tu)
    table = restorable_temporaries(tu, ["sweep"], scopes, summaries(tu, scopes))
    temps = {fexpr(s.rhs) for s in walk_stmts(tu.routine("sweep").body)
             if isinstance(s, Assign) and getattr(s, "arg_temp", False)}
    assert temps == {"u(i) - u(i - 1)", "u(i + 1) - u(i)", "u(i) * k", "u(1) + c",
                     "2.0d0 * u(n) - c", "loc * c", "w + c"}
    # From what never changes alone: a formal the routine never writes,
    # loop indices (nested).  Not: loc and w are written by the routine;
    # u(1) + c and 2u(n) - c read the array u outside any loop.
    assert {fexpr(e) for e in table.values()} == {"u(i) - u(i - 1)", "u(i + 1) - u(i)", "u(i) * k"}
    # Knowing what the backward sweep records anyway (u, whose adjoints read
    # it, and loc): all but w + c (w's adjoint is linear: nobody records w).
    table = restorable_temporaries(tu, ["sweep"], scopes, summaries(tu, scopes),
                                   {"sweep": {"u", "loc", "c", "i", "k"}})
    assert {fexpr(e) for e in table.values()} == temps - {"w + c"}


def test_split_callee_pushes_nothing_for_restorable_arguments():
    v = _variants("split")
    # every call of pair and soft passes re-evaluable temporaries: their
    # forward routines record nothing
    assert not [n for n in _calls(v["pair_fwd"]) if n.startswith("ad_push")]
    assert not [n for n in _calls(v["soft_fwd"]) if n.startswith("ad_push")]
    # damp gets w + c, which must be stored: damp restores x itself
    assert [n for n in _calls(v["damp_fwd"]) if n.startswith("ad_push")]


def test_joint_sweep_skips_dead_forward_work():
    v = _variants("joint")
    calls = _calls(v["sweep_b"])
    # soft's results (f(1), f(n), g, spare) are never read by the adjoint
    # (f's is linear in them): none of its 3 + 3n primal calls is re-run;
    # spare(1) = mix(c, u(2)) is dead too, h = h + mix(u(i), c) is not
    assert "soft" not in calls
    assert calls.count("mix") == 1
    # the head keeps its primal outputs: model_b still computes cost
    assert any(isinstance(s, Assign) and s.lhs.name == "cost" for s in walk_stmts(v["model_b"].body))
