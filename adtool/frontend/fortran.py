"""fparser2 parse trees -> IR.

Everything Fortran-specific about meaning is settled here so that later
stages never see fparser objects: implicit typing, kinds (real*8, kind=dp),
array element vs function call, labelled DO, FORMAT labels, COMMON layout,
and where `$AD` directives belong.
"""
from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, field
from typing import Optional

from fparser.common.readfortran import FortranStringReader
from fparser.common.sourceinfo import FortranFormat
from fparser.two import Fortran2003 as F
from fparser.two.utils import Base, BlockBase, FortranSyntaxError

from ..diagnostics import AdError, bad_input, unsupported
from ..ir import intrinsics
from ..ir.nodes import (INT4, INT8, LOGICAL, REAL4, REAL8, Allocate, ArrayCtor,
                        Assign, Bin, Call, CallStmt, Case, Cond, Continue,
                        Cycle, Deallocate, Dim, Directive, Exit, Expr, Goto,
                        If, ImpliedDo, Lit, Loop, Module, Print, Ref, Return,
                        Routine, Section, Select, Span, Stmt, Stop, Symbol,
                        TranslationUnit, Type, Un, Use, While)
from ..ir.visit import walk_stmts
from .source import SourceText, is_fixed_form, load

_PARSER = None


def _parser():
    global _PARSER
    if _PARSER is None:
        from fparser.two.parser import ParserFactory
        _PARSER = ParserFactory().create(std="f2008")
    return _PARSER


def parse_tree(src: SourceText):
    """Parse text with fparser2, the form forced from the file extension."""
    from fparser.two.symbol_table import SYMBOL_TABLES
    SYMBOL_TABLES.clear()
    reader = FortranStringReader(src.text, ignore_comments=False, process_directives=True)
    fixed = is_fixed_form(src.path)
    reader.set_format(FortranFormat(not fixed, False))
    try:
        tree = _parser()(reader)
    except FortranSyntaxError as exc:
        text = str(exc)
        m = re.search(r"at line (\d+)", text)
        line = int(m.group(1)) if m else 0
        detail = text.split("\n")[-1].strip(" >") if "\n" in text else text
        raise bad_input(f"syntax error: {detail}", src.span(line, 1)) from None
    except AdError:
        raise
    except Exception as exc:  # fparser raises assorted internal errors on bad input
        raise bad_input(f"cannot parse Fortran: {exc}", src.span(0)) from None
    if tree is None or not [c for c in tree.children if not isinstance(c, (F.Comment,))]:
        raise bad_input("no routine in file (nothing but comments)", src.span(0))
    return tree


# ------------------------------------------------------------------ helpers

_REL_OPS = {".eq.": "==", "==": "==", ".ne.": "!=", "/=": "!=", ".lt.": "<", "<": "<",
            ".le.": "<=", "<=": "<=", ".gt.": ">", ">": ">", ".ge.": ">=", ">=": ">="}
_LOG_OPS = {".and.": "and", ".or.": "or", ".eqv.": "eqv", ".neqv.": "neqv"}

_UNSUPPORTED_NAMES = {
    "Arithmetic_If_Stmt": "arithmetic IF",
    "Computed_Goto_Stmt": "computed GOTO",
    "Assigned_Goto_Stmt": "assigned GOTO",
    "Entry_Stmt": "ENTRY statement",
    "Equivalence_Stmt": "EQUIVALENCE",
    "Pointer_Assignment_Stmt": "pointer assignment",
    "Where_Construct": "WHERE construct",
    "Where_Stmt": "WHERE statement",
    "Forall_Construct": "FORALL construct",
    "Forall_Stmt": "FORALL statement",
    "Read_Stmt": "READ statement",
    "Open_Stmt": "OPEN statement",
    "Close_Stmt": "CLOSE statement",
    "Nullify_Stmt": "NULLIFY statement",
    "Stmt_Function_Stmt": "statement function",
    "Pause_Stmt": "PAUSE statement",
    "Assign_Stmt": "ASSIGN statement",
    "Namelist_Stmt": "NAMELIST",
    "Interface_Block": "INTERFACE block",
    "Derived_Type_Def": "derived type definition",
    "Block_Data": "BLOCK DATA",
    "Associate_Construct": "ASSOCIATE construct",
    "Select_Type_Construct": "SELECT TYPE construct",
    "Inquire_Stmt": "INQUIRE statement",
    "Rewind_Stmt": "REWIND statement",
    "Backspace_Stmt": "BACKSPACE statement",
    "Endfile_Stmt": "ENDFILE statement",
    "Pointer_Stmt": "POINTER statement",
    "Target_Stmt": "TARGET statement",
    "Optional_Stmt": "OPTIONAL statement",
}
# fparser versions differ in which classes exist; keep those present.
_UNSUPPORTED_STMTS = {getattr(F, k): v for k, v in _UNSUPPORTED_NAMES.items() if hasattr(F, k)}


