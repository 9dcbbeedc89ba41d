"""Interfaces and how a call finds its procedure: INTERFACE blocks
(explicit interfaces of external routines, generic names over specific
procedures), procedures renamed by `use m, only: a => b`, and OPTIONAL
arguments a call omits.

Everything is settled here, at the call: the IR names the specific
procedure (so that the call graph, the analyses and the derivative variants
see one routine), and keeps one positional slot per formal argument, an
omitted optional one holding `Absent`.  The generated code calls what the
IR names, so a call that reached its procedure under another name brings
that procedure into scope with a `use` of its module.
"""
from __future__ import annotations

from typing import Optional

from fparser.two import Fortran2003 as F

from ..diagnostics import bad_input, unsupported
from ..ir import intrinsics
from ..ir.nodes import (Absent, ArrayCtor, Bin, Call, Cast, Cond, Expr, Interface, Lit, Ref, Routine,
                        Section, Span, Type, Un, Use)
from .fortran_tree import _Unit, _line_of, _name


def _scope_key(u: _Unit) -> str:
    """Interfaces belong to the scope that declares them: a module (the
    module's specification is read through a unit named like it) or a routine."""
    if u.routine.kind == "module":
        return "module " + u.routine.name
    return f"routine {id(u.routine)}"


class Interfaces:
    """Mixin of FortranFrontend (see fortran.py)."""

    # -------------------------------------------------------------- declarations

    def optional_or_target(self, st, get, span: Span) -> None:
        """OPTIONAL, TARGET and POINTER statements (the attributes are read
        with the other attributes of a type declaration)."""
        if isinstance(st, F.Optional_Stmt):
            for nm in st.children[1].children:
                get(_name(nm), span).optional = True
            return
        if isinstance(st, F.Pointer_Stmt):
            for d in st.children[1].children:
                nm, dims = (d.children[0], d.children[1]) if isinstance(d, F.Pointer_Decl) else (d, None)
                sym = get(_name(nm), span)
                if dims is not None:
                    sym.shape = self._array_spec(dims)
                self.declare_pointer(sym, sym.storage, span)
            return
        for ent in st.children[0].children:
            sym = get(_name(ent.children[0]), span)
            sym.target = True
            if ent.children[1] is not None:
                sym.shape = self._array_spec(ent.children[1])

    def interface_block(self, u: _Unit, st, span: Span) -> None:
        head = st.children[0]
        spec = head.children[0] if isinstance(head, F.Interface_Stmt) else None
        abstract = str(head).strip().lower().startswith("abstract")
        if abstract:
            spec = None
        if isinstance(spec, F.Generic_Spec):
            generic = operator_generic(spec, span)
        elif spec is not None and not isinstance(spec, F.Name):
            raise unsupported(f"interface {str(spec).lower()}", span)
        else:
            generic = _name(spec) if spec is not None else None
        specifics: list[str] = []
        bodies: dict[str, Routine] = {}
        for c in st.children[1:]:
            if isinstance(c, (F.Comment, F.End_Interface_Stmt)):
                continue
            if isinstance(c, F.Procedure_Stmt):
                specifics.extend(_name(n) for n in c.children[0].children)
            elif isinstance(c, (F.Subroutine_Body, F.Function_Body)):
                r = self._interface_body(u, c)
                specifics.append(r.name)
                bodies[r.name] = r
            else:
                raise unsupported(f"{type(c).__name__.replace('_', ' ').lower()} in an INTERFACE block",
                                  u.src.span(_line_of(c)))
        if abstract:
            for n, body in bodies.items():     # interfaces, not procedures: not callable
                self.explicit_interfaces[n] = [b for b in self.explicit_interfaces[n] if b is not body]
                self.abstract_interfaces[n] = body
        for n, body in bodies.items():
            if n in u.routine.args and generic is None and not abstract:
                self._dummy_procedure(u.routine.symbols[n], body)
        block = Interface(generic, [n for n in specifics if n not in bodies],
                          [bodies[n] for n in specifics if n in bodies], abstract=abstract)
        owner = self.tu.module(u.routine.name) if u.routine.kind == "module" else u.routine
        owner.interfaces.append(block)
        if generic is not None:
            if generic in self.generic_names.setdefault(_scope_key(u), {}):
                raise bad_input(f"generic interface '{generic}' declared twice in one scope", span)
            self.generic_names[_scope_key(u)][generic] = specifics

    def procedure_declaration(self, st, get, span: Span) -> None:
        """`procedure(iface) :: f, g`: procedures with the interface of an
        abstract interface or of a named procedure; as dummies, replaced
        by what each caller passes (frontend/specialize.py)."""
        iface, attrs, decls = st.children
        if attrs is not None:
            raise unsupported(f"PROCEDURE declaration with attributes ({str(attrs).lower()})", span)
        if iface is None or not isinstance(iface, F.Name):
            raise unsupported("PROCEDURE declaration without an interface name", span)
        iname = _name(iface)
        body = self.abstract_interfaces.get(iname) or self.callable_routine(iname) \
            or self.explicit_interface(iname)
        if body is None:
            raise bad_input(f"PROCEDURE({iname}): no interface or procedure '{iname}'", span)
        for d in decls.children:
            if not isinstance(d, F.Name):
                raise unsupported("procedure pointer", span, str(d))
            sym = get(_name(d), span)
            self._dummy_procedure(sym, body)
            sym.by_interface = False
            sym.proc_interface = iname

    @staticmethod
    def _dummy_procedure(sym, body: Routine) -> None:
        """A dummy argument an interface body describes is a procedure
        (frontend/specialize.py replaces it by what each caller passes)."""
        sym.external = sym.by_interface = True
        sym.type = body.symbols[body.result].type if body.kind == "function" else Type("void", 0)
        sym._declared = True  # type: ignore[attr-defined]

    def _interface_body(self, u: _Unit, node) -> Routine:
        """An explicit interface: a routine with declarations and no body.
        It describes an external routine (the definition, when its source is
        given, governs; the interface must agree with it)."""
        head = node.children[0]
        kind = "subroutine" if isinstance(node, F.Subroutine_Body) else "function"
        name = _name(head.children[1])
        arglist = head.children[2]
        args = [_name(a) for a in arglist.children] if arglist is not None else []
        span = u.src.span(_line_of(head), 1)
        r = Routine(name, kind, args, {}, [], span=span)
        iu = _Unit(r, node, u.src, None)
        saved, saved_span = self.cur, self.span
        try:
            self._declare(iu)
        finally:
            self.cur, self.span = saved, saved_span
        r.module = u.routine.name if u.routine.kind == "module" else None
        self.explicit_interfaces.setdefault(name, []).append(r)
        return r

    def explicit_interface(self, name: str) -> Optional[Routine]:
        """The INTERFACE body for `name` visible from the unit being lowered:
        in it or a host, in its module, or in a module they use."""
        for key, uses in self._scopes():
            owner = self._scope_owner(key)
            for r in self.explicit_interfaces.get(name, []):
                if owner is not None and any(b is r for blk in owner.interfaces for b in blk.bodies):
                    return r
                if self._interface_via_uses(r, uses, set()):
                    return r
        return None

    def _scope_owner(self, key: str):
        if key.startswith("module "):
            return self.tu.module(key[len("module "):])
        u = self.cur
        while u is not None:
            if _scope_key(u) == key:
                return u.routine
            u = u.host
        return None

    def _interface_via_uses(self, r: Routine, uses: list[Use], seen: set) -> bool:
        for use in uses:
            mod = self.tu.module(use.module)
            if mod is None or use.module in seen:
                continue
            if use.only is not None and r.name not in use.only:
                continue
            if any(b is r for blk in mod.interfaces for b in blk.bodies):
                return True
            if self._interface_via_uses(r, mod.uses, seen | {use.module}):
                return True
        return False

    # -------------------------------------------------------------- calls

    def resolve_call(self, name: str, args: list[Expr], kwargs: list[tuple[str, Expr]],
                     span: Span) -> tuple[str, list[Expr]]:
        """(the specific procedure's name, one actual per formal) for a call
        written `name(args, kw=...)`."""
        self.resolved_via = None
        found = self._generic(name)
        if found is not None:
            specifics, home = found
            written = name
            name = self._pick_specific(name, specifics, args, kwargs, span)
            self.resolved_via = (name, written)
            self._bring_generic_into_scope(written, home)
        else:
            name = self._renamed_procedure(name)
        target = self.callable_routine(name) or self.explicit_interface(name)
        slots = self._slots(name, target, args, kwargs, span)
        return name, slots

    def _slots(self, callee: str, target: Optional[Routine], args: list[Expr],
               kwargs: list[tuple[str, Expr]], span: Span) -> list[Expr]:
        """Keyword actual arguments put in the positions of the formals they
        name (`call rhs(u, dt=0.1d0)`); an omitted OPTIONAL one is Absent."""
        if target is None:
            if kwargs:
                raise bad_input(f"keyword arguments in a call to '{callee}', whose source is not given",
                                span)
            return args
        if len(args) > len(target.args):
            raise bad_input(f"'{callee}' takes {len(target.args)} arguments, {len(args)} given", span)
        slots: list[Optional[Expr]] = list(args) + [None] * (len(target.args) - len(args))
        for kw, val in kwargs:
            if kw not in target.args:
                raise bad_input(f"'{callee}' has no argument '{kw}'", span)
            k = target.args.index(kw)
            if slots[k] is not None:
                raise bad_input(f"argument '{kw}' of '{callee}' given twice", span)
            slots[k] = val
        missing = [a for a, s in zip(target.args, slots) if s is None
                   and not target.symbols[a].optional]
        if missing:
            raise bad_input(f"call of '{callee}' without its argument(s) {', '.join(missing)} "
                            "(not OPTIONAL)", span)
        return [s if s is not None else Absent(span=span) for s in slots]

    def specific_function(self, name: str, args: list[Expr], kwargs: list[tuple[str, Expr]],
                          span: Span) -> Optional[tuple[str, list[Expr]]]:
        """A function reference through a generic or a renamed name, resolved;
        None for any other name."""
        if self.callable_routine(name) is not None or self.lookup(name) is not None:
            return None
        if self._generic(name) is None and self._renamed_procedure(name) == name:
            return None
        name, slots = self.resolve_call(name, args, kwargs, span)
        via = self.resolved_via
        r = self.callable_routine(name) or self.explicit_interface(name)
        if r is not None and r.kind != "function":
            raise bad_input(f"subroutine '{name}' used as a function", span)
        self.resolved_via = via
        return name, slots

    # -------------------------------------------------------------- generic names

    def _scopes(self):
        """Scope keys visible from the unit being lowered, nearest first,
        with the `use` statements that lead further."""
        u = self.cur
        while u is not None:
            yield _scope_key(u), u.routine.uses
            if u.module is not None and u.host is None:
                yield "module " + u.module.name, u.module.uses
            u = u.host

    def _generic(self, name: str) -> Optional[tuple[list[str], Optional[tuple[str, str]]]]:
        """(specific names, (module, name there) or None for a generic
        declared in a routine) of the generic `name` visible here."""
        for key, uses in self._scopes():
            found = self.generic_names.get(key, {}).get(name)
            if found is not None:
                home = (key[len("module "):], name) if key.startswith("module ") else None
                return found, home
            found = self._generic_via_uses(name, uses, set())
            if found is not None:
                return found
        return None

    def _generic_via_uses(self, name: str, uses: list[Use], seen: set):
        for use in uses:
            if use.module in seen:
                continue
            remote = next((rem for loc, rem in use.renames if loc == name), None)
            if remote is None:
                if use.only is not None and name not in use.only:
                    continue
                if any(rem == name for _, rem in use.renames):
                    continue
                remote = name
            found = self.generic_names.get("module " + use.module, {}).get(remote)
            if found is not None:
                return found, (use.module, remote)
            mod = self.tu.module(use.module)
            if mod is not None:
                found = self._generic_via_uses(remote, mod.uses, seen | {use.module})
                if found is not None:
                    return found
        return None

    def _pick_specific(self, generic: str, specifics: list[str], args: list[Expr],
                       kwargs: list[tuple[str, Expr]], span: Span) -> str:
        actual = [self._signature_of(a, span) for a in args]
        named = {k: self._signature_of(v, span) for k, v in kwargs}
        fits = []
        for sname in specifics:
            r = self.callable_routine(sname) or self.explicit_interface(sname)
            if r is None:
                raise bad_input(f"generic '{generic}' names '{sname}', which is not defined", span)
            if self._fits(r, actual, named):
                fits.append(sname)
        if len(fits) != 1:
            what = "matches" if not fits else "is ambiguous between " + ", ".join(fits) + " for"
            sig = ", ".join([_show(t, k) for t, k in actual] +
                            [f"{n}={_show(t, k)}" for n, (t, k) in named.items()])
            raise bad_input(f"no specific procedure of generic '{generic}' {what} the arguments "
                            f"({sig})" if not fits else
                            f"generic '{generic}' {what} the arguments ({sig})", span)
        return fits[0]

    def _fits(self, r: Routine, actual: list, named: dict) -> bool:
        if len(actual) > len(r.args):
            return False
        given: dict[str, tuple] = dict(zip(r.args, actual))
        for k, v in named.items():
            if k not in r.args or k in given:
                return False
            given[k] = v
        for a in r.args:
            s = r.symbols[a]
            if a not in given:
                if not s.optional:
                    return False
                continue
            t, rank = given[a]
            if t.base != s.type.base or rank != s.rank:
                return False
            if t.base in ("real", "integer", "complex", "logical") and t.kind != s.type.kind:
                return False
            if t.base == "derived" and t.name != s.type.name:
                return False
        return True

    def _signature_of(self, e: Expr, span: Span) -> tuple[Type, int]:
        return self.type_of(e), self._rank(e, span)

    def _rank(self, e: Expr, span: Span) -> int:
        if isinstance(e, Ref):
            if e.path:
                from ..ir.records import ref_rank
                return ref_rank(e, self.lookup)
            s = self.lookup(e.name)
            if s is None:
                return 0
            if e.subs is None:
                return s.rank
            return sum(1 for x in e.subs if isinstance(x, Section))
        if isinstance(e, Lit):
            return 0
        if isinstance(e, Bin):
            return max(self._rank(e.left, span), self._rank(e.right, span))
        if isinstance(e, (Un, Cast)):
            return self._rank(e.operand, span)
        if isinstance(e, Cond):
            return max(self._rank(x, span) for x in (e.cond, e.then, e.else_))
        if isinstance(e, ArrayCtor):
            return 1
        if isinstance(e, Call):
            if not e.intrinsic:
                r = self.callable_routine(e.name)
                if r is not None and r.result in r.symbols:
                    return r.symbols[r.result].rank
                return 0
            spec = intrinsics.lookup(e.name)
            if spec is not None and spec.elemental:
                return max([self._rank(a, span) for a in e.args] or [0])
            if e.name in ("sum", "product", "maxval", "minval", "norm2", "count", "any", "all") \
                    and not e.kwargs and len(e.args) == 1:
                return 0
            if e.name in ("dot_product", "size", "len", "kind", "lbound", "ubound") and \
                    not (e.name in ("lbound", "ubound") and len(e.args) == 1):
                return 0
        return _unresolvable(span)

    # -------------------------------------------------------------- renames

    def _renamed_procedure(self, name: str) -> str:
        """`use m, only: g => f`: a call of g is a call of m's f."""
        if self.callable_routine(name) is not None:
            return name
        for _key, uses in self._scopes():
            remote = self._rename_via_uses(name, uses, set())
            if remote is not None:
                self._bring_into_scope(remote)
                return remote
        return name

    def _rename_via_uses(self, name: str, uses: list[Use], seen: set) -> Optional[str]:
        for use in uses:
            if use.module in seen or self.tu.module(use.module) is None:
                continue
            remote = next((rem for loc, rem in use.renames if loc == name), None)
            mod = self.tu.module(use.module)
            if remote is not None:
                if any(r.name == remote for r in mod.routines):
                    return remote
                deeper = self._rename_via_uses(remote, mod.uses, seen | {use.module})
                return deeper if deeper is not None else None
            if use.only is not None and name not in use.only:
                continue
            deeper = self._rename_via_uses(name, mod.uses, seen | {use.module})
            if deeper is not None:
                return deeper
        return None

    def _bring_generic_into_scope(self, written: str, home: Optional[tuple[str, str]]) -> None:
        """The generated code calls through the generic name as the user
        wrote it; a `use` of the module that declares it makes sure it is
        visible there too (the user's may be a module's, which the derivative
        module does not re-export)."""
        if home is None:
            return
        mod, remote = home
        u = self.cur
        while u.host is not None:
            u = u.host
        if u.routine.kind == "module" or (u.module is not None and u.module.name == mod):
            return
        uses = self.cur.routine.uses
        renames = [(written, remote)] if written != remote else []
        if not any(x.module == mod and x.only is not None and written in x.only for x in uses):
            uses.append(Use(mod, [written], renames))

    def _bring_into_scope(self, name: str) -> None:
        """The generated code names the procedure itself: `use` its module
        in the calling routine (the user's own `use` may not reach it)."""
        r = self.callable_routine(name)
        if r is None:
            r = self.explicit_interface(name)
            if r is None or r.module is None:
                return
            mod = r.module
        else:
            if r.module is None or r.host is not None:
                return
            mod = r.module
        u = self.cur
        if u.module is not None and u.module.name == mod:
            return
        if r.private:
            raise unsupported(f"call of PRIVATE procedure '{name}' of module '{mod}' through a "
                              "generic or renamed name, from outside the module", self.span)
        uses = u.routine.uses
        if not any(x.module == mod and x.only is not None and name in x.only for x in uses):
            uses.append(Use(mod, [name]))


def _show(t: Type, rank: int) -> str:
    return str(t) + (f", rank {rank}" if rank else "")


def _unresolvable(span: Span) -> int:
    raise unsupported("generic call whose argument's rank adtool cannot tell", span)


_RELATIONAL = {".eq.": "==", ".ne.": "/=", ".lt.": "<", ".le.": "<=", ".gt.": ">", ".ge.": ">=",
               "!=": "/="}


def operator_name(op: str) -> str:
    """The one spelling of an operator: `.EQ.` and `==` are one operator."""
    op = op.strip().lower()
    return _RELATIONAL.get(op, op)


def operator_generic(spec, span: Span) -> str:
    """`interface operator(+)` / `operator(.dot.)`: a generic named
    `operator(<op>)`, resolved like a named one where the operator is
    applied to a derived type (or is a defined operator)."""
    word = str(spec.children[0]).upper()
    if word == "ASSIGNMENT":
        raise unsupported("defined assignment (interface assignment(=))", span)
    if word != "OPERATOR":
        raise unsupported(f"interface {str(spec).lower()}", span)
    return f"operator({operator_name(str(spec.children[1]))})"
