"""Type of an IR expression, following Fortran's promotion rules (which C's
double/float/int arithmetic agrees with for the types we support)."""
from __future__ import annotations

from typing import Callable, Optional

from . import intrinsics
from .nodes import (INT4, LOGICAL, REAL4, REAL8, Absent, ProcRef, ArrayCtor, Bin, Call, Cast,
                    Cond, Expr, ImpliedDo, Lit, Ref, Symbol, Type, Un)

_RANK = {"integer": 0, "real": 1, "complex": 2}


def promote(a: Type, b: Type) -> Type:
    if a.base == "character" or b.base == "character":
        return a if a.base == "character" else b
    if a.base == "logical" or b.base == "logical":
        return LOGICAL
    ra, rb = _RANK.get(a.base, 0), _RANK.get(b.base, 0)
    if ra != rb:
        hi, lo = (a, b) if ra > rb else (b, a)
        if hi.base == "complex" and lo.base == "real":
            return Type("complex", max(hi.kind, 2 * lo.kind))
        return hi
    if a.kind != b.kind:
        return a if a.kind > b.kind else b
    # C's usual conversions: of two integers of one size, the unsigned
    return b if b.unsigned and not a.unsigned else a


def type_of(e: Expr, lookup: Callable[[str], Optional[Symbol]],
            fun_type: Callable[[str], Optional[Type]]) -> Type:
    def t(x: Expr) -> Type:
        return type_of(x, lookup, fun_type)
    if isinstance(e, Lit):
        return e.type
    if isinstance(e, (Absent, ProcRef)):
        return Type("void", 0)        # an omitted optional argument, a procedure: no value
    if isinstance(e, Ref):
        if e.path:
            from .records import ref_symbol
            sym = ref_symbol(e, lookup)
        else:
            sym = lookup(e.name)
        return sym.type if sym is not None else REAL4
    if isinstance(e, Bin):
        if e.op in ("==", "!=", "<", "<=", ">", ">=", "and", "or", "eqv", "neqv"):
            return LOGICAL
        if e.op == "**" and t(e.right).base == "integer":
            return t(e.left)
        return promote(t(e.left), t(e.right))
    if isinstance(e, Un):
        return LOGICAL if e.op == "not" else t(e.operand)
    if isinstance(e, Cast):
        return e.type
    if isinstance(e, Cond):
        return promote(t(e.then), t(e.else_))
    if isinstance(e, (ArrayCtor, ImpliedDo)):
        items = e.items
        return t(items[0]) if items else REAL8
    if isinstance(e, Call):
        if not e.intrinsic:
            return fun_type(e.name) or REAL4
        spec = intrinsics.lookup(e.name)
        if spec is None:
            return REAL4
        rule = spec.result
        if rule == "arg":
            if e.name in ("min", "max", "iand", "ior", "ieor") and len(e.args) > 1:
                res = t(e.args[0])
                for a in e.args[1:]:
                    res = promote(res, t(a))
                return res
            return t(e.args[0]) if e.args else REAL4
        if rule == "arg2":
            return t(e.args[0])
        if rule == "mold":
            mold = dict(e.kwargs).get("mold") or (e.args[1] if len(e.args) > 1 else None)
            return t(mold) if mold is not None else REAL4
        if rule == "real8":
            return REAL8
        if rule == "real4":
            return REAL4
        if rule == "complex16":
            return Type("complex", 16)
        if rule == "real":
            pos = 2 if e.name == "cmplx" else 1      # cmplx(re, im, kind)
            kind = dict(e.kwargs).get("kind") or (e.args[pos] if len(e.args) > pos else None)
            base = "complex" if e.name == "cmplx" else "real"
            if kind is not None and isinstance(kind, Lit):
                k = int(kind.text)
                return Type(base, 2 * k if base == "complex" else k)
            if kind is not None and isinstance(kind, Ref):
                sym = lookup(kind.name)
                if sym is not None and isinstance(sym.value, Lit):
                    k = int(sym.value.text)
                    return Type(base, 2 * k if base == "complex" else k)
                if sym is not None and sym.value is not None:
                    inner = sym.value
                    if isinstance(inner, Call) and inner.name == "kind" and inner.args:
                        k = t(inner.args[0]).kind
                        return Type(base, k)
                return Type(base, 8)
            return Type(base, 8 if base == "complex" else 4)
        if rule == "int":
            return INT4
        if rule == "logical":
            return LOGICAL
        if rule == "char":
            return Type("character", 1, None)
    return REAL4
