"""Explicit interfaces the generated code needs.

An external routine (not in a module) whose dummies are assumed-shape,
OPTIONAL, allocatable or pointer can only be called through an explicit
interface; the user's code has one (an INTERFACE block, kept on the
routine and re-emitted), and the derivative variants the generated code
calls need theirs too: an interface body made from the variant itself
(its arguments and their declarations), in each generated routine that
calls it.
"""
from __future__ import annotations

import copy
from typing import Optional

from ..ir.nodes import CallStmt, Interface, Routine, TranslationUnit
from ..ir.visit import calls_in, refs_in, stmt_exprs, walk_expr, walk_stmts


def _needs_interface(r: Routine) -> bool:
    for a in r.args:
        s = r.symbols.get(a)
        if s is None:
            continue
        if s.optional or s.allocatable or s.pointer or s.target or \
                any(d.assumed for d in s.shape):
            return True
    if r.result and r.result in r.symbols and r.symbols[r.result].rank:
        return True
    return False


def _is_external(r: Optional[Routine]) -> bool:
    return r is not None and r.module is None and r.host is None and r.declared is None \
        and r.kind != "program" and r.language == "fortran"


def _called(r: Routine) -> list[str]:
    names: list[str] = []
    for s in walk_stmts(r.body):
        if isinstance(s, CallStmt):
            names.append(s.name)
        for e in stmt_exprs(s):
            names.extend(c.name for c in calls_in(e) if not c.intrinsic)
    return list(dict.fromkeys(names))


def interface_body(r: Routine) -> Routine:
    """r's header and argument declarations, without statements."""
    keep = set(r.args) | ({r.result} if r.result else set())
    todo = list(keep)
    while todo:              # names the argument declarations need (kinds, bounds)
        s = r.symbols.get(todo.pop())
        if s is None:
            continue
        exprs = [x for d in s.shape for x in (d.lb, d.ub) if x is not None]
        exprs += [x for x in (s.type.length,) if x is not None]
        for e in exprs:
            for x in walk_expr(e):
                for ref in refs_in(x):
                    if ref.name in r.symbols and ref.name not in keep:
                        keep.add(ref.name)
                        todo.append(ref.name)
    out = copy.copy(r)
    out.symbols = {n: s for n, s in r.symbols.items() if n in keep}
    out.body, out.contains, out.interfaces, out.directives = [], [], [], []
    out.commons = {}
    return out


def _has_user_interface(tu: TranslationUnit, name: str) -> bool:
    owners = list(tu.modules) + tu.all_routines()
    return any(b.name == name for o in owners for blk in o.interfaces for b in blk.bodies)


def _declared_in_modules(tu: TranslationUnit) -> set[str]:
    return {b.name for m in tu.modules for blk in m.interfaces for b in blk.bodies}


def add_variant_interfaces(out: TranslationUnit, tu: TranslationUnit) -> None:
    if tu.language != "fortran":
        return
    by_module = _declared_in_modules(tu)
    # the user's derivatives of routines without source (their signatures)
    users = {u.name: u for u in getattr(out, "external_variants", []) or []}
    for v in out.all_routines():
        have = {b.name for blk in v.interfaces for b in blk.bodies}
        bodies: list[Routine] = []
        for name in _called(v):
            if name == v.name or name in have or name in by_module:
                continue
            callee = out.routine(name)      # a generated variant (the user's own calls
            if callee is None and name in users:        # keep their blocks), or the user's
                # derivative of a routine without source: its shapes are known only
                # when the user gave the primal an INTERFACE; a TOML declaration alone
                # says nothing of them, and an interface made up here (assumed shape)
                # would pass descriptors to the user's explicit-shape dummies
                primal = users[name].declared
                if primal is None or not _has_user_interface(tu, primal.name):
                    continue
                callee = copy.copy(users[name])
                callee.declared = None
            if not _is_external(callee) or not _needs_interface(callee):
                continue
            bodies.append(interface_body(callee))
            have.add(name)
        if bodies:
            v.interfaces = list(v.interfaces) + [Interface(None, [], bodies)]

