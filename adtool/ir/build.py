"""Small constructors with local simplification (x*1 -> x, x+0 -> x) so the
generated derivative code reads like something a person would write."""
from __future__ import annotations

from .clone import clone
from typing import Callable, Optional

from .nodes import INT4, LOGICAL, Bin, Call, Expr, Lit, Ref, Type, Un


def real(value: float | int | str, kind: int = 8) -> Lit:
    text = value if isinstance(value, str) else repr(float(value))
    if "e" not in text and "." not in text:
        text += ".0"
    return Lit(text, Type("real", kind))


def integer(v: int) -> Lit:
    return Lit(str(v), INT4)


TRUE = Lit("true", LOGICAL)
FALSE = Lit("false", LOGICAL)


def is_zero(e: Optional[Expr]) -> bool:
    return e is None or (isinstance(e, Lit) and e.type.base in ("real", "integer")
                         and float(e.text) == 0.0)


def is_one(e: Expr) -> bool:
    return isinstance(e, Lit) and e.type.base in ("real", "integer") and float(e.text) == 1.0


def is_minus_one(e: Expr) -> bool:
    return isinstance(e, Lit) and e.type.base in ("real", "integer") and float(e.text) == -1.0


def neg(a: Expr) -> Expr:
    if isinstance(a, Un) and a.op == "-":
        return a.operand
    if isinstance(a, Lit) and a.type.base in ("real", "integer"):
        t = a.text[1:] if a.text.startswith("-") else "-" + a.text
        return Lit(t, a.type)
    return Un("-", a)


def add(a: Optional[Expr], b: Optional[Expr]) -> Optional[Expr]:
    if is_zero(a):
        return b
    if is_zero(b):
        return a
    if isinstance(b, Un) and b.op == "-":
        return Bin("-", a, b.operand)
    return Bin("+", a, b)


def sub(a: Optional[Expr], b: Expr) -> Expr:
    if is_zero(b):
        return a
    if is_zero(a):
        return neg(b)
    return Bin("-", a, b)


def mul(a: Expr, b: Expr) -> Expr:
    if is_one(a):
        return b
    if is_one(b):
        return a
    if is_minus_one(a):
        return neg(b)
    if is_minus_one(b):
        return neg(a)
    if isinstance(a, Un) and a.op == "-":
        return neg(mul(a.operand, b))
    if isinstance(b, Un) and b.op == "-":
        return neg(mul(a, b.operand))
    return Bin("*", a, b)


def div(a: Expr, b: Expr) -> Expr:
    if is_one(b):
        return a
    return Bin("/", a, b)


def power(a: Expr, b: Expr) -> Expr:
    if is_one(b):
        return a
    return Bin("**", a, b)


def int_value(e: Expr, lookup: Callable[[str], Optional[object]]) -> Optional[int]:
    """The value of an integer expression made of literals, named constants
    (PARAMETERs, through lookup) and + - *; None for anything else."""
    if isinstance(e, Lit):
        if e.type.base != "integer":
            return None
        try:
            return int(e.text)
        except ValueError:
            return None
    if isinstance(e, Un) and e.op in ("-", "+"):
        v = int_value(e.operand, lookup)
        return None if v is None else (-v if e.op == "-" else v)
    if isinstance(e, Bin) and e.op in ("+", "-", "*"):
        a, b = int_value(e.left, lookup), int_value(e.right, lookup)
        if a is None or b is None:
            return None
        return a + b if e.op == "+" else a - b if e.op == "-" else a * b
    if isinstance(e, Ref) and e.subs is None and e.path is None:
        sym = lookup(e.name)
        if sym is not None and getattr(sym, "is_parameter", False) and sym.value is not None \
                and sym.type.base == "integer":
            return int_value(sym.value, lookup)
    return None


def trip_count(lo: Expr, hi: Expr, step: Expr,
               lookup: Optional[Callable[[str], Optional[object]]] = None) -> Expr:
    """Trips of a counted loop lo, hi, step (Fortran's rule, taken at entry;
    the C front end's loops are normalised to it): max(0, (hi - lo + step) / step).

    With lookup (Fortran), bounds that are constant expressions give the
    number itself: written as a division, a constant quotient that
    truncates draws gfortran's -Winteger-division from -Wall (`do i = 1,
    4, 2`: 5 / 2), which breaks the user's -Werror builds."""
    if lookup is not None:
        vals = [int_value(x, lookup) for x in (lo, hi, step)]
        if None not in vals and vals[2] != 0:
            n, d = vals[1] - vals[0] + vals[2], vals[2]
            q = abs(n) // abs(d)
            return integer(max(0, q if (n >= 0) == (d > 0) else -q))
    return Call("max", [integer(0), Bin("/", Bin("+", Bin("-", clone(hi), clone(lo)),
                                                     clone(step)), clone(step))],
                intrinsic=True)


def call(name: str, *args: Expr, **kw: Expr) -> Call:
    return Call(name, list(args), list(kw.items()), intrinsic=True)


def ref(name: str, subs=None) -> Ref:
    return Ref(name, list(subs) if subs is not None else None)