def _name(node) -> str:
    return str(node).lower()


def _line_of(node) -> int:
    item = getattr(node, "item", None)
    if item is not None and getattr(item, "span", None):
        return item.span[0]
    for c in getattr(node, "children", []) or []:
        if isinstance(c, Base):
            ln = _line_of(c)
            if ln:
                return ln
    return 0


def parse_directive(text: str, span: Span) -> Optional[Directive]:
    """`!$AD NAME args` in any comment style; other tools' directives -> None."""
    m = re.match(r"^\s*(?:!|c|C|\*|//|#pragma)\s*\$?ad\b\s*(.*)$", text.strip(), re.IGNORECASE)
    if not m or "$" not in text[:8] and not text.strip().lower().startswith("#pragma"):
        return None
    words = m.group(1).split()
    if not words:
        raise bad_input("empty $AD directive", span)
    return Directive(words[0].upper(), words[1:], span)


@dataclass
class _Unit:
    """A program unit being lowered, with what name resolution needs."""
    routine: Routine
    node: object
    src: SourceText
    implicit: Optional[dict[str, Type]]
    host: Optional["_Unit"] = None
    module: Optional[Module] = None
    module_implicit: Optional[dict[str, Type]] = None
    formats: dict[int, str] = field(default_factory=dict)
    pre_directives: list[Directive] = field(default_factory=list)


def _default_implicit() -> dict[str, Type]:
    return {ch: (INT4 if ch in "ijklmn" else REAL4) for ch in "abcdefghijklmnopqrstuvwxyz"}


