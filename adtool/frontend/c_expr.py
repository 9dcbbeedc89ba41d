"""C expressions to IR expressions.

C mixes truth values and numbers; the IR does not.  Conditions become
logical (`if (n)` is `n != 0`) and a truth value used as a number becomes
`Cond(c, 1, 0)`, so both the Fortran and C backends can print the IR.
Side effects inside expressions (`i++`, assignments, the comma operator)
are refused here: the statement lowering splits the cases it supports.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from pycparser import c_ast

from ..diagnostics import bad_input, unsupported
from ..ir import typing as irtyping
from ..ir.c_intrinsics import C_INT_ONLY, C_TO_IR, POW
from ..ir.nodes import INT4, INT8, REAL4, REAL8, UINT4, UINT8, Bin, Call, Cast, Cond, Expr, Lit, ProcRef, Ref, Type, Un
from .c_pre import SPECIAL_VALUES
from .c_types import Declarator, span_of, zero_of

_ARITH = {"+": "+", "-": "-", "*": "*", "/": "/"}
_REL = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_LOGIC = {"&&": "and", "||": "or"}
# C's integer bit operators as the IR's bit intrinsics (Fortran's names;
# the C backend writes the operators back, so `>>` keeps C's meaning on
# signed and unsigned operands alike).
_BITWISE = {"&": "iand", "|": "ior", "^": "ieor", "<<": "shiftl", ">>": "shifta"}


@dataclass
class FuncInfo:
    """What a call site needs to know about a user function: its result
    type (void for none) and how each parameter is passed:
    'value', 'ref' (scalar through a pointer) or 'array'."""
    name: str
    result: Type
    params: list[str]
    node: object = None


def is_pointer(sym) -> bool:
    """A scalar parameter passed by reference: `double *p` used as `*p`."""
    return sym.storage == "arg" and not sym.by_value and not sym.rank


def parse_int(text: str, span) -> Lit:
    t = text.lower()
    suffix = re.search(r"[ul]+$", t)
    s = suffix.group(0) if suffix else ""
    digits = t[:len(t) - len(s)]
    decimal = not digits.startswith("0") or digits == "0"
    if digits.startswith("0x"):
        v = int(digits, 16)
    elif not decimal:
        v = int(digits, 8)
    else:
        v = int(digits)
    # C99 6.4.4.1: the first type of the list that holds the value (LP64;
    # octal and hexadecimal constants may also be unsigned)
    choices = [INT4, INT8]
    if "u" in s:
        choices = [UINT4, UINT8]
    elif not decimal:
        choices = [INT4, UINT4, INT8, UINT8]
    if "l" in s:
        choices = [c for c in choices if c.kind == 8]
    for c in choices:
        if v < 2 ** (8 * c.kind - (0 if c.unsigned else 1)):
            return Lit(str(v), c, span=span)
    raise unsupported("integer constant too large", span, text)


def parse_real(text: str, span) -> Lit:
    t = text
    if t.lower().startswith("0x"):
        raise unsupported("hexadecimal floating constant", span, text)
    if t[-1] in "lL":
        raise unsupported("long double constant", span, text)
    if t[-1] in "fF":
        return Lit(t[:-1], REAL4, span=span)
    return Lit(t, REAL8, span=span)


_ESCAPES = {"n": 10, "t": 9, "\\": 92, '"': 34, "'": 39, "a": 7, "b": 8, "f": 12, "r": 13, "v": 11,
            "?": 63}


def char_value(text: str, span) -> int:
    """A character constant ('a', '\\n', '\\0', '\\x41', '\\101') as the int
    C gives it (type int, here ASCII's values).  It prints back as that
    number: `c == 'a'` becomes `c == 97`."""
    if not (len(text) >= 3 and text[0] == "'" and text[-1] == "'"):
        raise unsupported("wide or prefixed character constant", span, text)
    body = text[1:-1]
    if body.startswith("\\"):
        rest = body[1:]
        if rest in _ESCAPES:
            v = _ESCAPES[rest]
        elif rest[:1] == "x" and len(rest) > 1 and all(c in "0123456789abcdefABCDEF" for c in rest[1:]):
            v = int(rest[1:], 16)
        elif rest and len(rest) <= 3 and all(c in "01234567" for c in rest):
            v = int(rest, 8)
        else:
            raise unsupported("escape sequence in a character constant", span, text)
    elif len(body) == 1 and ord(body) < 128:
        v = ord(body)
    else:
        raise unsupported("multi-character or non-ASCII character constant", span, text)
    if v > 127:
        # its int value is -1 or 255 as the platform's char is signed or not
        raise unsupported("character constant above 127", span, text)
    return v


def c_string(text: str, span) -> str:
    """A C string literal (quotes included) as the characters it denotes."""
    if not (text.startswith('"') and text.endswith('"')):
        raise unsupported("wide or prefixed string literal", span, text)
    body = text[1:-1]
    simple = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'", "a": "\a",
              "r": "\r", "0": "\0", "?": "?"}
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt not in simple:
                raise unsupported("escape sequence in a string", span, "\\" + nxt)
            out.append(simple[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


class ExprLowering:
    """Mixed into the function lowering, which provides `resolve(cname,
    span) -> Symbol`, `symbol(irname)`, `funcs` and `typedefs`."""

    funcs: dict[str, FuncInfo]
    typedefs: dict[str, Type]

    # -------------------------------------------------------------- typing

    def type_of(self, e: Expr) -> Type:
        return irtyping.type_of(e, self.symbol, self._fun_type)

    def _fun_type(self, name: str) -> Optional[Type]:
        f = self.funcs.get(name)
        return f.result if f else None

    def cond(self, n) -> Expr:
        """n as a truth value."""
        e = self.expr(n)
        t = self.type_of(e)
        if t.base == "logical":
            return e
        return Bin("!=", e, zero_of(t), span=e.span)

    def value(self, n) -> Expr:
        """n as a number (a truth value becomes 1 or 0, as C defines)."""
        return self.as_number(self.expr(n))

    def as_number(self, e: Expr) -> Expr:
        if self.type_of(e).base == "logical":
            return Cond(e, Lit("1", INT4), Lit("0", INT4), span=e.span)
        return e

    # -------------------------------------------------------------- nodes

    def expr(self, n) -> Expr:
        span = span_of(n, self.span)
        if isinstance(n, c_ast.Constant):
            return self._constant(n, span)
        if isinstance(n, c_ast.ID):
            return self._id(n, span)
        if isinstance(n, c_ast.ArrayRef):
            return self.element(n, span, partial=False)
        if isinstance(n, c_ast.UnaryOp):
            return self._unary(n, span)
        if isinstance(n, c_ast.BinaryOp):
            return self._binary(n, span)
        if isinstance(n, c_ast.TernaryOp):
            return Cond(self.cond(n.cond), self.value(n.iftrue), self.value(n.iffalse), span=span)
        if isinstance(n, c_ast.Cast):
            return self._cast(n, span)
        if isinstance(n, c_ast.FuncCall):
            return self.call_expr(n, span)
        if isinstance(n, c_ast.Assignment):
            raise unsupported("assignment inside an expression", span)
        if isinstance(n, c_ast.ExprList):
            raise unsupported("comma operator", span)
        if isinstance(n, c_ast.StructRef):
            return self.member(n, span)
        if isinstance(n, c_ast.InitList):
            raise unsupported("braced initialiser list in an expression", span)
        if isinstance(n, c_ast.CompoundLiteral):
            raise unsupported("compound literal", span)
        raise unsupported(f"expression {type(n).__name__}", span)

    def _constant(self, n, span) -> Expr:
        if n.type in ("int", "long int", "unsigned int", "long long int") or n.type.endswith("int"):
            return parse_int(n.value, span)
        if n.type in ("double", "float", "long double"):
            return parse_real(n.value, span)
        if n.type == "char":
            return Lit(str(char_value(n.value, span)), INT4, span=span)
        if n.type == "string":
            raise unsupported("string outside a printf format", span)
        raise unsupported(f"constant of type {n.type}", span)

    def _id(self, n, span) -> Expr:
        if n.name in SPECIAL_VALUES:          # INFINITY, NAN (frontend/libc_overlay/math.h)
            text, kind = SPECIAL_VALUES[n.name]
            return Lit(text, REAL4 if kind == 4 else REAL8, span=span)
        local = self.local_const(n.name)
        if local is not None:
            return Lit(str(local), INT4, span=span)
        consts = self.front.enum_consts
        if n.name in consts and all(n.name not in sc for sc in self.scopes[1:]):
            if isinstance(consts[n.name], Exception):
                raise consts[n.name]
            return Lit(str(consts[n.name]), INT4, span=span)
        sym = self.resolve(n.name, span)
        if self.is_alias(sym):
            raise unsupported("pointer used as a value", span,
                              f"'{n.name}' points into an array; index it or pass it to a function")
        if sym.type.char and (sym.rank or is_pointer(sym)):
            # a char array or pointer whose value is wanted is a string (`printf("%s", name)`)
            raise unsupported("string (char array or pointer) used as a value", span, n.name)
        if sym.rank:
            raise unsupported("pointer arithmetic", span,
                              f"array '{n.name}' used as a value; index it or pass it to a function")
        if is_pointer(sym):
            raise unsupported("pointer used as a value", span,
                              f"'{n.name}' is a pointer; dereference it (*{n.name}) or pass it to a function")
        return Ref(sym.name, span=span)

    def element(self, n, span, partial: bool) -> Ref:
        """a[i][j] -> Ref a(j, i); with partial, missing trailing C
        subscripts are 0 (the address of a row: `a[i]` passed as a pointer)."""
        subs = []
        base = n
        while isinstance(base, c_ast.ArrayRef):
            subs.append(self.value(base.subscript))
            base = base.name
        subs.reverse()
        if isinstance(base, c_ast.StructRef):
            return self.member(n, span, partial)
        if not isinstance(base, c_ast.ID):
            raise unsupported("pointer arithmetic", span, "indexing something that is not an array name")
        sym = self.resolve(base.name, span)
        if self.is_alias(sym):
            if len(subs) != 1:
                raise bad_input(f"'{base.name}' points into a one-dimensional array, indexed with "
                                f"{len(subs)} subscripts", span)
            return self.alias_element(sym, subs[0], span)
        if not sym.rank:
            raise unsupported("indexing a scalar", span, base.name)
        if len(subs) > sym.rank:
            raise bad_input(f"'{base.name}' has {sym.rank} dimensions, indexed with {len(subs)}", span)
        if len(subs) < sym.rank:
            if not partial:
                raise unsupported("pointer arithmetic", span,
                                  f"'{base.name}' indexed with fewer subscripts than its {sym.rank} dimensions")
            subs += [Lit("0", INT4)] * (sym.rank - len(subs))
        return Ref(sym.name, list(reversed(subs)), span=span)

    def _unary(self, n, span) -> Expr:
        op = n.op
        if op == "-" or op == "+":
            return Un(op, self.value(n.expr), span=span)
        if op == "!":
            e = self.expr(n.expr)
            if self.type_of(e).base == "logical":
                return Un("not", e, span=span)
            t = self.type_of(e)
            return Bin("==", e, zero_of(t), span=span)
        if op == "*":
            return self.deref(n, span)
        if op == "&":
            raise unsupported("address-of operator", span, "allowed only for a call argument")
        if op in ("p++", "p--", "++", "--"):
            raise unsupported("increment inside an expression", span, "write it as its own statement")
        if op == "sizeof":
            return self.sizeof_value(n, span)
        if op == "~":
            e = self.value(n.expr)
            if self.type_of(e).base != "integer":
                raise bad_input("'~' of a value that is not an integer", span)
            return Call("not", [e], intrinsic=True, span=span)
        raise unsupported(f"unary operator '{op}'", span)

    def deref(self, n, span) -> Ref:
        target = n.expr
        if not isinstance(target, c_ast.ID):
            base, off = self.address(target, span)      # *(p + k)
            return Ref(base.name, [off], span=span)
        sym = self.resolve(target.name, span)
        if self.is_alias(sym):
            return self.alias_element(sym, Lit("0", INT4), span)
        if sym.rank:
            return Ref(sym.name, [Lit("0", INT4)] * sym.rank, span=span)
        if is_pointer(sym):
            return Ref(sym.name, span=span)
        raise unsupported("dereference of a non-pointer", span, target.name)

    def _binary(self, n, span) -> Expr:
        op = n.op
        if op in _LOGIC:
            return Bin(_LOGIC[op], self.cond(n.left), self.cond(n.right), span=span)
        if op in ("&", "|"):
            # `(a > 0) & (b > 0)`: on two truth values (0 or 1) the bitwise
            # operator is the logical one without short-circuit, and IR
            # expressions have no side effects to skip.
            left, right = self.expr(n.left), self.expr(n.right)
            if self.type_of(left).base == "logical" and self.type_of(right).base == "logical":
                return Bin("and" if op == "&" else "or", left, right, span=span)
        left, right = self.value(n.left), self.value(n.right)
        if op in _BITWISE:
            return self.bitwise(op, left, right, span)
        if op in _ARITH:
            return Bin(_ARITH[op], left, right, span=span)
        if op in _REL:
            return Bin(_REL[op], left, right, span=span)
        if op == "%":
            return Call("mod", [left, right], intrinsic=True, span=span)
        raise unsupported(f"operator '{op}'", span)

    def bitwise(self, op: str, left: Expr, right: Expr, span) -> Expr:
        if any(self.type_of(x).base != "integer" for x in (left, right)):
            raise bad_input(f"'{op}' of a value that is not an integer", span)
        return Call(_BITWISE[op], [left, right], intrinsic=True, span=span)

    def _cast(self, n, span) -> Expr:
        d = Declarator(n.to_type.type, span, self.typedefs, lambda x: self.value(x))
        if d.pointers or d.dims_c:
            raise unsupported("pointer cast", span)
        if d.type.base == "void":
            raise unsupported("cast to void", span)
        return Cast(d.type, self.value(n.expr), span=span)

    # -------------------------------------------------------------- calls

    def call_name(self, n, span) -> str:
        if not isinstance(n.name, c_ast.ID):
            raise unsupported("function pointer", span, "call through an expression")
        name = n.name.name
        if name in self.front.unread and name not in self.funcs:
            raise unsupported(f"call of '{name}'", span, "adtool cannot read its definition")
        return name

    def call_args(self, n) -> list:
        return list(n.args.exprs) if n.args is not None else []

    def call_expr(self, n, span) -> Expr:
        name = self.call_name(n, span)
        args = self.call_args(n)
        if name in self.funcs:
            f = self.funcs[name]
            if f.result.base == "void":
                raise bad_input(f"'{name}' returns no value but is used in an expression", span)
            return Call(name, self.user_args(f, args, span), intrinsic=False, span=span)
        # math.h's float variants (sqrtf, powf, ...): the IR call takes
        # float arguments, which the C back end writes with the f name again;
        # the double functions take doubles (a float argument is converted,
        # as C does, so the result is a double in the IR too).
        single = name.endswith("f") and name not in C_TO_IR and \
            (name[:-1] in C_TO_IR or name[:-1] == POW) and name[:-1] not in C_INT_ONLY
        if single:
            name = name[:-1]
        prec = REAL4 if single else REAL8

        def conv(v: Expr) -> Expr:
            return v if self.type_of(v) == prec else Cast(prec, v, span=v.span)
        if name == POW:
            self._arity(name, args, 2, span)
            base, ex = self.value(args[0]), self.value(args[1])
            if self.type_of(ex).base == "integer" and not single:
                return Bin("**", conv(base), ex, span=span)   # (the IR's integer power)
            return Bin("**", conv(base), conv(ex), span=span)
        if name in C_TO_IR:
            vals = [self.value(a) for a in args]
            ir = C_TO_IR[name]
            self._arity(name, args, 2 if ir in ("atan2", "hypot", "min", "max", "mod", "sign") else 1, span)
            if name in C_INT_ONLY:
                if any(self.type_of(v).base == "real" for v in vals):
                    raise unsupported(f"'{name}' of a floating-point value", span,
                                      "C converts it to an integer; use fabs")
            else:
                vals = [conv(v) for v in vals]
            return Call(ir, vals, intrinsic=True, span=span)
        if name in ("printf", "exit"):
            raise unsupported(f"'{name}' inside an expression", span)
        raise unsupported(f"call of '{name}'", span,
                          "not defined in the input files and not a math.h function adtool knows")

    def _arity(self, name: str, args: list, k: int, span) -> None:
        if len(args) != k:
            raise bad_input(f"'{name}' takes {k} argument(s), given {len(args)}", span)

    def user_args(self, f: FuncInfo, args: list, span) -> list[Expr]:
        if len(args) != len(f.params):
            raise bad_input(f"'{f.name}' takes {len(f.params)} argument(s), given {len(args)}", span)
        out = [self.actual(a, kind) for a, kind in zip(args, f.params)]
        for k, (a, kind) in enumerate(zip(out, f.params)):
            if kind != "value" and isinstance(a, Ref) and a.path and not _const_param(f, k):
                self.through_copy(a, span)
        return out

    def actual(self, n, kind: str) -> Expr:
        """An actual argument: pass-by-reference is a fact of the formal, so
        `&x` and `x` both become Ref x when the formal is a pointer."""
        span = span_of(n, self.span)
        if kind == "proc":
            target = n.expr if isinstance(n, c_ast.UnaryOp) and n.op == "&" else n
            if isinstance(target, c_ast.ID) and target.name in self.funcs:
                return ProcRef(target.name, span=span)
            if isinstance(target, c_ast.ID):
                raise unsupported(f"library function '{target.name}' passed as a function pointer",
                                  span, "pass a function of yours that calls it")
            raise unsupported("function pointer argument other than a function's name", span)
        if kind == "value":
            return self.value(n)
        target = n.expr if isinstance(n, c_ast.UnaryOp) and n.op == "&" else None
        if target is not None:
            if isinstance(target, c_ast.ID):
                sym = self.resolve(target.name, span)
                if sym.rank:
                    raise unsupported("address of an array", span, f"pass '{target.name}' itself")
                return Ref(sym.name, span=span)
            if isinstance(target, (c_ast.ArrayRef, c_ast.StructRef)):
                return self.element(target, span, partial=False) if isinstance(target, c_ast.ArrayRef) \
                    else self.member(target, span)
            raise unsupported("address-of operator", span, "of something other than a variable or element")
        if isinstance(n, c_ast.ID):
            sym = self.resolve(n.name, span)
            if self.is_alias(sym):
                return self.alias_element(sym, Lit("0", INT4), span)
            if sym.rank or is_pointer(sym):
                return Ref(sym.name, span=span)
            raise unsupported("value passed to a pointer parameter", span, n.name)
        if isinstance(n, (c_ast.ArrayRef, c_ast.StructRef)) and _over_member(n):
            ref = self.member(n, span, partial=True)
            if ref.path[-1].subs is None:
                raise unsupported("value passed to a pointer parameter", span, ref.path[-1].name)
            return ref
        if isinstance(n, c_ast.ArrayRef):
            return self.element(n, span, partial=True) if self._is_partial(n, span) else \
                self._bad_actual(span)
        if isinstance(n, c_ast.BinaryOp) and n.op in "+-" and self._is_address(n):
            base, off = self.address(n, span)           # f(x + i * d)
            return Ref(base.name, [off], span=span)
        if isinstance(n, c_ast.BinaryOp) and n.op in "+-":
            raise unsupported("pointer arithmetic", span)
        raise unsupported("expression passed to a pointer parameter", span)

    def _is_partial(self, n, span) -> bool:
        depth, base = 0, n
        while isinstance(base, c_ast.ArrayRef):
            depth, base = depth + 1, base.name
        if not isinstance(base, c_ast.ID):
            return False
        return depth < self.resolve(base.name, span).rank

    def _bad_actual(self, span):
        raise unsupported("value passed to a pointer parameter", span)


def _over_member(n) -> bool:
    """n is a member access, maybe indexed: `s.a`, `p->a[i]`."""
    while isinstance(n, c_ast.ArrayRef):
        n = n.name
    return isinstance(n, c_ast.StructRef)


def _const_param(f: FuncInfo, k: int) -> bool:
    """Whether the k-th parameter of a defined function is `const T *`."""
    if f.node is None:
        return False
    try:
        t = f.node.decl.type.args.params[k].type
    except (AttributeError, IndexError):
        return False
    while isinstance(t, (c_ast.PtrDecl, c_ast.ArrayDecl)):
        t = t.type
    return "const" in (getattr(t, "quals", None) or [])
