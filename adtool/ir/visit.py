"""Generic traversal of IR trees, so that passes do not each re-implement
the recursion over statement blocks and expression children."""
from __future__ import annotations

from typing import Callable, Iterator

from .clone import shallow
from .nodes import (Allocate, ArrayCtor, Assign, Part, Bin, Call, CallStmt, Case, Cast, Cond,
                    Expr, If, ImpliedDo, Keyword, Lit, Loop, Print, Read, Ref, Return,
                    Section, Select, Stmt, Stop, Un, While)


def child_blocks(s: Stmt) -> list[list[Stmt]]:
    """The statement lists nested directly inside s."""
    if isinstance(s, If):
        blocks = [b for _, b in s.branches]
        if s.else_ is not None:
            blocks.append(s.else_)
        return blocks
    if isinstance(s, (Loop, While)):
        return [s.body]
    if isinstance(s, Select):
        blocks = [c.body for c in s.cases]
        if s.default is not None:
            blocks.append(s.default)
        return blocks
    return []


def map_blocks(s: Stmt, fn: Callable[[list[Stmt]], list[Stmt]]) -> None:
    """Replace each statement list nested directly inside s (those of
    child_blocks) by fn of it."""
    if isinstance(s, If):
        s.branches = [(c, fn(b)) for c, b in s.branches]
        if s.else_ is not None:
            s.else_ = fn(s.else_)
    elif isinstance(s, (Loop, While)):
        s.body = fn(s.body)
    elif isinstance(s, Select):
        for c in s.cases:
            c.body = fn(c.body)
        if s.default is not None:
            s.default = fn(s.default)


def walk_stmts(body: list[Stmt]) -> Iterator[Stmt]:
    """Every statement in body, pre-order, nested ones included."""
    for s in body:
        yield s
        for b in child_blocks(s):
            yield from walk_stmts(b)


def _subscript_exprs(subs, out: list) -> None:
    for s in subs:
        if type(s) is Section:
            out.extend(x for x in (s.lo, s.hi, s.step) if x is not None)
        else:
            out.append(s)


def _ref_subs(e: Ref) -> list[Expr]:
    if e.path is None and e.substring is None:
        if not e.subs:
            return []
        out: list[Expr] = []
        _subscript_exprs(e.subs, out)
        return out
    out = []
    _subscript_exprs(e.subs or [], out)
    for part in e.path or []:
        _subscript_exprs(part.subs or [], out)
    if e.substring is not None:
        out.extend(x for x in (e.substring.lo, e.substring.hi) if x is not None)
    return out


# Per node class, its direct children: walks over expressions are the
# transform's innermost loop, so the class is looked up once instead of
# tested against each kind in turn.
_CHILDREN: dict[type, Callable[[Expr], list[Expr]]] = {
    Ref: _ref_subs,
    Lit: lambda e: [],
    Bin: lambda e: [e.left, e.right],
    Un: lambda e: [e.operand],
    Call: lambda e: list(e.args) + [v for _, v in e.kwargs] if e.kwargs else list(e.args),
    Cast: lambda e: [e.operand],
    Keyword: lambda e: [e.value],
    Cond: lambda e: [e.cond, e.then, e.else_],
    ArrayCtor: lambda e: list(e.items),
    ImpliedDo: lambda e: list(e.items) + [x for x in (e.lo, e.hi, e.step) if x is not None],
}


def _children_of(t: type) -> Callable[[Expr], list[Expr]]:
    """The children function of a class not in the table (a subclass of a
    node kind, or a leaf kind): found once by isinstance, then cached."""
    for base, fn in list(_CHILDREN.items()):
        if issubclass(t, base):
            _CHILDREN[t] = fn
            return fn
    _CHILDREN[t] = fn = (lambda e: [])
    return fn


def sub_exprs(e: Expr) -> list[Expr]:
    """Direct children of an expression (section bounds included)."""
    fn = _CHILDREN.get(type(e))
    if fn is None:
        fn = _children_of(type(e))
    return fn(e)


def walk_expr(e: Expr) -> Iterator[Expr]:
    """e and every expression inside it, pre-order (an explicit stack: a
    recursive generator pays for every level of nesting on every node)."""
    table = _CHILDREN
    stack = [e]
    pop, extend = stack.pop, stack.extend
    while stack:
        x = pop()
        yield x
        fn = table.get(type(x))
        if fn is None:
            fn = _children_of(type(x))
        kids = fn(x)
        if kids:
            if len(kids) == 1:
                stack.append(kids[0])
            else:
                kids.reverse()
                extend(kids)


def stmt_exprs(s: Stmt) -> list[Expr]:
    """Expressions owned directly by s (not by nested statements)."""
    if isinstance(s, Assign):
        return [s.lhs, s.rhs]
    if isinstance(s, CallStmt):
        return list(s.args)
    if isinstance(s, If):
        return [c for c, _ in s.branches]
    if isinstance(s, Loop):
        return [x for x in (s.lo, s.hi, s.step) if x is not None]
    if isinstance(s, While):
        return [s.cond]
    if isinstance(s, Select):
        out = [s.expr]
        for c in s.cases:
            for v in c.values:
                if isinstance(v, Section):
                    out.extend(x for x in (v.lo, v.hi) if x is not None)
                else:
                    out.append(v)
        return out
    if isinstance(s, Return):
        return [s.value] if s.value is not None else []
    if isinstance(s, Stop):
        return [s.code] if s.code is not None else []
    if isinstance(s, Print):
        return list(s.items) + ([s.unit] if s.unit is not None else []) + [v for _, v in s.specs]
    if isinstance(s, Allocate) and s.source is not None:
        return [s.source]
    return []