class FortranFrontend:
    """Lowers a set of Fortran files into one TranslationUnit."""

    def __init__(self, include_dirs: list[str] | None = None, defines: list[str] | None = None):
        self.include_dirs = include_dirs or []
        self.defines = defines or []
        self.tu = TranslationUnit("fortran", [])
        self.units: list[_Unit] = []
        self.module_units: dict[str, tuple[Module, SourceText, object, Optional[dict]]] = {}
        self.span = Span("<none>", 0)
        self.cur: Optional[_Unit] = None

    # -------------------------------------------------------------- driver

    def read(self, paths: list[str]) -> TranslationUnit:
        trees = []
        for p in paths:
            src = load(p, self.include_dirs, self.defines)
            tree = parse_tree(src)
            self.tu.files.append(p)
            trees.append((src, tree))
        for src, tree in trees:
            self._collect(src, tree)
        self._declare_modules()
        for u in self.units:
            self._declare(u)
        for u in self.units:
            self._lower_body(u)
        return self.tu

    # -------------------------------------------------------------- pass 1: units

    def _collect(self, src: SourceText, tree) -> None:
        pending: list[Directive] = []
        for node in tree.children:
            if isinstance(node, F.Comment):
                continue
            if isinstance(node, F.Directive):
                d = parse_directive(str(node), src.span(_line_of(node)))
                if d:
                    pending.append(d)
                continue
            self.span = src.span(_line_of(node))
            for cls, what in _UNSUPPORTED_STMTS.items():
                if isinstance(node, cls):
                    raise unsupported(what, self.span)
            if isinstance(node, F.Module):
                self._collect_module(src, node)
            elif isinstance(node, (F.Main_Program, F.Subroutine_Subprogram, F.Function_Subprogram)):
                u = self._new_unit(src, node, None, None)
                u.pre_directives = pending
                self.tu.routines.append(u.routine)
            else:
                raise unsupported(type(node).__name__.replace("_", " ").lower(), self.span)
            pending = []

    def _collect_module(self, src: SourceText, node) -> None:
        name = _name(node.children[0].children[1])
        mod = Module(name, {}, span=src.span(_line_of(node)))
        if self.tu.module(name):
            raise bad_input(f"module '{name}' defined twice", mod.span)
        self.tu.modules.append(mod)
        spec = next((c for c in node.children if isinstance(c, F.Specification_Part)), None)
        implicit = self._implicit_rules(spec)
        self.module_units[name] = (mod, src, spec, implicit)
        sub = next((c for c in node.children if isinstance(c, F.Module_Subprogram_Part)), None)
        if sub is not None:
            pending: list[Directive] = []
            for c in sub.children:
                if isinstance(c, F.Directive):
                    d = parse_directive(str(c), src.span(_line_of(c)))
                    if d:
                        pending.append(d)
                elif isinstance(c, (F.Subroutine_Subprogram, F.Function_Subprogram)):
                    u = self._new_unit(src, c, None, mod)
                    u.module_implicit = implicit
                    u.pre_directives = pending
                    pending = []
                    mod.routines.append(u.routine)

    def _new_unit(self, src, node, host: Optional[_Unit], mod: Optional[Module]) -> _Unit:
        head = next(c for c in node.children if not isinstance(c, (F.Comment, F.Directive)))
        line = _line_of(head)
        span = src.span(line, 1)
        if isinstance(node, F.Main_Program):
            kind = "program"
            name = _name(head.children[1]) if isinstance(head, F.Program_Stmt) else "main"
            args: list[str] = []
        else:
            kind = "subroutine" if isinstance(node, F.Subroutine_Subprogram) else "function"
            name = _name(head.children[1])
            arglist = head.children[2]
            args = [_name(a) for a in arglist.children] if arglist is not None else []
            if "*" in args:
                raise unsupported("alternate return", span)
        r = Routine(name, kind, args, {}, [], span=span,
                    module=mod.name if mod else (host.routine.module if host else None),
                    host=host.routine.name if host else None)
        u = _Unit(r, node, src, None, host, mod)
        self.units.append(u)
        sub = next((c for c in node.children if isinstance(c, F.Internal_Subprogram_Part)), None)
        if sub is not None:
            pending: list[Directive] = []
            for c in sub.children:
                if isinstance(c, F.Directive):
                    d = parse_directive(str(c), src.span(_line_of(c)))
                    if d:
                        pending.append(d)
                elif isinstance(c, (F.Subroutine_Subprogram, F.Function_Subprogram)):
                    iu = self._new_unit(src, c, u, mod)
                    iu.pre_directives = pending
                    pending = []
                    r.contains.append(iu.routine)
        return u

    # -------------------------------------------------------------- pass 2: declarations

    def _implicit_rules(self, spec) -> Optional[dict[str, Type]]:
        rules = _default_implicit()
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
                if mname in ("iso_c_binding", "iso_fortran_env"):
                    raise unsupported(f"intrinsic module '{mname}'", span)
                if mname not in self.module_units:
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
                    if isinstance(p, (F.Intrinsic_Type_Spec,)):
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
            if isinstance(st, (F.Comment, F.Directive, F.Implicit_Stmt, F.Use_Stmt, F.Intrinsic_Stmt)):
                continue
            if isinstance(st, F.Format_Stmt):
                u.formats[int(str(st.item.label))] = self._format_text(st)
                continue
            if isinstance(st, F.Type_Declaration_Stmt):
                tspec, attrs, entities = st.children
                if not isinstance(tspec, F.Intrinsic_Type_Spec):
                    raise unsupported("derived type variable", span)
                typ = self._type_spec(tspec)
                attr = {"shape": None, "intent": None, "parameter": False, "save": False,
                        "external": False, "allocatable": False}
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
                    elif s == "INTRINSIC":
                        continue
                    else:
                        raise unsupported(f"attribute {s.lower()}", span)
                for ent in entities.children:
                    name = _name(ent.children[0])
                    sym = get(name, span)
                    sym.type = typ
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
            elif isinstance(st, F.Data_Stmt):
                params_pending.append((st, span))
            elif isinstance(st, F.Allocatable_Stmt):
                for nm in st.children[1].children if len(st.children) > 1 else []:
                    n = nm.children[0] if isinstance(nm, Base) and nm.children else nm
                    get(_name(n), span).allocatable = True
            else:
                raise unsupported(type(st).__name__.replace("_", " ").lower(), span)
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
        default = {"real": 4, "integer": 4, "logical": 4, "complex": 8}[b]
        if sel is None:
            return Type(b, default)
        if isinstance(sel, F.Kind_Selector):
            if str(sel.children[0]) == "*":
                size = int(str(sel.children[1]))
                return Type(b, size)
            kexpr = sel.children[1]
            kind = self._const_int(self.expr(kexpr))
            return Type(b, kind * 2 if b == "complex" else kind)
        raise unsupported(f"type selector '{sel}'", self.span)

    def _char_len(self, sel) -> Optional[Expr]:
        text = str(sel).replace(" ", "")
        m = re.search(r"(?:LEN=)?\*?\(?(\*|\d+|[A-Za-z_]\w*)\)?$", text, re.IGNORECASE)
        if m is None:
            raise unsupported(f"character length '{sel}'", self.span)
        v = m.group(1)
        if v == "*":
            return None
        return Lit(v, INT4) if v.isdigit() else Ref(v.lower())

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

    # -------------------------------------------------------------- name resolution

    def lookup(self, name: str, unit: Optional[_Unit] = None) -> Optional[Symbol]:
        u = unit or self.cur
        while u is not None:
            if name in u.routine.symbols:
                return u.routine.symbols[name]
            sym = self._via_uses(name, u.routine.uses, set())
            if sym is not None:
                return sym
            if u.module is not None and u.host is None:
                if name in u.module.symbols:
                    return u.module.symbols[name]
                sym = self._via_uses(name, u.module.uses, set())
                if sym is not None:
                    return sym
            u = u.host
        return None

    def _via_uses(self, name: str, uses: list[Use], seen: set) -> Optional[Symbol]:
        for use in uses:
            remote = name
            for local, rem in use.renames:
                if local == name:
                    remote = rem
            if use.only is not None and name not in use.only:
                continue
            if any(local == name for local, _ in use.renames) or use.only is not None or \
                    all(rem != name for _, rem in use.renames):
                mod = self.tu.module(use.module)
                if mod is None or use.module in seen:
                    continue
                if remote in mod.symbols:
                    return mod.symbols[remote]
                sym = self._via_uses(remote, mod.uses, seen | {use.module})
                if sym is not None:
                    return sym
        return None

    def callable_routine(self, name: str) -> Optional[Routine]:
        """The routine a call to `name` reaches: internal, module, or external."""
        u = self.cur
        while u is not None:
            for c in u.routine.contains:
                if c.name == name:
                    return c
            u = u.host
        mods = []
        u = self.cur
        while u is not None:
            if u.module is not None:
                mods.append(u.module.name)
            mods.extend(x.module for x in u.routine.uses)
            u = u.host
        seen: set[str] = set()
        while mods:
            m = mods.pop(0)
            if m in seen:
                continue
            seen.add(m)
            mod = self.tu.module(m)
            if mod is None:
                continue
            for r in mod.routines:
                if r.name == name:
                    return r
            mods.extend(x.module for x in mod.uses)
        for r in self.tu.routines:
            if r.name == name and r.kind != "program":
                return r
        return None

    def _span_at(self, node, word: str) -> Span:
        line = _line_of(node)
        span = self.cur.src.span(line) if self.cur else Span("<input>", line)
        if self.cur is not None:
            text = self.cur.src.line_text(line).lower()
            key = word.split()[0].lower()
            col = text.find(key)
            if col >= 0:
                return Span(span.file, span.line, col + 1)
            stripped = len(text) - len(text.lstrip())
            return Span(span.file, span.line, stripped + 1)
        return span

    # -------------------------------------------------------------- pass 3: bodies

    def _lower_body(self, u: _Unit) -> None:
        self.cur = u
        r = u.routine
        r.directives = list(u.pre_directives)
        pending: list[Directive] = []
        first = True
        for c in u.node.children:
            if isinstance(c, F.Directive) and first:
                d = parse_directive(str(c), u.src.span(_line_of(c)))
                if d:
                    r.directives.append(d)
            if isinstance(c, (F.Subroutine_Stmt, F.Function_Stmt, F.Program_Stmt)):
                first = False
        spec = next((c for c in u.node.children if isinstance(c, F.Specification_Part)), None)
        if spec is not None:
            for st in spec.children:
                for x in ([st] if isinstance(st, F.Directive) else
                          [c for c in getattr(st, "children", []) if isinstance(c, F.Directive)]):
                    d = parse_directive(str(x), u.src.span(_line_of(x)))
                    if d:
                        pending.append(d)
        exe = next((c for c in u.node.children if isinstance(c, F.Execution_Part)), None)
        # FORMAT statements may sit anywhere; collect them first.
        if exe is not None:
            for node in _walk(exe):
                if isinstance(node, F.Format_Stmt):
                    u.formats[int(str(node.item.label))] = self._format_text(node)
        r.body = self.block(list(exe.children) if exe is not None else [], pending)
        if r.kind == "function" and r.result not in r.symbols:
            raise bad_input(f"function '{r.name}' has no result", r.span)
        labels = {s.label for s in walk_stmts(r.body) if s.label is not None}
        for s in walk_stmts(r.body):
            if isinstance(s, Goto) and s.target not in labels:
                raise bad_input(f"GOTO to undefined label {s.target}", s.span)

    def block(self, nodes: list, pending: Optional[list[Directive]] = None) -> list[Stmt]:
        saved = self.span
        try:
            return self._block(nodes, pending)
        finally:
            self.span = saved

    def _block(self, nodes: list, pending: Optional[list[Directive]] = None) -> list[Stmt]:
        out: list[Stmt] = []
        pending = list(pending or [])
        for node in nodes:
            if isinstance(node, F.Comment):
                continue
            if isinstance(node, F.Directive):
                d = parse_directive(str(node), self.cur.src.span(_line_of(node)))
                if d:
                    pending.append(d)
                continue
            if isinstance(node, F.Format_Stmt):
                continue
            stmts = self.stmt(node)
            if stmts and pending:
                stmts[0].directives = pending + stmts[0].directives
                pending = []
            out.extend(stmts)
        if pending:
            out.append(Continue(span=pending[0].span, directives=pending))
        return out

    def stmt(self, node) -> list[Stmt]:
        line = _line_of(node)
        span = self.cur.src.span(line, 1)
        text = self.cur.src.line_text(line)
        col = len(text) - len(text.lstrip()) + 1
        if is_fixed_form(self.cur.src.path) and len(text) > 6:
            body = text[6:]
            col = 7 + len(body) - len(body.lstrip())
        span = Span(span.file, span.line, col)
        self.span = span
        item = getattr(node, "item", None)
        label = None
        if item is not None and getattr(item, "label", None) is not None:
            label = int(str(item.label))
        for cls, what in _UNSUPPORTED_STMTS.items():
            if isinstance(node, cls):
                raise unsupported(what, self._span_at(node, what))
        # fparser puts comments just before a construct inside it: peel them off.
        leading: list[Directive] = []
        if isinstance(node, BlockBase):
            kids = list(node.children)
            while kids and isinstance(kids[0], (F.Comment, F.Directive)):
                c = kids.pop(0)
                if isinstance(c, F.Directive):
                    d = parse_directive(str(c), self.cur.src.span(_line_of(c)))
                    if d:
                        leading.append(d)
            if len(kids) != len(node.children):
                node = copy.copy(node)
                node.content = kids
                line = _line_of(kids[0]) if kids else line
                span = self.cur.src.span(line, span.col)
                self.span = span
        if label is None and isinstance(node, BlockBase) and node.children:
            head_item = getattr(node.children[0], "item", None)
            if head_item is not None and getattr(head_item, "label", None) is not None:
                label = int(str(head_item.label))
        res = self._stmt(node, span)
        if leading and res:
            res[0].directives = leading + res[0].directives
        if label is not None:
            if not res:
                res = [Continue(span=span)]
            res[0].label = label
        return res

    def _stmt(self, node, span: Span) -> list[Stmt]:
        if isinstance(node, F.Assignment_Stmt):
            lhs_node, _, rhs_node = node.children
            lhs = self.expr(lhs_node)
            if not isinstance(lhs, Ref):
                if isinstance(lhs, Call) and not lhs.intrinsic:
                    raise unsupported("statement function", span)
                raise bad_input(f"cannot assign to '{lhs_node}'", span)
            sym = self.lookup(lhs.name)
            if sym is not None and sym.is_parameter:
                raise bad_input(f"assignment to PARAMETER '{lhs.name}'", span)
            return [Assign(lhs, self.expr(rhs_node), span=span)]
        if isinstance(node, F.Call_Stmt):
            name = _name(node.children[0])
            args = self._actual_args(node.children[1])
            sym = self.lookup(name)
            if sym is not None and not sym.external and sym.storage == "arg":
                raise unsupported("call of a dummy procedure argument", span)
            return [CallStmt(name, [a for a in args if not isinstance(a, tuple)], span=span)]
        if isinstance(node, F.If_Stmt):
            cond = self.expr(node.children[0])
            inner = self.stmt(node.children[1])
            for s in inner:
                s.span = span
            return [If([(cond, inner)], span=span)]
        if isinstance(node, F.If_Construct):
            return [self._if_construct(node, span)]
        if isinstance(node, (F.Block_Nonlabel_Do_Construct, F.Block_Label_Do_Construct,
                             F.Action_Term_Do_Construct)):
            return [self._do(node, span)]
        if isinstance(node, (F.Outer_Shared_Do_Construct,)):
            return [self._shared_do(node, span)]
        if isinstance(node, F.Case_Construct):
            return [self._select(node, span)]
        if isinstance(node, F.Exit_Stmt):
            nm = node.children[1]
            return [Exit(_name(nm) if nm is not None else None, span=span)]
        if isinstance(node, F.Cycle_Stmt):
            nm = node.children[1]
            return [Cycle(_name(nm) if nm is not None else None, span=span)]
        if isinstance(node, F.Return_Stmt):
            if node.children[0] is not None:
                raise unsupported("alternate return", span)
            return [Return(span=span)]
        if isinstance(node, F.Stop_Stmt):
            code = node.children[1] if len(node.children) > 1 else None
            return [Stop(self.expr(code) if isinstance(code, Base) else None, span=span)]
        if isinstance(node, F.Goto_Stmt):
            return [Goto(int(str(node.children[0])), span=span)]
        if isinstance(node, F.Continue_Stmt):
            return [Continue(span=span)]
        if isinstance(node, F.Print_Stmt):
            fmt_node, items = node.children
            return [Print(self._io_items(items), None, self._fmt(fmt_node), span=span)]
        if isinstance(node, F.Write_Stmt):
            ctl, items = node.children
            unit, fmt = None, None
            specs = list(ctl.children)
            for k, spec in enumerate(specs):
                kw, val = (spec.children if isinstance(spec, F.Io_Control_Spec) else (None, spec))
                kw = str(kw).lower() if kw is not None else ("unit" if k == 0 else "fmt" if k == 1 else "?")
                if kw == "unit":
                    unit = None if str(val) == "*" else self.expr(val)
                elif kw == "fmt":
                    fmt = self._fmt(val)
                else:
                    raise unsupported(f"WRITE specifier {kw}=", span)
            return [Print(self._io_items(items), unit, fmt, span=span)]
        if isinstance(node, F.Allocate_Stmt):
            if node.children[0] is not None or node.children[2] is not None:
                raise unsupported("ALLOCATE with type-spec or options", span)
            out = []
            for a in node.children[1].children:
                name = _name(a.children[0])
                subs = []
                for sh in a.children[1].children:
                    lo, hi = sh.children
                    subs.append(Section(self.expr(lo), self.expr(hi)) if lo is not None else self.expr(hi))
                out.append(Ref(name, subs, span=span))
            return [Allocate(out, span=span)]
        if isinstance(node, F.Deallocate_Stmt):
            return [Deallocate([_name(x) for x in node.children[0].children], span=span)]
        raise unsupported(type(node).__name__.replace("_", " ").lower(), span)

    def _if_construct(self, node, span: Span) -> If:
        branches: list[tuple[Expr, list[Stmt]]] = []
        else_: Optional[list[Stmt]] = None
        cur_cond: Optional[Expr] = None
        cur_nodes: list = []
        in_else = False

        def flush():
            nonlocal cur_nodes
            if in_else:
                return
            if cur_cond is not None:
                branches.append((cur_cond, self.block(cur_nodes)))
            cur_nodes = []
        for c in node.children:
            if isinstance(c, F.If_Then_Stmt):
                cur_cond = self.expr(c.children[0])
            elif isinstance(c, F.Else_If_Stmt):
                flush()
                cur_cond = self.expr(c.children[0])
            elif isinstance(c, F.Else_Stmt):
                flush()
                in_else = True
                cur_nodes = []
            elif isinstance(c, F.End_If_Stmt):
                if in_else:
                    else_ = self.block(cur_nodes)
                else:
                    flush()
            else:
                cur_nodes.append(c)
        return If(branches, else_, span=span)

    def _do(self, node, span: Span) -> Stmt:
        head = node.children[0]
        end = node.children[-1]
        body_nodes = list(node.children[1:])
        if isinstance(end, (F.End_Do_Stmt,)):
            body_nodes = body_nodes[:-1]
        cname = None
        if isinstance(head, F.Nonlabel_Do_Stmt) or isinstance(head, F.Label_Do_Stmt):
            if getattr(head.item, "name", None):
                cname = head.item.name.lower()
        ctl = head.children[-1] if head.children else None
        body = self.block(body_nodes)
        if ctl is None:
            return While(Lit("true", LOGICAL), body, name=cname, span=span)
        if ctl.children[0] is not None:       # while (cond)
            return While(self.expr(ctl.children[0]), body, name=cname, span=span)
        var, bounds = ctl.children[1]
        var = _name(var)
        vsym = self.lookup(var)
        if vsym is None:
            self._implicit_local(var)
        elif vsym.type.base != "integer":
            raise unsupported("DO loop with a non-integer variable", span)
        lo, hi = self.expr(bounds[0]), self.expr(bounds[1])
        step = self.expr(bounds[2]) if len(bounds) > 2 and bounds[2] is not None else None
        return Loop(var, lo, hi, step, body, name=cname, span=span)

    def _shared_do(self, node, span: Span) -> Stmt:
        raise unsupported("DO loops sharing one terminal statement", span)

    def _select(self, node, span: Span) -> Select:
        expr = None
        cases: list[Case] = []
        default = None
        cur_vals = None
        cur_nodes: list = []
        is_default = False

        def flush():
            nonlocal default
            if cur_vals is None and not is_default:
                return
            body = self.block(cur_nodes)
            if is_default:
                default = body
            else:
                cases.append(Case(cur_vals, body))
        for c in node.children:
            if isinstance(c, F.Select_Case_Stmt):
                expr = self.expr(c.children[0])
            elif isinstance(c, F.Case_Stmt):
                flush()
                cur_nodes = []
                sel = c.children[0]
                if str(sel).upper() == "DEFAULT" or sel.children[0] is None:
                    is_default, cur_vals = True, None
                else:
                    is_default = False
                    cur_vals = []
                    for v in sel.children[0].children:
                        if isinstance(v, F.Case_Value_Range):
                            lo, hi = v.children
                            cur_vals.append(Section(self.expr(lo) if lo is not None else None,
                                                    self.expr(hi) if hi is not None else None))
                        else:
                            cur_vals.append(self.expr(v))
            elif isinstance(c, F.End_Select_Stmt):
                flush()
            else:
                cur_nodes.append(c)
        return Select(expr, cases, default, span=span)

    def _format_text(self, node) -> str:
        spec = node.children[1]
        return str(spec)

    def _fmt(self, f) -> Optional[str]:
        if f is None or str(f) == "*":
            return None
        if isinstance(f, F.Format):
            f = f.children[0] if f.children else f
            if str(f) == "*":
                return None
        if isinstance(f, F.Char_Literal_Constant):
            s = str(f.children[0])
            q = s[0]
            return s[1:-1].replace(q + q, q)
        if isinstance(f, F.Label):
            lab = int(str(f))
            if lab not in self.cur.formats:
                raise bad_input(f"FORMAT label {lab} not found", self.span)
            return self.cur.formats[lab]
        raise unsupported(f"format '{f}'", self.span)

    def _io_items(self, items) -> list[Expr]:
        if items is None:
            return []
        out = []
        for it in items.children:
            out.append(self._io_item(it))
        return out

    def _io_item(self, it) -> Expr:
        if isinstance(it, F.Io_Implied_Do):
            objs, ctl = it.children
            var = _name(ctl.children[0])
            if self.lookup(var) is None:
                self._implicit_local(var)
            bounds = ctl.children[1:]
            lo, hi = self.expr(bounds[0]), self.expr(bounds[1])
            step = self.expr(bounds[2]) if len(bounds) > 2 and bounds[2] is not None else None
            return ImpliedDo([self._io_item(o) for o in objs.children], var, lo, hi, step, span=self.span)
        return self.expr(it)

    def _actual_args(self, lst) -> list:
        if lst is None:
            return []
        out = []
        for a in lst.children:
            if isinstance(a, (F.Actual_Arg_Spec,)):
                raise unsupported("keyword argument in a call to a user routine", self.span)
            if isinstance(a, F.Alt_Return_Spec):
                raise unsupported("alternate return", self.span)
            out.append(self.expr(a))
        return out

    def _implicit_local(self, name: str) -> Symbol:
        t = self._implicit_type(name, self.span)
        sym = Symbol(name, t, storage="local", implicit=True, span=self.span)
        self.cur.routine.symbols[name] = sym
        return sym

    # -------------------------------------------------------------- expressions

    def expr(self, n) -> Expr:
        span = self.span
        if isinstance(n, F.Name):
            name = _name(n)
            sym = self.lookup(name)
            if sym is None:
                if self.callable_routine(name) is not None:
                    raise unsupported(f"procedure '{name}' passed as an argument", span)
                if self.cur is not None and self.cur.routine.kind != "module":
                    sym = self._implicit_local(name)
                else:
                    raise bad_input(f"symbol '{name}' has no IMPLICIT type", span)
            if sym.external and not sym.shape:
                raise unsupported(f"procedure '{name}' passed as an argument", span)
            return Ref(name, span=span)
        if isinstance(n, (F.Signed_Int_Literal_Constant, F.Signed_Real_Literal_Constant)):
            text = str(n).strip()
            if text.startswith(("-", "+")):
                inner = (F.Int_Literal_Constant if isinstance(n, F.Signed_Int_Literal_Constant)
                         else F.Real_Literal_Constant)(text[1:].strip())
                val = self.expr(inner)
                return Un("-", val, span=span) if text.startswith("-") else val
        if isinstance(n, F.Int_Literal_Constant):
            val, kind = n.items
            return Lit(str(val), INT8 if kind is not None and self._kind_of(kind) == 8 else INT4, span=span)
        if isinstance(n, F.Real_Literal_Constant):
            val, kind = n.items
            text = str(val).lower()
            k = 4
            if "d" in text:
                k = 8
                text = text.replace("d", "e")
            if kind is not None:
                k = self._kind_of(kind)
            return Lit(text, Type("real", k), span=span)
        if isinstance(n, F.Logical_Literal_Constant):
            return Lit("true" if "TRUE" in str(n.items[0]).upper() else "false", LOGICAL, span=span)
        if isinstance(n, F.Char_Literal_Constant):
            s = str(n.items[0])
            q = s[0]
            return Lit(s[1:-1].replace(q + q, q), Type("character", 1, Lit(str(len(s) - 2), INT4)), span=span)
        if isinstance(n, F.Parenthesis):
            return self.expr(n.items[1])
        if isinstance(n, (F.Level_2_Unary_Expr,)):
            op, x = n.items
            return Un(op.strip(), self.expr(x), span=span)
        if isinstance(n, F.And_Operand):
            op, x = n.items
            return Un("not", self.expr(x), span=span)
        if isinstance(n, (F.Level_2_Expr, F.Add_Operand, F.Mult_Operand, F.Level_3_Expr,
                          F.Level_4_Expr, F.Or_Operand, F.Equiv_Operand, F.Level_5_Expr)):
            left, op, right = n.items
            op = op.strip().lower()
            if op in _REL_OPS:
                op = _REL_OPS[op]
            elif op in _LOG_OPS:
                op = _LOG_OPS[op]
            elif op == "//":
                op = "concat"
            elif op not in ("+", "-", "*", "/", "**"):
                raise unsupported(f"operator '{op}'", span)
            return Bin(op, self.expr(left), self.expr(right), span=span)
        if isinstance(n, (F.Part_Ref, F.Function_Reference, F.Structure_Constructor,
                          F.Intrinsic_Function_Reference)):
            return self._part_ref(n, span)
        if isinstance(n, F.Array_Constructor):
            vals = n.items[1]
            return ArrayCtor([self._ac_value(v) for v in (vals.children if vals is not None else [])],
                             span=span)
        if isinstance(n, F.Data_Ref):
            raise unsupported("derived type component reference", span)
        if isinstance(n, F.Complex_Literal_Constant):
            raise unsupported("complex literal", span)
        if isinstance(n, F.Substring_Range) or isinstance(n, F.Array_Section):
            raise unsupported("character substring", span)
        raise unsupported(f"expression '{n}'", span)

    def _ac_value(self, v) -> Expr:
        if isinstance(v, F.Ac_Implied_Do):
            vals, ctl = v.children
            var = _name(ctl.children[0])
            if self.lookup(var) is None:
                self._implicit_local(var)
            b = ctl.children[1]
            return ImpliedDo([self._ac_value(x) for x in vals.children], var, self.expr(b[0]),
                             self.expr(b[1]), self.expr(b[2]) if len(b) > 2 and b[2] is not None else None,
                             span=self.span)
        return self.expr(v)

    def _kind_of(self, kind) -> int:
        if isinstance(kind, Base):
            return self._const_int(self.expr(kind))
        s = str(kind)
        if s.isdigit():
            return int(s)
        return self._const_int(Ref(s.lower()))

    def _part_ref(self, n, span: Span) -> Expr:
        name = _name(n.items[0])
        arglist = n.items[1] if len(n.items) > 1 else None
        sym = self.lookup(name)
        if sym is not None and (sym.shape or (sym.type.base == "character" and not sym.external
                                              and self.callable_routine(name) is None)):
            if not sym.shape:
                raise unsupported("character substring", span)
            subs = []
            for s in (arglist.children if arglist is not None else []):
                if isinstance(s, F.Subscript_Triplet):
                    lo, hi, st = s.children
                    subs.append(Section(self.expr(lo) if lo is not None else None,
                                        self.expr(hi) if hi is not None else None,
                                        self.expr(st) if st is not None else None))
                else:
                    subs.append(self.expr(s))
            if len(subs) != len(sym.shape):
                raise bad_input(f"'{name}' has rank {len(sym.shape)} but {len(subs)} subscripts", span)
            return Ref(name, subs, span=span)
        # A function reference: user routine first (it may shadow an intrinsic).
        args: list[Expr] = []
        kwargs: list[tuple[str, Expr]] = []
        for a in (arglist.children if arglist is not None else []):
            if isinstance(a, (F.Actual_Arg_Spec, F.Component_Spec)):
                kw, val = a.children
                if kw is None:
                    args.append(self.expr(val))
                else:
                    kwargs.append((_name(kw), self.expr(val)))
            elif isinstance(a, F.Subscript_Triplet):
                raise bad_input(f"'{name}' is not an array", span)
            else:
                args.append(self.expr(a))
        target = self.callable_routine(name)
        if target is not None or (sym is not None and (sym.external or sym.storage != "arg")):
            if target is not None and target.kind != "function":
                raise bad_input(f"subroutine '{name}' used as a function", span)
            if kwargs:
                raise unsupported("keyword argument in a call to a user function", span)
            if sym is None and target is None:
                pass
            if target is None and sym is not None and not sym.external:
                sym.external = True
            return Call(name, args, [], intrinsic=False, span=span)
        spec = intrinsics.lookup(name)
        if spec is not None:
            generic = intrinsics.SPECIFIC.get(name, name)
            return Call(generic, args, kwargs, intrinsic=True, span=span)
        if sym is not None and sym.storage == "arg":
            raise unsupported(f"dummy procedure '{name}'", span)
        # Undeclared, not intrinsic, not defined here: an implicit external function.
        t = self._implicit_type(name, span)
        sym = Symbol(name, t, storage="local", external=True, implicit=True, span=span)
        self.cur.routine.symbols[name] = sym
        return Call(name, args, [], intrinsic=False, span=span)

    # -------------------------------------------------------------- typing

    def type_of(self, e: Expr) -> Type:
        from ..ir.typing import type_of
        return type_of(e, lambda n: self.lookup(n), self._fun_type)

    def _fun_type(self, name: str) -> Optional[Type]:
        r = self.callable_routine(name)
        if r is not None and r.result:
            return r.symbols[r.result].type if r.result in r.symbols else None
        sym = self.lookup(name)
        return sym.type if sym is not None else None


def _walk(node):
    yield node
    for c in getattr(node, "children", []) or []:
        if isinstance(c, Base):
            yield from _walk(c)


def read_fortran(paths: list[str], include_dirs: list[str] | None = None,
                 defines: list[str] | None = None) -> TranslationUnit:
    return FortranFrontend(include_dirs, defines).read(paths)
