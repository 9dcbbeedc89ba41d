"""The one table of derivative rules.

Each differentiable operation or intrinsic has one row giving the partial
derivative of its result with respect to each argument, as IR expressions
over the arguments.  Tangent mode multiplies partials by argument tangents;
reverse mode multiplies them by the result's adjoint.  Both modes read this
table and nothing else, so adding an intrinsic is one row.

Non-smooth functions (abs, min, max, sign, mod) take the branch the primal
took.  Reductions and linear-algebra intrinsics whose partials are not
elementwise (sum, dot_product, matmul, transpose) have rows of kind
'linear' handled by dedicated builders below, still in this one table.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

from ..ir.build import add, call, div, integer, mul, neg, power, real, sub
from ..ir.nodes import Bin, Expr, Lit, Type

Partials = list[Optional[Expr]]


@dataclass(frozen=True)
class Rule:
    """kind 'elemental': partials(args, k) gives d result / d arg_i (None:
    not differentiable in that argument, e.g. a kind= or integer argument).
    kind 'passive': the result carries no derivative (int, nint, size...).
    kind 'linear': tangent(args, dargs) and adjoint(args, i, seed) builders."""
    kind: str
    partials: Optional[Callable[[list[Expr], int], Partials]] = None
    tangent: Optional[Callable[[list[Expr], list[Optional[Expr]]], Optional[Expr]]] = None
    adjoint: Optional[Callable[[list[Expr], int, Expr], Expr]] = None


def _one(k: int) -> Expr:
    return real(1, k)


def _sq(x: Expr) -> Expr:
    return power(x, integer(2))


def _merge(t: Expr, f: Expr, mask: Expr) -> Expr:
    return call("merge", t, f, mask)


def _minmax(op: str):
    def partials(a: list[Expr], k: int) -> Partials:
        if len(a) != 2:
            raise ValueError("min/max with more than two arguments must be nested first")
        take_first = Bin(op, a[0], a[1])
        return [_merge(real(1, k), real(0, k), take_first), _merge(real(0, k), real(1, k), take_first)]
    return partials


E: dict[str, Rule] = {}


def _el(name: str, fn: Callable[[list[Expr], int], Partials]) -> None:
    E[name] = Rule("elemental", partials=fn)


# Arithmetic operators (Bin / Un ops).
_el("+", lambda a, k: [_one(k), _one(k)])
_el("-", lambda a, k: [_one(k), real(-1, k)])
_el("*", lambda a, k: [a[1], a[0]])
_el("/", lambda a, k: [div(_one(k), a[1]), neg(div(div(a[0], a[1]), a[1]))])
_el("neg", lambda a, k: [real(-1, k)])
_el("pos", lambda a, k: [_one(k)])
# a ** b: the exponent's partial is only used when the exponent is active.
_el("**", lambda a, k: [
    mul(a[1], power(a[0], sub(a[1], integer(1)) if not isinstance(a[1], Lit)
                    else _lit_minus_one(a[1]))),
    mul(power(a[0], a[1]), call("log", a[0]))])

# Elemental intrinsics.
_el("sqrt", lambda a, k: [div(real(0.5, k), call("sqrt", a[0]))])
_el("exp", lambda a, k: [call("exp", a[0])])
_el("log", lambda a, k: [div(_one(k), a[0])])
_el("log10", lambda a, k: [div(_one(k), mul(a[0], call("log", real(10, k))))])
_el("sin", lambda a, k: [call("cos", a[0])])
_el("cos", lambda a, k: [neg(call("sin", a[0]))])
_el("tan", lambda a, k: [add(_one(k), _sq(call("tan", a[0])))])
_el("asin", lambda a, k: [div(_one(k), call("sqrt", sub(_one(k), _sq(a[0]))))])
_el("acos", lambda a, k: [neg(div(_one(k), call("sqrt", sub(_one(k), _sq(a[0])))))])
_el("atan", lambda a, k: [div(_one(k), add(_one(k), _sq(a[0])))])
_el("atan2", lambda a, k: [div(a[1], add(_sq(a[0]), _sq(a[1]))),
                           neg(div(a[0], add(_sq(a[0]), _sq(a[1]))))])
_el("sinh", lambda a, k: [call("cosh", a[0])])
_el("cosh", lambda a, k: [call("sinh", a[0])])
_el("tanh", lambda a, k: [sub(_one(k), _sq(call("tanh", a[0])))])
_el("erf", lambda a, k: [mul(real(2 / math.sqrt(math.pi), k), call("exp", neg(_sq(a[0]))))])
_el("log1p", lambda a, k: [div(_one(k), add(_one(k), a[0]))])
_el("expm1", lambda a, k: [call("exp", a[0])])
_el("hypot", lambda a, k: [div(a[0], call("hypot", a[0], a[1])), div(a[1], call("hypot", a[0], a[1]))])
_el("abs", lambda a, k: [call("sign", _one(k), a[0])])
_el("sign", lambda a, k: [mul(call("sign", _one(k), a[0]), call("sign", _one(k), a[1])), None])
_el("min", _minmax("<="))
_el("max", _minmax(">="))
_el("mod", lambda a, k: [_one(k), neg(call("aint", div(a[0], a[1])))])
_el("dim", lambda a, k: [_merge(_one(k), real(0, k), Bin(">", a[0], a[1])),
                         _merge(real(-1, k), real(0, k), Bin(">", a[0], a[1]))])
_el("merge", lambda a, k: [_merge(_one(k), real(0, k), a[2]), _merge(real(0, k), _one(k), a[2]), None])
for _conv in ("dble", "real", "float", "sngl", "dfloat"):
    _el(_conv, lambda a, k: [_one(k)] + [None] * (len(a) - 1))
for _flat in ("aint", "anint"):
    _el(_flat, lambda a, k: [real(0, k)] + [None] * (len(a) - 1))
for _p in ("int", "nint", "floor", "ceiling", "size", "lbound", "ubound", "kind", "len",
           "huge", "tiny", "epsilon", "maxloc", "minloc", "count", "any", "all",
           "selected_real_kind", "selected_int_kind", "ichar", "iachar", "index", "len_trim",
           "isnan", "isinf", "isfinite",
           # inquiry intrinsics: about a variable, never its value
           "shape", "allocated", "present", "associated", "is_contiguous", "digits", "radix",
           "range", "precision", "maxexponent", "minexponent", "bit_size", "storage_size"):
    E[_p] = Rule("passive")
for _p in ("scan", "verify", "lge", "lgt", "lle", "llt"):     # character inquiries
    E[_p] = Rule("passive")


def _lit_minus_one(e: Lit) -> Expr:
    if e.type.base == "integer":
        return integer(int(e.text) - 1)
    return real(float(e.text) - 1, e.type.kind)


# Array intrinsics: tangent and adjoint builders.  adjoint(args, i, seed,
# ranks) is the seed that flows into argument i (shaped like that argument).
E["sum"] = Rule("linear",
                tangent=lambda a, d: call("sum", d[0]) if d[0] is not None else None,
                adjoint=lambda a, i, s, rk: s)                         # broadcast
E["dot_product"] = Rule(
    "linear",
    tangent=lambda a, d: add(call("dot_product", d[0], a[1]) if d[0] is not None else None,
                             call("dot_product", a[0], d[1]) if d[1] is not None else None),
    adjoint=lambda a, i, s, rk: mul(a[1 - i], s))


def _matmul_adjoint(a: list[Expr], i: int, s: Expr, rk: list[int]) -> Expr:
    ra, rb = rk[0], rk[1]
    if ra == 2 and rb == 2:
        return call("matmul", s, call("transpose", a[1])) if i == 0 else \
            call("matmul", call("transpose", a[0]), s)
    if ra == 2 and rb == 1:            # y = A x
        return _outer(s, a[1]) if i == 0 else call("matmul", s, a[0])
    if ra == 1 and rb == 2:            # y = x A
        return call("matmul", a[1], s) if i == 0 else _outer(a[0], s)
    raise ValueError("matmul of two vectors")


def _outer(u: Expr, v: Expr) -> Expr:
    return mul(call("spread", u, dim=integer(2), ncopies=call("size", v)),
               call("spread", v, dim=integer(1), ncopies=call("size", u)))


E["matmul"] = Rule(
    "linear",
    tangent=lambda a, d: add(call("matmul", d[0], a[1]) if d[0] is not None else None,
                             call("matmul", a[0], d[1]) if d[1] is not None else None),
    adjoint=_matmul_adjoint)
E["transpose"] = Rule("linear",
                      tangent=lambda a, d: call("transpose", d[0]) if d[0] is not None else None,
                      adjoint=lambda a, i, s, rk: call("transpose", s))


def _extremum(name: str) -> Rule:
    """maxval/minval: the derivative of the selected element; ties share it
    equally, which keeps tangent and adjoint exact transposes."""
    def hit(a: list[Expr]) -> Expr:
        return Bin("==", a[0], call(name, a[0]))

    def count(a: list[Expr]) -> Expr:
        return call("real", call("count", hit(a)), kind=integer(8))
    return Rule("linear",
                tangent=lambda a, d: div(call("sum", d[0], mask=hit(a)), count(a))
                if d[0] is not None else None,
                adjoint=lambda a, i, s, rk: div(call("merge", s, real(0, 8), hit(a)), count(a)))


E["maxval"] = _extremum("maxval")
E["minval"] = _extremum("minval")


def rule(name: str) -> Optional[Rule]:
    return E.get(name)
