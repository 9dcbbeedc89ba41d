"""The C front end: pycparser's AST of preprocessed C99 to the IR.

Three passes over all input files together, because a call site needs the
callee's signature: (1) typedefs, globals and function headers; (2) how
each pointer parameter is used, which decides whether `double *p` is a
scalar passed by reference (`*p`) or an array (`p[i]`) -- the IR states
that fact, C syntax does not; (3) function bodies.  Anything outside the
supported subset is an AdError naming the construct and its place.
"""
from __future__ import annotations

import os
import re
from typing import Optional

from pycparser import c_ast, c_parser

from ..diagnostics import AdError, bad_input, gather, unsupported
from ..ir.nodes import INT4, Directive, Lit, Routine, Span, Symbol, TranslationUnit, Type
from .c_expr import FuncInfo
from .c_func import FunctionLowering
from .c_pre import EXTENT_PREFIX, FAKE_LIBC, OVERLAY, preprocess_c
from .c_stmt import parse_pragma
from .c_struct import StructReader
from .c_types import Declarator, TypeNames, base_type, span_of
from .parse_cache import ParseCache
from .source import read_user_file


def read_c(paths: list[str], include_dirs: Optional[list[str]] = None,
           defines: Optional[list[str]] = None, cache: Optional[ParseCache] = None) -> TranslationUnit:
    return CFrontend(include_dirs or [], defines or [], cache).read(paths)


def _user(n) -> bool:
    f = os.path.abspath(getattr(getattr(n, "coord", None), "file", None) or "")
    return not f.startswith((os.path.abspath(FAKE_LIBC), OVERLAY))


def parse_c(path: str, text: str):
    try:
        return c_parser.CParser().parse(text, filename=path)
    except c_parser.ParseError as exc:
        msg = str(exc)
        m = re.match(r"^(.*?):(\d+):(\d+): (.*)$", msg)
        if m:
            raise bad_input(f"syntax error: {m.group(4)}",
                            Span(m.group(1), int(m.group(2)), int(m.group(3)))) from None
        raise bad_input(f"syntax error: {msg}", Span(path, 0, 0)) from None


