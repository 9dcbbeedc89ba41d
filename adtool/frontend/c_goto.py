"""C `goto` and statement labels to the IR's Goto and labelled statements.

Real C codes jump forward out of nested loops (`goto done;`) or to a
cleanup tail (`goto cleanup;`).  The IR already has what Fortran's GOTO
needs: a statement's integer `label` and `Goto(target)`, which
transform/normalize.py turns into logical flags for forward jumps to a
statement of an enclosing block (out of loops included).  So a C label
name becomes a number of its function (1, 2, ... in order of first
mention) and nothing later sees C's names.

What normalize refuses is refused here first, with the C label's name
instead of its number: a backward goto (its label is already defined
when the goto is read: the label stands before the goto in the source)
and a jump into a block (the label's enclosing blocks are not all
enclosing the goto), so a function outside every head's call tree that
does either is left unread like any other, and an error names it only
when a head reaches it.
"""
from __future__ import annotations

from ..diagnostics import bad_input, unsupported
from ..ir.nodes import Continue, Goto, Span, Stmt
from ..ir.visit import walk_stmts


class GotoLowering:
    """Mixed into the function lowering, which keeps `labels` (C name ->
    IR label), `label_blocks` (C name -> the ids of its enclosing blocks),
    `gotos` (name, the goto's enclosing blocks, span) and `block_ids`
    (the ids of the blocks open where the lowering is)."""

    def label_number(self, name: str) -> int:
        if name not in self.labels:
            self.labels[name] = len(self.labels) + 1
        return self.labels[name]

    def goto(self, n, span: Span) -> Goto:
        if n.name in self.label_blocks:
            raise unsupported("backward goto", span, f"to label '{n.name}', defined before it")
        self.gotos.append((n.name, tuple(self.block_ids), span))
        return Goto(self.label_number(n.name), span=span)

    def labelled(self, n, span: Span) -> list[Stmt]:
        """`name: stmt`: the label goes on the first IR statement stmt
        lowers to (where the jump lands), or on a no-op when it lowers to
        none (`done: ;`) or to a statement that has a label already."""
        if n.name in self.label_blocks:
            raise bad_input(f"label '{n.name}' defined twice", span)
        self.label_blocks[n.name] = tuple(self.block_ids)
        label = self.label_number(n.name)
        stmts = self.stmt(n.stmt) if n.stmt is not None else []
        if not stmts or stmts[0].label is not None:
            stmts = [Continue(span=span)] + stmts
        stmts[0].label = label
        return stmts

    def check_gotos(self) -> list:
        """Errors of the function's forward gotos, once every label is known."""
        errors = []
        for name, blocks, span in self.gotos:
            if name not in self.label_blocks:
                errors.append(bad_input(f"goto to undefined label '{name}'", span))
                continue
            where = self.label_blocks[name]
            if blocks[:len(where)] != where:
                errors.append(unsupported("goto into a block", span,
                                          f"label '{name}' is not in a block enclosing the goto"))
        return errors


def drop_unused_labels(body: list[Stmt]) -> None:
    """A label no goto names is C's business only (gcc warns about it):
    the IR keeps labels that are jump targets, which normalize consumes."""
    targets = {s.target for s in walk_stmts(body) if isinstance(s, Goto)}
    for s in walk_stmts(body):
        if s.label is not None and s.label not in targets:
            s.label = None
