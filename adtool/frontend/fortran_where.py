"""WHERE statements and constructs become loops over the elements.

    where (h < b) h = b                 do where_i1 = 1, size(h, 1)
                                ->        if (h(where_i1) < b(where_i1)) h(where_i1) = b(where_i1)
                                        end do

ELSEWHERE branches become the else-if arms of one IF per element.  This is
exact when every array in the masks and assignments is a whole array of the
construct's rank (or a section of that rank, `h(2:n-1)`), an array the
construct assigns is read only at the elements it assigns, and nothing else
is evaluated across elements: then the mask of element i is read before any
assignment to element i, as WHERE requires, and the later stages
differentiate plain loops and branches (no masked-out element's derivative
is ever computed, unlike merge()).  Reading an assigned array at other
elements, vector subscripts, reductions and user functions inside a WHERE
are refused by name.
"""
from __future__ import annotations

import copy
from typing import Optional

from ..diagnostics import unsupported
from ..ir import elementwise, intrinsics
from ..ir.nodes import INT4, Assign, Call, Expr, If, Lit, Loop, Ref, Section, Span, Stmt
from ..ir.visit import map_expr, structural_key, walk_expr


def lower_where(fe, arms: list[tuple[Optional[Expr], list[Assign]]], span: Span) -> list[Stmt]:
    """arms: (mask or None for a final ELSEWHERE, assignments), in order."""
    lhs0 = arms[0][1][0].lhs if arms[0][1] else None
    rank = _rank_of(fe, lhs0, span) if lhs0 is not None else 0
    exprs = [m for m, _ in arms if m is not None] + [x for _, b in arms for a in b for x in (a.lhs, a.rhs)]
    for e in exprs:
        _check(fe, e, rank, span)
    if rank == 0:
        raise unsupported("WHERE without an array assignment", span)
    _check_aligned(fe, arms, exprs, span)
    idx = [_fresh(fe, k) for k in range(rank)]

    def element(e: Expr) -> Expr:
        def fn(x: Expr):
            if isinstance(x, Ref) and not x.path:
                sym = fe.lookup(x.name)
                if sym is not None and sym.shape and (
                        x.subs is None or any(isinstance(u, Section) for u in x.subs)):
                    return elementwise.element(x, sym, idx)
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
        inner = [Loop(idx[k], Lit("1", INT4), Call("size", [copy.deepcopy(lhs0), Lit(str(k + 1), INT4)],
                                                   intrinsic=True), None, inner, span=span)]
    return inner


def _rank_of(fe, e: Expr, span: Span) -> int:
    if not isinstance(e, Ref) or e.path:
        raise unsupported("WHERE assigning to a record component", span)
    sym = fe.lookup(e.name)
    if sym is None:
        return 0
    if e.subs is None:
        return len(sym.shape)
    n = sum(1 for u in e.subs if isinstance(u, Section))
    if n == 0:
        raise unsupported("WHERE assigning to an array element", span, e.name)
    return n


def _scalar_subs(fe, x: Ref, span: Span) -> None:
    """The subscripts beside a section's are scalars (no vector subscript)."""
    for u in x.subs:
        items = [u.lo, u.hi, u.step] if isinstance(u, Section) else [u]
        for y in (i for i in items if i is not None):
            for z in walk_expr(y):
                if isinstance(z, Ref) and z.subs is None:
                    zs = fe.lookup(z.name)
                    if zs is not None and zs.shape:
                        raise unsupported("vector subscript inside WHERE", span, x.name)


def _check(fe, e: Expr, rank: int, span: Span) -> None:
    for x in walk_expr(e):
        if isinstance(x, Ref):
            sym = fe.lookup(x.name)
            if sym is not None and (sym.shape or x.path):
                if x.path:
                    raise unsupported("record component inside WHERE", span, x.name)
                if x.subs is None:
                    n = len(sym.shape)
                else:
                    _scalar_subs(fe, x, span)
                    n = sum(1 for u in x.subs if isinstance(u, Section))
                if 0 < n != rank:
                    raise unsupported("arrays of different ranks inside WHERE", span, x.name)
        elif isinstance(x, Call):
            spec = intrinsics.lookup(x.name) if x.intrinsic else None
            if spec is None or not spec.elemental:
                raise unsupported(f"call of '{x.name}' inside WHERE (not an elemental intrinsic)", span)


def _check_aligned(fe, arms, exprs: list[Expr], span: Span) -> None:
    """Element by element is exact when an array the construct assigns is
    referenced nowhere in it but at the elements it assigns (the same
    subscripts): `where (a(2:n) > 0) a(2:n) = a(1:n-1)` reads elements
    the loop has already overwritten, so it is refused."""
    assigned: dict[str, object] = {}
    for _, body in arms:
        for a in body:
            key = _subs_key(a.lhs)
            if assigned.setdefault(a.lhs.name, key) != key:
                raise unsupported("WHERE assigning different sections of one array", span, a.lhs.name)
    for e in exprs:
        for x in walk_expr(e):
            if isinstance(x, Ref) and x.name in assigned and _subs_key(x) != assigned[x.name]:
                raise unsupported("WHERE reading an array it assigns at other elements", span, x.name)


def _subs_key(x: Ref):
    return None if x.subs is None else structural_key(x.subs)


def _fresh(fe, k: int) -> str:
    return fe._fresh_local("where_i", INT4)