class CFrontend:
    def __init__(self, include_dirs: list[str], defines: list[str],
                 cache: Optional[ParseCache] = None) -> None:
        self.cache = cache or ParseCache(None)
        self.include_dirs = include_dirs
        self.defines = defines
        self.typedefs: dict[str, Type] = TypeNames()
        self.typedefs.enum_consts = self.enum_consts = {}
        self.structs = StructReader(self.typedefs, lambda x: Lit("0", INT4))
        self.globals: dict[str, Symbol] = {}
        self.funcs: dict[str, FuncInfo] = {}
        self.defs: list[tuple[c_ast.FuncDef, list[Directive]]] = []
        self.externs: dict[str, Span] = {}
        # File-scope names adtool cannot read, with why: an error only where used.
        self.unreadable: dict[str, AdError] = {}
        self.unread: dict[str, tuple[list[AdError], list[str]]] = {}
        self.extents_before: dict[str, list] = {}   # `$AD EXTENT` before a function
        self.prototypes: dict[str, object] = {}     # declared, maybe never defined

    def read(self, paths: list[str]) -> TranslationUnit:
        tu = TranslationUnit("c", list(paths))
        from ..ir import records
        records.bind(self.structs.types)    # member types for every type query from here on
        for path in paths:
            pre = preprocess_c(path, read_user_file(path), self.include_dirs, self.defines)
            for inc in pre.includes:
                if inc not in tu.includes:
                    tu.includes.append(inc)
            self._top_level(self.cache.parse("c", path, pre.text,
                                             (tuple(self.include_dirs), tuple(self.defines)),
                                             lambda: parse_c(path, pre.text)))
        for name, span in self.externs.items():
            if name not in self.globals:
                self.unreadable.setdefault(
                    name, unsupported("extern variable defined outside the input files", span, name))
        self._classify_pointers()
        self._declared_only(tu)
        tu.globals = self.globals
        tu.types = self.structs.types
        for fd, dirs in self.defs:
            try:
                tu.routines.append(FunctionLowering(self, fd, dirs).lower())
            except AdError as exc:
                self.unread[fd.decl.name] = ([exc], _callees(fd.body))
        tu.unread = self.unread
        if not tu.routines and not tu.unread:
            raise bad_input("no function definition in the input", Span(paths[0], 0, 0))
        from .specialize import specialize_procedure_args
        specialize_procedure_args(tu)
        return tu

    # -------------------------------------------------------------- pass 1

    def _top_level(self, ast) -> None:
        pending: list[Directive] = []
        extents: list = []
        glob = FunctionLowering(self, None, [])
        self.structs.value = glob.value
        for n in ast.ext:
            if not _user(n):
                continue
            span = span_of(n)
            if isinstance(n, c_ast.Typedef) and n.name.startswith(EXTENT_PREFIX):
                extents.append(n)
                continue
            if isinstance(n, c_ast.Pragma):
                d = parse_pragma(n.string, Span(span.file, span.line, 1))
                if d is not None:
                    pending.append(d)
                continue
            if isinstance(n, c_ast.FuncDef):
                self.extents_before[n.decl.name] = extents
                extents = []
                try:
                    self._header(n)
                    self.defs.append((n, pending))
                except AdError as exc:
                    self.unread[n.decl.name] = ([exc], _callees(n.body))
                pending = []
                continue
            if pending:
                raise bad_input(f"$AD {pending[0].name} must stand before a function or a statement",
                                pending[0].span)
            name = getattr(n, "name", None)
            try:
                if isinstance(n, c_ast.Typedef) and function_pointer(n.type, self.typedefs) is not None:
                    FUNCTION_TYPEDEFS.setdefault(id(self.typedefs), {})[n.name] = n.type
                    self.unreadable.setdefault(n.name, unsupported(
                        "function pointer type used other than as a parameter", span, n.name))
                    self.typedefs[n.name] = self.unreadable[n.name]
                elif isinstance(n, c_ast.Typedef):
                    self.structs.name_typedef(n)
                    d = Declarator(n.type, span, self.typedefs, glob.value)
                    if d.pointers or d.dims_c:
                        raise unsupported("typedef of a pointer or array type", span, n.name)
                    self.typedefs[n.name] = d.type
                elif isinstance(n, c_ast.Decl):
                    self._global_decl(n, span, glob)
            except AdError as exc:
                # Read permissively: only a function adtool differentiates
                # that uses this name makes it an error.
                if name:
                    self.unreadable.setdefault(name, exc)
                    if isinstance(n, c_ast.Typedef):
                        self.typedefs[name] = exc       # scalar_type raises it where used
        if pending:
            raise bad_input(f"$AD {pending[0].name} must stand before a function or a statement",
                            pending[0].span)
        if extents:
            raise bad_input("$AD EXTENT must stand before a function or inside it", span_of(extents[0]))

    def _global_decl(self, n, span: Span, glob: "FunctionLowering") -> None:
        if isinstance(n.type, (c_ast.Struct, c_ast.Union, c_ast.Enum)):
            base_type(c_ast.TypeDecl(None, [], None, n.type), span, self.typedefs)
            if n.name is None:
                return                  # `struct tag {...};` defines a type only
        if isinstance(n.type, c_ast.FuncDecl):
            self.prototypes.setdefault(n.name, n)   # the definition, if any, is what we read
            return
        if "extern" in (n.storage or []):
            self.externs.setdefault(n.name, span)
            return
        if n.name in self.globals:
            raise bad_input(f"global '{n.name}' defined twice", span)
        d = Declarator(n.type, span, self.typedefs, glob.value)
        if d.pointers:
            raise unsupported("pointer variable", span, n.name)
        sym = Symbol(n.name, d.type, storage="global", span=span,
                     save="static" in (n.storage or []))
        glob.set_shape(sym, d, n.init, span)
        if n.init is not None:
            if sym.type.base == "derived":
                raise unsupported("initialiser of a struct", span, n.name)
            sym.init = glob.static_init(n.init, sym, d, span)
        self.globals[n.name] = sym

    def _header(self, fd) -> None:
        decl = fd.decl
        span = span_of(decl)
        if decl.name in self.funcs:
            raise bad_input(f"function '{decl.name}' defined twice", span)
        ret = decl.type.type
        if not isinstance(ret, c_ast.TypeDecl):
            raise unsupported("function returning a pointer", span, decl.name)
        rtype = base_type(ret, span, self.typedefs)
        if rtype.base == "derived":
            raise unsupported("function returning a struct", span,
                              f"{decl.name}; return it through a pointer argument")
        params = []
        for p in _params(decl.type):
            if isinstance(p, c_ast.EllipsisParam):
                raise unsupported("variadic function", span, decl.name)
            if function_pointer(p.type, self.typedefs) is not None:
                params.append("proc")
                continue
            pd = Declarator(p.type, span_of(p, span), self.typedefs, lambda x: Lit("0", INT4))
            params.append("array" if pd.dims_c else ("?" if pd.pointers else "value"))
        self.funcs[decl.name] = FuncInfo(decl.name, rtype, params, fd)

    def _declared_only(self, tu: TranslationUnit) -> None:
        """Functions with a prototype and no definition (a library, a solver):
        calls to them lower like calls to defined ones, and the prototype's
        parameter types go to tu.prototypes for externals declarations.  A
        pointer parameter is recorded as a scalar by reference; the call
        site says whether it is an array (externals.py)."""
        for name, n in self.prototypes.items():
            if name in self.funcs:
                continue
            span = span_of(n)
            try:
                ret = n.type.type
                if not isinstance(ret, c_ast.TypeDecl):
                    continue
                rtype = base_type(ret, span, self.typedefs)
                kinds, syms = [], {}
                for p in _params(n.type):
                    if isinstance(p, c_ast.EllipsisParam) or not getattr(p, "name", None):
                        raise unsupported("unnamed or variadic parameter", span)
                    pd = Declarator(p.type, span_of(p, span), self.typedefs, lambda x: Lit("0", INT4))
                    by_value = not (pd.pointers or pd.dims_c)
                    kinds.append("value" if by_value else "array")
                    syms[p.name] = Symbol(p.name, pd.type, storage="arg", by_value=by_value,
                                          intent="in" if (pd.const and not by_value) else None,
                                          span=span_of(p, span))
            except AdError:
                continue                # not usable; an externals declaration will say so
            self.funcs[name] = FuncInfo(name, rtype, kinds, None)
            kind = "subroutine" if rtype.base == "void" else "function"
            r = Routine(name, kind, list(syms), syms, [], span=span, language="c")
            if kind == "function":
                r.result = f"{name}_result"
                r.symbols[r.result] = Symbol(r.result, rtype, storage="result", span=span)
            tu.prototypes[name] = r

    # -------------------------------------------------------------- pass 2

    def _classify_pointers(self) -> None:
        passes: dict[tuple[str, int], list[tuple[str, int]]] = {}
        for f in self.funcs.values():
            names = [p.name for p in _params(f.node.decl.type)]
            for k, kind in enumerate(f.params):
                if kind != "?":
                    continue
                use = _pointer_use(f.node.body, names[k])
                if "index" in use:
                    f.params[k] = "array"
                elif "deref" in use:
                    f.params[k] = "ref"
                passes[(f.name, k)] = use.get("pass", [])
        changed = True
        while changed:
            changed = False
            for (fname, k), targets in passes.items():
                f = self.funcs[fname]
                if f.params[k] != "?":
                    continue
                for callee, j in targets:
                    g = self.funcs.get(callee)
                    if g is not None and j < len(g.params) and g.params[j] != "?":
                        f.params[k] = g.params[j]
                        changed = True
                        break
        for f in self.funcs.values():
            f.params = ["array" if p == "?" else p for p in f.params]


