"""fparser2 parsing and the small facts about its trees every pass needs."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from fparser.common.readfortran import FortranStringReader
from fparser.common.sourceinfo import FortranFormat
from fparser.two import Fortran2003 as F
from fparser.two.utils import Base, FortranSyntaxError

from ..diagnostics import AdError, bad_input
from ..ir.nodes import INT4, Directive, Module, Routine, Span, Type
from .fortran_syntax import explain
from .source import SourceText, is_fixed_form

_PARSER = None


def _parser():
    global _PARSER
    if _PARSER is None:
        from fparser.two.parser import ParserFactory
        _PARSER = ParserFactory().create(std="f2008")
    return _PARSER


def prepare_parser() -> None:
    """Build fparser2's parser now: worker processes forked to parse files
    in parallel then inherit it instead of each building its own."""
    _parser()


class _Reader(FortranStringReader):
    """fparser2's string reader, answering "is this line a comment?" once
    per distinct line.  Every statement class that fails to match re-checks
    whether all lines read so far are comments or blank (fparser.two.utils,
    Base.__new__), from the first line on: a file opening with a comment
    header paid that header once per failed match, a quarter of the
    parse time on the bench programs.  The answer depends only on the line
    and the reader's format, set once before parsing."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self._comment_lines: dict[str, bool] = {}

    def set_format(self, mode):
        self._comment_lines = {}
        super().set_format(mode)

    def is_comment_line(self, line: str) -> bool:
        known = self._comment_lines.get(line)
        if known is None:
            known = self._comment_lines[line] = super().is_comment_line(line)
        return known


def parse_tree(src: SourceText):
    """Parse text with fparser2, the form forced from the file extension."""
    from fparser.two.symbol_table import SYMBOL_TABLES
    SYMBOL_TABLES.clear()
    reader = _Reader(src.text, ignore_comments=False, process_directives=True)
    fixed = is_fixed_form(src.path)
    reader.set_format(FortranFormat(not fixed, False))
    try:
        tree = _parser()(reader)
    except FortranSyntaxError as exc:
        text = str(exc)
        m = re.search(r"at line (\d+)", text)
        line = int(m.group(1)) if m else 0
        lines = src.text.splitlines()
        if 0 < line <= len(lines):
            k, col, detail = explain(lines, line - 1)
            line = k + 1
        else:
            col, detail = 1, text.strip()
        raise bad_input(f"syntax error: {detail}", src.span(line, col)) from None
    except AdError:
        raise
    except Exception as exc:  # fparser raises assorted internal errors on bad input
        raise bad_input(f"cannot parse Fortran: {exc}", src.span(0)) from None
    if tree is None or not [c for c in tree.children if not isinstance(c, (F.Comment,))]:
        raise bad_input("no routine in file (nothing but comments)", src.span(0))
    return tree


# ------------------------------------------------------------------ helpers

_UNSUPPORTED_NAMES = {
    "Assigned_Goto_Stmt": "assigned GOTO",
    "Entry_Stmt": "ENTRY statement",
    "Equivalence_Stmt": "EQUIVALENCE",
    "Nullify_Stmt": "NULLIFY statement",
    "Stmt_Function_Stmt": "statement function",
    "Pause_Stmt": "PAUSE statement",
    "Assign_Stmt": "ASSIGN statement",
    "Namelist_Stmt": "NAMELIST",
    "Block_Data": "BLOCK DATA",
    "Select_Type_Construct": "SELECT TYPE construct",
}
# fparser versions differ in which classes exist; keep those present.
_UNSUPPORTED_STMTS = {getattr(F, k): v for k, v in _UNSUPPORTED_NAMES.items() if hasattr(F, k)}


def _name(node) -> str:
    return str(node).lower()


def _line_of(node) -> int:
    item = getattr(node, "item", None)
    if item is not None and getattr(item, "span", None):
        return item.span[0]
    for c in getattr(node, "children", []) or []:
        if isinstance(c, Base):
            ln = _line_of(c)
            if ln:
                return ln
    return 0


def parse_directive(text: str, span: Span) -> Optional[Directive]:
    """`!$AD NAME args` in any comment style; other tools' directives -> None."""
    m = re.match(r"^\s*(?:!|c|C|\*|//|#pragma)\s*\$?ad\b\s*(.*)$", text.strip(), re.IGNORECASE)
    if not m or "$" not in text[:8] and not text.strip().lower().startswith("#pragma"):
        return None
    words = m.group(1).split()
    if not words:
        raise bad_input("empty $AD directive", span)
    return Directive(words[0].upper(), words[1:], span)


@dataclass
class _Unit:
    """A program unit being lowered, with what name resolution needs."""
    routine: Routine
    node: object
    src: SourceText
    implicit: Optional[dict[str, Type]]
    host: Optional["_Unit"] = None
    module: Optional[Module] = None
    module_implicit: Optional[dict[str, Type]] = None
    formats: dict[int, str] = field(default_factory=dict)
    pre_directives: list[Directive] = field(default_factory=list)
    # statement functions: name -> (dummy names, result type, fparser expression)
    stmt_funcs: dict[str, tuple[list[str], Type, object]] = field(default_factory=dict)
    # FORALL indices: (fresh loop variable, the index name as written)
    forall_indices: list[tuple[str, str]] = field(default_factory=list)
    intrinsic_names: set[str] = field(default_factory=set)     # named by INTRINSIC statements


def default_real(kind: int = 4) -> Type:
    """`real` as the user wrote it: kind 4, or 8 under --default-real-kind 8."""
    return Type("real", kind, default=True)


def _default_implicit(real_kind: int = 4) -> dict[str, Type]:
    real = default_real(real_kind)
    return {ch: (INT4 if ch in "ijklmn" else real) for ch in "abcdefghijklmnopqrstuvwxyz"}


def _walk(node):
    yield node
    for c in getattr(node, "children", []) or []:
        if isinstance(c, Base):
            yield from _walk(c)


