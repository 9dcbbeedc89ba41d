"""Heap arrays: `double *t = malloc(n * sizeof(double))` ... `free(t)`.

A local pointer that only ever receives malloc/calloc results is an
array of run-time size, the IR's allocatable local: the allocation becomes
Allocate (calloc adds a zeroing), free becomes Deallocate.  C has no array
descriptor, so each such array gets a length variable (`t_len`) that its
shape refers to and that the C backend sets wherever it allocates; the
transform records and restores it like any bound, which is what lets
f_bwd re-create an array f_fwd freed.
"""
from __future__ import annotations

import copy

from pycparser import c_ast

from ..diagnostics import bad_input, unsupported
from ..ir.nodes import INT8, Allocate, Assign, Bin, Deallocate, Dim, Expr, Lit, Loop, Ref, Section, Stmt
from .c_types import Declarator, span_of, zero_of

_ALLOC = ("malloc", "calloc")


def _call_name(n):
    while isinstance(n, c_ast.Cast):
        n = n.expr
    if isinstance(n, c_ast.FuncCall) and isinstance(n.name, c_ast.ID):
        return n.name.name, n
    return None, n


def is_heap_call(n) -> bool:
    return _call_name(n)[0] in _ALLOC + ("realloc",)


class HeapLowering:
    """Mixed into the function lowering."""

    def heap_local(self, n, d: Declarator, span) -> list[Stmt]:
        if d.pointers != 1 or d.dims_c:
            raise unsupported("pointer variable", span, n.name)
        if "static" in (n.storage or []):
            raise unsupported("static pointer variable", span, n.name)
        init = None if is_null(n.init) else n.init
        if init is not None and not is_heap_call(init):
            raise unsupported("local pointer into another array", span,
                              f"'{n.name}'; only malloc/calloc'd local pointers are supported")
        sym = self.declare_local(n.name, d.type, span, False)
        length = self.hidden_local(f"{sym.name}_len", INT8, span)
        sym.allocatable = True
        sym.pointer = True
        sym.shape = [Dim(Lit("0", INT8), Bin("-", Ref(length.name), Lit("1", INT8)))]
        if init is None:
            return []
        return self.heap_alloc(sym, init, span)

    def heap_alloc(self, sym, rvalue, span) -> list[Stmt]:
        """`t = malloc(count * sizeof(T))`, `calloc(count, sizeof(T))`."""
        name, call = _call_name(rvalue)
        for c in _casts(rvalue):
            cd = Declarator(c.to_type.type, span, self.typedefs, self.value)
            if cd.pointers != 1 or cd.type != sym.type:
                raise unsupported("cast of an allocation to another type", span_of(c, span), sym.name)
        args = list(call.args.exprs) if call.args is not None else []
        if name == "realloc":
            raise unsupported("realloc", span, f"allocate '{sym.name}' anew with malloc and copy")
        if name == "malloc":
            if len(args) != 1:
                raise bad_input("malloc takes one argument", span)
            count = self._count(args[0], sym, span)
        else:
            if len(args) != 2:
                raise bad_input("calloc takes two arguments", span)
            if self._count(args[1], sym, span) != Lit("1", INT8):
                raise unsupported("calloc whose element size is not sizeof the element", span, sym.name)
            count = self.value(args[0])
        hi = _minus_one(count)
        out: list[Stmt] = [Allocate([Ref(sym.name, [Section(Lit("0", INT8), hi)], span=span)], span=span)]
        if name == "calloc":
            # element by element: a whole-array store to an allocatable would
            # mean Fortran's reallocation on assignment to the transform
            zero = zero_of(sym.type)
            i = self.hidden_local(f"{sym.name}_i", INT8, span)
            out.append(Loop(i.name, Lit("0", INT8), copy.deepcopy(hi),
                            body=[Assign(Ref(sym.name, [Ref(i.name)], span=span), zero, span=span)],
                            span=span))
        return out

    def _count(self, n, sym, span) -> Expr:
        """The element count of `count * sizeof(T)` (factors in any order)."""
        factors = _factors(n)
        sizes = [f for f in factors if isinstance(f, c_ast.UnaryOp) and f.op == "sizeof"]
        if len(sizes) != 1:
            raise unsupported("allocation size that is not count * sizeof(element)", span, sym.name)
        self._check_sizeof(sizes[0], sym, span)
        rest = [self.value(f) for f in factors if f is not sizes[0]]
        if not rest:
            return Lit("1", INT8)
        out = rest[0]
        for f in rest[1:]:
            out = Bin("*", out, f, span=span)
        return out

    def _check_sizeof(self, n, sym, span) -> None:
        e = n.expr
        if isinstance(e, c_ast.Typename):
            d = Declarator(e.type, span, self.typedefs, self.value)
            if d.pointers == 0 and not d.dims_c and d.type == sym.type:
                return
        else:                               # sizeof *t, sizeof(t[0])
            stripped = 0
            while (isinstance(e, c_ast.UnaryOp) and e.op == "*") or isinstance(e, c_ast.ArrayRef):
                e = e.expr if isinstance(e, c_ast.UnaryOp) else e.name
                stripped += 1
            if stripped == 1 and isinstance(e, c_ast.ID) and self.resolve(e.name, span) is sym:
                return
        raise unsupported("sizeof of something other than the array's element type", span, sym.name)

    def heap_assign(self, n, sym, span) -> list[Stmt]:
        if n.op == "=" and is_null(n.rvalue):
            return []           # `t = NULL` after free: nothing left to read through it
        if not is_heap_call(n.rvalue) or n.op != "=":
            raise unsupported("pointer assignment", span,
                              f"'{sym.name}' is a malloc'd array; only malloc/calloc results may be assigned to it")
        return self.heap_alloc(sym, n.rvalue, span)

    def heap_free(self, args, span) -> Stmt:
        if len(args) != 1 or not isinstance(args[0], c_ast.ID):
            raise unsupported("free of something other than a local malloc'd array", span)
        sym = self.resolve(args[0].name, span)
        if not sym.allocatable or sym.storage != "local":
            raise unsupported("free of something other than a local malloc'd array", span, args[0].name)
        return Deallocate([sym.name], span=span)


def is_null(n) -> bool:
    """No initialiser, 0 or NULL (which the fake libc defines as 0)."""
    while isinstance(n, c_ast.Cast):
        n = n.expr
    return n is None or (isinstance(n, c_ast.Constant) and n.value == "0")


def _casts(n) -> list:
    out = []
    while isinstance(n, c_ast.Cast):
        out.append(n)
        n = n.expr
    return out


def _factors(n) -> list:
    if isinstance(n, c_ast.BinaryOp) and n.op == "*":
        return _factors(n.left) + _factors(n.right)
    return [n]


def _minus_one(e: Expr) -> Expr:
    if isinstance(e, Lit) and e.type.base == "integer":
        return Lit(str(int(e.text) - 1), e.type)
    return Bin("-", e, Lit("1", INT8))