def function_pointer(t, typedefs: dict):
    """The FuncDecl a parameter's type points to (`double (*f)(double)`, or
    a typedef of that), or None."""
    while isinstance(t, c_ast.TypeDecl) and isinstance(t.type, c_ast.IdentifierType) \
            and len(t.type.names) == 1 and t.type.names[0] in FUNCTION_TYPEDEFS.get(id(typedefs), {}):
        t = FUNCTION_TYPEDEFS[id(typedefs)][t.type.names[0]]
    if isinstance(t, c_ast.PtrDecl) and isinstance(t.type, c_ast.FuncDecl):
        return t.type
    return None


# typedefs of function-pointer types, per front end (keyed by its typedef
# table): `typedef double (*fun)(double);`
FUNCTION_TYPEDEFS: dict[int, dict[str, object]] = {}


def _params(fdecl) -> list:
    if fdecl.args is None:
        return []
    ps = list(fdecl.args.params)
    if len(ps) == 1 and isinstance(ps[0], c_ast.Typename) and \
            isinstance(ps[0].type, c_ast.TypeDecl) and \
            getattr(ps[0].type.type, "names", None) == ["void"]:
        return []
    for p in ps:
        if isinstance(p, c_ast.ID):
            raise unsupported("K&R-style parameter list", span_of(p))
        if isinstance(p, c_ast.Typename) and not isinstance(p, c_ast.EllipsisParam):
            raise unsupported("unnamed parameter", span_of(p))
    return ps


def _callees(body) -> list[str]:
    """Names of the functions a body calls (for a function that could not be
    read: whether it is in a head's call tree is decided later)."""
    out: list[str] = []

    def visit(n) -> None:
        if isinstance(n, c_ast.FuncCall) and isinstance(n.name, c_ast.ID) and n.name.name not in out:
            out.append(n.name.name)
        for _, c in n.children():
            visit(c)
    if body is not None:
        visit(body)
    return out


def _pointer_use(body, name: str) -> dict:
    """How the body uses pointer parameter `name`: indexed, dereferenced,
    or passed on (callee, position)."""
    use: dict = {}

    def visit(n, parent) -> None:
        if isinstance(n, c_ast.ID) and n.name == name:
            if isinstance(parent, c_ast.ArrayRef) and parent.name is n:
                use["index"] = True
            elif isinstance(parent, c_ast.UnaryOp) and parent.op == "*":
                use["deref"] = True
            elif isinstance(parent, c_ast.StructRef) and parent.name is n and parent.type == "->":
                use["deref"] = True
        if isinstance(n, c_ast.FuncCall) and isinstance(n.name, c_ast.ID) and n.args is not None:
            for j, a in enumerate(n.args.exprs):
                if isinstance(a, c_ast.ID) and a.name == name:
                    use.setdefault("pass", []).append((n.name.name, j))
        for _, c in n.children():
            visit(c, n)
    visit(body, None)
    return use

