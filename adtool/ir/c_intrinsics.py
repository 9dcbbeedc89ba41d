"""The one table between C's math library and the IR's intrinsic names.

The front end reads C spellings through it and the C backend writes IR
intrinsics back through it, so a function added here is understood in both
directions.  Only names whose meaning matches the IR intrinsic exactly are
listed (C `fabs` is Fortran `abs`, C `fmod` is Fortran `mod` on reals);
`pow` is the IR operator `**`, not a call.
"""
from __future__ import annotations

# C name -> IR intrinsic name.
C_TO_IR: dict[str, str] = {
    **{n: n for n in ("sqrt exp log log10 sin cos tan asin acos atan atan2 "
                      "sinh cosh tanh erf erfc hypot").split()},
    "fabs": "abs", "abs": "abs", "labs": "abs",
    "fmin": "min", "fmax": "max", "fmod": "mod",
    "copysign": "sign", "tgamma": "gamma",
    # C99 names with no Fortran twin: IR intrinsics of their own.
    **{n: n for n in "log1p expm1 lgamma isnan isinf isfinite cbrt".split()},
    # rounding: trunc and round are Fortran's aint and anint (both round
    # halves away from zero); floor and ceil of C return a double, unlike
    # Fortran's integer floor and ceiling, so they are IR names of their own
    "trunc": "aint", "round": "anint", "floor": "real_floor", "ceil": "real_ceil",
}

POW = "pow"

# C names that take integers (every other name above takes doubles).
C_INT_ONLY = frozenset({"abs", "labs"})

# C classification macros: a truth value of a double (passive).
C_PREDICATES = frozenset({"isnan", "isinf", "isfinite"})

# IR intrinsic -> C spelling for real arguments (the inverse of C_TO_IR,
# preferring the floating-point name where two C names share one intrinsic).
IR_TO_C_REAL: dict[str, str] = {ir: c for c, ir in C_TO_IR.items() if c not in C_INT_ONLY}

# IR intrinsic -> C spelling for integer arguments, where C has one.
IR_TO_C_INT: dict[str, str] = {"abs": "abs"}
