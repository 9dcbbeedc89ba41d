"""C spelling of IR expressions.

Parenthesisation follows C's precedence table and keeps the IR's
evaluation order exactly (floating point is not associative).  Spelling
that depends on declarations is decided here from the symbols: a scalar
argument passed by reference reads as `*x`, subscripts come back in C
order (the IR holds them reversed, see frontend/c_types.py), and an
actual argument for a pointer formal is passed by address.
"""
from __future__ import annotations

from typing import Callable, Optional

from ..diagnostics import unsupported
from ..ir import typing as irtyping
from ..ir.c_intrinsics import IR_TO_C_INT, IR_TO_C_REAL
from ..ir.nodes import REAL4, Bin, Call, Cast, Cond, Expr, Lit, ProcRef, Ref, Routine, Section, Symbol, Type, TypeDef, Un
from ..ir.visit import map_expr, walk_expr

__all__ = ["CExpr", "ctype", "c_string_literal"]

PRIMARY, UNARY, MUL, ADD, REL, EQ, AND, OR, COND = 16, 14, 13, 12, 10, 9, 5, 4, 3
_BIN = {"*": ("*", MUL), "/": ("/", MUL), "+": ("+", ADD), "-": ("-", ADD),
        "<": ("<", REL), "<=": ("<=", REL), ">": (">", REL), ">=": (">=", REL),
        "==": ("==", EQ), "!=": ("!=", EQ), "eqv": ("==", EQ), "neqv": ("!=", EQ),
        "and": ("&&", AND), "or": ("||", OR)}


def ctype(t: Type) -> str:
    if t.base == "real" and t.kind in (4, 8):
        return "float" if t.kind == 4 else "double"
    if t.base == "integer" and t.char:
        return t.char            # char, signed char, unsigned char (ir/nodes.py Type.char)
    if t.base == "integer" and t.kind in (2, 4, 8):
        return ("unsigned " if t.unsigned else "") + {2: "short", 4: "int", 8: "long"}[t.kind]
    if t.base == "integer" and t.kind == 1:
        return "_Bool"           # C's bool (frontend/c_types.py BOOL)
    if t.base == "logical":
        return "int"
    if t.base == "void":
        return "void"
    if t.base == "derived":
        return t.name          # the C spelling: `Prior` or `struct particle` (frontend/c_struct.py)
    raise unsupported(f"type {t} in C output", None)


# The IR's bit intrinsics that C spells as operators (frontend/c_expr.py).
_C_BIT_OPS = {"iand": "&", "ior": "|", "ieor": "^", "shiftl": "<<", "shifta": ">>", "not": "~"}


def _paren_bit(ex, a) -> str:
    text, prec = ex.p(a)
    return text if prec >= UNARY else f"({text})"


def c_string_literal(s: str) -> str:
    esc = {"\n": "\\n", "\t": "\\t", "\\": "\\\\", '"': '\\"', "\a": "\\a", "\r": "\\r", "\0": "\\0"}
    return '"' + "".join(esc.get(ch, ch) for ch in s) + '"'


def _real_text(text: str, kind: int) -> str:
    t = text.strip().replace("d", "e").replace("D", "e")
    if not any(c in t for c in ".eE") and not t.lower() in ("inf", "nan"):
        t += ".0"
    return t + ("f" if kind == 4 else "")


def is_zero_lb(e: Optional[Expr]) -> bool:
    """A lower bound that is absent or the integer 0 (C's own)."""
    return e is None or (isinstance(e, Lit) and e.type.base == "integer" and int(e.text) == 0)


