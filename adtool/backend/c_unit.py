"""The layout of a generated C file, which is compiled apart from the user's
code and linked with it (interface.md): the user's globals are reached
through `extern`, derivative globals (`vb`) are defined here, and what C
keeps private to the user's file (static functions and static globals)
gets a private copy here, named f_nodiff for functions.
"""
from __future__ import annotations

import copy
from ..ir.clone import clone

from ..diagnostics import unsupported
from ..ir.nodes import (Allocate, Assign, CallStmt, Deallocate, Raw, Routine,
                        TranslationUnit)
from ..ir.visit import calls_in, refs_in, stmt_exprs, walk_stmts
from .c import declaration, emit_routine, library_includes, signature, without_gotos
from .c_expr import CExpr
from .templates import render

__all__ = ["emit_derivative_unit"]

RUNTIME_HEADER = '#include "adstack.h"'


def emit_derivative_unit(out: TranslationUnit, primal: TranslationUnit, uses_stack: bool) -> str:
    variants = [r for r in out.all_routines()]
    if out.modules and any(m.symbols for m in out.modules):
        raise unsupported("module storage in C output", None)
    for v in variants:
        _refuse_fortran_only(v)
    copies = _nodiff_copies(variants, primal)
    routines = variants + copies
    table = {r.name: r for r in primal.all_routines()}
    table.update({r.name: r for r in routines})
    # The user's derivatives of externals: called, so prototyped like primal callees.
    table.update({r.name: r for r in getattr(out, "external_variants", None) or []})
    used = _globals_used(routines, primal)
    unit = TranslationUnit("c", out.files, routines=routines)
    unit.globals = {**{n: primal.globals[n] for n in used}, **out.globals}
    # The user's structs, then the derivative types the transform added.
    unit.types = {**primal.types, **{n: t for n, t in out.types.items() if n not in primal.types}}
    glob = CExpr(unit.globals.get, table.get, unit.types)

    decls = []
    for n in used:
        s = primal.globals[n]
        if s.save:
            decls.append(_private_static(s, routines, glob))
        else:
            plain = copy.copy(s)
            plain.init = None
            decls.append("extern " + declaration(plain, glob) + ";")
    decls += [declaration(s, glob) + ";" for s in out.globals.values()]

    protos = []
    for name in _primal_callees(routines, table):
        f = table[name]
        if f.static:
            continue                  # replaced by its _nodiff copy
        protos.append(signature(f, CExpr(lambda n, f=f: f.symbols.get(n) or primal.globals.get(n),
                                         table.get, unit.types)) + ";")
    protos += [signature(r, glob) + ";" for r in routines]

    bodies = [emit_routine(r, unit, table, zero_locals=True).rstrip("\n") for r in routines]
    includes = list(primal.includes)
    if not any("math.h" in i for i in includes):
        includes.append("#include <math.h>")
    includes = library_includes(includes, bodies)
    if uses_stack:
        includes.append(RUNTIME_HEADER)
    from .c_struct import struct_definitions
    return render("c/unit.j2", includes=includes, structs=struct_definitions(unit.types, glob),
                  globals=decls, prototypes=protos, routines=bodies)


def _refuse_fortran_only(v: Routine) -> None:
    for s in walk_stmts(v.body):
        if isinstance(s, Raw) or (isinstance(s, (Allocate, Deallocate)) and not _heap_only(v, s)):
            raise unsupported("this construct needs a temporary array of run-time size, "
                              "which the C output cannot make yet", s.span if s.span.line else v.span,
                              v.name)


def _heap_only(v: Routine, s) -> bool:
    """Allocations of C heap arrays (frontend/c_heap.py) print; others need
    an array descriptor C does not have."""
    from .c import heap_length
    names = [it.name for it in s.items] if isinstance(s, Allocate) else s.names
    return all(n in v.symbols and heap_length(v.symbols[n]) for n in names)


def _calls(r: Routine) -> list[str]:
    out = []
    for s in walk_stmts(r.body):
        if isinstance(s, CallStmt):
            out.append(s.name)
        for e in stmt_exprs(s):
            out.extend(c.name for c in calls_in(e) if not c.intrinsic)
    return out


def _primal_callees(routines: list[Routine], table: dict) -> list[str]:
    own = {r.name for r in routines}
    seen: list[str] = []
    for r in routines:
        for n in _calls(r):
            if n in table and n not in own and n not in seen:
                seen.append(n)
    return seen


def _nodiff_copies(variants: list[Routine], primal: TranslationUnit) -> list[Routine]:
    """Static functions the generated code calls as primal code: a static copy
    each, and every call (in the variants and the copies) renamed to it."""
    statics = {r.name: r for r in primal.routines if r.static}
    wanted: list[str] = []
    todo = [n for v in variants for n in _calls(v)]
    while todo:
        n = todo.pop()
        if n in statics and n not in wanted:
            wanted.append(n)
            todo.extend(_calls(statics[n]))
    copies = []
    for n in sorted(wanted):
        c = without_gotos(clone(statics[n]), primal)
        c.name = n + "_nodiff"
        copies.append(c)
    rename = {n: n + "_nodiff" for n in wanted}
    for r in variants + copies:
        _rename_calls(r, rename)
    return copies


def _rename_calls(r: Routine, rename: dict[str, str]) -> None:
    for s in walk_stmts(r.body):
        if isinstance(s, CallStmt) and s.name in rename:
            s.name = rename[s.name]
        for e in stmt_exprs(s):
            for c in calls_in(e):
                if not c.intrinsic and c.name in rename:
                    c.name = rename[c.name]


def _globals_used(routines: list[Routine], primal: TranslationUnit) -> list[str]:
    out: list[str] = []
    for r in routines:
        for s in walk_stmts(r.body):
            names = [x.name for e in stmt_exprs(s) for x in refs_in(e)]
            if isinstance(s, Assign):
                names.append(s.lhs.name)
            for n in names:
                if n in primal.globals and n not in r.symbols and n not in out:
                    out.append(n)
    return out


def _private_static(s, routines: list[Routine], ex: CExpr) -> str:
    """A static global lives in the user's file, out of reach.  A copy here
    is exact when the generated code never writes it, or only updates it
    from itself (a call counter): its value then reaches nothing else."""
    writes = reads_elsewhere = False
    for r in routines:
        for st in walk_stmts(r.body):
            if isinstance(st, Assign) and st.lhs.name == s.name:
                writes = True
                continue
            if isinstance(st, CallStmt) and st.name.startswith(("ad_push", "ad_pop")):
                continue              # recording it returns its own value
            if any(x.name == s.name for e in stmt_exprs(st) for x in refs_in(e)):
                reads_elsewhere = True
    if writes and reads_elsewhere:
        raise unsupported(f"static global '{s.name}' that the differentiated code both "
                          "writes and reads (the generated file cannot reach it)", s.span)
    return "static " + declaration(s, ex) + ";"
