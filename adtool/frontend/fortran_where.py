"""WHERE statements and constructs become loops over the elements.

    where (h < b) h = b                 do where_i1 = 1, size(h, 1)
                                ->        if (h(where_i1) < b(where_i1)) h(where_i1) = b(where_i1)
                                        end do

ELSEWHERE branches become the else-if arms of one IF per element.  This is
exact when every array in the masks and assignments is a whole array of the
construct's rank and nothing else is evaluated across elements: then the
mask of element i is read before any assignment to element i, as WHERE
requires, and the later stages differentiate plain loops and branches (no
masked-out element's derivative is ever computed, unlike merge()).  Array
sections, reductions and user functions inside a WHERE are refused by name.
"""
from __future__ import annotations

import copy
from typing import Optional

from ..diagnostics import unsupported
from ..ir import intrinsics
from ..ir.nodes import INT4, Assign, Bin, Call, Expr, If, Lit, Loop, Ref, Span, Stmt, Symbol
from ..ir.visit import map_expr, walk_expr


def lower_where(fe, arms: list[tuple[Optional[Expr], list[Assign]]], span: Span) -> list[Stmt]:
    """arms: (mask or None for a final ELSEWHERE, assignments), in order."""
    lhs0 = arms[0][1][0].lhs if arms[0][1] else None
    rank = _rank_of(fe, lhs0, span) if lhs0 is not None else 0
    exprs = [m for m, _ in arms if m is not None] + [x for _, b in arms for a in b for x in (a.lhs, a.rhs)]
    for e in exprs:
        _check(fe, e, rank, span)
    if rank == 0:
        raise unsupported("WHERE without an array assignment", span)
    idx = [_fresh(fe, k) for k in range(rank)]

    def element(e: Expr) -> Expr:
        def fn(x: Expr):
            if isinstance(x, Ref) and x.subs is None:
                sym = fe.lookup(x.name)
                if sym is not None and sym.shape:
                    return Ref(x.name, [_index(sym, x.name, k, idx[k]) for k in range(rank)], span=x.span)
            return None
        return map_expr(copy.deepcopy(e), fn)

    branches = []
    else_ = None
    for mask, body in arms:
        stmts = [Assign(element(a.lhs), element(a.rhs), span=a.span) for a in body]
        if mask is None:
            else_ = stmts
        else:
            branches.append((element(mask), stmts))
    inner: list[Stmt] = [If(branches, else_, span=span)]
    for k in range(rank):          # column-major: the first index innermost
        inner = [Loop(idx[k], Lit("1", INT4), Call("size", [Ref(lhs0.name), Lit(str(k + 1), INT4)],
                                                   intrinsic=True), None, inner, span=span)]
    return inner


def _rank_of(fe, e: Expr, span: Span) -> int:
    if not isinstance(e, Ref) or e.subs is not None or e.path:
        raise unsupported("WHERE assigning to an array section or element", span)
    sym = fe.lookup(e.name)
    return len(sym.shape) if sym is not None else 0


def _check(fe, e: Expr, rank: int, span: Span) -> None:
    for x in walk_expr(e):
        if isinstance(x, Ref):
            sym = fe.lookup(x.name)
            if sym is not None and (sym.shape or x.path):
                if x.subs is not None or x.path:
                    raise unsupported("array section or element inside WHERE", span, x.name)
                if len(sym.shape) != rank:
                    raise unsupported("arrays of different ranks inside WHERE", span, x.name)
        elif isinstance(x, Call):
            spec = intrinsics.lookup(x.name) if x.intrinsic else None
            if spec is None or not spec.elemental:
                raise unsupported(f"call of '{x.name}' inside WHERE (not an elemental intrinsic)", span)


def _index(sym: Symbol, name: str, k: int, var: str) -> Expr:
    d = sym.shape[k]
    i = Ref(var)
    if d.lb is None and not sym.allocatable and not sym.pointer:
        return i
    lb = d.lb if d.lb is not None and not sym.allocatable else \
        Call("lbound", [Ref(name), Lit(str(k + 1), INT4)], intrinsic=True)
    return Bin("-", Bin("+", copy.deepcopy(lb), i), Lit("1", INT4))


def _fresh(fe, k: int) -> str:
    syms = fe.cur.routine.symbols
    n = 1
    while f"where_i{n}" in syms or fe.lookup(f"where_i{n}") is not None:
        n += 1
    name = f"where_i{n}"
    syms[name] = Symbol(name, INT4, storage="local", span=fe.span)
    return name
