"""SAVE variables that carry a value from one call of a routine to the next.

The derivative routines (g_d, g_b, g_fwd) are other routines than the
user's g: each has its own copy of g's SAVE locals, which the user's g
never sees and which a joint adjoint's re-run advances a second time.  A
SAVE local whose value survives into a later call (read before it is
written, and written) therefore makes the derivative code compute at
another state than the user's program: a silently wrong derivative.  Such
variables are errors naming them (a module variable holds the same state
in one place that every routine shares, and checkpointing restores it);
an integer or logical one (a call counter) gets a warning: it changes no
derivative unless it steers a branch.  C static locals are the same.

Not state, and accepted: SAVE locals never written (DATA tables,
initialised constants), locals written before every read, and the
initialise-once idiom

    if (first) then                  ! a SAVE logical
       table = <constants, parameters, loop indices>
       first = .false.
    end if

whose copies all compute the same values on their first call.
"""
from __future__ import annotations

from ..diagnostics import AdError, unsupported, warn
from ..ir.nodes import Assign, Call, CallStmt, If, Loop, Ref, Routine, Un
from ..ir.visit import stmt_exprs, walk_expr, walk_stmts
from .readwrite import _Cfg, _Ctx
from .scope import Scopes


def stateful_saves(r: Routine, scopes: Scopes, summ) -> list[AdError]:
    saved = {n for n, s in r.symbols.items()
             if s.storage == "local" and (s.save or s.init is not None) and not s.is_parameter}
    if not saved:
        return []
    _, writes, use, _ = _Cfg(r.body, _Ctx(r, scopes, summ)).solve()
    carried = {v.name for v in writes & use if v.scope == r.name and v.name in saved}
    if not carried:
        return []
    carried -= _initialised_once(r, carried)
    what = "static local" if r.language == "c" else "SAVE variable"
    home = "a file-scope variable" if r.language == "c" else "a module variable"
    errors = []
    for n in sorted(carried):
        s = r.symbols[n]
        if s.type.base in ("real", "complex"):
            errors.append(unsupported(
                f"{what} '{n}' of '{r.name}' keeps its value from one call to the next (the "
                f"derivative code has its own copy and cannot see yours; make it {home})",
                s.span or r.span))
        else:
            warn(f"{what} '{n}' of '{r.name}' keeps its value from one call to the next: the "
                 "derivative code has its own copy, which may take other branches than yours "
                 f"(make it {home} if it steers the computation)", s.span or r.span)
    return errors


def _initialised_once(r: Routine, carried: set[str]) -> set[str]:
    """The carried names that only `if (flag) then ... flag = .false.`
    blocks write, from constants: the flag and what it guards."""
    guarded: set[str] = set()
    blocks = []
    for s in walk_stmts(r.body):
        if not isinstance(s, If) or len(s.branches) != 1 or s.else_ is not None:
            continue
        cond, body = s.branches[0]
        flag = cond.operand if isinstance(cond, Un) and cond.op == "not" else cond
        if not (isinstance(flag, Ref) and flag.subs is None and flag.name in carried
                and r.symbols[flag.name].type.base == "logical"):
            continue
        if not any(isinstance(t, Assign) and t.lhs.name == flag.name for t in body):
            continue
        if not _constant_block(r, body, carried):
            continue
        blocks.append(s)
        guarded |= {t.lhs.name for t in walk_stmts(body) if isinstance(t, Assign)}
    if not blocks:
        return set()
    inside = {id(t) for b in blocks for t in walk_stmts(b.branches[0][1])}
    written_elsewhere = {t.lhs.name for t in walk_stmts(r.body)
                         if isinstance(t, Assign) and id(t) not in inside}
    return {n for n in guarded & carried if n not in written_elsewhere}


def _constant_block(r: Routine, body, carried: set[str]) -> bool:
    """Reads only named constants, SAVE locals, loop indices of the block
    and intrinsic functions: every copy computes the same values."""
    loops = {t.var for t in walk_stmts(body) if isinstance(t, Loop)}
    for t in walk_stmts(body):
        if isinstance(t, CallStmt):
            return False
        for e in stmt_exprs(t):
            for x in walk_expr(e):
                if isinstance(x, Call) and not x.intrinsic:
                    return False
                if isinstance(x, Ref):
                    s = r.symbols.get(x.name)
                    if x.name in loops or x.name in carried:
                        continue
                    if s is None or not (s.is_parameter or s.save or s.init is not None):
                        return False
    return True
