"""OPTIONAL dummy arguments in generated code.

The IR keeps one actual per formal, `Absent` where a call omits an
optional one (the backend spells the rest by keyword, backend/keywords.py);
the derivative of an absent actual is absent too (transform/variants.py).

In a routine whose optional dummy `x` may be absent, the user's code touches
`x` only where `present(x)` holds; code the transform adds on its own
(zeroing an adjoint, saving a value for the backward sweep) carries no such
guard, so every generated statement that touches an optional dummy or its
derivative, other than passing it on to an optional dummy of a call, runs
under `if (present(x))`.  The condition cannot change during the call, so a
push and its pop stay paired.
"""
from __future__ import annotations

import re

from typing import Optional

from ..ir.nodes import (Allocate, Assign, Bin, Call, CallStmt, Deallocate, Expr, If, Keyword, Raw, Ref,
                        Routine, Stmt, TranslationUnit)
from ..ir.visit import child_blocks, refs_in, stmt_exprs, walk_expr, walk_stmts


# ---------------------------------------------------------------- guards

def _optional_names(r: Routine, primal: Optional[Routine]) -> dict[str, str]:
    """Each optional dummy of r (the derivative variant) -> the primal
    optional dummy whose presence it shares."""
    out: dict[str, str] = {}
    if primal is None:
        return out
    popt = [a for a in primal.args if primal.symbols[a].optional]
    for a in r.args:
        s = r.symbols.get(a)
        if s is None or not s.optional:
            continue
        # a derivative formal is named after its primal formal (x -> xb, xd)
        owner = a if a in popt else next((p for p in popt if a.startswith(p)), a)
        out[a] = owner
    return out


def _is_passed_on(s: Stmt, name: str, callee: Optional[Routine]) -> bool:
    """`call g(..., x, ...)` where x goes whole to an optional dummy of g."""
    if not isinstance(s, CallStmt) or callee is None:
        return False
    formals = list(callee.args)
    ok = True
    for k, a in enumerate(s.args):
        val = a.value if isinstance(a, Keyword) else a
        slot = formals.index(a.name) if isinstance(a, Keyword) and a.name in formals else k
        for ref in refs_in(val):
            if ref.name != name:
                continue
            whole = ref is val and ref.subs is None and ref.path is None
            if not (whole and slot < len(formals) and callee.symbols[formals[slot]].optional):
                ok = False
    return ok


def _touches(s: Stmt, names: set[str]) -> set[str]:
    if isinstance(s, Raw):           # text the transform wrote itself (allocate(t, source=wb))
        return {w for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", s.text) if w in names}
    if isinstance(s, Deallocate):
        return {n for n in s.names if n in names}
    if isinstance(s, Allocate):
        return {i.name for i in s.items if i.name in names} | \
            {x.name for i in s.items for x in refs_in(i) if x.name in names}
    out: set[str] = set()
    for e in stmt_exprs(s):
        for x in walk_expr(e):
            if isinstance(x, Ref) and x.name in names:
                out.add(x.name)
            if isinstance(x, Call) and x.intrinsic and x.name == "present":
                return set()       # already guarded by the user's own test
    return out


def _guard(body: list[Stmt], opt: dict[str, str], lookup, guarded: frozenset) -> list[Stmt]:
    res: list[Stmt] = []
    for s in body:
        own = guarded
        if isinstance(s, If):
            for c, _ in s.branches:
                own = own | {x.args[0].name for x in walk_expr(c) if isinstance(x, Call)
                             and x.intrinsic and x.name == "present" and x.args
                             and isinstance(x.args[0], Ref)}
        for blk in child_blocks(s):
            blk[:] = _guard(blk, opt, lookup, frozenset(own))
        need = set()
        for n in _touches(s, set(opt)):
            if opt[n] in guarded:
                continue
            callee = lookup(s.name) if isinstance(s, CallStmt) else None
            if _is_passed_on(s, n, callee):
                continue
            need.add(opt[n])
        if need:
            key = tuple(sorted(need))
            prev = res[-1] if res else None
            if prev is not None and getattr(prev, "optional_guard", None) == key \
                    and s.label is None:
                prev.branches[0][1].append(s)      # one block: the compiler sees one condition
                continue
            cond: Expr = None
            for n in key:
                t = Call("present", [Ref(n)], intrinsic=True)
                cond = t if cond is None else _and(cond, t)
            wrap = If([(cond, [s])], span=s.span)
            wrap.optional_guard = key
            res.append(wrap)
        else:
            res.append(s)
    return res


def _and(a: Expr, b: Expr) -> Expr:
    return Bin("and", a, b)


def guard_optional(out: TranslationUnit, tu: TranslationUnit) -> None:
    if tu.language != "fortran":
        return
    for r in out.all_routines():
        primal = _primal_of(r, tu)
        opt = _optional_names(r, primal)
        if not opt:
            continue
        # the primal optional dummies guard themselves and their derivatives
        names = dict(opt)
        for a in list(opt.values()):
            names.setdefault(a, a)
        # and a temporary that only ever holds a copy of one of them
        # (allocate(t, source=wb); ad_wb = wb)
        owners: dict[str, set] = {}
        for st in walk_stmts(r.body):
            if isinstance(st, Raw):
                m = re.match(r"\s*allocate\((\w+)\s*,\s*(?:source|mold)\s*=\s*(\w+)\)", st.text)
                if m and m.group(2) in names:
                    owners.setdefault(m.group(1), set()).add(names[m.group(2)])
            elif isinstance(st, Assign) and st.lhs.subs is None and st.lhs.name not in r.args:
                rhs = st.rhs
                owner = names.get(rhs.name) if isinstance(rhs, Ref) and rhs.subs is None else None
                owners.setdefault(st.lhs.name, set()).add(owner)
        for t, who in owners.items():
            if len(who) == 1 and None not in who and t not in names:
                names[t] = next(iter(who))

        def lookup(n: str):
            return out.routine(n) or tu.routine(n)
        r.body = _guard(r.body, names, lookup, frozenset())


def _primal_of(r: Routine, tu: TranslationUnit) -> Optional[Routine]:
    for suf in ("_fwd", "_bwd", "_b", "_d"):
        if r.name.endswith(suf):
            p = tu.routine(r.name[: -len(suf)])
            if p is not None:
                return p
    return None

