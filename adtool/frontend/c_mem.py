"""`memset(a, 0, n * sizeof(double))`, `memcpy(b, a, sizeof b)` and `sizeof`
in expressions.

C codes clear and copy arrays with the byte functions of string.h; as
bytes they say nothing a differentiator can use, so they are read as what
they do to numbers: element assignments (a loop, or a whole-array
assignment when the whole array is meant), whose derivatives follow the
one rule for assignments.  Sizes must be `count * sizeof(element)` (any
order) or the whole array's `sizeof`; anything else is refused by name.
"""
from __future__ import annotations

from typing import Optional

from pycparser import c_ast

from ..diagnostics import bad_input, unsupported
from ..ir.build import int_value
from ..ir.nodes import INT8, UINT8, Assign, Bin, Expr, Lit, Loop, Ref, Stmt
from .c_heap import _factors, _minus_one
from .c_types import Declarator, zero_of


class MemLowering:
    """Mixed into the function lowering (see c_func.py)."""

    def mem_call(self, name: str, args: list, span) -> Stmt:
        if len(args) != 3:
            raise bad_input(f"{name} takes 3 arguments, given {len(args)}", span)
        if name == "memset":
            v = args[1]
            if not (isinstance(v, c_ast.Constant) and v.value in ("0", "'\\0'")):
                raise unsupported("memset to a byte other than 0", span,
                                  "the bytes of a number mean nothing adtool can differentiate")
            whole = self._whole(args[0], args[2], span)
            if whole is not None:
                return Assign(Ref(whole.name, span=span), zero_of(whole.type), span=span)
            base, off = self.address(args[0], span)
            k, hi = self._counter(args[2], base, span)
            return Loop(k, Lit("0", INT8), hi, body=[
                Assign(Ref(base.name, [_plus(off, Ref(k))], span=span), zero_of(base.type), span=span)],
                span=span)
        whole = self._whole(args[0], args[2], span)
        if whole is not None and isinstance(args[1], c_ast.ID):
            src = self.resolve(args[1].name, span)
            if _same_shape(whole, src):
                return Assign(Ref(whole.name, span=span), Ref(src.name, span=span), span=span)
        dst, doff = self.address(args[0], span)
        src, soff = self.address(args[1], span)
        if src.type != dst.type:
            raise unsupported(f"{name} between arrays of different types", span, f"{dst.name}, {src.name}")
        k, hi = self._counter(args[2], dst, span)
        return Loop(k, Lit("0", INT8), hi, body=[
            Assign(Ref(dst.name, [_plus(doff, Ref(k))], span=span),
                   Ref(src.name, [_plus(soff, Ref(k))], span=span), span=span)], span=span)

    def _whole(self, n, size, span):
        """The array n names, when size is its own sizeof (`sizeof a`,
        `sizeof(a)`): a whole fixed-size array of any rank."""
        if not (isinstance(n, c_ast.ID) and isinstance(size, c_ast.UnaryOp) and size.op == "sizeof"
                and isinstance(size.expr, c_ast.ID) and size.expr.name == n.name):
            return None
        sym = self.resolve(n.name, span)
        if not sym.shape or self.is_alias(sym) or any(_extent(d) is None for d in sym.shape):
            raise unsupported("sizeof of an array whose size C does not fix here", span, n.name)
        return sym

    def _counter(self, size, base, span) -> tuple[str, Expr]:
        """The loop counter and its last value for `count * sizeof(x)`
        bytes of base's elements (sizeof(x) a multiple of the element's
        size: `sizeof y` of a whole array, `sizeof(double)`, `sizeof *p`)."""
        factors = _factors(size)
        sizes = [f for f in factors if isinstance(f, c_ast.UnaryOp) and f.op == "sizeof"]
        if len(sizes) != 1:
            raise unsupported("size that is not count * sizeof(...)", span, base.name)
        nbytes, elem = int(self.sizeof_value(sizes[0], span).text), _bytes(base.type, span)
        if nbytes % elem:
            raise unsupported("size that is not a whole number of elements", span, base.name)
        count: Expr = Lit(str(nbytes // elem), INT8)
        for f in factors:
            if f is not sizes[0]:
                v = self.value(f)
                count = v if isinstance(count, Lit) and count.text == "1" else Bin("*", count, v, span=span)
        k = self.declare_local(f"{base.name}_k", INT8, span, False).name
        return k, _minus_one(count)

    def sizeof_value(self, n, span) -> Lit:
        """`sizeof(double)`, `sizeof x`, `sizeof(a) / sizeof(a[0])`: the byte
        count C gives (of type size_t, here unsigned long)."""
        e = n.expr
        if isinstance(e, c_ast.Typename):
            d = Declarator(e.type, span, self.typedefs, self.value)
            if d.pointers:
                return Lit("8", UINT8, span=span)
            t, dims = d.type, d.dims_c
            if dims:
                raise unsupported("sizeof of an array type", span)
            return Lit(str(_bytes(t, span)), UINT8, span=span)
        stripped = 0
        while (isinstance(e, c_ast.UnaryOp) and e.op == "*") or isinstance(e, c_ast.ArrayRef):
            e = e.expr if isinstance(e, c_ast.UnaryOp) else e.name
            stripped += 1
        if not isinstance(e, c_ast.ID):
            raise unsupported("sizeof of an expression", span)
        sym = self.resolve(e.name, span)
        # a parameter `double a[N]`, a malloc'd array, a local pointer: pointers
        pointer = self.is_alias(sym) or sym.allocatable or (sym.storage == "arg" and bool(sym.shape))
        if stripped == 0 and pointer:
            return Lit("8", UINT8, span=span)
        rank = 1 if pointer and not sym.shape else sym.rank
        if stripped > rank:
            raise bad_input(f"sizeof of '{e.name}' dereferenced more often than it has dimensions", span)
        size = _bytes(sym.type, span)
        # C's leading subscripts drop the IR's trailing dimensions (c_types.py)
        for d in (sym.shape[:sym.rank - stripped] if sym.shape else []):
            if _extent(d) is None:
                raise unsupported("sizeof of a variable-length array", span, e.name)
            size *= _extent(d)
        return Lit(str(size), UINT8, span=span)


def _bytes(t, span) -> int:
    if t.base in ("real", "integer"):
        return t.kind
    if t.base == "logical":
        return 4                  # a C comparison's int
    raise unsupported(f"sizeof of a {t.base}", span)


def _plus(off: Expr, k: Expr) -> Expr:
    if isinstance(off, Lit) and off.text == "0":
        return k
    return Bin("+", off, k)


def _extent(d) -> Optional[int]:
    """A C dimension's extent when it is a constant (`double b[N + 2]`)."""
    ub = int_value(d.ub, lambda name: None) if d.ub is not None else None
    lb = int_value(d.lb, lambda name: None) if d.lb is not None else 0
    return None if ub is None or lb is None else ub - lb + 1


def _same_shape(a, b) -> bool:
    return a.type == b.type and len(a.shape) == len(b.shape) and all(
        _extent(x) is not None and _extent(x) == _extent(y) for x, y in zip(a.shape, b.shape))
