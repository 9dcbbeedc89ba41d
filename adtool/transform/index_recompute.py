"""Integer indices the backward sweep assigns again instead of popping.

`idx = i*n + j` inside a loop overwrites idx every trip, so the adjoint
would push it before each overwrite and pop it after the adjoint of the
statement, one integer per trip.  When the right-hand side reads only
values the backward sweep can evaluate again (enclosing loop indices,
constants, values nothing writes: Reverse._recomputable) the backward sweep
of the enclosing block can start by assigning idx again: the statements
after the assignment, whose adjoints run first, see the value they saw.
That needs idx to be written nowhere else and read only by the statements
from the assignment to the end of its block: any other reader (before it in
the block, or in an enclosing block) would run its adjoint with another
value than it read.
"""
from __future__ import annotations

from typing import Callable, Optional

from ..ir.clone import clone
from ..ir.nodes import Assign, Call, CallStmt, Loop, Print, Ref, Routine, Stmt
from ..ir.visit import read_targets, stmt_exprs, walk_expr, walk_stmts


def recomputed_index(r: Routine, sym, block: list[Stmt], k: int, in_loop: bool,
                     recomputable: Callable[[list], bool], earlier: list[Assign]) -> Optional[Assign]:
    """The assignment to repeat at the start of the backward sweep of
    block, for its statement k, or None when k must be recorded as usual.
    earlier: the block's indices before k already assigned again (they
    may be read: `c = i*n + j; w = c - 1`)."""
    s = block[k]
    if not in_loop or not isinstance(s, Assign):
        return None
    lhs = s.lhs
    if lhs.subs is not None or lhs.path is not None or lhs.substring is not None:
        return None
    if sym is None or sym.type.base != "integer" or sym.shape or sym.storage != "local" \
            or sym.save or sym.init is not None or sym.is_parameter:
        return None
    name = lhs.name
    if any(isinstance(x, Ref) and x.name == name for x in walk_expr(s.rhs)):
        return None
    if not recomputable([_inlined(s.rhs, earlier)]):
        return None
    if _writes(r.body, name) != 1 or _mentions(r.body, name) != _mentions(block[k:], name):
        return None
    return Assign(Ref(name), s.rhs)


def needed_again(bwd: list[Stmt], again: list[Assign]) -> list[Assign]:
    """The assignments of again the block's backward sweep reads (directly
    or through a later one of them), in order; assigning an index nobody
    reads costs time for nothing."""
    keep: list[Assign] = []
    for a in reversed(again):
        if _mentions(bwd, a.lhs.name) or _mentions(keep, a.lhs.name):
            keep.insert(0, a)
    return keep


def _inlined(e, earlier: list[Assign]):
    from ..ir.visit import map_expr
    by_name = {a.lhs.name: a.rhs for a in earlier}
    if not by_name:
        return e
    return map_expr(clone(e), lambda x: clone(by_name[x.name])
                    if isinstance(x, Ref) and x.subs is None and x.name in by_name else x)


def _writes(body: list[Stmt], name: str) -> int:
    """Statements that may write name (assignments, loops over it, and any
    call that gets it as an argument)."""
    n = 0
    for st in walk_stmts(body):
        if isinstance(st, Assign) and st.lhs.name == name:
            n += 1
        elif isinstance(st, Loop) and st.var == name:
            n += 2
        if isinstance(st, CallStmt) and any(isinstance(a, Ref) and a.name == name for a in st.args):
            n += 2
        if isinstance(st, Print) and name in read_targets(st):
            n += 2
        for e in stmt_exprs(st):
            for x in walk_expr(e):
                if isinstance(x, Call) and not x.intrinsic and \
                        any(isinstance(a, Ref) and a.name == name for a in x.args):
                    n += 2
    return n


def _mentions(stmts: list[Stmt], name: str) -> int:
    n = 0
    for st in walk_stmts(stmts):
        if isinstance(st, Loop) and st.var == name:
            n += 1
        for e in stmt_exprs(st):
            n += sum(1 for x in walk_expr(e) if isinstance(x, Ref) and x.name == name)
    return n


def inverted_counter(r: Routine, sym, s: Stmt) -> Optional[Assign]:
    """The assignment that undoes `v = v + c` (c an integer literal) in the
    backward sweep, `v = v - c`, or None when the old value of v must be
    recorded as usual.

    A counter walking a packed array (`k = k + 1` after each use of
    `a[k]`) would otherwise cost a push per trip, and a pop whose result
    the next index computation waits for.  Undoing the step needs v to hold,
    at the adjoint of s, the value s gave it.  The backward sweep replays the
    forward statements in reverse, each increment undone by its decrement, so
    that holds when every other write to v is an assignment at the top level
    of the routine (no loop or branch around it: it runs once), before every
    top-level statement that holds an increment, and nothing else (a call
    taking v, a loop over v, a write through an alias) writes v."""
    if not isinstance(s, Assign) or sym is None:
        return None
    lhs = s.lhs
    if lhs.subs is not None or lhs.path is not None or lhs.substring is not None:
        return None
    if sym.type.base != "integer" or sym.shape or sym.storage != "local" \
            or sym.save or sym.is_parameter:
        return None
    name = lhs.name
    step = _counter_step(s, name)
    if step is None:
        return None
    last_plain = -1
    first_counter = None
    for k, top in enumerate(r.body):
        for st in walk_stmts([top]):
            if isinstance(st, Loop) and st.var == name:
                return None
            if isinstance(st, CallStmt) and any(_mentions_name(a, name) for a in st.args):
                return None
            for e in stmt_exprs(st):
                for x in walk_expr(e):
                    if isinstance(x, Call) and not x.intrinsic and \
                            any(_mentions_name(a, name) for a in x.args):
                        return None
            if isinstance(st, Assign) and st.lhs.name == name:
                if _counter_step(st, name) is not None:
                    if first_counter is None:
                        first_counter = k
                elif st is top and not any(isinstance(y, Ref) and y.name == name
                                           for y in walk_expr(st.rhs)):
                    last_plain = k
                else:
                    return None
    if first_counter is None or last_plain >= first_counter:
        return None
    sign, c = step
    from ..ir.nodes import Bin
    return Assign(Ref(name), Bin("-" if sign > 0 else "+", Ref(name), clone(c)))


def _counter_step(s: Assign, name: str):
    """(sign, c) when s is `name = name ± c` or `name = c + name`, c an
    integer literal; None otherwise."""
    from ..ir.nodes import Bin, Lit
    if not isinstance(s, Assign) or s.lhs.name != name or s.lhs.subs is not None \
            or s.lhs.path is not None:
        return None
    e = s.rhs
    if not isinstance(e, Bin) or e.op not in ("+", "-"):
        return None

    def is_v(x):
        return isinstance(x, Ref) and x.name == name and x.subs is None and x.path is None

    def is_c(x):
        return isinstance(x, Lit) and x.type.base == "integer"
    if is_v(e.left) and is_c(e.right):
        return (1 if e.op == "+" else -1), e.right
    if e.op == "+" and is_c(e.left) and is_v(e.right):
        return 1, e.left
    return None


def _mentions_name(e, name: str) -> bool:
    return any(isinstance(x, Ref) and x.name == name for x in walk_expr(e))
