"""One C function (or the file scope, for globals) lowered to an IR Routine.

C has block scope; the IR has one symbol table per routine.  Block-scoped
locals are hoisted into it, and a name declared again in another block
with a different type or shape is renamed (`x_2`) so no two C variables
share an IR symbol.  Initialisers of automatic variables become
assignments where the declaration stood (C re-initialises them each time
the block is entered); only `static` locals and globals keep `init`.
"""
from __future__ import annotations

from collections import ChainMap

from typing import Optional

from pycparser import c_ast

from ..diagnostics import bad_input, gather, unsupported
from ..ir.nodes import (INT4, ArrayCtor, Assign, Directive, Expr, Lit, Loop, Ref,
                        Routine, Span, Stmt, Symbol, Type)
from ..ir.visit import refs_in, walk_stmts
from .c_expr import ExprLowering
from .c_alias import AliasLowering, pointer_kind
from .c_goto import GotoLowering, drop_unused_labels
from .c_heap import HeapLowering, is_heap_call, is_null
from .c_mem import MemLowering
from .c_struct import StructLowering
from .c_swap import SwapLowering
from .c_stmt import StmtLowering
from .c_types import Declarator, enum_value, span_of, zero_of


class FunctionLowering(ExprLowering, StmtLowering, HeapLowering, AliasLowering, SwapLowering,
                       StructLowering, MemLowering, GotoLowering):
    def __init__(self, front, fd, directives: list[Directive]) -> None:
        self.front = front
        # function-pointer parameters (first) are called like functions
        self.funcs = ChainMap({}, front.funcs)
        self.typedefs = front.typedefs
        self.fd = fd
        self.directives = directives
        self.scopes: list[dict[str, Symbol]] = [front.globals]
        self.ctx: list[str] = []
        self.span = span_of(fd) if fd is not None else Span("<file scope>", 0, 0)
        self.routine: Optional[Routine] = None
        self.is_main = False
        self.vla_locals: list[Symbol] = []
        self.errors: list = []          # every error of the function's statements
        # What only a differentiated function may not do (point a struct
        # member at an array): errors of the run when a head reaches it.
        self.deferred: list = []
        self.hidden: set[str] = set()   # locals the front end made (no C name refers to them)
        self.alias_base: dict[str, Optional[str]] = {}   # see c_alias.py
        self.alias_type: dict[str, tuple[str, Type]] = {}
        self.swap_parity: Optional[Symbol] = None       # see c_swap.py
        self.swaps: list = []
        self.labels: dict[str, int] = {}                # see c_goto.py
        self.label_blocks: dict[str, tuple[int, ...]] = {}
        self.gotos: list = []
        self.block_ids: list[int] = []
        self.enum_scopes: list[dict[str, int]] = []     # see local_enum
        self.blocks_opened = 0

    # -------------------------------------------------------------- names

    def symbol(self, name: str) -> Optional[Symbol]:
        if self.routine is not None and name in self.routine.symbols:
            return self.routine.symbols[name]
        return self.front.globals.get(name)

    def resolve(self, cname: str, span: Span) -> Symbol:
        for scope in reversed(self.scopes):
            if cname in scope:
                return scope[cname]
        if cname in self.funcs:
            raise unsupported("function pointer", span, f"'{cname}' used as a value")
        if cname in self.front.unreadable:
            raise self.front.unreadable[cname]
        raise bad_input(f"'{cname}' is not declared", span)

    def push_scope(self) -> None:
        self.scopes.append({})
        self.blocks_opened += 1
        self.block_ids.append(self.blocks_opened)
        self.enum_scopes.append({})

    def pop_scope(self) -> None:
        self.scopes.pop()
        self.block_ids.pop()
        self.enum_scopes.pop()

    def local_enum(self, t, span: Span) -> None:
        """`enum { LEFT, RIGHT, NSIDE };` in a block: its constants are
        values where they are visible, like file-scope ones (c_types.
        enum_type), but only in that block, under any variable or
        constant of the same name in an enclosing one."""
        visible = dict(self.front.enum_consts)
        for sc in self.enum_scopes:
            visible.update(sc)
        value = -1
        for e in t.values.enumerators:
            value = value + 1 if e.value is None else enum_value(e.value, visible, span_of(e, span))
            if e.name in self.scopes[-1] or e.name in self.enum_scopes[-1]:
                raise bad_input(f"'{e.name}' declared twice in one block", span_of(e, span))
            self.enum_scopes[-1][e.name] = visible[e.name] = value

    def local_const(self, cname: str) -> Optional[int]:
        """The value of a block-scoped enumeration constant cname, if that
        is what the name means here (a variable of an inner block hides it)."""
        for sc, consts in zip(reversed(self.scopes[1:]), reversed(self.enum_scopes)):
            if cname in sc:
                return None
            if cname in consts:
                return consts[cname]
        return None

    def declare_local(self, cname: str, t: Type, span: Span, static: bool) -> Symbol:
        syms = self.routine.symbols
        visible = {s.name for sc in self.scopes[1:] for s in sc.values()}
        name, k = cname, 1
        while True:
            old = syms.get(name)
            free = old is None and name not in self.front.globals and name not in self.funcs \
                and name != self.routine.name
            reusable = old is not None and old.storage == "local" and name not in visible \
                and name not in self.hidden \
                and old.type == t and not old.shape and not old.save and not static
            if free or reusable:
                break
            k += 1
            name = f"{cname}_{k}"
        sym = syms.get(name) if name in syms else Symbol(name, t, storage="local", span=span, save=static)
        syms[name] = sym
        self.scopes[-1][cname] = sym
        return sym

    def hidden_local(self, base: str, t: Type, span: Span) -> Symbol:
        """A local of the front end's own, out of every C scope."""
        syms = self.routine.symbols
        name, k = base, 1
        while name in syms or name in self.front.globals or name in self.funcs:
            k += 1
            name = f"{base}_{k}"
        syms[name] = Symbol(name, t, storage="local", span=span)
        self.hidden.add(name)
        return syms[name]

    # -------------------------------------------------------------- shapes

    def set_shape(self, sym: Symbol, d: Declarator, init, span: Span) -> None:
        if d.dims_c and d.dims_c[0] is None:
            if isinstance(init, c_ast.InitList):
                d.dims_c[0] = Lit(str(len(init.exprs)), INT4)
            elif sym.storage != "arg":
                raise bad_input(f"array '{sym.name}' has no size", span)
        sym.shape = d.shape()

    def _extents(self, sym: Symbol, span: Span) -> list[int]:
        out = []
        for dim in reversed(sym.shape):
            if not isinstance(dim.ub, Lit):
                raise unsupported("initialiser of a variable-length array", span, sym.name)
            out.append(int(dim.ub.text) + 1)
        return out

    def _flat_init(self, init, sym: Symbol, span: Span) -> tuple[list[Expr], int]:
        """C initialiser items in row-major order (= the IR's column-major
        order of the reversed shape) and how many trailing zeros C adds."""
        ext = self._extents(sym, span)

        def flat(node, level: int) -> list[Expr]:
            size = 1
            for e in ext[level + 1:]:
                size *= e
            out: list[Expr] = []
            for it in node.exprs:
                if isinstance(it, c_ast.NamedInitializer):
                    raise unsupported("designated initialiser", span_of(it, span))
                if isinstance(it, c_ast.InitList):
                    if level + 1 >= len(ext):
                        raise bad_input("too many braces in an initialiser", span_of(it, span))
                    sub = flat(it, level + 1)
                    out += sub + [None] * (size - len(sub))
                else:
                    out.append(self.value(it))
            return out
        items = flat(init, 0)
        total = 1
        for e in ext:
            total *= e
        if len(items) > total:
            raise bad_input(f"too many initialisers for '{sym.name}'", span)
        zero = zero_of(sym.type)
        pad = total - len(items)
        return [zero if x is None else x for x in items], pad

    def static_init(self, init, sym: Symbol, d: Declarator, span: Span) -> Expr:
        if not sym.shape:
            if isinstance(init, c_ast.InitList):
                raise unsupported("braced initialiser of a scalar", span, sym.name)
            return self.value(init)
        if not isinstance(init, c_ast.InitList):
            raise bad_input(f"array '{sym.name}' initialised from a non-list", span)
        items, pad = self._flat_init(init, sym, span)
        zero = zero_of(sym.type)
        return ArrayCtor(items + [zero] * pad, span=span)

    # -------------------------------------------------------------- decls

    def local_decl(self, n, span: Span) -> list[Stmt]:
        storage = n.storage or []
        if "extern" in storage:
            raise unsupported("extern declaration inside a function", span, n.name)
        if isinstance(n.type, c_ast.FuncDecl):
            raise unsupported("function declaration inside a function", span, n.name)
        if isinstance(n.type, c_ast.Struct):
            # `struct t {...};` in a block: a type like any other (the
            # generated file defines it at file scope)
            self.typedefs.struct_type(n.type, span)
            return []
        if isinstance(n.type, c_ast.Enum):
            # `enum {A, B};` or `enum tag {A, B};` in a block: constants only
            Declarator(c_ast.TypeDecl(None, [], None, n.type), span, self.typedefs, self.value)
            return []
        if isinstance(n.type, c_ast.Union):
            raise unsupported("union", span)
        d = Declarator(n.type, span, self.typedefs, self.value)
        if d.pointers:
            heap = is_heap_call(n.init) if not is_null(n.init) else \
                pointer_kind(self.fd.body, n.name) == "heap"
            return self.heap_local(n, d, span) if heap else self.alias_local(n, d, span)
        static = "static" in storage
        sym = self.declare_local(n.name, d.type, span, static)
        self.set_shape(sym, d, n.init, span)
        if sym.shape and not all(isinstance(x.ub, Lit) for x in sym.shape):
            if static:
                raise unsupported("static variable-length array", span, n.name)
            self.vla_locals.append(sym)
        if n.init is None:
            return []
        if sym.type.base == "derived":
            if static or sym.shape:
                raise unsupported("initialiser of a static struct or an array of structs", span,
                                  f"assign the members of '{n.name}'")
            return self.struct_init(Ref(sym.name, span=span), n.init, span)
        if static:
            sym.init = self.static_init(n.init, sym, d, span)
            return []
        if not sym.shape:
            return [Assign(Ref(sym.name, span=span), self.value(n.init), span=span)]
        return self._array_assigns(n.init, sym, span)

    def _array_assigns(self, init, sym: Symbol, span: Span) -> list[Stmt]:
        if not isinstance(init, c_ast.InitList):
            raise bad_input(f"array '{sym.name}' initialised from a non-list", span)
        items, pad = self._flat_init(init, sym, span)
        ext = self._extents(sym, span)
        out: list[Stmt] = []
        for flat, e in enumerate(items):
            out.append(Assign(Ref(sym.name, _subs(flat, ext), span=span), e, span=span))
        if pad:
            if len(ext) != 1:
                raise unsupported("partly initialised multi-dimensional local array", span, sym.name)
            i = self.declare_local(f"{sym.name}_i", INT4, span, False)
            zero = zero_of(sym.type)
            out.append(Loop(i.name, Lit(str(len(items)), INT4), Lit(str(ext[0] - 1), INT4),
                            body=[Assign(Ref(sym.name, [Ref(i.name)], span=span), zero, span=span)],
                            span=span))
        return out

    # -------------------------------------------------------------- routine

    def lower(self) -> Routine:
        decl = self.fd.decl
        span = span_of(decl)
        info = self.funcs[decl.name]
        self.is_main = decl.name == "main"
        kind = "program" if self.is_main else ("subroutine" if info.result.base == "void" else "function")
        r = Routine(decl.name, kind, [], {}, [], span=span, language="c",
                    static="static" in (decl.storage or []), directives=list(self.directives))
        self.routine = r
        self.push_scope()
        from .c import _params
        params = _params(decl.type)
        if self.is_main and params:
            raise unsupported("main with arguments", span, "use int main(void)")
        if self.is_main and info.result != INT4:
            raise bad_input("main must return int", span)
        for p, pkind in zip(params, info.params):
            self._param(p, pkind)
        for n in self.front.extents_before.get(decl.name, []):
            self.declare_extent(n)
        if kind == "function":
            rname = self.declare_local(f"{decl.name}_result", info.result, span, False).name
            r.symbols[rname].storage = "result"
            r.result = rname
        self.typedefs.local_enum = self.local_enum
        try:
            r.body = self.undo_swaps(self.block(self.fd.body.block_items))
        finally:
            self.typedefs.local_enum = None
        self.pop_scope()
        self.errors += self.check_gotos()
        drop_unused_labels(r.body)
        if self.errors:
            raise gather(self.errors)
        r.errors.extend(self.deferred)
        self._check_vla(r)
        return r

    def _param(self, p, pkind: str) -> None:
        span = span_of(p, self.span)
        if pkind == "proc":
            return self._proc_param(p, span)
        d = Declarator(p.type, span, self.typedefs, self.value)
        sym = Symbol(p.name, d.type, storage="arg", span=span)
        if pkind == "value":
            sym.by_value = True
        elif pkind == "ref":
            sym.intent = "in" if d.const else None
        else:
            if d.pointers:
                d.dims_c = [None]
            self.set_shape(sym, d, None, span)
            sym.intent = "in" if d.const else None
        if sym.type.base == "void":
            raise unsupported("void pointer", span, p.name)
        self.routine.args.append(p.name)
        self.routine.symbols[p.name] = sym
        self.scopes[-1][p.name] = sym

    def _proc_param(self, p, span) -> None:
        """`double (*f)(double)`: called like a function in the body; the
        front end specialises this function for each function its callers
        pass (frontend/specialize.py)."""
        from pycparser import c_generator
        from .c import function_pointer
        from .c_expr import FuncInfo
        from .c_types import base_type
        fd = function_pointer(p.type, self.typedefs)
        if not isinstance(fd.type, c_ast.TypeDecl):
            raise unsupported("function pointer returning a pointer", span, p.name)
        rtype = base_type(fd.type, span, self.typedefs)
        kinds = []
        for a in (fd.args.params if fd.args is not None else []):
            if isinstance(a, c_ast.EllipsisParam):
                raise unsupported("variadic function pointer", span, p.name)
            if isinstance(getattr(a, "type", None), c_ast.TypeDecl) and \
                    getattr(a.type.type, "names", None) == ["void"]:
                continue
            d = Declarator(a.type, span, self.typedefs, lambda x: Lit("0", INT4))
            kinds.append("array" if d.dims_c or d.pointers else "value")
        # written back with a typedef'd type spelled out (the typedef is not
        # in the output): `double (*g)(double)`
        import copy
        t = c_ast.PtrDecl([], copy.deepcopy(fd))
        inner = t.type.type
        while not isinstance(inner, c_ast.TypeDecl):
            inner = inner.type
        inner.declname = p.name
        text = c_generator.CGenerator().visit(t.type.type)
        args = c_generator.CGenerator().visit(fd.args) if fd.args is not None else "void"
        ret = text.rsplit(p.name, 1)[0].rstrip()
        sym = Symbol(p.name, rtype, storage="arg", external=True, span=span,
                     proc_interface=f"{ret} (*{p.name})({args})", proc_params=kinds)
        self.funcs.maps[0][p.name] = FuncInfo(p.name, rtype, kinds)
        self.routine.args.append(p.name)
        self.routine.symbols[p.name] = sym
        self.scopes[-1][p.name] = sym

    def declare_extent(self, n) -> None:
        """`$AD EXTENT x n*d` (see c_pre): x, a pointer argument, has n*d
        elements -- for the extents adtool cannot infer from the code."""
        from .c_pre import EXTENT_PREFIX
        from .c_types import extent_to_ub
        span = span_of(n, self.span)
        name = n.name[len(EXTENT_PREFIX):]
        sym = self.resolve(name, span)
        if sym.storage != "arg" or sym.rank != 1 or sym.by_value:
            raise bad_input(f"$AD EXTENT names '{name}', which is not a pointer argument used as an array",
                            span)
        dim = n.type.dim
        sym.shape[0].ub = extent_to_ub(self.value(dim))
        sym.pointer = True

    def _check_vla(self, r: Routine) -> None:
        """A local VLA is declared at the top of the printed function, so its
        size may only use values fixed on entry (parameters never assigned)."""
        assigned = {s.lhs.name for s in walk_stmts(r.body) if isinstance(s, Assign)}
        for sym in self.vla_locals:
            for dim in sym.shape:
                for ref in refs_in(dim.ub):
                    s = self.symbol(ref.name)
                    if s is None or s.storage not in ("arg", "global") or ref.name in assigned:
                        raise unsupported("variable-length local array whose size is computed "
                                          "in the body", sym.span, sym.name)


def _subs(flat: int, ext: list[int]) -> list[Expr]:
    """Row-major flat index -> IR subscripts (reversed C order)."""
    idx = []
    for e in reversed(ext):
        idx.append(Lit(str(flat % e), INT4))
        flat //= e
    return idx

