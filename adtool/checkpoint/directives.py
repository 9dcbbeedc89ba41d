"""Checking `$AD` directives where they stand, so that a misplaced or
misspelled one is an error instead of being ignored."""
from __future__ import annotations

from ..diagnostics import bad_input
from ..transform.binomial import check_binomial_loop, directive_snapshots
from ..ir.nodes import CallStmt, Routine, TranslationUnit
from ..ir.visit import calls_in, stmt_exprs, walk_stmts

KNOWN = {"NOCHECKPOINT", "CHECKPOINT", "CHECKPOINT-START", "CHECKPOINT-END", "BINOMIAL-CKP"}
CALL_MODE = {"NOCHECKPOINT", "CHECKPOINT"}


def check_directives(tu: TranslationUnit) -> None:
    for r in tu.all_routines():
        for d in r.directives:
            _known(d)
            if d.name not in CALL_MODE:
                raise bad_input(f"$AD {d.name} cannot stand before a routine header", d.span)
        for s in walk_stmts(r.body):
            for d in s.directives:
                _known(d)
                if d.name in CALL_MODE:
                    has_call = isinstance(s, CallStmt) or any(
                        not c.intrinsic for e in stmt_exprs(s) for c in calls_in(e))
                    if not has_call:
                        raise bad_input(f"$AD {d.name} must stand before a call or a routine header",
                                        d.span)
                    if d.args:
                        raise bad_input(f"$AD {d.name} takes no arguments", d.span)
                elif d.name == "BINOMIAL-CKP":
                    check_binomial_loop(s, d.span)
                    directive_snapshots(s)
                elif d.args:
                    raise bad_input(f"$AD {d.name} takes no arguments", d.span)
        _check_regions(r.body)


def _check_regions(body) -> None:
    """CHECKPOINT-START/END must pair up inside one statement list."""
    from ..ir.visit import child_blocks
    open_: list = []
    for s in body:
        for d in s.directives:
            if d.name == "CHECKPOINT-END":
                if not open_:
                    raise bad_input("$AD CHECKPOINT-END without a CHECKPOINT-START before it "
                                    "in the same block", d.span)
                open_.pop()
            elif d.name == "CHECKPOINT-START":
                open_.append(d)
        for b in child_blocks(s):
            _check_regions(b)
    if open_:
        raise bad_input("$AD CHECKPOINT-START without a matching CHECKPOINT-END in the same block",
                        open_[0].span)


def _known(d) -> None:
    if d.name not in KNOWN:
        import difflib
        close = difflib.get_close_matches(d.name, sorted(KNOWN), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise bad_input(f"unknown directive $AD {d.name}{hint}", d.span)
