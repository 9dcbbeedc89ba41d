"""Elements of small arrays named by constant subscripts.

Two rules ask whether a sequence of element writes (`proj(1) = ...;
proj(2) = ...`, or pops into them) sets a whole array before anything
reads it: what f_bwd needs of f_fwd's exit values (snapshots.py) and what
a joint adjoint reads on entry (deadfwd.py).  Both need the same facts: the
constant subscripts of a reference, and every subscript tuple of an array
whose bounds are constants.
"""
from __future__ import annotations

import itertools
from typing import Callable, Optional

from ..ir.nodes import Expr, Lit, Ref, Symbol

# Beyond this many elements a whole-array write is what codes use anyway.
MAX_ELEMENTS = 64


def int_value(e: Optional[Expr], default: Optional[int],
              lookup: Optional[Callable[[str], Optional[Symbol]]] = None) -> Optional[int]:
    """An integer literal, or a named constant's value through lookup;
    default for an absent expression (a language's default lower bound)."""
    if e is None:
        return default
    if isinstance(e, Lit) and e.type.base == "integer":
        try:
            return int(e.text)
        except ValueError:
            return None
    if lookup is not None and isinstance(e, Ref) and e.subs is None and e.path is None:
        sym = lookup(e.name)
        if sym is not None and sym.is_parameter and sym.value is not None:
            return int_value(sym.value, None, lookup)
    return None


def element_key(ref: Ref) -> Optional[tuple]:
    """The constant subscripts of an element reference, or None."""
    if ref.subs is None or ref.path is not None or ref.substring is not None:
        return None
    out = []
    for sub in ref.subs:
        v = int_value(sub, None) if isinstance(sub, Expr) else None
        if v is None:
            return None
        out.append(v)
    return tuple(out)


def all_elements(sym: Optional[Symbol], language: str,
                 lookup: Optional[Callable[[str], Optional[Symbol]]] = None) -> Optional[set[tuple]]:
    """Every subscript tuple of a small array with constant bounds, or
    None (not an array, bounds not constant, or too many elements)."""
    if sym is None or not sym.shape or sym.allocatable:
        return None
    ranges = []
    for d in sym.shape:
        lo = int_value(d.lb, 0 if language == "c" else 1, lookup)
        hi = int_value(d.ub, None, lookup)
        if lo is None or hi is None or d.assumed or hi < lo:
            return None
        ranges.append(range(lo, hi + 1))
    total = 1
    for rg in ranges:
        total *= len(rg)
    if total > MAX_ELEMENTS:
        return None
    return set(itertools.product(*ranges))


def same_bound(a: Expr, b: Expr) -> bool:
    """Equal bound expressions (two literals of the same value count)."""
    if a == b:
        return True
    x, y = int_value(a, None), int_value(b, None)
    return x is not None and x == y
