"""C structs: definitions to IR TypeDefs, member accesses to Ref paths.

A struct's IR name is how C spells its type: the typedef name when it has
one (`Prior`), else `struct tag`.  The backend then prints a declaration
from the name alone, and the derivative type `T_diff` (interface.md) is
spelled `Prior_diff` or `struct tag_diff` alike.  Headers included by two
input files define a struct twice: the same definition is read once, a
different one under the same name is an error.

`s[i].a.b[j]` is Ref('s', [i], path=[Part('a'), Part('b', [j])]) with the
subscripts of each step in the IR's reversed order (c_types.py); `p->x`
and `(*p).x` for a struct pointer p are both Ref('p', path=[Part('x')]),
and `p->x` for a pointer used as an array (`p[i].x` elsewhere) is p[0].x.
A `double *` member points at an array of unknown extent: a pointer
component of shape [0:*].
"""
from __future__ import annotations

from typing import Callable, Optional

from pycparser import c_ast

from ..diagnostics import AdError, bad_input, unsupported
from ..ir.nodes import INT4, Assign, Dim, Expr, Lit, Loop, Part, Ref, Span, Symbol, Type, TypeDef
from .c_types import Declarator, span_of, zero_of


class StructReader:
    """Struct specifiers met anywhere at file scope (in typedefs, variable
    and parameter declarations, other structs) to TypeDefs."""

    def __init__(self, typedefs, value: Callable[[object], Expr]) -> None:
        self.typedefs = typedefs
        self.value = value
        self.types: dict[str, TypeDef] = {}
        self.tags: dict[str, str] = {}           # struct tag -> IR name
        self.typedef_of: dict[int, str] = {}     # id(Struct node) -> typedef naming it
        self.broken: dict[str, AdError] = {}     # tags of definitions adtool cannot read
        typedefs.struct_type = self.struct_type

    def name_typedef(self, n) -> None:
        """`typedef struct [tag] {...} name;`: the struct is called name."""
        t = n.type
        if isinstance(t, c_ast.TypeDecl) and isinstance(t.type, c_ast.Struct) and t.type.decls is not None:
            self.typedef_of[id(t.type)] = n.name

    def struct_type(self, node, span: Span) -> Type:
        if node.decls is None:
            if node.name in self.tags:
                return Type("derived", name=self.tags[node.name])
            if node.name in self.broken:
                raise self.broken[node.name]
            raise unsupported("struct declared but not defined", span, f"struct {node.name}")
        try:
            return self._define(node, span)
        except AdError as exc:
            if node.name is not None:
                self.broken.setdefault(node.name, exc)    # an error where the tag is used
            raise

    def _define(self, node, span: Span) -> Type:
        tdname = self.typedef_of.get(id(node))
        if tdname is None and node.name is None:
            raise unsupported("anonymous struct without a typedef", span)
        name = tdname or f"struct {node.name}"
        comps: dict[str, Symbol] = {}
        for d in node.decls:
            dspan = span_of(d, span)
            if d.bitsize is not None:
                raise unsupported("bit-field", dspan, d.name)
            if d.name is None:
                raise unsupported("anonymous struct member", dspan)
            if d.name in comps:
                raise bad_input(f"member '{d.name}' declared twice in {name}", dspan)
            comps[d.name] = self._component(d, dspan)
        td = TypeDef(name, comps, c_typedef=tdname, c_tag=node.name, span=span)
        old = self.types.get(name)
        if old is not None and not _same(old, td):
            raise bad_input(f"{name} defined twice, differently (first at {old.span})", span)
        if node.name is not None:
            other = self.tags.get(node.name)
            if other is not None and other != name and self.types[other].span != span:
                raise bad_input(f"struct {node.name} defined twice (first at {self.types[other].span})",
                                span)
            self.tags[node.name] = name
        if old is None:
            self.types[name] = td
        return Type("derived", name=name)

    def _component(self, d, span: Span) -> Symbol:
        t = d.type
        while isinstance(t, (c_ast.PtrDecl, c_ast.ArrayDecl)):
            if isinstance(t, c_ast.PtrDecl) and isinstance(t.type, c_ast.TypeDecl) and \
                    isinstance(t.type.type, c_ast.Struct):
                raise unsupported("pointer to a struct as a struct member", span, d.name)
            t = t.type
        dec = Declarator(d.type, span, self.typedefs, self.value)
        sym = Symbol(d.name, dec.type, storage="component", span=span)
        if dec.pointers:
            if dec.type.base == "derived":
                raise unsupported("pointer to a struct as a struct member", span, d.name)
            if dec.type.base == "void":
                raise unsupported("void pointer member", span, d.name)
            sym.shape = [Dim(Lit("0", INT4), None)]
            sym.pointer = True
            return sym
        for x in dec.dims_c:
            if x is None:
                raise unsupported("flexible array member", span, d.name)
            if not isinstance(x, Lit):
                raise unsupported("struct member whose size is not a constant", span, d.name)
        sym.shape = dec.shape()
        return sym


