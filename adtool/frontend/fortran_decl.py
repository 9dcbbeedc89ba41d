"""Specification parts -> Symbols: implicit rules, types and kinds, attributes, COMMON, DATA."""
from __future__ import annotations

import re
from typing import Optional

from fparser.two import Fortran2003 as F
from fparser.two.utils import Base

from ..diagnostics import AdError, bad_input, unsupported
from ..ir.nodes import (INT4, LOGICAL, REAL4, REAL8, ArrayCtor, Bin, Call, Dim, Directive, Expr,
                        Lit, Ref, Routine, Span, Symbol, Type, Un, Use)
from .fortran_scope import INTRINSIC_MODULES
from .fortran_tree import _UNSUPPORTED_STMTS, _Unit, _default_implicit, _line_of, _name
from .source import SourceText


class Declarations:
    """Pass 2 of FortranFrontend: every unit's symbols, before any body is lowered."""

    # -------------------------------------------------------------- pass 2: declarations

    def _implicit_rules(self, spec) -> Optional[dict[str, Type]]:
        rules = _default_implicit(self.default_real_kind)
        if spec is None:
            return rules
        for st in spec.children:
            for imp in ([st] if isinstance(st, F.Implicit_Stmt) else
                        [c for c in getattr(st, "children", []) if isinstance(c, F.Implicit_Stmt)]):
                spec_list = imp.children[0]
                if str(spec_list).upper() == "NONE":
                    return None
                for ispec in spec_list.children:
                    typ = self._type_spec(ispec.children[0])
                    for ls in ispec.children[1].children:
                        lo, hi = str(ls.children[0]).lower(), str(ls.children[1] or ls.children[0]).lower()
                        for k in range(ord(lo), ord(hi) + 1):
                            rules[chr(k)] = typ
        return rules

    def _declare_modules(self) -> None:
        done: set[str] = set()

        def visit(name: str, chain: tuple) -> None:
            if name in done:
                return
            if name in chain:
                raise bad_input(f"modules use each other in a cycle: {' -> '.join(chain + (name,))}")
            mod, src, spec, implicit = self.module_units[name]
            for use in self._uses_of(spec, src):
                if use.module in self.module_units:
                    visit(use.module, chain + (name,))
            fake = _Unit(Routine(name, "module", [], mod.symbols, []), None, src, implicit, module=None)
            fake.routine.uses = self._uses_of(spec, src)
            mod.uses = fake.routine.uses
            self.cur = fake
            self._declarations(fake, spec, storage="module", module=name)
            done.add(name)
        for name in self.module_units:
            visit(name, ())

    def _uses_of(self, spec, src: SourceText) -> list[Use]:
        uses: list[Use] = []
        if spec is None:
            return uses
        for st in spec.children:
            if isinstance(st, F.Use_Stmt):
                span = src.span(_line_of(st), 1)
                mname = _name(st.children[2])
                if mname == "iso_c_binding":
                    raise unsupported(f"intrinsic module '{mname}'", span)
                if mname not in self.module_units and mname not in INTRINSIC_MODULES:
                    raise bad_input(f"unknown module '{mname}' (not in the input files)", span)
                only, renames = None, []
                lst = st.children[4]
                if lst is not None:
                    names = []
                    for item in lst.children:
                        if isinstance(item, F.Rename):
                            local, remote = _name(item.children[1]), _name(item.children[2])
                            renames.append((local, remote))
                            names.append(local)
                        else:
                            names.append(_name(item))
                    if "only" in str(st.children[3]).lower():
                        only = names
                uses.append(Use(mname, only, renames))
        return uses

    def _block_declarations(self, u: _Unit) -> None:
        """The locals of BLOCK constructs become locals of the routine (the
        statements of a block are inlined where it stands, fortran_stmt.py):
        a block's variables are undefined at each entry, so one variable
        for every entry is one of their meanings.  A name the routine
        declares already, or another block with another type or shape, is
        refused by name, as is an allocatable (a block deallocates it at
        its end)."""
        from fparser.two.utils import walk
        exe = next((c for c in u.node.children if isinstance(c, F.Execution_Part)), None)
        if exe is None:
            return
        r = u.routine
        from_blocks: dict[str, Symbol] = {}
        for blk in walk(exe):
            if type(blk).__name__ != "Block_Construct":
                continue
            bspec = next((c for c in blk.children if isinstance(c, F.Specification_Part)), None)
            if bspec is None:
                continue
            span = u.src.span(_line_of(blk))
            names = [_name(e.children[0]) for e in walk(bspec) if isinstance(e, F.Entity_Decl)]
            for n in names:
                if n in r.symbols and n not in from_blocks:
                    raise unsupported("BLOCK declaring a name its routine declares too", span, n)
            saved = {n: r.symbols.pop(n) for n in names if n in r.symbols}
            self._declarations(u, bspec, storage="local", module=None)
            for n in names:
                sym = r.symbols.get(n)
                if sym is None:
                    continue
                if sym.allocatable or sym.pointer:
                    raise unsupported("allocatable or pointer declared in a BLOCK", span, n)
                old = saved.get(n)
                if old is not None and (old.type != sym.type or old.shape != sym.shape):
                    raise unsupported("BLOCKs declaring one name with two types or shapes", span, n)
                from_blocks[n] = sym

    def _declare(self, u: _Unit) -> None:
        self.cur = u
        r = u.routine
        spec = next((c for c in u.node.children if isinstance(c, F.Specification_Part)), None)
        r.uses = self._uses_of(spec, u.src)
        rules = self._implicit_rules(spec)
        has_own_implicit = spec is not None and any(
            isinstance(x, F.Implicit_Stmt) for st in spec.children
            for x in ([st] + list(getattr(st, "children", []) or [])) if isinstance(x, Base))
        if not has_own_implicit:
            if u.host is not None:
                rules = u.host.implicit
            elif u.module_implicit is not None or u.module is not None:
                rules = u.module_implicit
        u.implicit = rules
        for a in r.args:
            r.symbols[a] = Symbol(a, REAL4, storage="arg", span=r.span)
            r.symbols[a]._declared = False  # type: ignore[attr-defined]
        head = next(c for c in u.node.children if not isinstance(c, (F.Comment, F.Directive)))
        if r.kind in ("function", "subroutine") and head.children[0] is not None:
            pre = head.children[0]
            words = {str(p).upper() for p in (pre.children if isinstance(pre, F.Prefix) else [pre])}
            r.elemental = "ELEMENTAL" in words
            r.pure = "PURE" in words
        if r.kind == "function":
            res = head.children[3] if len(head.children) > 3 else None
            resname = r.name
            if res is not None:
                rn = res if isinstance(res, F.Suffix) else None
                if rn is not None and rn.children[0] is not None:
                    resname = _name(rn.children[0])
            r.result = resname
            prefix_type = None
            prefix = head.children[0]
            if prefix is not None:
                for p in (prefix.children if isinstance(prefix, F.Prefix) else [prefix]):
                    if isinstance(p, (F.Intrinsic_Type_Spec, F.Declaration_Type_Spec)):
                        prefix_type = self._type_spec(p)
                    elif str(p).upper() in ("RECURSIVE", "PURE", "ELEMENTAL"):
                        if str(p).upper() == "RECURSIVE":
                            pass
                    elif isinstance(p, Base) and not isinstance(p, F.Intrinsic_Type_Spec):
                        raise unsupported(f"function prefix '{p}'", r.span)
            sym = Symbol(resname, prefix_type or REAL4, storage="result", span=r.span)
            sym._declared = prefix_type is not None  # type: ignore[attr-defined]
            r.symbols[resname] = sym
        self._declarations(u, spec, storage="local", module=None)
        self._block_declarations(u)
        # Arguments and result that no declaration typed get implicit types now.
        for name, sym in r.symbols.items():
            if not getattr(sym, "_declared", True):
                t = self._implicit_type(name, sym.span)
                sym.type = t
                sym.implicit = True
            if hasattr(sym, "_declared"):
                del sym._declared

    def _implicit_type(self, name: str, span: Span) -> Type:
        rules = self.cur.implicit if self.cur else None
        if rules is None:
            raise bad_input(f"symbol '{name}' has no IMPLICIT type", span)
        return rules[name[0]]

    def _declarations(self, u: _Unit, spec, storage: str, module: Optional[str]) -> None:
        if spec is None:
            return
        syms = u.routine.symbols
        src = u.src
        params_pending: list = []

        def get(name: str, span: Span) -> Symbol:
            if name not in syms:
                syms[name] = Symbol(name, REAL4, storage=storage, module=module, span=span)
                syms[name]._declared = False  # type: ignore[attr-defined]
            return syms[name]

        items = []
        for st in spec.children:
            if isinstance(st, F.Implicit_Part):
                items.extend(st.children)
            else:
                items.append(st)
        for st in items:
            line = _line_of(st)
            span = src.span(line, 1)
            self.span = span
            for cls, what in _UNSUPPORTED_STMTS.items():
                if isinstance(st, cls):
                    raise unsupported(what, self._span_at(st, what))
            if isinstance(st, F.Intrinsic_Stmt):
                u.intrinsic_names.update(_name(n) for n in st.children[1].children)
                continue
            if isinstance(st, (F.Comment, F.Directive, F.Implicit_Stmt, F.Use_Stmt)):
                continue
            if isinstance(st, F.Format_Stmt):
                u.formats[int(str(st.item.label))] = self._format_text(st)
                continue
            if isinstance(st, F.Derived_Type_Def):
                try:
                    self._derived_type(st, u, module, span)
                except AdError as err:
                    # Only code that uses the type fails (a module's other
                    # types may be all a differentiated routine needs).
                    if module is None:
                        raise
                    from ..ir.nodes import TypeDef
                    name = _name(st.children[0].children[1])
                    td = TypeDef(name, {}, module=module, span=span)
                    td.error = err          # type: ignore[attr-defined]
                    self.tu.types.setdefault(name, td)
                continue
            if isinstance(st, F.Type_Declaration_Stmt):
                tspec, attrs, entities = st.children
                typ = self._type_spec(tspec)
                poly = isinstance(tspec, F.Declaration_Type_Spec) and \
                    str(tspec.children[0]).upper() == "CLASS"
                attr = {"shape": None, "intent": None, "parameter": False, "save": False,
                        "external": False, "allocatable": False, "optional": False,
                        "target": False, "pointer": False}
                for a in (attrs.children if attrs is not None else []):
                    s = str(a).upper()
                    if isinstance(a, F.Intent_Attr_Spec):
                        attr["intent"] = str(a.children[1]).lower().replace(" ", "")
                    elif isinstance(a, F.Dimension_Attr_Spec):
                        attr["shape"] = self._array_spec(a.children[1])
                    elif s == "PARAMETER":
                        attr["parameter"] = True
                    elif s == "SAVE":
                        attr["save"] = True
                    elif s == "EXTERNAL":
                        attr["external"] = True
                    elif s == "ALLOCATABLE":
                        attr["allocatable"] = True
                    elif s in ("OPTIONAL", "TARGET", "POINTER"):
                        attr[s.lower()] = True
                    elif s in ("INTRINSIC", "PUBLIC", "PRIVATE"):
                        continue        # access: see _access
                    else:
                        raise unsupported(f"attribute {s.lower()}", span)
                for ent in entities.children:
                    name = _name(ent.children[0])
                    sym = get(name, span)
                    sym.type = typ
                    sym.polymorphic = poly
                    sym._declared = True  # type: ignore[attr-defined]
                    sym.span = span
                    shape = attr["shape"]
                    if ent.children[1] is not None:
                        shape = self._array_spec(ent.children[1])
                    if ent.children[2] is not None:
                        sym.type = Type("character", 1, self._char_len(ent.children[2]))
                    if shape is not None:
                        sym.shape = shape
                    if attr["intent"]:
                        sym.intent = {"inout": "inout", "in": "in", "out": "out"}[attr["intent"]]
                    sym.save = sym.save or attr["save"]
                    sym.external = attr["external"]
                    sym.allocatable = attr["allocatable"]
                    sym.optional = sym.optional or attr["optional"]
                    sym.target = sym.target or attr["target"]
                    if attr["pointer"]:
                        self.declare_pointer(sym, storage, span)
                    init = ent.children[3]
                    if init is not None:
                        val = self.expr(init.children[1])
                        if attr["parameter"]:
                            sym.is_parameter = True
                            sym.value = val
                        else:
                            sym.init = val
                            sym.save = True
                    elif attr["parameter"]:
                        raise bad_input(f"parameter '{name}' has no value", span)
            elif isinstance(st, F.Dimension_Stmt):
                for nm, aspec in st.items[0]:
                    get(_name(nm), span).shape = self._array_spec(aspec)
            elif isinstance(st, F.Parameter_Stmt):
                for d in st.children[1].children:
                    sym = get(_name(d.children[0]), span)
                    if not getattr(sym, "_declared", True):
                        sym.type = self._implicit_type(sym.name, span)
                        sym.implicit = True
                        sym._declared = True  # type: ignore[attr-defined]
                    sym.is_parameter = True
                    sym.value = self.expr(d.children[1])
                    # An implicitly typed real parameter takes its literal's kind only if declared so.
            elif isinstance(st, F.Common_Stmt):
                for blk, objs in st.items[0]:
                    bname = _name(blk) if blk is not None else ""
                    members = u.routine.commons.setdefault(bname, [])
                    for o in objs.children:
                        if isinstance(o, F.Common_Block_Object):
                            nm = _name(o.children[0])
                            sym = get(nm, span)
                            sym.shape = self._array_spec(o.children[1])
                        else:
                            nm = _name(o)
                            sym = get(nm, span)
                        sym.storage = "common"
                        sym.common = bname
                        members.append(nm)
            elif isinstance(st, F.External_Stmt):
                for nm in st.children[1].children:
                    sym = get(_name(nm), span)
                    sym.external = True
            elif isinstance(st, F.Save_Stmt):
                lst = st.children[1]
                if lst is None:
                    for s in syms.values():
                        s.save = True
                else:
                    for nm in lst.children:
                        n = _name(nm)
                        if n.startswith("/"):
                            continue
                        get(n, span).save = True
            elif isinstance(st, F.Intent_Stmt):
                intent = str(st.children[0]).lower().replace(" ", "")
                for nm in st.children[1].children:
                    get(_name(nm), span).intent = intent
            elif isinstance(st, F.Access_Stmt):
                continue                # applied by _access once every name is known
            elif isinstance(st, (F.Optional_Stmt, F.Target_Stmt, F.Pointer_Stmt)):
                self.optional_or_target(st, get, span)
            elif isinstance(st, F.Interface_Block):
                self.interface_block(u, st, span)
            elif isinstance(st, F.Procedure_Declaration_Stmt):
                self.procedure_declaration(st, get, span)
            elif isinstance(st, F.Data_Stmt):
                params_pending.append((st, span))
            elif isinstance(st, F.Allocatable_Stmt):
                for nm in st.children[1].children if len(st.children) > 1 else []:
                    n = nm.children[0] if isinstance(nm, Base) and nm.children else nm
                    get(_name(n), span).allocatable = True
            else:
                raise unsupported(type(st).__name__.replace("_", " ").lower(), span)
        if storage == "module":
            self._access(u, items)
        for st, span in params_pending:
            self.span = span
            self._data(st, syms, span)
        for name, sym in syms.items():
            if not getattr(sym, "_declared", True) and sym.storage != "arg" and sym.storage != "result":
                if sym.external and sym.type == REAL4 and name not in syms:
                    pass
                sym.type = self._implicit_type(name, sym.span) if not sym.external or \
                    (u.implicit is not None) else Type("void", 0)
                sym.implicit = True
                del sym._declared
            elif hasattr(sym, "_declared") and sym.storage not in ("arg", "result"):
                del sym._declared
        for name, sym in syms.items():
            if sym.allocatable:
                sym.shape = [Dim(None, None, True) for _ in sym.shape]

    def _access(self, u: _Unit, items: list) -> None:
        """PUBLIC/PRIVATE statements and attributes of a module's entities and
        procedures (the derivative module may not reach PRIVATE ones)."""
        mod = self.tu.module(u.routine.name)
        routines = {r.name: r for r in mod.routines} if mod is not None else {}
        default_private = False
        explicit: dict[str, bool] = {}
        for st in items:
            if isinstance(st, F.Access_Stmt):
                private = str(st.children[0]).upper() == "PRIVATE"
                if st.children[1] is None:
                    default_private = private
                else:
                    for nm in st.children[1].children:
                        explicit[_name(nm)] = private
            elif isinstance(st, F.Type_Declaration_Stmt) and st.children[1] is not None:
                for a in st.children[1].children:
                    if str(a).upper() in ("PUBLIC", "PRIVATE"):
                        for ent in st.children[2].children:
                            explicit[_name(ent.children[0])] = str(a).upper() == "PRIVATE"
        for name, sym in u.routine.symbols.items():
            sym.private = explicit.get(name, default_private)
        for name, r in routines.items():
            r.private = explicit.get(name, default_private)
        for td in self.tu.types.values():
            if td.module == u.routine.name:
                td.private = td.private or explicit.get(td.name, default_private)

    def _data(self, st, syms: dict, span: Span) -> None:
        for dset in st.children:
            objs, vals = dset.children
            values: list[Expr] = []
            for v in vals.children:
                if isinstance(v, F.Data_Stmt_Value):
                    rep, const = v.children
                    n = int(str(rep)) if rep is not None else 1
                    e = self.expr(const)
                    values.extend([e] * n)
                else:
                    values.append(self.expr(v))
            pos = 0
            for o in objs.children:
                if not isinstance(o, F.Name):
                    raise unsupported("DATA with implied DO or array element objects", span)
                sym = syms.get(_name(o))
                if sym is None:
                    sym = self.lookup(_name(o))
                    if sym is not None:
                        raise unsupported("DATA for a variable of another scope", span)
                    sym = Symbol(_name(o), self._implicit_type(_name(o), span),
                                 implicit=True, span=span)
                    syms[sym.name] = sym
                if sym.storage == "common":
                    raise unsupported("DATA for a COMMON variable (needs BLOCK DATA)", span)
                if sym.shape:
                    n = 1
                    for d in sym.shape:
                        n *= self._const_int(d.ub) - (self._const_int(d.lb) if d.lb else 1) + 1
                    sym.init = ArrayCtor(values[pos:pos + n], span=span)
                    pos += n
                else:
                    sym.init = values[pos]
                    pos += 1
                sym.save = True
            if pos != len(values):
                raise bad_input("DATA statement: number of values does not match the objects", span)

    def _type_spec(self, tspec) -> Type:
        if isinstance(tspec, F.Declaration_Type_Spec):
            word = str(tspec.children[0]).upper()
            spec = tspec.children[1]
            if isinstance(spec, F.Derived_Type_Spec):       # t(8): type parameters
                raise unsupported("parameterised derived type", self.span, _name(spec.children[0]))
            name = _name(spec)
            if word == "CLASS" and name == "*":
                raise unsupported("unlimited polymorphic CLASS(*)", self.span)
            if word not in ("TYPE", "CLASS"):
                raise unsupported(f"{word} declaration", self.span, name)
            if name not in self.tu.types:
                raise bad_input(f"unknown derived type '{name}'", self.span)
            err = getattr(self.tu.types[name], "error", None)
            if err is not None and (self.cur is None or self.cur.routine.kind != "module"):
                raise err
            return Type("derived", 0, name=name)
        if not isinstance(tspec, F.Intrinsic_Type_Spec):
            raise unsupported(f"type '{tspec}'", self.span)
        base = str(tspec.children[0]).upper().replace(" ", "")
        sel = tspec.children[1]
        if base == "DOUBLEPRECISION":
            return REAL8
        if base == "DOUBLECOMPLEX":
            return Type("complex", 16)
        b = {"REAL": "real", "INTEGER": "integer", "LOGICAL": "logical",
             "COMPLEX": "complex", "CHARACTER": "character"}.get(base)
        if b is None:
            raise unsupported(f"type '{base.lower()}'", self.span)
        if b == "character":
            length = None if sel is None else self._char_len(sel)
            return Type("character", 1, length if sel is not None else Lit("1", INT4))
        rk = self.default_real_kind
        default = {"real": rk, "integer": 4, "logical": 4, "complex": 2 * rk}[b]
        if sel is None:
            return Type(b, default, default=True)
        if isinstance(sel, F.Kind_Selector):
            if str(sel.children[0]) == "*":
                size = int(str(sel.children[1]))
                return Type(b, size)
            kexpr = sel.children[1]
            kind = self._const_int(self.expr(kexpr))
            return Type(b, kind * 2 if b == "complex" else kind)
        raise unsupported(f"type selector '{sel}'", self.span)

    def _derived_type(self, node, u: _Unit, module: Optional[str], span: Span) -> None:
        """A derived type definition -> TypeDef in the program's one type
        namespace.  What the derivative code cannot carry (extension,
        type-bound procedures, pointer or procedure components, type
        parameters) stops here with its name."""
        head = node.children[0]
        attrs, tname, params = head.children
        name = _name(tname)
        if module is None:
            raise unsupported("derived type defined outside a module", span, name)
        if params is not None:
            raise unsupported("parameterised derived type", span, name)
        private = False
        for a in (attrs.children if attrs is not None else []):
            text = str(a).upper()
            if text.startswith("EXTENDS"):
                raise unsupported("type extension (EXTENDS)", span, name)
            if text == "PRIVATE":
                private = True
            elif text != "PUBLIC":
                raise unsupported(f"type attribute {text.lower()}", span, name)
        comps: dict[str, Symbol] = {}
        bindings: dict = {}
        for part in node.children[1:]:
            if isinstance(part, (F.End_Type_Stmt, F.Comment, F.Sequence_Stmt)):
                continue
            if isinstance(part, F.Type_Bound_Procedure_Part):
                bindings = self._bindings(part, name, span)
                continue
            if isinstance(part, F.Private_Components_Stmt):
                raise unsupported("PRIVATE components", span, name)
            if not isinstance(part, F.Component_Part):
                raise unsupported(type(part).__name__.replace("_", " ").lower(), span, name)
            for cd in part.children:
                if isinstance(cd, F.Comment):
                    continue
                cspan = u.src.span(_line_of(cd), 1)
                self.span = cspan
                if not isinstance(cd, F.Data_Component_Def_Stmt):
                    raise unsupported("procedure component", cspan, name)
                tspec, cattrs, decls = cd.children
                typ = self._type_spec(tspec)
                shape, allocatable = None, False
                for a in (cattrs.children if cattrs is not None else []):
                    text = str(a).upper()
                    if isinstance(a, F.Dimension_Component_Attr_Spec):
                        shape = self._array_spec(a.children[1])
                    elif text == "ALLOCATABLE":
                        allocatable = True
                    elif text == "POINTER":
                        raise unsupported("pointer component", cspan, name)
                    elif text == "PRIVATE":
                        raise unsupported("PRIVATE component", cspan, name)
                    elif text != "PUBLIC":
                        raise unsupported(f"component attribute {text.lower()}", cspan, name)
                for d in decls.children:
                    cname = _name(d.children[0])
                    c = Symbol(cname, typ, storage="component", span=cspan)
                    cshape = shape
                    if d.children[1] is not None:
                        cshape = self._array_spec(d.children[1])
                    if d.children[2] is not None:
                        c.type = Type("character", 1, self._char_len(d.children[2]))
                    if cshape is not None:
                        c.shape = cshape
                    if allocatable:
                        c.allocatable = True
                        c.shape = [Dim(None, None, True) for _ in c.shape]
                    if d.children[3] is not None:
                        if str(d.children[3]).lstrip().startswith("=>"):
                            raise unsupported("pointer component", cspan, name)
                        c.init = self.expr(d.children[3].children[1])
                    if any(dim.assumed for dim in c.shape) and not allocatable:
                        raise unsupported("deferred-shape component", cspan, name)
                    comps[cname] = c
        self.span = span
        if name in self.tu.types:
            raise bad_input(f"derived type '{name}' defined twice", span)
        from ..ir.nodes import TypeDef
        self.tu.types[name] = TypeDef(name, comps, module=module, private=private, span=span,
                                      bindings=bindings)

    def _char_len(self, sel) -> Optional[Expr]:
        text = str(sel).replace(" ", "")
        m = re.search(r"(?:LEN=)?\*?\(?(\*|\d+|[A-Za-z_]\w*)\)?$", text, re.IGNORECASE)
        if m is None:
            raise unsupported(f"character length '{sel}'", self.span)
        v = m.group(1)
        if v == "*":
            return None
        return Lit(v, INT4) if v.isdigit() else Ref(v.lower())

    def _bindings(self, part, tname: str, span: Span) -> dict:
        """Specific bindings of a type: what `obj%name(...)` calls.  Generic
        bindings (a generic name or operator over bindings), FINAL
        procedures and DEFERRED bindings stop here with their names."""
        from ..ir.nodes import Binding
        out: dict[str, Binding] = {}
        for b in part.children:
            if isinstance(b, (F.Contains_Stmt, F.Comment)):
                continue
            if type(b).__name__ == "Binding_Private_Stmt":
                continue            # PRIVATE bindings: access only
            word = {"Generic_Binding": "generic", "Final_Binding": "final"}.get(type(b).__name__,
                                                                               "procedure")
            bspan = self._span_at(b, word)
            if isinstance(b, F.Generic_Binding):
                raise unsupported("generic type-bound procedure", bspan, tname)
            if isinstance(b, F.Final_Binding):
                raise unsupported("FINAL procedure of a type", bspan, tname)
            if not isinstance(b, F.Specific_Binding):
                raise unsupported(type(b).__name__.replace("_", " ").lower(), bspan, tname)
            iface, attrs, _, bname, proc = b.children
            if iface is not None:
                raise unsupported("type-bound procedure with an interface name", bspan, tname)
            binding = Binding(_name(proc) if proc is not None else _name(bname))
            for a in (attrs.children if attrs is not None else []):
                word = str(a).upper().replace(" ", "")
                if isinstance(a, F.Binding_PASS_Arg_Name):
                    binding.pass_arg = _name(a.children[1])
                elif word == "NOPASS":
                    binding.nopass = True
                elif word == "DEFERRED":
                    raise unsupported("DEFERRED type-bound procedure", bspan, tname)
                elif word not in ("NON_OVERRIDABLE", "PUBLIC", "PRIVATE", "PASS"):
                    raise unsupported(f"binding attribute {word.lower()}", bspan, tname)
            out[_name(bname)] = binding
        return out

    def _array_spec(self, aspec) -> list[Dim]:
        dims: list[Dim] = []
        if isinstance(aspec, F.Assumed_Size_Spec):
            lst, last_lb = aspec.children
            if lst is not None:
                dims.extend(self._array_spec(lst))
            dims.append(Dim(self.expr(last_lb) if last_lb is not None else None, None, False))
            return dims
        children = aspec.children if isinstance(aspec, (F.Explicit_Shape_Spec_List,
                                                        F.Assumed_Shape_Spec_List,
                                                        F.Deferred_Shape_Spec_List)) else [aspec]
        for c in children:
            if isinstance(c, F.Explicit_Shape_Spec):
                lb, ub = c.children
                dims.append(Dim(self.expr(lb) if lb is not None else None, self.expr(ub)))
            elif isinstance(c, F.Assumed_Shape_Spec):
                lb = c.children[0]
                dims.append(Dim(self.expr(lb) if lb is not None else None, None, True))
            elif isinstance(c, F.Deferred_Shape_Spec) or str(c) == ":":
                dims.append(Dim(None, None, True))
            else:
                raise unsupported(f"array specification '{c}'", self.span)
        return dims

    def _const_int(self, e: Optional[Expr]) -> int:
        v = self.const_value(e)
        if not isinstance(v, (int, float)) or int(v) != v:
            raise bad_input("expected a constant integer expression", self.span)
        return int(v)

    def const_value(self, e: Optional[Expr]):
        """Evaluate a constant expression (kinds, bounds of DATA arrays)."""
        if e is None:
            return None
        if isinstance(e, Lit):
            if e.type.base == "integer":
                return int(e.text)
            if e.type.base == "real":
                return float(e.text)
            return e.text
        if isinstance(e, Ref) and e.subs is None:
            sym = self.lookup(e.name)
            if sym is not None and sym.is_parameter:
                return self.const_value(sym.value)
            raise bad_input(f"'{e.name}' is not a constant", self.span)
        if isinstance(e, Un) and e.op == "-":
            return -self.const_value(e.operand)
        if isinstance(e, Bin) and e.op in "+-*/**":
            a, b = self.const_value(e.left), self.const_value(e.right)
            if e.op == "/":
                return a // b if isinstance(a, int) and isinstance(b, int) else a / b
            return {"+": a + b, "-": a - b, "*": a * b, "**": a ** b}[e.op]
        if isinstance(e, Call):
            n = e.name
            if n == "kind" and e.args:
                t = self.type_of(e.args[0])
                return t.kind
            if n == "selected_real_kind":
                p = self.const_value(e.args[0]) if e.args else dict(e.kwargs).get("p") and \
                    self.const_value(dict(e.kwargs)["p"])
                return 4 if p is not None and p <= 6 else 8 if p is None or p <= 15 else 16
            if n == "selected_int_kind":
                r = self.const_value(e.args[0])
                return 4 if r <= 9 else 8
        raise bad_input("expression is not a constant this tool can evaluate", self.span)


