"""Loops built from IF and GOTO, as F77 codes write them, become While loops.

    10 CONTINUE                      do  (named loop10)
       ...                             ...
       IF (done) GOTO 20               if (done) exit
       ...                  ->         ...
       IF (more) GOTO 10               if (more) cycle
    20 CONTINUE                        exit
                                     end do

A label L followed, in the same statement list, by GOTOs to L (at any depth)
opens a `do while (.true.)` named loop<L> that runs to the last of them: GOTO L becomes
CYCLE, a GOTO to the statement right after the loop becomes EXIT, and the
loop EXITs when it reaches its end.  The reverse transform then records the
trip count like for any While loop (the path taken is replayed).  Any other
jump into or out of the new loop stays a GOTO, which later stages reject
with its place.
"""
from __future__ import annotations

from ..ir.nodes import LOGICAL, Cycle, Exit, Goto, Lit, Loop, Stmt, While
from ..ir.visit import child_blocks, walk_stmts


def _targets(stmts: list[Stmt]) -> set[int]:
    return {s.target for s in walk_stmts(stmts) if isinstance(s, Goto)}


def _retarget(stmts: list[Stmt], back: int, after: int | None, name: str) -> None:
    for blk_owner in list(walk_stmts(stmts)):
        for blk in child_blocks(blk_owner):
            _retarget_list(blk, back, after, name)
    _retarget_list(stmts, back, after, name)


def _retarget_list(stmts: list[Stmt], back: int, after: int | None, name: str) -> None:
    for k, s in enumerate(stmts):
        if isinstance(s, Goto) and s.target in (back, after):
            jump = Cycle(name, span=s.span) if s.target == back else Exit(name, span=s.span)
            jump.label, jump.directives = s.label, s.directives
            stmts[k] = jump


def loops_from_backward_gotos(body: list[Stmt]) -> list[Stmt]:
    """Rewrite body (and every nested block) in place; returns body."""
    for s in body:
        for blk in child_blocks(s):
            loops_from_backward_gotos(blk)
    i = 0
    while i < len(body):
        lab = body[i].label
        last = None
        if lab is not None:
            for j in range(i, len(body)):
                if lab in _targets([body[j]]):
                    last = j
        if last is None:
            i += 1
            continue
        after = body[last + 1].label if last + 1 < len(body) else None
        name = f"loop{lab}"
        inner = body[i:last + 1]
        _retarget(inner, lab, after, name)
        if not isinstance(inner[-1], Cycle):
            inner.append(Exit(name, span=inner[-1].span))
        else:
            inner.pop()         # an unconditional GOTO back: the loop's end
        loop = While(Lit("true", LOGICAL), inner, name=name, span=body[i].span)
        loop.directives, inner[0].directives = inner[0].directives, []
        if lab not in _targets(body[:i] + body[last + 1:]):
            inner[0].label = None
        loops_from_backward_gotos(inner)      # loops made of GOTOs inside this one
        body[i:last + 1] = [loop]
        if after is not None and after not in _targets(body):
            body[i + 1].label = None
        i += 1
    return body


def exits_from_gotos(body: list[Stmt]) -> list[Stmt]:
    """A GOTO from inside a loop to the statement right after it is an EXIT
    of that loop (named, so it leaves the right one from a nested loop).
    This is how READ(..., END=20) ends a read loop, and how F77 codes leave
    a DO loop early.  Rewrites body and every nested block in place."""
    for s in body:
        for blk in child_blocks(s):
            exits_from_gotos(blk)
    for i, s in enumerate(body[:-1]):
        lab = body[i + 1].label
        if lab is None or not isinstance(s, (Loop, While)) or lab not in _targets(s.body):
            continue
        if s.name is None:
            s.name = f"loop_to{lab}"
        _retarget(s.body, -1, lab, s.name)
        if lab not in _targets(body):
            body[i + 1].label = None
    return body
