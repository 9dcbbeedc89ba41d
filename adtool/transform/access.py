"""Derivative code lives outside the user's modules (module m -> m_diff,
which `use`s m), so it cannot see m's PRIVATE entities.  A PRIVATE named
constant it needs is declared again where it is needed (a constant has no
state to share), and so is a PRIVATE procedure whose primal it calls; a
PRIVATE variable it needs is an error that names it, rather than output the
compiler rejects (the derivative module cannot share its state)."""
from __future__ import annotations

import copy

from ..diagnostics import AdError, raise_all, unsupported
from ..ir.nodes import CallStmt, Module, Routine, Symbol, TranslationUnit
from ..ir.visit import calls_in, refs_in, stmt_exprs, walk_expr, walk_stmts


def _symbol_exprs(s: Symbol) -> list:
    out = [x for d in s.shape for x in (d.lb, d.ub) if x is not None]
    out += [x for x in (s.value, s.init, s.type.length) if x is not None]
    return out


def _names(exprs) -> set[str]:
    out: set[str] = set()
    for e in exprs:
        for x in walk_expr(e):
            out.update(r.name for r in refs_in(x))
            out.update(c.name for c in calls_in(x) if not c.intrinsic)
    return out


def _used(symbols: dict[str, Symbol], body) -> set[str]:
    exprs = [e for s in symbols.values() for e in _symbol_exprs(s)]
    exprs += [e for st in walk_stmts(body) for e in stmt_exprs(st)]
    names = _names(exprs)
    names.update(st.name for st in walk_stmts(body) if isinstance(st, CallStmt))
    return names


def _original(tu: TranslationUnit, m: Module):
    for suffix in ("_diff_d", "_diff"):
        if m.name.endswith(suffix):
            return tu.module(m.name[: -len(suffix)])
    return None


def _resolve(m: Module, scope: dict[str, Symbol], body, orig: Module, errors: list[AdError]) -> None:
    priv = {n: s for n, s in orig.symbols.items() if s.private}
    priv_routines = {r.name: r for r in orig.routines if r.private}
    todo = sorted(_used(scope, body))      # in name order: the output is the same every run
    seen: set[str] = set()
    while todo:
        n = todo.pop(0)
        if n in seen or n in scope:
            continue
        seen.add(n)
        if n in priv:
            s = priv[n]
            if not s.is_parameter:
                errors.append(unsupported(f"PRIVATE variable '{n}' of module '{orig.name}' needed by "
                                          "derivative code outside the module", s.span,
                                          "make it PUBLIC"))
                continue
            c = copy.deepcopy(s)
            c.private, c.module, c.storage = False, None, "local"
            scope[n] = c
            todo.extend(sorted(_names(_symbol_exprs(c))))
        elif n in priv_routines and all(r.name != n for r in m.routines):
            # The primal of a PRIVATE procedure (called by a forward sweep):
            # a copy in the derivative module, where it is visible.
            clone = copy.deepcopy(priv_routines[n])
            clone.private = False
            m.routines.append(clone)
            _resolve(m, clone.symbols, clone.body, orig, errors)


def reach_private_entities(tu: TranslationUnit, out: TranslationUnit) -> None:
    """Fix or report every use of a PRIVATE entity by a derivative module."""
    errors: list[AdError] = []
    for m in out.modules:
        orig = _original(tu, m)
        if orig is None:
            continue
        _resolve(m, m.symbols, [], orig, errors)
        for r in list(m.routines):
            for rr in [r] + r.contains:
                _resolve(m, rr.symbols, rr.body, orig, errors)
    raise_all(errors)
