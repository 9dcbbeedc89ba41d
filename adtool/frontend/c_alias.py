"""Local pointers into arrays: `double *xp = &s[i]`, `xp = s + i * b`,
`const double *in = &seq[0]`, `xp++`.

The IR has no pointers.  A local pointer that only ever points into one
array (the same base at every assignment) is that array plus an integer
offset: the pointer becomes a hidden integer local `xp_off`, `xp[k]` is
`s[xp_off + k]`, `*xp` is `s[xp_off]`, passing `xp` passes the element
`s[xp_off]` (sequence association, as for `&s[i]`), and assigning or
incrementing the pointer assigns the offset.  A pointer that would point
into two different arrays (a swap of buffers between time steps) is
refused, naming it.
"""
from __future__ import annotations

from typing import Optional

from pycparser import c_ast

from ..diagnostics import bad_input, unsupported
from ..ir.nodes import INT8, Assign, Bin, Expr, Lit, Ref, Stmt, Symbol
from .c_types import span_of


class AliasLowering:
    """Mixed into the function lowering; `alias_base` maps an offset
    symbol's IR name to the IR name of the array it points into (None
    until the pointer is first set)."""

    def alias_local(self, n, d, span) -> list[Stmt]:
        if d.pointers != 1 or d.dims_c:
            raise unsupported("pointer variable", span, n.name)
        off = self.hidden_local(f"{n.name}_off", INT8, span)
        self.scopes[-1][n.name] = off
        self.alias_base[off.name] = None
        self.alias_type[off.name] = (n.name, d.type)
        from .c_heap import is_null
        if is_null(n.init):
            return []
        return self.alias_set(off, n.init, span)

    def is_alias(self, sym: Optional[Symbol]) -> bool:
        return sym is not None and sym.name in self.alias_base

    def alias_set(self, off: Symbol, rvalue, span, op: str = "=") -> list[Stmt]:
        """`p = <address>`, `p += k`, `p -= k`."""
        cname = self.alias_type[off.name][0]
        if op in ("+=", "-="):
            self._alias_base(off, span)
            step = self.value(rvalue)
            return [Assign(Ref(off.name, span=span), Bin(op[0], Ref(off.name, span=span), step, span=span),
                           span=span)]
        if op != "=":
            raise unsupported(f"compound assignment '{op}' of a pointer", span, cname)
        base, offset = self.address(rvalue, span)
        if base.type != self.alias_type[off.name][1]:
            raise unsupported("pointer into an array of another type", span, cname)
        old = self.alias_base[off.name]
        if old is not None and old != base.name:
            raise unsupported("local pointer set to two different arrays", span,
                              f"'{cname}' points into '{old}' and '{base.name}' (a buffer swap); "
                              "copy the data or index the arrays directly")
        self.alias_base[off.name] = base.name
        return [Assign(Ref(off.name, span=span), offset, span=span)]

    def _alias_base(self, off: Symbol, span) -> Symbol:
        base = self.alias_base[off.name]
        if base is None:
            raise unsupported("pointer used before it is set", span, self.alias_type[off.name][0])
        return self.routine.symbols.get(base) or self.front.globals[base]

    def alias_element(self, off: Symbol, k: Expr, span) -> Ref:
        """p[k] -> base[p_off + k]."""
        base = self._alias_base(off, span)
        idx: Expr = Ref(off.name, span=span)
        if not (isinstance(k, Lit) and k.text == "0"):
            idx = Bin("+", idx, k, span=span)
        return Ref(base.name, [idx], span=span)

    def address(self, n, span) -> tuple[Symbol, Expr]:
        """An address into a rank-1 array: (array, offset) for `a`, `&a[e]`,
        `a + e`, `e + a`, `a - e`, `p` (another such pointer), `&p[e]`."""
        while isinstance(n, c_ast.Cast):
            n = n.expr
        if isinstance(n, c_ast.UnaryOp) and n.op == "&" and isinstance(n.expr, c_ast.ArrayRef) \
                and isinstance(n.expr.name, c_ast.ID):
            base, off = self.address(n.expr.name, span)
            return base, _plus(off, self.value(n.expr.subscript), span)
        if isinstance(n, c_ast.BinaryOp) and n.op in ("+", "-"):
            if self._is_address(n.left):
                base, off = self.address(n.left, span)
                k = self.value(n.right)
                return base, (_plus(off, k, span) if n.op == "+" else Bin("-", off, k, span=span))
            if n.op == "+" and self._is_address(n.right):
                base, off = self.address(n.right, span)
                return base, _plus(off, self.value(n.left), span)
        if isinstance(n, c_ast.ID):
            sym = self.resolve(n.name, span)
            if self.is_alias(sym):
                return self._alias_base(sym, span), Ref(sym.name, span=span)
            if sym.rank == 1:
                return sym, Lit("0", INT8)
            if sym.rank > 1:
                raise unsupported("pointer into a multi-dimensional array", span, n.name)
        raise unsupported("pointer set to something other than an address in a one-dimensional array",
                          span)

    def _is_address(self, n) -> bool:
        while isinstance(n, c_ast.Cast):
            n = n.expr
        if isinstance(n, c_ast.UnaryOp) and n.op == "&":
            return True
        if isinstance(n, c_ast.BinaryOp) and n.op in ("+", "-"):
            return self._is_address(n.left) or (n.op == "+" and self._is_address(n.right))
        if isinstance(n, c_ast.ID):
            try:
                sym = self.resolve(n.name, span_of(n, self.span))
            except Exception:
                return False
            return self.is_alias(sym) or sym.rank == 1
        return False


def _plus(a: Expr, b: Expr, span) -> Expr:
    if isinstance(a, Lit) and a.text == "0":
        return b
    if isinstance(b, Lit) and b.text == "0":
        return a
    return Bin("+", a, b, span=span)


def pointer_kind(body, name: str) -> str:
    """'heap' if some assignment to `name` in the body is a malloc/calloc/
    realloc, else 'alias' (decided for a pointer declared without one)."""
    from .c_heap import is_heap_call
    found = []

    def visit(n) -> None:
        if isinstance(n, c_ast.Assignment) and isinstance(n.lvalue, c_ast.ID) and n.lvalue.name == name \
                and is_heap_call(n.rvalue):
            found.append(n)
        for _, c in n.children():
            visit(c)
    visit(body)
    return "heap" if found else "alias"