class CExpr:
    """Prints expressions inside one routine."""

    def __init__(self, symbol: Callable[[str], Optional[Symbol]],
                 routine: Callable[[str], Optional[Routine]],
                 types: Optional[dict[str, TypeDef]] = None) -> None:
        self.symbol = symbol
        self.routine = routine
        self.types = types if types is not None else {}

    def type_of(self, e: Expr) -> Type:
        def fun_type(name: str) -> Optional[Type]:
            r = self.routine(name)
            if r is None or r.result is None:
                return None
            return r.symbols[r.result].type
        if any(isinstance(x, Ref) and x.path for x in walk_expr(e)):
            # the type at the end of a member path stands for the member
            e = map_expr(e, lambda x: Lit("0", self.component(x)[0]) if isinstance(x, Ref) and x.path
                         else None)
        return irtyping.type_of(e, self.symbol, fun_type)

    def component(self, e: Ref) -> tuple[Type, Optional[Symbol]]:
        """The type at the end of e's member path, and the member there."""
        sym = self.symbol(e.name)
        if sym is None:
            raise unsupported(f"'{e.name}' not declared in C output", e.span)
        t, comp = sym.type, None
        for part in e.path or []:
            td = self.types.get(t.name) if t.base == "derived" else None
            if td is None or part.name not in td.components:
                raise unsupported(f"member '{part.name}' of {t} in C output", e.span)
            comp = td.components[part.name]
            t = comp.type
        return t, comp

    def __call__(self, e: Expr) -> str:
        return self.p(e)[0]

    def p(self, e: Expr) -> tuple[str, int]:
        if isinstance(e, ProcRef):
            return e.name, PRIMARY
        if isinstance(e, Lit):
            return self.lit(e)
        if isinstance(e, Ref):
            return self.ref(e)
        if isinstance(e, Bin):
            return self.bin(e)
        if isinstance(e, Un):
            t, pr = self.p(e.operand)
            if pr < UNARY:
                t = f"({t})"
            op = "!" if e.op == "not" else e.op
            if op not in ("!", "-", "+"):
                raise unsupported(f"unary operator '{e.op}' in C output", e.span)
            if op in "-+" and t.startswith(op):
                t = f"({t})"
            return f"{op}{t}", UNARY
        if isinstance(e, Cast):
            t, pr = self.p(e.operand)
            if pr < UNARY:
                t = f"({t})"
            return f"({ctype(e.type)}){t}", UNARY
        if isinstance(e, Cond):
            c, cp = self.p(e.cond)
            a, ap = self.p(e.then)
            b, bp = self.p(e.else_)
            c = c if cp > COND else f"({c})"
            b = b if bp >= COND else f"({b})"
            return f"{c} ? {a} : {b}", COND
        if isinstance(e, Call):
            return self.call(e), PRIMARY
        raise unsupported(f"expression {type(e).__name__} in C output", getattr(e, "span", None))

    def lit(self, e: Lit) -> tuple[str, int]:
        b = e.type.base
        if b == "integer":
            t = e.text.strip().lstrip("+")
            t += ("U" if e.type.unsigned else "") + ("L" if e.type.kind == 8 else "")
        elif b == "real" and e.text in ("INFINITY", "NAN"):
            t = e.text                 # math.h's (frontend/libc_overlay/math.h)
        elif b == "real":
            t = _real_text(e.text, e.type.kind)
        elif b == "logical":
            t = "1" if e.text.strip(".").lower() in ("true", "t", "1") else "0"
        else:
            raise unsupported(f"{b} literal in C output", e.span)
        return t, (UNARY if t.startswith("-") else PRIMARY)

    def ref(self, e: Ref) -> tuple[str, int]:
        sym = self.symbol(e.name)
        by_pointer = sym is not None and sym.storage == "arg" and not sym.by_value and not sym.shape
        if e.path:
            return self.designator(e, sym, by_pointer), PRIMARY
        if e.subs is None:
            if by_pointer:
                return f"*{e.name}", UNARY
            return e.name, PRIMARY
        return e.name + self.subscripts(e, sym), PRIMARY

    def designator(self, e: Ref, sym: Optional[Symbol], by_pointer: bool) -> str:
        """`s[i].a.b[j]`, or `p->a` for a struct reached through pointer p."""
        text = e.name
        if e.subs is not None:
            text += self.subscripts(e, sym)
        sep = "->" if by_pointer and e.subs is None else "."
        for k, part in enumerate(e.path):
            _, comp = self.component(Ref(e.name, e.subs, e.path[:k + 1]))
            text += sep + part.name
            sep = "."
            if part.subs is not None:
                text += self.subscripts(Ref(part.name, part.subs, span=e.span), comp)
            elif comp.shape and k < len(e.path) - 1:
                raise unsupported("member of an array member without subscripts in C output", e.span)
        return text

    def subscripts(self, e: Ref, sym: Optional[Symbol]) -> str:
        if sym is None or len(e.subs) != sym.rank:
            raise unsupported("subscripts not matching the array's rank in C output", e.span)
        out = []
        for s, dim in zip(reversed(e.subs), reversed(sym.shape)):
            if isinstance(s, Section):
                raise unsupported("array section in C output", e.span)
            if is_zero_lb(dim.lb):
                out.append(self(s))
            else:
                out.append(self(Bin("-", s, dim.lb)))
        return "".join(f"[{x}]" for x in out)

    def bin(self, e: Bin) -> tuple[str, int]:
        if e.op == "**":
            # powf when the IR power is a float's (frontend: powf, or a float
            # variable's power the transform writes)
            f = "f" if self.type_of(e) == REAL4 else ""
            return f"pow{f}({self(e.left)}, {self(e.right)})", PRIMARY
        try:
            op, prec = _BIN[e.op]
        except KeyError:
            raise unsupported(f"operator '{e.op}' in C output", e.span) from None
        lt, lp = self.p(e.left)
        rt, rp = self.p(e.right)
        if lp < prec or (prec in (REL, EQ) and lp == prec):
            lt = f"({lt})"
        if rp <= prec:
            rt = f"({rt})"
        return f"{lt} {op} {rt}", prec

    def call(self, e: Call) -> str:
        if not e.intrinsic and e.name in self.types and not e.args:
            return f"({e.name}){{0}}"      # a record's zero (ir/records.zero_value): every member 0
        if not e.intrinsic:
            callee = self.routine(e.name)
            if callee is None:
                raise unsupported(f"call of '{e.name}', which is not in the unit, in C output", e.span)
            return f"{e.name}({self.actuals(callee, e.args)})"
        if e.name == "real" and len(e.args) == 1 and [k for k, _ in e.kwargs] == ["kind"]:
            # the transform's conversion of a seed to a variable's precision
            kind = e.kwargs[0][1]
            to = "float" if isinstance(kind, Lit) and kind.text == "4" else "double"
            return f"({to})" + self.p(e.args[0])[0].join("()")
        if e.name in ("lbound", "ubound", "size") and e.args and isinstance(e.args[0], Ref):
            return self.bound(e)
        if e.kwargs:
            raise unsupported(f"keyword arguments of '{e.name}' in C output", e.span)
        args = [self(a) for a in e.args]
        types = [self.type_of(a) for a in e.args]
        real = any(t.base == "real" for t in types)
        name = e.name.lower()
        if name in ("dble", "real", "int", "float", "sngl") and len(args) == 1:
            to = {"dble": "double", "real": "float", "float": "float", "sngl": "float", "int": "int"}[name]
            return f"({to})" + (args[0] if self.p(e.args[0])[1] >= UNARY else f"({args[0]})")
        if name == "merge" and len(e.args) == 3:
            return self.p(Cond(e.args[2], e.args[0], e.args[1]))[0].join("()")
        if name in _C_BIT_OPS and not real:
            # always parenthesised: C's bit operators bind looser than its comparisons
            if name == "not":
                return f"(~{self.p(e.args[0])[0].join('()') if self.p(e.args[0])[1] < UNARY else args[0]})"
            return f"({_paren_bit(self, e.args[0])} {_C_BIT_OPS[name]} {_paren_bit(self, e.args[1])})"
        if name == "mod" and not real:
            lt, lp = self.p(e.args[0])
            rt, rp = self.p(e.args[1])
            return f"({lt if lp >= MUL else '(' + lt + ')'} % {rt if rp > MUL else '(' + rt + ')'})"
        if name in ("min", "max") and not real:
            if len(args) != 2:
                raise unsupported(f"integer {name} of {len(args)} arguments in C output", e.span)
            rel = "<" if name == "min" else ">"
            return f"(({args[0]}) {rel} ({args[1]}) ? ({args[0]}) : ({args[1]}))"
        table = IR_TO_C_REAL if real else IR_TO_C_INT
        if name not in table:
            raise unsupported(f"intrinsic '{e.name}' in C output", e.span)
        if name in ("min", "max") and len(args) > 2:
            text = args[0]
            f = "f" if real and all(t == REAL4 for t in types if t.base == "real") else ""
            for a in args[1:]:
                text = f"{table[name]}{f}({text}, {a})"
            return text
        # the float variant (sqrtf, ...) where every real argument is a float
        f = "f" if real and all(t == REAL4 for t in types if t.base == "real") else ""
        return f"{table[name]}{f}({', '.join(args)})"

    def bound(self, e: Call) -> str:
        """lbound/ubound/size of an array whose shape C knows (the transform
        asks them of heap arrays, whose length variable holds the size)."""
        sym = self.symbol(e.args[0].name)
        dims = list(sym.shape) if sym is not None else []
        if not dims or any(d.ub is None or d.assumed for d in dims) or len(e.args) > 2:
            raise unsupported(f"'{e.name}' of an array whose size C cannot know", e.span, e.args[0].name)
        if len(e.args) == 2:
            k = e.args[1]
            if not (isinstance(k, Lit) and k.type.base == "integer" and 1 <= int(k.text) <= len(dims)):
                raise unsupported(f"'{e.name}' with a computed dimension in C output", e.span)
            dims = [dims[int(k.text) - 1]]
        if e.name == "lbound":
            return "0" if is_zero_lb(dims[0].lb) else self(dims[0].lb)
        if e.name == "ubound":
            return self.p(dims[0].ub)[0].join("()")
        from .c import _extent
        return " * ".join(f"({_extent(d, self)})" for d in dims)

    def actuals(self, callee: Routine, args: list[Expr]) -> str:
        if len(args) != len(callee.args):
            raise unsupported(f"call of '{callee.name}' with {len(args)} arguments for "
                              f"{len(callee.args)} in C output", args[0].span if args else None)
        return ", ".join(self.actual(a, callee.symbols[f]) for a, f in zip(args, callee.args))

    def actual(self, a: Expr, formal: Symbol) -> str:
        if formal.by_value or isinstance(a, ProcRef):
            return self(a)
        if not isinstance(a, Ref):
            raise unsupported("expression passed by reference in C output", a.span)
        sym = self.symbol(a.name)
        if a.path:
            by_pointer = sym is not None and sym.storage == "arg" and not sym.by_value and not sym.shape
            text = "&" + self.designator(a, sym, by_pointer)
            if sym is not None and sym.storage == "arg" and sym.intent == "in" and formal.intent != "in":
                return f"({ctype(self.component(a)[0])} *){text}"
            return text
        if a.subs is not None:
            if sym is not None and sym.storage == "arg" and sym.intent == "in" and formal.intent != "in":
                # an element of a const array given to a generated f_bwd (as below)
                return f"({ctype(sym.type)} *)&{a.name}{self.subscripts(a, sym)}"
            return "&" + a.name + self.subscripts(a, sym)
        if sym is not None and sym.shape:
            if sym.storage == "arg" and sym.intent == "in" and formal.intent != "in" and sym.rank == 1:
                # a generated f_bwd may restore what the primal only reads
                return f"({ctype(sym.type)} *){a.name}"
            return a.name
        if sym is not None and sym.storage == "arg" and not sym.by_value:
            if sym.intent == "in" and formal.intent != "in":
                return f"({ctype(sym.type)} *){a.name}"     # as for arrays above
            return a.name
        return "&" + a.name
