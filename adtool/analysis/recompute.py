"""Argument temporaries the backward sweep can evaluate again.

Normalisation passes every real expression given to a user routine through
a temporary (`ad_arg1 = t(i,j) - t(i-1,j); call limiter(ad_arg1, ...)`).
The callee's adjoint needs the value the temporary held, and by the time it
runs the caller has overwritten the temporary many times.  Storing it costs
one push and one pop per call; in a flux loop that is most of the tape.
When the expression reads only values that are the same at the adjoint call
as at the primal one, the caller can assign the temporary again right
before the adjoint call, and nobody needs to store it.

Values that qualify: named constants, the indices of DO loops around the
call (the backward loops set them again), formals or globals that the
routine (with everything it calls) never writes, and -- once a first pass
has told which -- variables the backward sweep reads anyway and the call
does not write.  Formals and globals nobody writes keep their value for
the whole invocation; a split backward routine gets them back from its
exit snapshot.  That snapshot is the price: a formal array read only here
would be pushed whole at the routine's exit, so an array qualifies only
when the call sits in a loop (where per-call pushes would cost more).
Variables the backward sweep reads are recorded before every overwrite and
restored after its adjoint, so at any point of the backward sweep they
hold what they held at the same point of the forward sweep: re-reading
them costs nothing more.
"""
from __future__ import annotations

from ..ir.clone import clone
from typing import Optional

from ..ir.nodes import Assign, Call, CallStmt, Expr, ImpliedDo, Loop, Ref, Routine, Stmt, TranslationUnit, While
from ..ir.visit import child_blocks, walk_expr, walk_stmts
from .readwrite import Summaries, stmt_writes
from .scope import Scopes

# storage kinds whose value outlives one statement of the routine
_OUTER = ("arg", "module", "common", "global")


def restorable_temporaries(tu: TranslationUnit, names: list[str], scopes: Scopes,
                           summ: Summaries, needed: Optional[dict[str, set[str]]] = None
                           ) -> dict[tuple[str, str], Expr]:
    """(routine, temporary) -> the expression that defines it, for every
    argument temporary of the named routines that can be re-evaluated.
    needed: per routine, names its backward sweep reads (and so records
    before every overwrite); those qualify too, unless the call itself
    writes them."""
    out: dict[tuple[str, str], Expr] = {}
    for n in names:
        r = tu.routine(n)
        if r is not None:
            for tmp, e in _of_routine(r, scopes, summ, (needed or {}).get(n, set())).items():
                out[(n, tmp)] = e
    return out


def _consumer(r: Routine, tmp: str) -> Optional[Stmt]:
    """The statement whose call takes the temporary as an actual."""
    for s in walk_stmts(r.body):
        if isinstance(s, CallStmt):
            calls = [s.args]
        elif isinstance(s, Assign):
            calls = [c.args for c in walk_expr(s.rhs) if isinstance(c, Call) and not c.intrinsic]
        else:
            continue
        if any(isinstance(a, Ref) and a.name == tmp and a.subs is None for args in calls for a in args):
            return s
    return None


def _of_routine(r: Routine, scopes: Scopes, summ: Summaries, needed: set[str]) -> dict[str, Expr]:
    writes_by_stmt: list[tuple[Stmt, set]] = [(s, set(stmt_writes(s, r, scopes, summ)))
                                              for s in walk_stmts(r.body)]
    written = set().union(*(w for _, w in writes_by_stmt)) if writes_by_stmt else set()
    found: dict[str, list[tuple[Assign, tuple[str, ...], bool]]] = {}

    def visit(block: list[Stmt], loop_vars: tuple[str, ...], in_loop: bool) -> None:
        for s in block:
            if isinstance(s, Assign) and getattr(s, "arg_temp", False) and s.lhs.subs is None:
                found.setdefault(s.lhs.name, []).append((s, loop_vars, in_loop))
            inner = loop_vars + (s.var,) if isinstance(s, Loop) else loop_vars
            for b in child_blocks(s):
                visit(b, inner, in_loop or isinstance(s, (Loop, While)))

    visit(r.body, (), False)
    out: dict[str, Expr] = {}
    for tmp, sites in found.items():
        if len(sites) != 1:
            continue
        assign, loop_vars, in_loop = sites[0]
        sym = r.symbols.get(tmp)
        if sym is None or sym.rank:
            continue
        var = scopes.var(r, tmp)
        if any(var in w for s, w in writes_by_stmt if s is not assign):
            continue             # the call (or anything else) writes it too
        # Values the backward sweep records anyway hold, at the adjoint call,
        # what they held at the primal one -- unless the call changed them.
        kept = set()
        if needed:
            user = _consumer(r, tmp)
            by_call = set(stmt_writes(user, r, scopes, summ)) if user is not None else None
            kept = {n for n in needed if scopes.var(r, n) not in by_call} if by_call is not None else set()
        if _recomputable(assign.rhs, r, scopes, written, loop_vars, in_loop, kept):
            out[tmp] = clone(assign.rhs)
    return out


def _recomputable(e: Expr, r: Routine, scopes: Scopes, written: set,
                  loop_vars: tuple[str, ...], in_loop: bool, kept: set[str]) -> bool:
    for x in walk_expr(e):
        if isinstance(x, ImpliedDo):
            return False
        if isinstance(x, Call) and not x.intrinsic:
            return False
        if not isinstance(x, Ref) or x.name in loop_vars or x.name in kept:
            continue
        hit = scopes.lookup(r, x.name)
        if hit is None:
            return False
        sym, var = hit
        if sym.is_parameter:
            continue
        if sym.storage not in _OUTER or var in written:
            return False
        if sym.rank and not in_loop:
            return False
    return True


def restorable(table: dict[tuple[str, str], Expr], routine: str, a: Expr) -> Optional[Expr]:
    """The defining expression when actual `a` of a call in `routine` is a
    re-evaluable temporary, else None."""
    if isinstance(a, Ref) and a.subs is None and a.path is None:
        e = table.get((routine, a.name))
        if e is not None:
            return clone(e)
    return None
