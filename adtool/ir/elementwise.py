"""Element i of an array reference, for the passes that turn array
statements into loops over their elements (WHERE in the Fortran front end,
elemental user procedures applied to arrays in normalisation).  Loop index
k runs from 1 to the extent of dimension k; the element it selects honours
the array's declared lower bound, or a section's start and stride."""
from __future__ import annotations

from .clone import clone
from .nodes import INT4, Bin, Call, Expr, Lit, Ref, Section, Symbol


def section_element(x: Ref, sym: Symbol, idx: list[str]) -> list[Expr]:
    """a(lo:hi:st, j) at loop indices idx: lo + (i - 1) * st for each
    section in order (lo defaults to the lower bound), scalars kept."""
    out: list[Expr] = []
    k = 0
    for d, u in enumerate(x.subs):
        if not isinstance(u, Section):
            out.append(clone(u))
            continue
        lo = clone(u.lo) if u.lo is not None else lower_bound(sym, x.name, d)
        off: Expr = Bin("-", Ref(idx[k]), Lit("1", INT4))
        if u.step is not None:
            off = Bin("*", off, clone(u.step))
        out.append(Bin("+", lo, off))
        k += 1
    return out


def lower_bound(sym: Symbol, name: str, d: int) -> Expr:
    dim = sym.shape[d]
    if dim.lb is not None and not sym.allocatable and not sym.pointer:
        return clone(dim.lb)
    if dim.lb is None and not sym.allocatable and not sym.pointer:
        return Lit("1", INT4)
    return Call("lbound", [Ref(name), Lit(str(d + 1), INT4)], intrinsic=True)


def whole_element(sym: Symbol, name: str, k: int, var: str) -> Expr:
    """Subscript k of a whole array at loop index var."""
    d = sym.shape[k]
    i = Ref(var)
    if d.lb is None and not sym.allocatable and not sym.pointer:
        return i
    lb = d.lb if d.lb is not None and not sym.allocatable else \
        Call("lbound", [Ref(name), Lit(str(k + 1), INT4)], intrinsic=True)
    return Bin("-", Bin("+", clone(lb), i), Lit("1", INT4))


def element(x: Ref, sym: Symbol, idx: list[str]) -> Ref:
    """x (a whole array of rank len(idx), or a section of that rank) at
    loop indices idx."""
    if x.subs is None:
        return Ref(x.name, [whole_element(sym, x.name, k, idx[k]) for k in range(len(idx))],
                   span=x.span)
    return Ref(x.name, section_element(x, sym, idx), span=x.span)
