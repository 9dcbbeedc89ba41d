"""fparser2 parse trees -> IR.

Everything Fortran-specific about meaning is settled here so that later
stages never see fparser objects: implicit typing, kinds (real*8, kind=dp),
array element vs function call, labelled DO, FORMAT labels, COMMON layout,
and where `$AD` directives belong.

This module is the driver (pass 1: program units; then the passes in
order).  Each concern lives in its own module as a mixin of
FortranFrontend, sharing `self.cur` (the unit being lowered) and
`self.span`: fortran_decl (pass 2, specification parts), fortran_stmt
(pass 3, bodies), fortran_expr (expressions), fortran_scope (name
resolution), fortran_iface (interfaces, generic names, optional
arguments: how a call finds its procedure), fortran_pointer (pointers
replaced by their targets), fortran_tree (fparser2 and its
tree helpers).
"""
from __future__ import annotations

from typing import Optional

from fparser.two import Fortran2003 as F

from ..diagnostics import AdError, bad_input, unsupported
from ..ir.nodes import Directive, Module, Routine, Span, TranslationUnit
from .fortran_decl import Declarations
from .fortran_expr import Expressions
from .fortran_iface import Interfaces
from .fortran_pointer import Pointers
from .fortran_scope import Scope
from .fortran_stmt import Statements
from .specialize import specialize_procedure_args
from .fortran_tree import _UNSUPPORTED_STMTS, _Unit, _line_of, _name, parse_directive
from .fortran_tree import parse_tree, prepare_parser  # noqa: F401  (parse_tree re-exported)
from .parse_cache import ParseCache
from .source import SourceText, is_fixed_form, load


class FortranFrontend(Interfaces, Pointers, Declarations, Scope, Statements, Expressions):
    """Lowers a set of Fortran files into one TranslationUnit."""

    def __init__(self, include_dirs: list[str] | None = None, defines: list[str] | None = None,
                 default_real_kind: int = 4, cache: Optional[ParseCache] = None):
        self.include_dirs = include_dirs or []
        self.cache = cache or ParseCache(None)
        self.default_real_kind = default_real_kind
        self.defines = defines or []
        self.tu = TranslationUnit("fortran", [])
        from ..ir import records
        records.bind(self.tu.types)
        self.units: list[_Unit] = []
        self.module_units: dict[str, tuple[Module, SourceText, object, Optional[dict]]] = {}
        self.generic_names: dict[str, dict[str, list[str]]] = {}    # scope -> generic -> specifics
        self.explicit_interfaces: dict[str, list[Routine]] = {}      # interface bodies by name
        self.abstract_interfaces: dict[str, Routine] = {}            # ABSTRACT INTERFACE bodies
        self.resolved_via: Optional[tuple[str, str]] = None          # of the last call resolved
        self.span = Span("<none>", 0)
        self.cur: Optional[_Unit] = None

    # -------------------------------------------------------------- driver

    def read(self, paths: list[str]) -> TranslationUnit:
        srcs = [load(p, self.include_dirs, self.defines) for p in paths]
        prepare_parser()             # built once, before any worker is forked
        got = self.cache.parse_all("fortran", [
            (p, src.text, (is_fixed_form(p), tuple(self.include_dirs), tuple(self.defines)),
             lambda src=src: parse_tree(src)) for p, src in zip(paths, srcs)])
        self.tu.files.extend(paths)
        trees = list(zip(srcs, got))
        for src, tree in trees:
            self._collect(src, tree)
        self._declare_modules()
        for u in self.units:
            try:
                self._declare(u)
            except AdError as err:
                u.routine.errors.append(err)
        for u in self.units:
            if u.routine.errors:      # declarations failed: the body cannot be read
                continue
            try:
                self._lower_body(u)
            except AdError as err:
                u.routine.errors.append(err)
        self.drop_pointer_symbols()
        specialize_procedure_args(self.tu)
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


def read_fortran(paths: list[str], include_dirs: list[str] | None = None,
                 defines: list[str] | None = None, default_real_kind: int = 4,
                 cache: Optional[ParseCache] = None) -> TranslationUnit:
    return FortranFrontend(include_dirs, defines, default_real_kind, cache).read(paths)