def refs_in(e: Expr) -> Iterator[Ref]:
    for x in walk_expr(e):
        if isinstance(x, Ref):
            yield x


def calls_in(e: Expr) -> Iterator[Call]:
    for x in walk_expr(e):
        if isinstance(x, Call):
            yield x


def map_children(e: Expr, fn: Callable[[Expr], Expr]) -> Expr:
    """Shallow copy of e with fn applied to each direct child, in the
    order Fortran would evaluate them left to right."""
    e = shallow(e)
    if isinstance(e, Ref) and e.subs is not None:
        subs: list = []
        for s in e.subs:
            if isinstance(s, Section):
                subs.append(Section(*(fn(x) if x is not None else None
                                      for x in (s.lo, s.hi, s.step))))
            else:
                subs.append(fn(s))
        e.subs = subs
    elif isinstance(e, Bin):
        e.left = fn(e.left)
        e.right = fn(e.right)
    elif isinstance(e, (Un, Cast)):
        e.operand = fn(e.operand)
    elif isinstance(e, Call):
        e.args = [fn(a) for a in e.args]
        e.kwargs = [(k, fn(v)) for k, v in e.kwargs]
    elif isinstance(e, Cond):
        e.cond, e.then, e.else_ = fn(e.cond), fn(e.then), fn(e.else_)
    elif isinstance(e, ArrayCtor):
        e.items = [fn(x) for x in e.items]
    return e


def map_expr(e: Expr, fn: Callable[[Expr], Expr | None]) -> Expr:
    """Rebuild e bottom-up; fn returns a replacement or None to keep."""
    e = shallow(e)

    def map_subs(subs: list) -> list:
        out = []
        for s in subs:
            if isinstance(s, Section):
                out.append(Section(*(map_expr(x, fn) if x is not None else None
                                     for x in (s.lo, s.hi, s.step))))
            else:
                out.append(map_expr(s, fn))
        return out
    if isinstance(e, Ref) and e.subs is not None:
        e.subs = map_subs(e.subs)
    if isinstance(e, Ref) and e.path is not None:
        e.path = [Part(p.name, map_subs(p.subs) if p.subs is not None else None)
                  for p in e.path]
    if isinstance(e, Ref) and e.substring is not None:
        e.substring = Section(*(map_expr(x, fn) if x is not None else None
                                for x in (e.substring.lo, e.substring.hi, None)))
    elif isinstance(e, Bin):
        e.left, e.right = map_expr(e.left, fn), map_expr(e.right, fn)
    elif isinstance(e, Un):
        e.operand = map_expr(e.operand, fn)
    elif isinstance(e, Call):
        e.args = [map_expr(a, fn) for a in e.args]
        e.kwargs = [(k, map_expr(v, fn)) for k, v in e.kwargs]
    elif isinstance(e, Cast):
        e.operand = map_expr(e.operand, fn)
    elif isinstance(e, Keyword):
        e.value = map_expr(e.value, fn)
    elif isinstance(e, Cond):
        e.cond, e.then, e.else_ = (map_expr(x, fn) for x in (e.cond, e.then, e.else_))
    elif isinstance(e, ArrayCtor):
        e.items = [map_expr(x, fn) for x in e.items]
    elif isinstance(e, ImpliedDo):
        e.items = [map_expr(x, fn) for x in e.items]
        e.lo, e.hi = map_expr(e.lo, fn), map_expr(e.hi, fn)
        if e.step is not None:
            e.step = map_expr(e.step, fn)
    r = fn(e)
    return e if r is None else r


def is_literal(e: Expr) -> bool:
    return isinstance(e, Lit)


def read_targets(s: "Print") -> list[str]:
    """Every variable an I/O statement stores into: a READ's items
    (implied-DO counters included) and what any I/O statement stores
    through its specifiers (IOSTAT=, INQUIRE's EXIST=...)."""
    out: list[str] = []

    def walk(e) -> None:
        if isinstance(e, ImpliedDo):
            out.append(e.var)
            for x in e.items:
                walk(x)
        elif isinstance(e, Ref):
            out.append(e.name)
    for e in (s.items if isinstance(s, Read) else []) + s.stored():
        walk(e)
    return list(dict.fromkeys(out))


def structural_key(x) -> tuple:
    """A hashable key of an IR tree by structure (spans ignored): two
    subscripts with the same key select the same elements."""
    if isinstance(x, list):
        return ("[",) + tuple(structural_key(i) for i in x)
    if isinstance(x, (str, int, float, bool, type(None))):
        return (x,)
    if hasattr(x, "__dataclass_fields__"):
        return (type(x).__name__,) + tuple(
            structural_key(getattr(x, f.name)) for f in x.__dataclass_fields__.values()
            if f.compare and f.name != "span")
    return (repr(x),)
