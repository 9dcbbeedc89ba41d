"""Fortran spelling of IR expressions.

Expressions are printed here, never in templates, because correct
parenthesisation needs the tree: the printer keeps the IR's evaluation order
exactly (floating point `+` and `*` are not associative, so `a + (b + c)`
stays parenthesised) while adding no parentheses the grammar does not need.
"""
from __future__ import annotations

import re
from typing import Optional

from ..diagnostics import unsupported
from ..ir.nodes import (ArrayCtor, Bin, Call, Cast, Cond, Expr, ImpliedDo, Keyword, Lit, ProcRef,
                        Ref, Section, Subscript, Type, Un)

__all__ = ["fexpr", "ftype", "fsubscript", "fstring", "BIN_OPS"]

# Binding strength, larger binds tighter.  Unary +/- sits at the level of the
# multiplicative operators: Fortran parses `-a * b` as -(a*b), which has the
# same value as (-a)*b, so neither tree needs parentheses there.
PRIMARY = 100
P_POW = 9
P_MUL = 8
P_ADD = 7
P_CONCAT = 6
P_REL = 5
P_NOT = 4
P_AND = 3
P_OR = 2
P_EQV = 1

BIN_OPS: dict[str, tuple[str, int]] = {
    "**": ("**", P_POW),
    "*": ("*", P_MUL), "/": ("/", P_MUL),
    "+": ("+", P_ADD), "-": ("-", P_ADD),
    "concat": ("//", P_CONCAT),
    "==": ("==", P_REL), "!=": ("/=", P_REL), "<": ("<", P_REL),
    "<=": ("<=", P_REL), ">": (">", P_REL), ">=": (">=", P_REL),
    "and": (".and.", P_AND), "or": (".or.", P_OR),
    "eqv": (".eqv.", P_EQV), "neqv": (".neqv.", P_EQV),
}

_REAL_RE = re.compile(r"^([+-]?)(\d*\.?\d*)(?:[eEdDqQ]([+-]?\d+))?$")


def fstring(s: str) -> str:
    """A Fortran character literal; single quotes, inner ones doubled."""
    return "'" + s.replace("'", "''") + "'"


def fcall_text(name: str, args: list, kwargs: list, via) -> str:
    """A call as written: through the generic name or the type-bound
    procedure the user called (see Call.via), else by name."""
    if via is not None and via[0] == name:
        if via[1].startswith("operator("):
            op = via[1][len("operator("):-1]
            if len(args) == 1:
                return f"({op} {fexpr(args[0])})"
            return f"({fexpr(args[0])} {op} {fexpr(args[1])})"
        if len(via) > 3:
            args = list(args)
            for k, proc in via[3]:
                args.insert(k, ProcRef(proc))
            return f"{via[1]}({_args(args, kwargs)})"
        if len(via) > 2:
            k = via[2]
            obj, rest = args[k], args[:k] + args[k + 1:]
            if isinstance(obj, Keyword):
                obj = obj.value
            return f"{fexpr(obj)}%{via[1]}({_args(rest, kwargs)})"
        name = via[1]
    return f"{name}({_args(args, kwargs)})"


def ftype(t: Type) -> str:
    """Type spec of a declaration (kinds in the IR are byte sizes)."""
    b = t.base
    if t.default and b in ("real", "integer", "logical", "complex"):
        return b
    if b == "real":
        return f"real({t.kind})"
    if b == "integer":
        return "integer" if t.kind == 4 else f"integer({t.kind})"
    if b == "logical":
        return "logical" if t.kind == 4 else f"logical({t.kind})"
    if b == "complex":
        return f"complex({t.kind // 2})"
    if b == "character":
        return "character(len=*)" if t.length is None else f"character(len={fexpr(t.length)})"
    if b == "derived":
        return f"type({t.name})"
    raise unsupported(f"type {t} in a Fortran declaration", None)


# ---------------------------------------------------------------- literals

def _real_lit(text: str, kind: int) -> str:
    t = text.strip()
    if "_" in t:                       # already carries a kind suffix
        return t
    m = _REAL_RE.match(t)
    if not m or not any(c.isdigit() for c in m.group(2)):
        return t
    sign, mant, exp = m.group(1), m.group(2), m.group(3)
    if sign == "+":
        sign = ""
    if kind == 8:
        return f"{sign}{mant}d{exp if exp is not None else '0'}"
    if exp is not None:
        out = f"{sign}{mant}e{exp}"
    else:
        out = f"{sign}{mant}" if "." in mant else f"{sign}{mant}."
    return out if kind == 4 else f"{out}_{kind}"


def _int_lit(text: str, kind: int) -> str:
    t = text.strip()
    if t.startswith("+"):
        t = t[1:]
    try:
        v = int(t)
    except ValueError:
        return t
    if kind == 8 and not -2**31 <= v < 2**31:
        return f"{t}_8"
    return t


