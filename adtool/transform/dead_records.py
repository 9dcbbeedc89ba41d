"""Records nobody reads back: drop the pushes and pops of a local whose
restored value is dead.

The sweeps record a variable before each overwrite when its name is read
somewhere in the backward sweep (Reverse.needed), without asking whether
that read comes after the restore.  `s = s + exp(x(i) - m)` in a loop
pushes s every trip, yet the backward sweep reads s only before its loop
(`sb = 1/s * rb`), so every pop restores a value that is overwritten by
the next pop or dies with the routine.  Likewise a local work array filled
in a first loop (`gates[i] = sigmoid(...)`) is recorded element by element
although nothing reads it after the adjoint of that loop.

For a local (not static, not an argument, not a global) this pass looks at
every pop of it in the backward sweep: if from none of them a read of the
variable can be reached before it is overwritten whole (scalars: an
assignment or another pop; arrays: never, so any later read counts) or
before the routine ends, every push and pop of that variable is removed,
in both sweeps, so the stack stays balanced.  Reads are found
conservatively: a nested construct containing a read counts as a read, a
jump (break, continue, return, goto) or text the IR does not model makes
the variable live, and an array passed to any routine other than the stack
and free/deallocate is left alone (the callee could read it under another
name), as is a heap array whose pointer is assigned whole (a swap).  Pushes of the variable itself are not reads: they go too.
"""
from __future__ import annotations

from typing import Optional

from ..ir.nodes import (Allocate, Assign, Call, CallStmt, Cycle, Deallocate, Exit, Goto, Loop, Raw,
                        Ref, Return, Routine, Stmt, Stop, While)
from ..ir.visit import child_blocks, map_blocks, stmt_exprs, walk_expr, walk_stmts

_STACK = ("ad_push_", "ad_pop_")


def drop_dead_records(v: Routine, fwd: list[Stmt], bwd: list[Stmt]) -> tuple[list[Stmt], list[Stmt]]:
    """fwd and bwd without the records of locals whose pops are all dead."""
    names = [n for n in _recorded_locals(v, bwd)
             if not (getattr(v.symbols[n], "pointer", False) and _repointed(fwd + bwd, n))]
    dead = {n for n in names if _all_pops_dead(bwd, n, v.symbols[n].rank == 0)}
    if not dead:
        return fwd, bwd
    return _without(fwd, dead), _without(bwd, dead)


def _base(st: Stmt) -> Optional[str]:
    if isinstance(st, CallStmt) and st.name.startswith(_STACK) and st.name != "ad_push_control" \
            and st.name != "ad_pop_control" and st.args and isinstance(st.args[0], Ref):
        return st.args[0].name
    return None


def _recorded_locals(v: Routine, bwd: list[Stmt]) -> list[str]:
    out = []
    for st in walk_stmts(bwd):
        n = _base(st)
        if n is None or n in out or not st.name.startswith("ad_pop_"):
            continue
        s = v.symbols.get(n)
        if s is None or s.storage != "local" or s.save or s.init is not None or s.is_parameter:
            continue
        if s.type.base == "derived":
            continue
        out.append(n)
    return out


def _all_pops_dead(body: list[Stmt], name: str, scalar: bool) -> bool:
    if not scalar and _escapes(body, name):
        return False
    paths: list[list[tuple[list[Stmt], int, Optional[Stmt]]]] = []

    def find(block: list[Stmt], owner: Optional[Stmt], path):
        for k, st in enumerate(block):
            here = path + [(block, k, owner)]
            if _base(st) == name and st.name.startswith("ad_pop_"):
                paths.append(here)
            for b in child_blocks(st):
                find(b, st, here)
    find(body, None, [])
    return all(not _live_after(p, name, scalar) for p in paths)


def _repointed(body: list[Stmt], name: str) -> bool:
    """A heap array (C pointer) assigned as a whole, or assigned to another
    pointer (`tmp = a; a = b; b = tmp`), may be read under another name."""
    for st in walk_stmts(body):
        if isinstance(st, Assign):
            if st.lhs.name == name and st.lhs.subs is None:
                return True
            if any(isinstance(x, Ref) and x.name == name and x.subs is None for x in walk_expr(st.rhs)):
                return True
    return False


def _escapes(body: list[Stmt], name: str) -> bool:
    """An array handed to a routine (other than the stack's and free) may be
    read there under another name."""
    for st in walk_stmts(body):
        if isinstance(st, CallStmt) and not st.name.startswith(_STACK) and st.name != "free" \
                and any(_mentions(a, name) for a in st.args):
            return True
        for e in stmt_exprs(st):
            for x in walk_expr(e):
                if isinstance(x, Call) and not x.intrinsic and any(_mentions(a, name) for a in x.args):
                    return True
    return False


def _live_after(path, name: str, scalar: bool) -> bool:
    for block, k, owner in reversed(path):
        res = _scan(block[k + 1:], name, scalar)
        if res == "read":
            return True
        if res == "killed":
            return False
        if isinstance(owner, (Loop, While)):
            # back edge: the body again from its start (the pop itself kills a scalar)
            if _scan(block[:k + 1], name, scalar) == "read":
                return True
    return False        # the routine ends: a local dies


def _scan(stmts: list[Stmt], name: str, scalar: bool) -> str:
    for st in stmts:
        if _reads(st, name):
            return "read"
        if scalar and _kills(st, name):
            return "killed"
    return "open"


def _reads(st: Stmt, name: str) -> bool:
    for x in walk_stmts([st]):
        if isinstance(x, (Exit, Cycle, Return, Goto, Stop)):
            return True
        if isinstance(x, Raw):
            if name in x.text:
                return True
            continue
        if isinstance(x, Deallocate) or _base(x) == name:
            continue
        if isinstance(x, Allocate):
            # the bounds are read (and an array allocated again: kept)
            if any(_mentions(it, name) for it in x.items):
                return True
            continue
        if isinstance(x, CallStmt) and x.name == "free":
            continue
        if isinstance(x, Loop) and x.var == name:
            return True
        if isinstance(x, Assign) and x.lhs.name == name:
            if x.lhs.subs is not None or x.lhs.path is not None:
                if any(_mentions(s, name) for s in _lhs_parts(x.lhs)):
                    return True
            if _mentions(x.rhs, name):
                return True
            continue
        if any(_mentions(e, name) for e in stmt_exprs(x)):
            return True
    return False


def _lhs_parts(lhs: Ref) -> list:
    from ..ir import records
    out = []
    for s in records.all_subs(lhs):
        if hasattr(s, "lo"):
            out.extend(p for p in (s.lo, s.hi, s.step) if p is not None)
        else:
            out.append(s)
    return out


def _kills(st: Stmt, name: str) -> bool:
    if isinstance(st, Assign) and st.lhs.name == name and st.lhs.subs is None and st.lhs.path is None:
        return True
    return _base(st) == name and st.name.startswith("ad_pop_") and st.args[0].subs is None \
        and st.args[0].path is None


def _mentions(e, name: str) -> bool:
    return any(isinstance(x, Ref) and x.name == name for x in walk_expr(e))


def _without(body: list[Stmt], dead: set[str]) -> list[Stmt]:
    out = []
    for st in body:
        if _base(st) in dead:
            continue
        map_blocks(st, lambda b: _without(b, dead))
        out.append(st)
    return out
