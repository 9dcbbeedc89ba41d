"""READ statements in derivative code.

A READ stores values that no derivative flows into: after it, the
derivatives of what it read are zero, exactly as after `x = constant`.  The
statement itself stays where it is in the primal sweep (tangent code, the
forward sweep of an adjoint) and never runs backwards.
"""
from __future__ import annotations

from typing import Callable

from ..ir import records
from ..ir.clone import clone
from ..ir.nodes import Expr, ImpliedDo, Loop, Read, Ref, Routine, Stmt, Type
from .context import DiffContext


def zero_read_derivatives(ctx: DiffContext, r: Routine, items: list[Expr],
                          type_of: Callable[[Expr], Type]) -> list[Stmt]:
    """The derivative of every active item set to zero, item by item (an
    implied-DO becomes the same loop), so only what was read is reset."""
    from .snapshots import _zero_assign
    out: list[Stmt] = []
    for e in items:
        if isinstance(e, ImpliedDo):
            body = zero_read_derivatives(ctx, r, e.items, type_of)
            if body:
                out.append(Loop(e.var, clone(e.lo), clone(e.hi), clone(e.step), body))
        elif isinstance(e, Ref) and ctx.active(r, e.name):
            t = type_of(e)
            if records.differentiable(t):
                out.append(_zero_assign(ctx.dref(r, e), t))
    return out


def primal_read(s: Read) -> Read:
    n = clone(s)
    n.directives = []
    n.label = None
    return n