def _lit(e: Lit) -> str:
    b = e.type.base
    if b == "integer":
        return _int_lit(e.text, e.type.kind)
    if b == "real":
        return _real_lit(e.text, 4 if e.type.default else e.type.kind)
    if b == "logical":
        v = e.text.strip().strip(".").lower()
        return ".true." if v in ("true", "t", "1") else ".false."
    if b == "character":
        return fstring(e.text)
    if b == "complex":
        t = e.text.strip()
        parts = t[1:-1].split(",") if t.startswith("(") and t.endswith(")") else [t, "0"]
        if len(parts) != 2:
            return t
        re_, im = (_real_lit(x, e.type.kind // 2) for x in parts)
        return f"({re_}, {im})"
    return e.text


# ---------------------------------------------------------------- printer

def fsubscript(s: Subscript) -> str:
    if isinstance(s, Section):
        out = (fexpr(s.lo) if s.lo is not None else "") + ":" + \
              (fexpr(s.hi) if s.hi is not None else "")
        if s.step is not None:
            out += ":" + fexpr(s.step)
        return out
    return fexpr(s)


def _args(args: list[Expr], kwargs: Optional[list[tuple[str, Expr]]] = None) -> str:
    parts = [fexpr(a) for a in args]
    parts += [f"{k}={fexpr(v)}" for k, v in (kwargs or [])]
    return ", ".join(parts)


def fexpr(e: Expr) -> str:
    """Fortran text of e with minimal parentheses."""
    return _p(e)[0]


def _wrap(text: str) -> str:
    return f"({text})"


def _p(e: Expr) -> tuple[str, int, bool]:
    """(text, binding strength, starts with a unary +/-).

    The third item matters because Fortran forbids two operators in a row
    (`a * -b`): such an operand is parenthesised whatever its precedence.
    """
    if isinstance(e, Lit):
        t = _lit(e)
        if t[:1] in "+-":
            return t, P_MUL, True
        return t, PRIMARY, False
    if isinstance(e, Ref):
        t = e.name
        if e.subs is not None:
            t += "(" + ", ".join(fsubscript(s) for s in e.subs) + ")"
        for part in e.path or []:
            t += "%" + part.name
            if part.subs is not None:
                t += "(" + ", ".join(fsubscript(s) for s in part.subs) + ")"
        if e.substring is not None:
            t += "(" + fsubscript(e.substring) + ")"
        return t, PRIMARY, False
    if isinstance(e, Bin):
        return _bin(e)
    if isinstance(e, Un):
        return _un(e)
    if isinstance(e, Call):
        return fcall_text(e.name, e.args, e.kwargs, e.via), PRIMARY, False
    if isinstance(e, Cast):
        return _cast(e), PRIMARY, False
    if isinstance(e, ProcRef):
        return e.name, PRIMARY, False
    if isinstance(e, Keyword):
        return f"{e.name}={fexpr(e.value)}", PRIMARY, False
    if isinstance(e, Cond):
        return (f"merge({fexpr(e.then)}, {fexpr(e.else_)}, {fexpr(e.cond)})",
                PRIMARY, False)
    if isinstance(e, ArrayCtor):
        if not e.items:
            raise unsupported("empty array constructor", e.span)
        return "(/ " + _args(e.items) + " /)", PRIMARY, False
    if isinstance(e, ImpliedDo):
        t = f"({_args(e.items)}, {e.var} = {fexpr(e.lo)}, {fexpr(e.hi)}"
        if e.step is not None:
            t += f", {fexpr(e.step)}"
        return t + ")", PRIMARY, False
    raise unsupported(f"expression {type(e).__name__} in Fortran output",
                      getattr(e, "span", None))


def _bin(e: Bin) -> tuple[str, int, bool]:
    try:
        op, prec = BIN_OPS[e.op]
    except KeyError:
        raise unsupported(f"operator '{e.op}' in Fortran output", e.span) from None
    lt, lp, lu = _p(e.left)
    rt, rp, ru = _p(e.right)
    if prec == P_POW:
        # right-associative; the base must be a primary (`(-a) ** 2`,
        # `(a ** b) ** c`), the exponent may itself be a power.
        left_paren = lp <= P_POW or lu
        right_paren = rp < P_POW or ru
    elif prec == P_REL:
        # relational operators do not chain
        left_paren = lp <= P_REL
        right_paren = rp <= P_REL or ru
    else:
        left_paren = lp < prec
        right_paren = rp <= prec or ru
    if left_paren:
        lt, lu = _wrap(lt), False
    if right_paren:
        rt = _wrap(rt)
    return f"{lt} {op} {rt}", prec, lu


def _un(e: Un) -> tuple[str, int, bool]:
    t, p, u = _p(e.operand)
    if e.op == "not":
        if p < P_REL:
            t = _wrap(t)
        return f".not. {t}", P_NOT, False
    if e.op not in ("-", "+"):
        raise unsupported(f"unary operator '{e.op}' in Fortran output", e.span)
    # `- x` applies to a whole multiplicative term, so an operand that is
    # a product or tighter needs no parentheses: -a * b, -a ** 2.
    if p < P_MUL or u:
        t = _wrap(t)
    return f"{e.op}{t}", P_MUL, True


def _cast(e: Cast) -> str:
    t, x = e.type, fexpr(e.operand)
    if t.base == "real":
        return f"real({x}, {t.kind})"
    if t.base == "integer":
        return f"int({x})" if t.kind == 4 else f"int({x}, {t.kind})"
    if t.base == "complex":
        return f"cmplx({x}, kind={t.kind // 2})"
    raise unsupported(f"conversion to {t.base} in Fortran output", e.span)
