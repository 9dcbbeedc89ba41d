"""Calls that omit an OPTIONAL argument, spelled in Fortran.

The IR keeps one actual per formal, `Absent` where a call omits an optional
one.  Fortran cannot leave a positional slot empty, so every actual after
the first omitted one is passed by keyword, under the formal's name in the
routine actually called (a derivative variant interleaves its derivative
formals: `rhs_b(u, ub, f, fb, scale=c, scaleb=cb)`).
"""
from __future__ import annotations

from typing import Callable, Optional

from ..diagnostics import unsupported
from ..ir.nodes import Absent, Call, CallStmt, Expr, Keyword, Routine, TranslationUnit
from ..ir.visit import map_expr, stmt_exprs, walk_expr, walk_stmts

Formals = Callable[[str], Optional[Routine]]


def _keyworded(name: str, args: list[Expr], find: Formals, span) -> list[Expr]:
    if not any(isinstance(a, Absent) for a in args):
        return args
    r = find(name)
    if r is None or len(r.args) != len(args):
        raise unsupported(f"call of '{name}' omitting an OPTIONAL argument, whose formal "
                          "arguments adtool does not know", span)
    res: list[Expr] = []
    by_keyword = False
    for f, a in zip(r.args, args):
        if isinstance(a, Absent):
            by_keyword = True
            continue
        res.append(Keyword(f, a, span=a.span) if by_keyword else a)
    return res


def _has_absent(s) -> bool:
    return any(isinstance(x, Absent) for e in stmt_exprs(s) for x in walk_expr(e))


def spell_omitted_arguments(tu: TranslationUnit, others: Optional[TranslationUnit] = None) -> None:
    """Rewrite, in place, every call of tu that has an Absent actual; callee
    formals come from tu's routines, then from others' (the user's code,
    when tu is generated code that calls it)."""
    def find(name: str) -> Optional[Routine]:
        return tu.routine(name) or (others.routine(name) if others is not None else None)

    def fix(e: Expr) -> Expr:
        def fn(x: Expr):
            if isinstance(x, Call) and not x.intrinsic:
                x.args = _keyworded(x.name, x.args, find, x.span)
            return None
        return map_expr(e, fn)
    for r in tu.all_routines():
        for s in walk_stmts(r.body):
            if not _has_absent(s):
                continue
            for attr in ("lhs", "rhs", "value", "cond", "expr"):
                if isinstance(getattr(s, attr, None), Expr):
                    setattr(s, attr, fix(getattr(s, attr)))
            if hasattr(s, "branches"):
                s.branches = [(fix(c), b) for c, b in s.branches]
            if isinstance(s, CallStmt):
                s.args = _keyworded(s.name, [fix(a) for a in s.args], find, s.span)
