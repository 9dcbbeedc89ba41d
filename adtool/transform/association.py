"""What part of the caller's array an actual argument hands a callee.

An array element given for an array formal (`call f(a(i))`, C's
`f(&x[i * d])` or `f(xp)` with `xp` pointing into x) passes the elements
from there on: sequence association.  Recording what the callee reads or
writes must then cover those elements, not the one element written in
the call; with the formal's extent known that is a section of the
actual's array, otherwise the whole array.
"""
from __future__ import annotations

from ..ir.clone import clone
from typing import Optional

from ..ir.nodes import Bin, Lit, Ref, Section, Symbol


def associated_part(actual: Ref, formal: Optional[Symbol], array: Optional[Symbol],
                    callee=None, args: Optional[list] = None) -> Ref:
    """callee and args: the formal's extent is written in the callee's
    names; the caller's section needs them replaced by the actuals."""
    subs = actual.subs
    if formal is None or not formal.rank or array is None or not array.rank or subs is None \
            or any(isinstance(s, Section) for s in subs):
        return Ref(actual.name, clone(subs), span=actual.span)
    d = formal.shape[0]
    if array.rank == 1 and formal.rank == 1 and d.ub is not None and not d.assumed:
        # the formal's elements lb..ub (lb None: Fortran's 1) start at the element
        lo = clone(subs[0])
        lb = clone(d.lb) if d.lb is not None else Lit("1", _int(d.ub))
        count_minus_one = _in_caller(_minus(clone(d.ub), lb), callee, args)
        if count_minus_one is None:
            return Ref(actual.name, span=actual.span)
        return Ref(actual.name, [Section(lo, _plus(clone(lo), count_minus_one))], span=actual.span)
    return Ref(actual.name, span=actual.span)       # the whole array: always enough


def _in_caller(e, callee, args):
    """e with the callee's formals replaced by the actuals (their values
    just before the call, where the snapshot is taken); None if e names a
    local of the callee."""
    from ..ir.visit import map_expr, refs_in
    if callee is None:
        return e
    actual = dict(zip(callee.args, args or []))
    for x in refs_in(e):
        s = callee.symbols.get(x.name)
        if x.name not in actual and s is not None and s.storage not in ("global", "module", "common"):
            return None

    def sub(x):
        if isinstance(x, Ref) and x.subs is None and x.name in actual:
            return clone(actual[x.name])
        return None
    return map_expr(clone(e), sub)


def _int(e):
    from ..ir.nodes import INT4
    return getattr(e, "type", INT4) if isinstance(e, Lit) else INT4


def _zero(e) -> bool:
    return isinstance(e, Lit) and e.type.base == "integer" and int(e.text) == 0


def _minus(a, b):
    if _zero(b):
        return a
    if isinstance(a, Lit) and isinstance(b, Lit) and a.type.base == b.type.base == "integer":
        return Lit(str(int(a.text) - int(b.text)), a.type)
    return Bin("-", a, b)


def _plus(a, b):
    if _zero(b):
        return a
    if _zero(a):
        return b
    return Bin("+", a, b)
