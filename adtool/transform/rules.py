"""The one table of derivative rules.

Each differentiable operation or intrinsic has one row giving the partial
derivative of its result with respect to each argument, as IR expressions
over the arguments.  Tangent mode multiplies partials by argument tangents;
reverse mode multiplies them by the result's adjoint.  Both modes read this
table and nothing else, so adding an intrinsic is one row.

Non-smooth functions (abs, min, max, sign, mod) take the branch the primal
took.  Reductions and linear-algebra intrinsics whose partials are not
elementwise (sum, product, maxval, dot_product, matmul, reshape, pack...)
have rows of kind 'linear' handled by dedicated builders below, still in
this one table.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

from ..ir.build import add, call, div, integer, mul, neg, power, real, sub
from ..ir.clone import clone
from ..ir.nodes import ArrayCtor, Bin, Expr, Lit, Ref, Type, Un

Partials = list[Optional[Expr]]


@dataclass(frozen=True)
class Rule:
    """kind 'elemental': partials(args, k) gives d result / d arg_i (None:
    not differentiable in that argument, e.g. a kind= or integer argument).
    kind 'passive': the result carries no derivative (int, nint, size...).
    kind 'linear': tangent and adjoint builders over the bound actuals
    (see the array intrinsics below); diff names the dummies derivatives
    flow through, any other active actual is refused."""
    kind: str
    partials: Optional[Callable[[list[Expr], int], Partials]] = None
    tangent: Optional[Callable[..., Optional[Expr]]] = None
    adjoint: Optional[Callable[..., Expr]] = None
    diff: tuple[str, ...] = ()      # 'linear': the dummies derivatives flow through


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
_el("erfc", lambda a, k: [mul(real(-2 / math.sqrt(math.pi), k), call("exp", neg(_sq(a[0]))))])
_el("modulo", lambda a, k: [_one(k), neg(call("floor", div(a[0], a[1])))])
_el("dprod", lambda a, k: [call("dble", a[1]), call("dble", a[0])])
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
_el("cbrt", lambda a, k: [div(_one(k), mul(real(3, k), _sq(call("cbrt", a[0]))))])
for _flat in ("aint", "anint", "real_floor", "real_ceil"):
    _el(_flat, lambda a, k: [real(0, k)] + [None] * (len(a) - 1))
for _p in ("int", "nint", "floor", "ceiling", "size", "lbound", "ubound", "kind", "len",
           "huge", "tiny", "epsilon", "maxloc", "minloc", "count", "any", "all",
           "selected_real_kind", "selected_int_kind", "ichar", "iachar", "index", "len_trim",
           "isnan", "isinf", "isfinite",
           # inquiry intrinsics: about a variable, never its value
           "shape", "allocated", "present", "associated", "is_contiguous", "digits", "radix",
           "range", "precision", "maxexponent", "minexponent", "bit_size", "storage_size",
           "new_line", "selected_char_kind", "extends_type_of", "same_type_as", "rank",
           "findloc",
           # bit manipulation: integers only
           "iand", "ior", "ieor", "not", "ishft", "ishftc", "ibset", "ibclr", "ibits",
           "shifta", "shiftl", "shiftr", "merge_bits", "popcnt", "poppar", "leadz",
           "trailz", "btest", "is_iostat_end", "is_iostat_eor"):
    E[_p] = Rule("passive")
for _p in ("scan", "verify", "lge", "lgt", "lle", "llt",      # character inquiries
           "trim", "adjustl", "adjustr", "repeat", "char", "achar"):
    E[_p] = Rule("passive")


def _lit_minus_one(e: Lit) -> Expr:
    if e.type.base == "integer":
        return integer(int(e.text) - 1)
    return real(float(e.text) - 1, e.type.kind)


# Array intrinsics: tangent and adjoint builders over the call's actuals
# bound to the intrinsic's dummy names (intrinsics.bind).  tangent(b, d, k,
# rk) gets the tangents d of the differentiable actuals (None where zero);
# adjoint(b, name, s, k, rk) is the seed that flows into actual `name`,
# shaped like it, given the seed s of the result.  k is the real kind of the
# result, rk the ranks of the actuals.  A case the rule cannot express
# raises RuleError, which the transforms report as unsupported.

class RuleError(Exception):
    pass


def _c(e: Expr) -> Expr:
    return clone(e)


def _zeros(a: Expr, k: int) -> Expr:
    """A zero shaped like a (not folded away: the shape is the point)."""
    return Bin("*", real(0, k), _c(a))


def _opt(b: dict, *names: str) -> dict:
    return {n: _c(b[n]) for n in names if n in b}


def _dim_size(b: dict, arg: str) -> Expr:
    return call("size", _c(b[arg]), dim=_c(b["dim"]))


def _expand(b: dict, arg: str, s: Expr) -> Expr:
    """A result of a reduction along dim, spread back over that dim."""
    if "dim" not in b:
        return s
    return call("spread", s, dim=_c(b["dim"]), ncopies=_dim_size(b, arg))


def _masked(b: dict, s: Expr, k: int) -> Expr:
    return call("merge", s, real(0, k), _c(b["mask"])) if "mask" in b else s


def _linear(tangent, adjoint, diff: tuple[str, ...]) -> Rule:
    return Rule("linear", tangent=tangent, adjoint=adjoint, diff=diff)


E["sum"] = _linear(
    lambda b, d, k, rk: call("sum", d["array"], **_opt(b, "dim", "mask")),
    lambda b, n, s, k, rk: _masked(b, _expand(b, "array", s), k),
    ("array",))


def _product_factor(b: dict, k: int) -> Expr:
    """The partial of a product in each factor: the product of the others.
    product(x)/x is O(n) but gives 0/0 where a factor is zero, so a zero
    factor takes the product of the nonzero others when it is the only zero
    of its reduction, and 0 when there are more."""
    x = b["array"]
    nz = Bin("!=", _c(x), real(0, k))
    sel = (lambda m: Bin("and", m, _c(b["mask"]))) if "mask" in b else (lambda m: m)
    p = _expand(b, "array", call("product", _c(x), **_opt(b, "dim", "mask")))
    others = _expand(b, "array", call("product", _c(x), mask=sel(nz), **_opt(b, "dim")))
    zeros = _expand(b, "array", call("count", sel(Un("not", clone(nz))), **_opt(b, "dim")))
    lone = _merge(others, real(0, k), Bin("==", zeros, integer(1)))
    return _merge(div(p, _merge(_c(x), _one(k), clone(nz))), lone, clone(nz))


E["product"] = _linear(
    lambda b, d, k, rk: call("sum", mul(d["array"], _product_factor(b, k)), **_opt(b, "dim", "mask")),
    lambda b, n, s, k, rk: _masked(b, mul(_expand(b, "array", s), _product_factor(b, k)), k),
    ("array",))


def _extremum(name: str) -> Rule:
    """maxval/minval: the derivative of the selected element; ties share it
    equally, which keeps tangent and adjoint exact transposes.  An empty
    selection (all masked out) has a constant result: count 0, seed 0."""
    def hit(b: dict) -> Expr:
        m = call(name, _c(b["array"]), **_opt(b, "dim", "mask"))
        h = Bin("==", _c(b["array"]), _expand(b, "array", m))
        return Bin("and", h, _c(b["mask"])) if "mask" in b else h

    def count(b: dict, k: int) -> Expr:
        c = call("count", hit(b), **_opt(b, "dim"))
        return call("real", call("max", c, integer(1)), kind=integer(k))

    return _linear(
        lambda b, d, k, rk: div(call("sum", d["array"], mask=hit(b), **_opt(b, "dim")), count(b, k)),
        lambda b, n, s, k, rk: call("merge", _expand(b, "array", div(s, count(b, k))), real(0, k), hit(b)),
        ("array",))


E["maxval"] = _extremum("maxval")
E["minval"] = _extremum("minval")

E["dot_product"] = _linear(
    lambda b, d, k, rk: add(
        call("dot_product", d["vector_a"], _c(b["vector_b"])) if d.get("vector_a") is not None else None,
        call("dot_product", _c(b["vector_a"]), d["vector_b"]) if d.get("vector_b") is not None else None),
    lambda b, n, s, k, rk: mul(_c(b["vector_b" if n == "vector_a" else "vector_a"]), s),
    ("vector_a", "vector_b"))


def _matmul_adjoint(b: dict, n: str, s: Expr, k: int, rk: dict) -> Expr:
    a0, a1 = _c(b["matrix_a"]), _c(b["matrix_b"])
    ra, rb = rk["matrix_a"], rk["matrix_b"]
    first = n == "matrix_a"
    if ra == 2 and rb == 2:
        return call("matmul", s, call("transpose", a1)) if first else \
            call("matmul", call("transpose", a0), s)
    if ra == 2 and rb == 1:            # y = A x
        return _outer(s, a1) if first else call("matmul", s, a0)
    if ra == 1 and rb == 2:            # y = x A
        return call("matmul", a1, s) if first else _outer(a0, s)
    raise RuleError("matmul of two vectors")


def _outer(u: Expr, v: Expr) -> Expr:
    return mul(call("spread", u, dim=integer(2), ncopies=call("size", _c(v))),
               call("spread", v, dim=integer(1), ncopies=call("size", _c(u))))


E["matmul"] = _linear(
    lambda b, d, k, rk: add(
        call("matmul", d["matrix_a"], _c(b["matrix_b"])) if d.get("matrix_a") is not None else None,
        call("matmul", _c(b["matrix_a"]), d["matrix_b"]) if d.get("matrix_b") is not None else None),
    _matmul_adjoint, ("matrix_a", "matrix_b"))
E["transpose"] = _linear(lambda b, d, k, rk: call("transpose", d["matrix"]),
                         lambda b, n, s, k, rk: call("transpose", s), ("matrix",))
E["spread"] = _linear(lambda b, d, k, rk: call("spread", d["source"], **_opt(b, "dim", "ncopies")),
                      lambda b, n, s, k, rk: call("sum", s, **_opt(b, "dim")), ("source",))
E["cshift"] = _linear(lambda b, d, k, rk: call("cshift", d["array"], **_opt(b, "shift", "dim")),
                      lambda b, n, s, k, rk: call("cshift", s, shift=neg(_c(b["shift"])), **_opt(b, "dim")),
                      ("array",))


def _reshape_tangent(b: dict, d: dict, k: int, rk: dict) -> Expr:
    if d.get("pad") is not None:
        raise RuleError("reshape with an active pad= argument")
    kw = _opt(b, "shape", "order")
    if "pad" in b:
        kw["pad"] = _zeros(b["pad"], k)
    return call("reshape", d["source"], **kw)


def _literal_ints(e: Expr) -> Optional[list[int]]:
    if not isinstance(e, ArrayCtor):
        return None
    out = []
    for x in e.items:
        if not (isinstance(x, Lit) and x.type.base == "integer"):
            return None
        out.append(int(x.text))
    return out


def _reshape_adjoint(b: dict, n: str, s: Expr, k: int, rk: dict) -> Expr:
    """The seed read back in the order reshape filled the result, then laid
    into the source's shape (pad= covers a source longer than the result;
    a result longer than the source drops the padded tail)."""
    if n == "pad":
        raise RuleError("reshape with an active pad= argument")
    if "order" in b:
        order = _literal_ints(b["order"])
        shp = b["shape"]
        if order is None or sorted(order) != list(range(1, len(order) + 1)):
            raise RuleError("reshape with an order= that is not a constant permutation")
        inv = [order.index(j) + 1 for j in range(1, len(order) + 1)]
        if isinstance(shp, ArrayCtor) and len(shp.items) == len(order):
            permuted: Expr = ArrayCtor([_c(shp.items[o - 1]) for o in order])
        else:           # the seed has the result's shape
            permuted = ArrayCtor([call("size", _c(s), dim=integer(o)) for o in order])
        s = call("reshape", s, permuted, order=ArrayCtor([integer(j) for j in inv]))
    return call("reshape", s, call("shape", _c(b["source"])), pad=ArrayCtor([real(0, k)]))


E["reshape"] = _linear(_reshape_tangent, _reshape_adjoint, ("source", "pad"))


def _pack_tangent(b: dict, d: dict, k: int, rk: dict) -> Expr:
    kw = {"mask": _c(b["mask"])}
    if "vector" in b:
        kw["vector"] = d.get("vector") if d.get("vector") is not None else _zeros(b["vector"], k)
    src = d["array"] if d.get("array") is not None else _zeros(b["array"], k)
    return call("pack", src, **kw)


def _pack_adjoint(b: dict, n: str, s: Expr, k: int, rk: dict) -> Expr:
    if n == "vector":
        # the elements of the result past count(mask) come from vector
        return call("pack", _zeros(b["array"], k), _c(b["mask"]), vector=s)
    if rk["mask"] > 0:
        return call("unpack", s, _c(b["mask"]), real(0, k))
    # a scalar mask takes all elements or none
    whole = call("reshape", s, call("shape", _c(b["array"])), pad=ArrayCtor([real(0, k)]))
    return call("merge", whole, real(0, k), _c(b["mask"]))


E["pack"] = _linear(_pack_tangent, _pack_adjoint, ("array", "vector"))


def _unpack_adjoint(b: dict, n: str, s: Expr, k: int, rk: dict) -> Expr:
    if n == "vector":
        return call("pack", s, _c(b["mask"]), vector=_zeros(b["vector"], k))
    rest = call("merge", real(0, k), s, _c(b["mask"]))
    return rest if rk["field"] > 0 else call("sum", rest)


E["unpack"] = _linear(
    lambda b, d, k, rk: call("unpack",
                             d["vector"] if d.get("vector") is not None else _zeros(b["vector"], k),
                             _c(b["mask"]),
                             d["field"] if d.get("field") is not None else _zeros(b["field"], k)),
    _unpack_adjoint, ("vector", "field"))


def _eoshift_tangent(b: dict, d: dict, k: int, rk: dict) -> Expr:
    kw = _opt(b, "shift")
    if d.get("boundary") is not None:
        kw["boundary"] = d["boundary"]
    kw.update(_opt(b, "dim"))
    src = d["array"] if d.get("array") is not None else _zeros(b["array"], k)
    return call("eoshift", src, **kw)


def _eoshift_adjoint(b: dict, n: str, s: Expr, k: int, rk: dict) -> Expr:
    """The array's seed shifts back (what fell off the end had no
    derivative); the boundary takes the seed of the places it filled."""
    if n == "array":
        return call("eoshift", s, shift=neg(_c(b["shift"])), **_opt(b, "dim"))
    filled = call("eoshift", _zeros(s, k), shift=_c(b["shift"]), boundary=real(1, k),
                  **_opt(b, "dim"))
    part = mul(_c(s), filled)
    if rk["boundary"] == 0:
        return call("sum", part)
    return call("sum", part, dim=_c(b["dim"]) if "dim" in b else integer(1))


E["eoshift"] = _linear(_eoshift_tangent, _eoshift_adjoint, ("array", "boundary"))


def _transfer_refused(*_a) -> Expr:
    raise RuleError("transfer of active real data (the bits of a real reinterpreted "
                    "have no derivative)")


E["transfer"] = _linear(_transfer_refused, _transfer_refused, ("source",))


def bind_call(e, type_of, rank_of, lookup) -> tuple[dict, dict]:
    """The actuals of an array-intrinsic call by dummy name, and their
    ranks; type_of settles sum(x, mask) against sum(x, dim)."""
    from ..ir import intrinsics
    try:
        b = intrinsics.bind(e.name.lower(), e.args, e.kwargs,
                            lambda x: type_of(x).base == "logical")
    except ValueError as err:
        raise RuleError(str(err))
    if e.name.lower() == "reshape" and \
            intrinsics.result_rank(e.name, e.args, e.kwargs, rank_of, None, lookup) is None:
        raise RuleError("reshape to a shape= whose length is not known at compile time "
                        "(a constructor, shape(v) or a fixed-size array is)")
    return b, {n: rank_of(a) for n, a in b.items()}


def rule(name: str) -> Optional[Rule]:
    return E.get(name)