def _same(a: TypeDef, b: TypeDef) -> bool:
    if list(a.components) != list(b.components):
        return False
    for k in a.components:
        x, y = a.components[k], b.components[k]
        if x.type != y.type or x.pointer != y.pointer or x.shape != y.shape:
            return False
    return True


class StructLowering:
    """Mixed into the function lowering: member accesses."""

    def typedef(self, t: Type) -> TypeDef:
        return self.front.structs.types[t.name]

    def member(self, n, span, partial: bool = False, whole: bool = False) -> Ref:
        """`base.f[i]...` / `base->f[i]...`: n is an ArrayRef chain over a
        StructRef (or the StructRef itself)."""
        subs = []
        node = n
        while isinstance(node, c_ast.ArrayRef):
            subs.append(self.value(node.subscript))
            node = node.name
        subs.reverse()
        assert isinstance(node, c_ast.StructRef)
        base = self.record(node.name, node.type, span)
        t = self.ref_type(base)
        if t.base != "derived":
            raise bad_input(f"member '{node.field.name}' of something that is not a struct", span)
        td = self.typedef(t)
        comp = td.components.get(node.field.name)
        if comp is None:
            raise bad_input(f"{td.name} has no member '{node.field.name}'", span)
        if len(subs) > comp.rank:
            raise bad_input(f"member '{comp.name}' has {comp.rank} dimensions, indexed with {len(subs)}",
                            span)
        if len(subs) < comp.rank and not (whole and not subs):
            if not partial:
                raise unsupported("array member used as a value", span,
                                  f"'{comp.name}' indexed with fewer subscripts than its "
                                  f"{comp.rank} dimensions; index it or pass it to a function")
            subs += [Lit("0", INT4)] * (comp.rank - len(subs))
        path = list(base.path or []) + [Part(comp.name, list(reversed(subs)) if subs else None)]
        return Ref(base.name, base.subs, path=path, span=span)

    def record(self, n, op: str, span) -> Ref:
        """The struct a member access starts from: a whole struct (an element
        for an array of structs), through `->` a pointer to one."""
        if op == "->":
            if isinstance(n, c_ast.ID):
                sym = self.resolve(n.name, span)
                if self.is_alias(sym):
                    return self.alias_element(sym, Lit("0", INT4), span)
                if sym.rank == 1:
                    return Ref(sym.name, [Lit("0", INT4)], span=span)     # p->x is p[0].x
                if sym.rank or sym.storage != "arg" or sym.by_value:
                    raise unsupported("'->' on something that is not a struct pointer", span, n.name)
                return Ref(sym.name, span=span)
            return self.deref(c_ast.UnaryOp("*", n, coord=n.coord), span)
        if isinstance(n, c_ast.ID):
            sym = self.resolve(n.name, span)
            if sym.rank:
                raise unsupported("'.' on an array of structs", span, n.name)
            return Ref(sym.name, span=span)
        if isinstance(n, c_ast.ArrayRef):
            return self.element(n, span, partial=False)
        if isinstance(n, c_ast.StructRef):
            return self.member(n, span)
        if isinstance(n, c_ast.UnaryOp) and n.op == "*":
            return self.deref(n, span)
        raise unsupported(f"member access of {type(n).__name__}", span)

    def struct_assign(self, lhs: Ref, rhs: Expr, span, depth: int = 0) -> list:
        """`a = b` of structs, member by member (array members element by
        element in loops), so that later stages see only assignments of
        numbers: their derivatives then follow the one rule for those."""
        if not isinstance(rhs, Ref):
            raise unsupported("struct assignment from an expression that is not a variable", span)
        t = self.ref_type(lhs)
        if self.ref_type(rhs) != t:
            raise bad_input("assignment between structs of different types", span)
        out: list = []
        for name, c in self.typedef(t).components.items():
            if c.pointer:
                raise unsupported("assignment of a struct with a pointer member", span,
                                  f"member '{name}' would alias; assign the other members one by one")
            idx = []
            for _ in c.shape:
                idx.append(self._member_index(depth + len(idx), span))
            subs = [Ref(i, span=span) for i in idx] or None
            l = Ref(lhs.name, lhs.subs, list(lhs.path or []) + [Part(name, subs)], span=span)
            r = Ref(rhs.name, rhs.subs, list(rhs.path or []) + [Part(name, list(subs) if subs else None)],
                    span=span)
            body = self.struct_assign(l, r, span, depth + len(idx)) if c.type.base == "derived" \
                else [Assign(l, r, span=span)]
            for i, d in zip(idx, c.shape):
                body = [Loop(i, Lit("0", INT4), d.ub, body=body, span=span)]
            out.extend(body)
        return out

    def struct_init(self, lhs: Ref, init, span, depth: int = 0) -> list:
        """`T g = {a, b}`, `{.x = 1, .y = 2}`, `{0}`: assignments of every
        member in declaration order, C's zero for those the list leaves
        out (nested structs and array members take braced lists of their
        own)."""
        if not isinstance(init, c_ast.InitList):
            return self.struct_assign(lhs, self.value(init), span, depth)
        comps = list(self.typedef(self.ref_type(lhs)).components.items())
        given: dict[str, object] = {}
        k = 0
        for it in init.exprs:
            if isinstance(it, c_ast.NamedInitializer):
                if len(it.name) != 1 or not isinstance(it.name[0], c_ast.ID):
                    raise unsupported("designated initialiser of a nested member or an element",
                                      span_of(it, span))
                names = [nm for nm, _ in comps]
                if it.name[0].name not in names:
                    raise bad_input(f"no member '{it.name[0].name}' in this struct", span_of(it, span))
                k = names.index(it.name[0].name)
                it = it.expr
            if k >= len(comps):
                raise bad_input("too many initialisers for a struct", span_of(it, span))
            given[comps[k][0]] = it
            k += 1
        out: list = []
        for name, c in comps:
            item = given.get(name)
            l = Ref(lhs.name, lhs.subs, list(lhs.path or []) + [Part(name, None)], span=span)
            if c.pointer:
                if item is None:
                    continue             # (C's null pointer: never read before it is set)
                raise unsupported("initialiser of a pointer member", span_of(item, span), name)
            if c.type.base == "derived" and not c.shape:
                out += self.struct_init(l, item if item is not None else c_ast.InitList([]), span, depth)
                continue
            zero = zero_of(c.type)
            if not c.shape:
                if isinstance(item, c_ast.InitList):
                    if len(item.exprs) != 1:
                        raise bad_input(f"braced list of {len(item.exprs)} values for member '{name}'", span)
                    item = item.exprs[0]
                out.append(Assign(l, zero if item is None else self.value(item), span=span))
                continue
            if c.rank != 1 or c.type.base == "derived" or not isinstance(c.shape[0].ub, Lit):
                raise unsupported("initialiser of a struct with a multi-dimensional, struct or "
                                  "variable-size array member", span, name)
            if item is not None and not isinstance(item, c_ast.InitList):
                raise unsupported("initialiser of an array member without its own braces", span_of(item, span), name)
            values = [self.value(x) for x in (item.exprs if item is not None else [])]
            n = int(c.shape[0].ub.text) + 1
            if len(values) > n or any(isinstance(x, c_ast.NamedInitializer) for x in (item.exprs if item else [])):
                raise bad_input(f"initialiser of member '{name}' does not fit it", span)
            for j in range(n):
                e = Ref(lhs.name, lhs.subs, list(lhs.path or []) + [Part(name, [Lit(str(j), INT4)])], span=span)
                out.append(Assign(e, values[j] if j < len(values) else zero, span=span))
        return out

    def through_copy(self, ref: Ref, span) -> None:
        """Writing through a pointer member of a struct passed by value
        reaches the caller's array, which the IR's by-value argument says
        it cannot: refused rather than differentiated wrongly."""
        sym = self.symbol(ref.name)
        if not ref.path or sym is None or not sym.by_value:
            return
        t = sym.type
        for part in ref.path:
            comp = self.typedef(t).components[part.name]
            if comp.pointer:
                raise unsupported("writing through a pointer member of a struct passed by value", span,
                                  f"{ref.name}.{part.name}; pass a pointer to the struct")
            t = comp.type

    def member_pointer(self, lhs: Ref, n, span) -> Assign:
        """`s.means = a` in a driver or set-up function (a main program
        that builds the struct): kept for the C output, and an error of the
        run only if a differentiated function does it -- the IR has no
        pointers, and an adjoint cannot follow what the member aliases."""
        if n.op != "=" or not isinstance(n.rvalue, c_ast.ID):
            raise unsupported("pointer member set from an expression", span, lhs.path[-1].name)
        sym = self.resolve(n.rvalue.name, span)
        if sym.rank != 1 or self.is_alias(sym):
            raise unsupported("pointer member set to something other than a one-dimensional array",
                              span, lhs.path[-1].name)
        self.deferred.append(unsupported("pointing a struct member at an array in a differentiated "
                                         "function", span, f"{lhs.name}.{lhs.path[-1].name}; "
                                         "set the pointers in the caller"))
        return Assign(lhs, Ref(sym.name, span=span), span=span)

    def _member_index(self, depth: int, span) -> str:
        """A loop index of the front end's own for member copies, one per depth."""
        if not hasattr(self, "_member_idx"):
            self._member_idx = []
        while len(self._member_idx) <= depth:
            self._member_idx.append(self.hidden_local("ad_m", INT4, span).name)
        return self._member_idx[depth]

    def ref_type(self, e: Ref) -> Type:
        return self.ref_component(e)[0]

    def ref_component(self, e: Ref) -> tuple[Type, Optional[Symbol]]:
        """The type at the end of e's path, and the component there."""
        sym = self.symbol(e.name)
        t, comp = sym.type, None
        for part in e.path or []:
            comp = self.typedef(t).components[part.name]
            t = comp.type
        return t, comp
