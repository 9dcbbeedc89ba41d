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
C_ONLY.update(_t("log1p expm1 lgamma", "arg"))
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
FORTRAN.update(_t("matmul transpose spread reshape cshift eoshift pack", "arg", elemental=False))
FORTRAN.update(_t("any all allocated present", "logical", elemental=False))
FORTRAN.update(_t("merge", "arg2"))
FORTRAN.update(_t("trim adjustl adjustr repeat char achar", "char", elemental=False))

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


def lookup(name: str) -> Intrinsic | None:
    name = name.lower()
    return FORTRAN.get(name) or FORTRAN.get(SPECIFIC.get(name, "")) or C_ONLY.get(name)


def is_intrinsic(name: str) -> bool:
    return lookup(name) is not None
