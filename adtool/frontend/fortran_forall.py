"""FORALL statements and constructs become nested DO loops, one nest per
assignment.

    forall (i = 2:n, x(i) > 0) t(i) = x(i)**2      do forall_i1 = 2, n
                                           ->         if (x(forall_i1) > 0) t(forall_i1) = x(forall_i1)**2
                                                    end do

FORALL evaluates every right side (and the mask) for all index values before
it assigns any element; a serial loop assigns as it goes.  The two agree
when the array an assignment defines is referenced in that assignment only
at the element it defines (the same subscripts), and, for a construct of
several assignments, when no assigned array is read by the mask or the
bounds (each assignment runs over all indices before the next one starts,
as the standard says, so a later assignment may read anything an earlier
one wrote).  `forall (i = 2:n) a(i) = a(i-1)` is refused by name rather than
turned into a recurrence.  The index names get fresh loop variables: a
FORALL index is local to the statement and leaves a variable of the same
name untouched.
"""
from __future__ import annotations

from typing import Optional

from fparser.two import Fortran2003 as F

from ..diagnostics import unsupported
from ..ir.clone import clone
from ..ir.nodes import INT4, Assign, Expr, If, Loop, Ref, Span, Stmt
from ..ir.visit import map_expr, refs_in, stmt_exprs, structural_key, walk_expr, walk_stmts


def lower_forall(fe, header, body_nodes: list, span: Span) -> list[Stmt]:
    """header: fparser's Forall_Header; body_nodes: the statements inside
    (one for a FORALL statement)."""
    triplets = header.children[0].children
    mask_node = header.children[1] if len(header.children) > 1 else None
    fresh: dict[str, str] = {}
    bounds = []
    for t in triplets:
        name = str(t.children[0]).lower()
        lo, hi = fe.expr(t.children[1]), fe.expr(t.children[2])
        step = fe.expr(t.children[3]) if t.children[3] is not None else None
        bounds.append((lo, hi, step))
        fresh[name] = fe._fresh_local("forall_i", INT4)
        fe.cur.forall_indices.append((fresh[name], name))

    def rename(e: Optional[Expr]) -> Optional[Expr]:
        if e is None:
            return None
        return map_expr(e, lambda x: Ref(fresh[x.name.lower()], span=x.span)
                        if isinstance(x, Ref) and x.subs is None and not x.path
                        and x.name.lower() in fresh else None)

    mask = rename(fe.expr(mask_node)) if mask_node is not None else None
    assigns: list[Assign] = []
    for n in body_nodes:
        if isinstance(n, F.Comment):
            continue
        if not isinstance(n, F.Assignment_Stmt):
            what = type(n).__name__.replace("_", " ").lower()
            raise unsupported(f"{what} inside FORALL", span)
        for s in fe.stmt(n):
            if not isinstance(s, Assign):
                raise unsupported("FORALL assignment that is not a plain assignment", span)
            assigns.append(Assign(rename(s.lhs), rename(s.rhs), span=s.span))
    if not assigns:
        return []
    _check(assigns, mask, bounds, span)
    out: list[Stmt] = []
    for a in assigns:
        inner: list[Stmt] = [a]
        if mask is not None:
            inner = [If([(clone(mask), inner)], span=span)]
        # the first index innermost: column-major arrays are walked in order
        for (lo, hi, step), var in zip(bounds, fresh.values()):
            inner = [Loop(var, clone(lo), clone(hi), clone(step) if step is not None else None,
                          inner, span=span)]
        out.extend(inner)
    return out


def keep_index_names(u) -> None:
    """A local declared only to be a FORALL index would be unused once the
    loops run on fresh variables: the loops take its name back (what gfortran
    -Wall expects of the program, and what the user reads in the output).
    A routine with internal procedures keeps the fresh names: they may see
    the index variable by host association."""
    r = u.routine
    if not u.forall_indices or r.contains:
        return
    used = {x.name for s in walk_stmts(r.body) for e in stmt_exprs(s) for x in refs_in(e)}
    used |= {s.var for s in walk_stmts(r.body) if isinstance(s, Loop)}
    back = {}
    for fresh, name in u.forall_indices:
        sym = r.symbols.get(name)
        if (name not in used and sym is not None and sym.storage == "local" and not sym.save
                and sym.init is None and sym.type.base == "integer" and not sym.shape):
            back[fresh] = name
    for s in walk_stmts(r.body):
        if isinstance(s, Loop) and s.var in back:
            s.var = back[s.var]
        for e in stmt_exprs(s):
            for x in refs_in(e):
                if x.name in back:
                    x.name = back[x.name]
    for fresh in back:
        del r.symbols[fresh]


def _check(assigns: list[Assign], mask: Optional[Expr], bounds, span: Span) -> None:
    assigned: dict[str, tuple] = {}
    for a in assigns:
        if not isinstance(a.lhs, Ref) or a.lhs.path:
            raise unsupported("FORALL assigning to a record component", span)
        if a.lhs.subs is None:
            raise unsupported("FORALL assigning a whole array", span, a.lhs.name)
        key = structural_key(a.lhs.subs)
        for x in walk_expr(a.rhs):
            if isinstance(x, Ref) and x.name == a.lhs.name and (
                    x.subs is None or structural_key(x.subs) != key):
                raise unsupported("FORALL reading the array it assigns at other elements",
                                  span, a.lhs.name)
        assigned.setdefault(a.lhs.name, key)
    several = len(assigns) > 1
    outside = ([mask] if mask is not None else []) + [b for t in bounds for b in t if b is not None]
    for e in outside:
        for x in walk_expr(e):
            if not isinstance(x, Ref) or x.name not in assigned:
                continue
            in_bounds = e is not mask
            if in_bounds or several or x.subs is None or structural_key(x.subs) != assigned[x.name]:
                raise unsupported("FORALL whose mask or bounds read an array it assigns",
                                  span, x.name)
