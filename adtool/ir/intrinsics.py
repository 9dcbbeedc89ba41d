"""What the IR knows about intrinsic functions: result type and whether they
act elementwise.  Derivative rules live elsewhere (transform/rules.py); this
table is only about typing, shared by front ends and analyses."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Intrinsic:
    name: str
    result: str          # 'arg' (type of 1st arg), 'real4', 'real8', 'real' (kind arg), 'int', 'int8', 'logical', 'char', 'complex16'
    elemental: bool = True
    reduction: bool = False   # array -> scalar (sum, maxval ...) unless dim= is given


def _t(names: str, result: str, elemental: bool = True, reduction: bool = False):
    return {n: Intrinsic(n, result, elemental, reduction) for n in names.split()}


FORTRAN: dict[str, Intrinsic] = {}
FORTRAN.update(_t("abs sqrt exp log log10 sin cos tan asin acos atan atan2 sinh cosh tanh "
                  "sign min max mod modulo dim aint anint erf erfc gamma hypot "
                  "conjg aimag", "arg"))
FORTRAN.update(_t("dble dfloat dprod", "real8"))
# C99 math.h functions without a Fortran intrinsic (only the C front end makes them).
C_ONLY: dict[str, Intrinsic] = {}
C_ONLY.update(_t("log1p expm1 lgamma cbrt real_floor real_ceil", "arg"))
C_ONLY.update(_t("isnan isinf isfinite", "logical"))
FORTRAN.update(_t("sngl float", "real4"))
FORTRAN.update(_t("real cmplx", "real"))
FORTRAN.update(_t("dcmplx", "complex16"))
FORTRAN.update(_t("int nint floor ceiling ichar iachar len len_trim index scan verify", "int"))
FORTRAN.update(_t("lge lgt lle llt", "logical"))
FORTRAN.update(_t("size lbound ubound kind selected_real_kind selected_int_kind count "
                  "maxloc minloc", "int", elemental=False))
FORTRAN.update(_t("digits radix range precision maxexponent minexponent bit_size "
                  "storage_size", "int", elemental=False))
FORTRAN.update(_t("shape", "int", elemental=False))
FORTRAN.update(_t("associated is_contiguous", "logical", elemental=False))
FORTRAN.update(_t("huge tiny epsilon", "arg", elemental=False))
FORTRAN.update(_t("sum product maxval minval", "arg", elemental=False, reduction=True))
FORTRAN.update(_t("dot_product", "arg", elemental=False, reduction=True))
FORTRAN.update(_t("matmul transpose spread reshape cshift eoshift pack unpack", "arg", elemental=False))
FORTRAN.update(_t("transfer", "mold", elemental=False))
FORTRAN.update(_t("any all allocated present", "logical", elemental=False))
FORTRAN.update(_t("merge", "arg2"))
FORTRAN.update(_t("trim adjustl adjustr repeat char achar new_line", "char", elemental=False))
# Bit manipulation (random number generators, hashing, packed flags) and
# rank/findloc: integer or logical results, never differentiable.
FORTRAN.update(_t("iand ior ieor not ishft ishftc ibset ibclr ibits shifta shiftl shiftr "
                  "merge_bits", "arg"))
FORTRAN.update(_t("popcnt poppar leadz trailz", "int"))
FORTRAN.update(_t("btest is_iostat_end is_iostat_eor", "logical"))
FORTRAN.update(_t("rank findloc", "int", elemental=False))

# Specific (type-prefixed) F77 names map onto the generic ones.
SPECIFIC = {
    "dsqrt": "sqrt", "dexp": "exp", "dlog": "log", "alog": "log", "dlog10": "log10",
    "alog10": "log10", "dsin": "sin", "dcos": "cos", "dtan": "tan", "dasin": "asin",
    "dacos": "acos", "datan": "atan", "datan2": "atan2", "dsinh": "sinh", "dcosh": "cosh",
    "dtanh": "tanh", "dabs": "abs", "iabs": "abs", "dsign": "sign", "isign": "sign",
    "dmin1": "min", "dmax1": "max", "amin1": "min", "amax1": "max", "min0": "min",
    "max0": "max", "dmod": "mod", "amod": "mod", "idint": "int", "idnint": "nint",
    "dint": "aint", "dnint": "anint",
}


# Dummy argument names of the array intrinsics, in order: a call written
# with positional or keyword actuals binds to these before a derivative
# rule or a rank computation reads it.
SIGNATURES: dict[str, tuple[str, ...]] = {
    "sum": ("array", "dim", "mask"), "product": ("array", "dim", "mask"),
    "maxval": ("array", "dim", "mask"), "minval": ("array", "dim", "mask"),
    "norm2": ("x", "dim"), "count": ("mask", "dim", "kind"),
    "any": ("mask", "dim"), "all": ("mask", "dim"),
    "maxloc": ("array", "dim", "mask", "kind", "back"),
    "minloc": ("array", "dim", "mask", "kind", "back"),
    "findloc": ("array", "value", "dim", "mask", "kind", "back"),
    "dot_product": ("vector_a", "vector_b"), "matmul": ("matrix_a", "matrix_b"),
    "transpose": ("matrix",), "spread": ("source", "dim", "ncopies"),
    "reshape": ("source", "shape", "pad", "order"),
    "pack": ("array", "mask", "vector"), "unpack": ("vector", "mask", "field"),
    "cshift": ("array", "shift", "dim"), "eoshift": ("array", "shift", "boundary", "dim"),
    "transfer": ("source", "mold", "size"),
}
# Reductions whose second positional actual is the mask when it is logical
# (sum(x, x > 0)) and dim otherwise.
_DIM_OR_MASK = frozenset(("sum", "product", "maxval", "minval", "maxloc", "minloc"))


def bind(name: str, args: list, kwargs: list, is_logical=None) -> dict:
    """Actual arguments of an intrinsic call by dummy name.  is_logical(e)
    settles sum(x, m) versus sum(x, d); without it a second positional
    actual is taken as dim.  Raises ValueError for a keyword the intrinsic
    does not have."""
    names = SIGNATURES[name]
    out: dict = {}
    pos = list(names)
    if name in _DIM_OR_MASK and len(args) == 2 and is_logical is not None \
            and is_logical(args[1]):
        pos = [names[0], "mask"]
    for n, a in zip(pos, args):
        out[n] = a
    for k, v in kwargs:
        if k.lower() not in names:
            raise ValueError(f"{name} has no argument '{k}'")
        out[k.lower()] = v
    return out


def result_rank(name: str, args: list, kwargs: list, rank, is_logical=None, lookup=None):
    """Rank of an array intrinsic's result from its actuals (rank(e) gives
    an actual's rank, lookup(name) a Symbol); None when the table does not
    know the intrinsic or cannot tell (reshape to a shape of unknown length)."""
    name = name.lower()
    if name not in SIGNATURES:
        return None
    try:
        b = bind(name, args, kwargs, is_logical)
    except ValueError:
        return None             # reported where the call is differentiated
    first = b.get(SIGNATURES[name][0])
    r0 = rank(first) if first is not None else 0
    if name in ("maxloc", "minloc", "findloc"):
        return max(r0 - 1, 0) if "dim" in b else 1
    if name in ("sum", "product", "maxval", "minval", "norm2", "count", "any", "all"):
        return max(r0 - 1, 0) if "dim" in b else 0
    if name == "dot_product":
        return 0
    if name == "matmul":
        return r0 + rank(b["matrix_b"]) - 2
    if name == "transpose":
        return 2
    if name == "spread":
        return r0 + 1
    if name == "reshape":
        return _shape_length(b.get("shape"), rank, lookup)
    if name in ("cshift", "eoshift"):
        return r0
    if name == "pack":
        return 1
    if name == "unpack":
        return rank(b["mask"])
    if name == "transfer":
        return 1 if "size" in b or rank(b["mold"]) > 0 else 0
    return None


def _shape_length(shp, rank, lookup):
    """How many elements a reshape's shape= vector has: a constructor's
    items, shape(v)'s rank of v, a variable's declared constant extent."""
    from .nodes import ArrayCtor, Call, ImpliedDo, Lit, Ref
    if isinstance(shp, ArrayCtor) and not any(isinstance(i, ImpliedDo) for i in shp.items):
        return len(shp.items)
    if isinstance(shp, Call) and shp.name.lower() == "shape" and shp.args:
        return rank(shp.args[0])
    if isinstance(shp, Ref) and shp.subs is None and not shp.path and lookup is not None:
        sym = lookup(shp.name)
        shape = getattr(sym, "shape", None)
        if shape and len(shape) == 1:
            lb = 1 if shape[0].lb is None else _const(shape[0].lb, lookup)
            ub = _const(shape[0].ub, lookup)
            if lb is not None and ub is not None:
                return ub - lb + 1
    return None


def _const(e, lookup):
    """An integer literal or named constant's value, else None."""
    from .nodes import Lit, Ref
    if isinstance(e, Ref) and e.subs is None and not e.path:
        e = getattr(lookup(e.name), "value", None)
    if isinstance(e, Lit) and e.type.base == "integer":
        try:
            return int(e.text.split("_")[0])
        except ValueError:
            return None
    return None


def lookup(name: str) -> Intrinsic | None:
    name = name.lower()
    return FORTRAN.get(name) or FORTRAN.get(SPECIFIC.get(name, "")) or C_ONLY.get(name)


def is_intrinsic(name: str) -> bool:
    return lookup(name) is not None
