"""Facts about a generated routine's own statements that its declarations need.

The adjoint declares the intents it needs, not the user's: an argument the
user declared INTENT(IN) but passed to a routine without an interface that
writes it (legal to compile in F77 style) gets its value back from the stack
in the backward sweep, and a compiler rejects a pop into an INTENT(IN)
dummy.  Such arguments become INTENT(INOUT) in the generated routine.
Which allocatables are allocated under control flow decides which need a
defined descriptor at entry (see ReverseMode._define_descriptors).
"""
from __future__ import annotations

import re

from ..ir.nodes import Allocate, Assign, CallStmt, Print, Raw, Ref, Routine, Stmt
from ..ir.visit import read_targets
from ..ir.visit import child_blocks, walk_stmts


def _written(v: Routine) -> set[str]:
    out: set[str] = set()
    for s in walk_stmts(v.body):
        if isinstance(s, Assign) and isinstance(s.lhs, Ref):
            out.add(s.lhs.name)
        elif isinstance(s, CallStmt) and s.name.startswith("ad_pop") and s.args \
                and isinstance(s.args[0], Ref):
            out.add(s.args[0].name)
        elif isinstance(s, Allocate):
            out.update(i.name for i in s.items if isinstance(i, Ref))
        elif isinstance(s, Print):
            out.update(read_targets(s))
    return out


def relax_written_intents(v: Routine) -> None:
    """INTENT(IN) arguments the generated body writes become INTENT(INOUT)."""
    written = _written(v)
    for name in v.args:
        s = v.symbols.get(name)
        if s is not None and s.intent == "in" and name in written:
            s.intent = "inout"


def _allocated_names(s) -> set[str]:
    if isinstance(s, Allocate):
        return {i.name for i in s.items if isinstance(i, Ref)}
    if isinstance(s, Raw):
        m = re.match(r"\s*allocate\((\w+)", s.text)
        return {m.group(1)} if m else set()
    return set()


def allocated_under_control(body: list[Stmt]) -> set[str]:
    """Allocatables some statement allocates inside a branch or a loop (their
    descriptors are defined on some paths only, as far as a compiler sees)."""
    out: set[str] = set()
    for s in body:
        for blk in child_blocks(s):
            for inner in walk_stmts(blk):
                out |= _allocated_names(inner)
    return out
