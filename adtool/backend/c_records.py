"""Runs of stack pushes (or pops) emitted as one record.

Where the transform records several values in a row -- a split f_fwd's
exit values, the inputs a joint call's snapshot keeps -- each push is a
check of the room left and a store of the stack's top, and every store
through the stack's char* makes the compiler reload the top for the next
one.  In C the run is gathered into a local buffer and pushed with one
check (`ad_push_record`); a run of pops is popped the same way and
scattered.  The bytes on the stack are exactly those of the single pushes,
in the same order, so a record may be popped one value at a time and
single pushes popped as a record: the two sides are grouped independently.

Only values whose size the C text fixes are grouped: scalars of the four
plain types and whole arrays (or sections) with a literal element count.
Logicals (stored as one normalised byte), control bits (a separate bit
stream), members and arrays sized at run time keep their own calls.
"""
from __future__ import annotations

from typing import Optional

from ..diagnostics import AdError
from ..ir.nodes import CallStmt, Ref, Stmt, Symbol
from .c_arrays import _base_address, element_count
from .c_expr import CExpr

# A record is a local buffer: keep it small enough for any stack frame.
MAX_RECORD_BYTES = 512


class _Item:
    def __init__(self, address: str, nbytes: int):
        self.address = address    # C text of the value's address
        self.nbytes = nbytes


def _item(s: Stmt, ex: CExpr, pop: bool) -> Optional[_Item]:
    """The address and size of what one push or pop statement moves, if it
    can join a record."""
    prefix = "ad_pop_" if pop else "ad_push_"
    if not isinstance(s, CallStmt) or not s.name.startswith(prefix) or s.label is not None \
            or s.directives or not s.args or not isinstance(s.args[0], Ref) or s.args[0].path:
        return None
    stem = s.name[len(prefix):]
    array = stem.endswith("_array")
    ref = s.args[0]
    t = ex.type_of(ref)
    # the runtime's name for the value's type (snapshots.py's tags): the
    # plain numeric ones, whose byte size is their kind
    if t.base not in ("real", "integer") or (stem[:-len("_array")] if array else stem) != f"{t.base}{t.kind}":
        return None
    size = t.kind
    sym = ex.symbol(ref.name)
    if sym is None:
        return None
    if array:
        try:
            n = element_count(sym, ref, ex)
        except AdError:     # sizes C cannot know are the single call's to refuse
            return None
        if not n.isdigit():
            return None
        return _Item(_base_address(sym, ref, ex), int(n) * size)
    if ref.subs is None and sym.shape:
        return None
    formal = Symbol("record", t) if pop else Symbol("record", t, intent="in")
    return _Item(ex.actual(ref, formal), size)


def record_run(stmts: list[Stmt], k: int, ex: CExpr) -> tuple[list[_Item], bool]:
    """The longest run of pushes (or of pops) starting at stmts[k] that
    fits one record, and whether it is pops; empty when fewer than two."""
    for pop in (False, True):
        run: list[_Item] = []
        total = 0
        j = k
        while j < len(stmts):
            it = _item(stmts[j], ex, pop)
            if it is None or total + it.nbytes > MAX_RECORD_BYTES:
                break
            run.append(it)
            total += it.nbytes
            j += 1
        if len(run) >= 2:
            return run, pop
    return [], False


def record_lines(run: list[_Item], pop: bool, pad: str, ind: str) -> list[str]:
    """One record: the pushes' values gathered in push order (the first at
    offset 0), or the pops' scattered from the top down."""
    total = sum(it.nbytes for it in run)
    inner = pad + ind
    lines = [pad + "{", f"{inner}char ad_rec[{total}];"]
    if pop:
        lines.append(f"{inner}ad_pop_record(ad_rec, {total});")
        at = total
        for it in run:
            at -= it.nbytes
            lines.append(f"{inner}memcpy({it.address}, ad_rec + {at}, {it.nbytes});")
    else:
        at = 0
        for it in run:
            lines.append(f"{inner}memcpy(ad_rec + {at}, {it.address}, {it.nbytes});")
            at += it.nbytes
        lines.append(f"{inner}ad_push_record(ad_rec, {total});")
    lines.append(pad + "}")
    return lines
