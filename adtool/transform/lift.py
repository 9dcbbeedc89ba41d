"""Internal procedures become ordinary routines before differentiation.

An internal procedure reaches its host's variables by host association,
which a generated routine outside the host cannot do.  Lifting passes those
variables as extra trailing arguments instead (lambda lifting), so the
transform sees plain routines.  The user's own internal procedure cannot
be called from generated code, so the primal re-runs that joint mode needs
call a private copy of the lifted routine, named `<name>_nodiff`.
"""
from __future__ import annotations

from ..ir.clone import clone

from ..ir.nodes import Call, CallStmt, Ref, Routine, TranslationUnit
from ..ir.visit import calls_in, stmt_exprs, walk_expr, walk_stmts


def _names_used(r: Routine) -> set[str]:
    out: set[str] = set()
    for s in walk_stmts(r.body):
        for e in stmt_exprs(s):
            for x in walk_expr(e):
                if isinstance(x, Ref):
                    out.add(x.name)
        if hasattr(s, "var") and isinstance(getattr(s, "var"), str):
            out.add(s.var)
    for sym in r.symbols.values():
        for d in sym.shape:
            for e in (d.lb, d.ub):
                if e is not None:
                    out.update(x.name for x in walk_expr(e) if isinstance(x, Ref))
    return out


def _calls(r: Routine) -> set[str]:
    out: set[str] = set()
    for s in walk_stmts(r.body):
        if isinstance(s, CallStmt):
            out.add(s.name)
        for e in stmt_exprs(s):
            out.update(c.name for c in calls_in(e) if not c.intrinsic)
    return out


def lift_internal(tu: TranslationUnit, names: set[str]) -> set[str]:
    """Lift the internal procedures among `names` in place; returns the names
    of the lifted routines (their primal copies become `<name>_nodiff`)."""
    lifted: set[str] = set()
    for host in [r for r in tu.all_routines() if r.contains]:
        inner = [c for c in host.contains if c.name in names]
        if not inner:
            continue
        sibling_names = {c.name for c in host.contains}
        # Host variables each internal routine touches, closed over sibling calls.
        need: dict[str, list[str]] = {}
        for c in inner:
            used = _names_used(c) - set(c.symbols)
            need[c.name] = sorted(n for n in used if n in host.symbols
                                  and not host.symbols[n].is_parameter
                                  and not host.symbols[n].external
                                  and n not in sibling_names)
        changed = True
        while changed:
            changed = False
            for c in inner:
                for callee in _calls(c) & set(need):
                    extra = [n for n in need[callee] if n not in need[c.name]]
                    if extra:
                        need[c.name] = sorted(set(need[c.name]) | set(extra))
                        changed = True
        # Shapes of lifted arguments may name other host variables.
        for c in inner:
            todo = list(need[c.name])
            while todo:
                n = todo.pop()
                for d in host.symbols[n].shape:
                    for e in (d.lb, d.ub):
                        for x in walk_expr(e) if e is not None else []:
                            if isinstance(x, Ref) and x.name in host.symbols and \
                                    not host.symbols[x.name].is_parameter and x.name not in need[c.name]:
                                need[c.name].append(x.name)
                                todo.append(x.name)
        for c in inner:
            for n in need[c.name]:
                s = clone(host.symbols[n])
                s.storage = "arg"
                s.intent = None
                s.save = False
                s.init = None
                c.symbols[n] = s
                c.args.append(n)
            # Host parameters and COMMON stay visible: copy what is used.
            for n in _names_used(c) - set(c.symbols):
                hs = host.symbols.get(n)
                if hs is not None and hs.is_parameter:
                    c.symbols[n] = clone(hs)
            for blk, members in host.commons.items():
                if any(m in _names_used(c) for m in members):
                    c.commons[blk] = list(members)
                    for m in members:
                        c.symbols.setdefault(m, clone(host.symbols[m]))
            c.uses = clone(host.uses) + c.uses
            c.host = None
            c.module = host.module
        # Every call of a lifted routine passes the host variables along.
        for caller in [host] + host.contains:
            for s in walk_stmts(caller.body):
                nodes = [s] if isinstance(s, CallStmt) else []
                for e in stmt_exprs(s):
                    nodes.extend(x for x in calls_in(e) if not x.intrinsic)
                for node in nodes:
                    if node.name in need:
                        node.args = list(node.args) + [Ref(n) for n in need[node.name]]
        host.contains = [c for c in host.contains if c.name not in need]
        home = tu.module(host.module) if host.module else None
        for c in inner:
            (home.routines if home is not None else tu.routines).append(c)
            lifted.add(c.name)
    return lifted


def nodiff_copies(tu: TranslationUnit, lifted: set[str]) -> list[Routine]:
    """Primal copies of lifted routines, calling each other's copies."""
    out = []
    for n in sorted(lifted):
        r = clone(tu.routine(n))
        r.name = n + "_nodiff"
        rename_calls(r, lifted)
        r.directives = []
        out.append(r)
    return out


def rename_calls(r: Routine, lifted: set[str]) -> None:
    """Plain (primal) calls of lifted routines go to their _nodiff copies."""
    for s in walk_stmts(r.body):
        if isinstance(s, CallStmt) and s.name in lifted:
            s.name += "_nodiff"
        for e in stmt_exprs(s):
            for c in calls_in(e):
                if not c.intrinsic and c.name in lifted:
                    c.name += "_nodiff"
    for name in list(r.symbols):
        if name in lifted and r.symbols[name].external:
            sym = r.symbols.pop(name)
            sym.name = name + "_nodiff"
            r.symbols[sym.name] = sym
