"""Drop what a generated variant declares but never mentions.

Variants start from a copy of the user's declarations; whatever the
transform made unnecessary (a function name's type once its calls became
calls of the derivative, locals only the dropped primal read) must go, or
gfortran -Wall warns about it in code the user compiles.
"""
from __future__ import annotations

import re

from ..ir.nodes import Allocate, Call, CallStmt, Loop, ProcRef, Raw, Ref, Routine
from ..ir.visit import stmt_exprs, walk_expr, walk_stmts


def prune_unused(v: Routine) -> None:
    """Drop generated temporaries and copied locals the variant never mentions,
    so the output compiles without unused-variable warnings."""
    used: set[str] = set(v.args)
    for s in walk_stmts(v.body):
        for e in stmt_exprs(s):
            for x in walk_expr(e):
                if isinstance(x, Ref):
                    used.add(x.name)
                if isinstance(x, Call) and not x.intrinsic:
                    used.add(x.name)
                    used.update(_procedures_put_back(x))
                if isinstance(x, ProcRef):
                    used.add(x.name)
        if isinstance(s, (Loop,)):
            used.add(s.var)
        if isinstance(s, Allocate):
            used.update(it.name for it in s.items)
        if isinstance(s, CallStmt):
            used.add(s.name)
            used.update(_procedures_put_back(s))
        if isinstance(s, Raw):        # text the transform wrote itself: its names count
            used.update(re.findall(r"[A-Za-z_]\w*", s.text))
    # Names used inside declarations (bounds, kinds, lengths) stay too.
    changed = True
    while changed:
        changed = False
        for name in list(used):
            s = v.symbols.get(name)
            if s is None:
                continue
            for d in s.shape:
                for e in (d.lb, d.ub):
                    if e is not None:
                        for x in walk_expr(e):
                            if isinstance(x, Ref) and x.name not in used:
                                used.add(x.name)
                                changed = True
    # Private aliases of globals (`use m, only: ad_m_v => v`) that no
    # statement kept.
    for u in list(v.uses):
        if u.only is None or not any(local.startswith("ad_") for local, _ in u.renames):
            continue
        dead = {local for local, _ in u.renames if local.startswith("ad_") and local not in used}
        u.only = [n for n in u.only if n not in dead]
        u.renames = [(a, b) for a, b in u.renames if a not in dead]
        if not u.only:
            v.uses.remove(u)
    members = {m for ms in v.commons.values() for m in ms}
    for name in list(v.symbols):
        s = v.symbols[name]
        if name in used or name in members or s.is_parameter:
            continue
        # a SAVE or initialised local the variant never mentions holds no
        # state it uses (split f_bwd of an initialise-once routine: FIRST)
        if s.storage in ("local", "result"):
            del v.symbols[name]


def _procedures_put_back(c) -> list[str]:
    """The procedures a call of a specialised routine is printed with (the
    user's call, Call.via): declared where the call is."""
    via = c.via
    if via is None or via[0] != c.name or len(via) < 4:
        return []
    return [p for _, p in via[3]]
