"""POINTER variables associated with arrays or sections: `p => x(2:n)`.

A pointer is another name for (part of) its target, so every analysis
would have to know that writing p(i) writes x(i + 1).  Rather than teach
them aliasing, the front end replaces the pointer by what it points to: after
`p => x(lo:hi:st, k)`, `p(i)` is `x(lo + (i - 1) * st, k)`, and `p` is the
section itself; the bounds are evaluated once, at the association, into
integer locals (the target of a pointer does not move when n changes later).
The IR then holds no pointer at all and its derivative is that of the
section: the adjoint of p is the same section of x's adjoint.

What that cannot express is refused, loudly: a pointer that is an argument,
a module variable or a function result (it may be associated elsewhere), an
association inside a loop or a branch (which association holds would depend
on the path), a use before any association, ALLOCATE, DEALLOCATE, NULLIFY or
ASSOCIATED of a pointer, and an allocatable target reallocated while
associated.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from fparser.two import Fortran2003 as F

from ..diagnostics import AdError, bad_input, unsupported
from ..ir.nodes import (INT4, Allocate, Assign, Bin, Call, CallStmt, Deallocate, Expr, If, Lit,
                        Loop, Print, Ref, Return, Routine, Section, Select, Span, Stmt, Stop,
                        Symbol, While)
from ..ir.visit import child_blocks, map_expr, walk_expr
from .fortran_tree import _name


@dataclass
class _Associate(Stmt):
    """`p => target` while the body is being read; gone when it leaves the
    front end (resolve_pointers)."""
    pointer: str = ""
    target: Optional[Ref] = None


@dataclass
class _Binding:
    target: Ref                  # with pinned bounds
    dims: list                   # per pointer dimension: (lo, hi, step) of the section


class Pointers:
    """Mixin of FortranFrontend (see fortran.py)."""

    def declare_pointer(self, sym: Symbol, storage: str, span: Span) -> None:
        if storage == "module":
            raise unsupported("POINTER module variable", span, sym.name)
        if sym.type.base == "character" or sym.type.is_derived:
            raise unsupported(f"POINTER to {sym.type.base}", span, sym.name)
        sym.pointer = True

    def pointer_assignment(self, node, span: Span) -> list[Stmt]:
        lhs, bounds, rhs = node.children
        if not isinstance(lhs, F.Name):
            raise unsupported("pointer assignment to a component", span)
        if bounds is not None:
            raise unsupported("pointer assignment with bounds remapping", span)
        p = _name(lhs)
        psym = self.lookup(p)
        if psym is None or not psym.pointer:
            raise unsupported("pointer assignment", span, p)
        target = self.expr(rhs)
        if not isinstance(target, Ref) or target.path or target.substring is not None:
            raise unsupported("pointer associated with something other than an array, an array "
                              "section or a variable", span, p)
        tsym = self.lookup(target.name)
        if tsym is None:
            raise unsupported("pointer target", span, target.name)
        rank = sum(1 for s in (target.subs or []) if isinstance(s, Section)) \
            if target.subs is not None else tsym.rank
        if rank != psym.rank:
            raise bad_input(f"pointer '{p}' has rank {psym.rank} but its target has rank {rank}",
                            span)
        return [_Associate(p, target, span=span)]

    # -------------------------------------------------------------- ASSOCIATE

    def associate_construct(self, node, span: Span) -> list[Stmt]:
        """ASSOCIATE (a => x(:, k), r => cell%radius, z => 2 * n): a name for a
        variable is another name for it, replaced by it as a pointer is (the
        bounds of a section evaluated at the association); a name for a
        scalar expression is a local set once.  A subscripted name for a
        component and a name for an array expression are refused by name."""
        from ..ir.nodes import Dim
        r = self.cur.routine
        stmt = node.children[0]
        pins: list[Stmt] = []
        bound: dict[str, _Binding] = {}
        whole: dict[str, Ref] = {}          # names of components: used whole only
        declared: dict[str, Symbol] = {}
        for a in stmt.children[1].children:
            name = _name(a.children[0])
            sel = self.expr(a.children[2])
            rank = self._rank(sel, span)
            var = isinstance(sel, Ref) and sel.substring is None and self.lookup(sel.name) is not None
            if var and not sel.path:
                b, p = self._bind(r, _Associate(name, sel, span=span))
                pins += p
                bound[name] = b
            elif var and all(not part.subs for part in sel.path) and sel.subs is None:
                whole[name] = sel
            elif rank == 0:
                tmp = self._fresh_local(f"ad_{name}", self.type_of(sel))
                pins.append(Assign(Ref(tmp), sel, span=span))
                bound[name] = _Binding(Ref(tmp), [])
            else:
                raise unsupported("ASSOCIATE with an array expression or a section of a component",
                                  span, name)
            declared[name] = Symbol(name, self.type_of(sel), storage="local", span=span,
                                    shape=[Dim(None, None, True) for _ in range(rank)])
        saved = {n: r.symbols.get(n) for n in declared}
        r.symbols.update(declared)
        try:
            body = self.block(node.children[1:-1])
        finally:
            for n, old in saved.items():
                if old is None:
                    del r.symbols[n]
                else:
                    r.symbols[n] = old

        def fn(e: Expr) -> Expr:
            e = _substitute(e, bound, set(bound)) if bound else e

            def comp(x: Expr):
                if isinstance(x, Ref) and x.name in whole:
                    if x.subs is not None or x.path:
                        raise unsupported("subscripted ASSOCIATE name of a component", x.span, x.name)
                    return _copy(whole[x.name])
                return None
            return map_expr(e, comp) if whole else e
        return pins + [self._map_stmt(st, fn) for st in body]

    # -------------------------------------------------------------- replacement

    def resolve_pointers(self, r: Routine) -> None:
        pointers = {n for n, s in r.symbols.items() if s.pointer}
        if not pointers:
            return
        for n in sorted(pointers):
            s = r.symbols[n]
            if s.storage == "arg":
                raise unsupported("POINTER dummy argument", s.span, n)
            if s.storage == "result":
                raise unsupported("POINTER function result", s.span, n)
        r.body = self._replace_top(r, r.body, pointers)

    def host_pointers_unused(self, r: Routine) -> None:
        """An internal procedure cannot see which association its host made
        when it is called: a host pointer used there is refused."""
        if r.host is None:
            return
        u = self.cur.host
        while u is not None:
            for n, s in u.routine.symbols.items():
                if s.pointer and n not in r.symbols and any(
                        isinstance(x, Ref) and x.name == n
                        for st in _all(r.body) for e in _exprs(st) for x in walk_expr(e)):
                    raise unsupported("pointer of the host used in an internal procedure",
                                      r.span, n)
            u = u.host

    def drop_pointer_symbols(self) -> None:
        """Once every body is read, the pointers are gone from them."""
        for u in self.units:
            for n in [n for n, s in u.routine.symbols.items() if s.pointer]:
                del u.routine.symbols[n]

    def _replace_top(self, r: Routine, body: list[Stmt], pointers: set[str]) -> list[Stmt]:
        bound: dict[str, _Binding] = {}
        out: list[Stmt] = []
        for s in body:
            if isinstance(s, _Associate):
                if s.target.name in pointers:       # p => q(2:3), q itself a pointer
                    s.target = _substitute(s.target, bound, pointers)
                b, pins = self._bind(r, s)
                out.extend(pins)
                bound[s.pointer] = b
                continue
            for inner in _nested(s):
                if isinstance(inner, _Associate):
                    raise unsupported("pointer assignment inside a loop or a branch", inner.span,
                                      inner.pointer)
            self._check_targets_stay(s, bound)
            out.append(self._map_stmt(s, lambda e: _substitute(e, bound, pointers)))
        return out

    def _bind(self, r: Routine, s: _Associate) -> tuple[_Binding, list[Stmt]]:
        """The binding with its bounds and scalar subscripts evaluated now."""
        pins: list[Stmt] = []
        t = s.target

        def pin(e: Optional[Expr], what: str) -> Optional[Expr]:
            if e is None or isinstance(e, Lit):
                return e
            name = self._fresh_int(r, f"ad_{s.pointer}_{what}")
            pins.append(Assign(Ref(name), e, span=s.span))
            return Ref(name)
        if t.subs is None:
            return _Binding(Ref(t.name), []), pins
        subs: list = []
        dims: list = []
        for k, x in enumerate(t.subs, start=1):
            if isinstance(x, Section):
                lo = x.lo if x.lo is not None else \
                    Call("lbound", [Ref(t.name), Lit(str(k), INT4)], intrinsic=True)
                hi = x.hi if x.hi is not None else \
                    Call("ubound", [Ref(t.name), Lit(str(k), INT4)], intrinsic=True)
                lo, hi, st = pin(lo, f"lo{k}"), pin(hi, f"hi{k}"), pin(x.step, f"st{k}")
                subs.append(Section(lo, hi, st))
                dims.append((lo, hi, st))
            else:
                subs.append(pin(x, f"at{k}"))
        return _Binding(Ref(t.name, subs), dims), pins

    def _fresh_int(self, r: Routine, base: str) -> str:
        name, k = base, 1
        while name in r.symbols or self.lookup(name) is not None:
            k += 1
            name = f"{base}{k}"
        r.symbols[name] = Symbol(name, INT4, storage="local")
        return name

    def _check_targets_stay(self, s: Stmt, bound: dict[str, _Binding]) -> None:
        targets = {b.target.name for b in bound.values()}
        for x in [s] + _nested(s):
            names: list[str] = []
            if isinstance(x, Allocate):
                names = [i.name for i in x.items]
            elif isinstance(x, Deallocate):
                names = list(x.names)
            hit = [n for n in names if n in targets]
            if hit:
                raise unsupported("ALLOCATE or DEALLOCATE of a pointer's target while it is "
                                  "associated", x.span, hit[0])

    def _map_stmt(self, s: Stmt, fn) -> Stmt:
        """s with fn applied to each of its expressions, nested statements too."""
        if isinstance(s, Assign):
            s.lhs, s.rhs = fn(s.lhs), fn(s.rhs)
        elif isinstance(s, CallStmt):
            s.args = [fn(a) for a in s.args]
        elif isinstance(s, If):
            s.branches = [(fn(c), b) for c, b in s.branches]
        elif isinstance(s, Loop):
            s.lo, s.hi = fn(s.lo), fn(s.hi)
            if s.step is not None:
                s.step = fn(s.step)
        elif isinstance(s, While):
            s.cond = fn(s.cond)
        elif isinstance(s, Select):
            s.expr = fn(s.expr)
        elif isinstance(s, Return) and s.value is not None:
            s.value = fn(s.value)
        elif isinstance(s, Stop) and s.code is not None:
            s.code = fn(s.code)
        elif isinstance(s, Print):
            s.items = [fn(i) for i in s.items]
            if s.unit is not None:
                s.unit = fn(s.unit)
            s.specs = [(k, fn(v)) for k, v in s.specs]
        elif isinstance(s, Allocate):
            for i in s.items:
                if _is_pointer_name(i.name, fn):
                    raise unsupported("ALLOCATE of a pointer", s.span, i.name)
        elif isinstance(s, Deallocate):
            for n in s.names:
                if _is_pointer_name(n, fn):
                    raise unsupported("DEALLOCATE of a pointer", s.span, n)
        for blk in child_blocks(s):
            blk[:] = [self._map_stmt(x, fn) for x in blk]
        return s


def _all(body: list[Stmt]) -> list[Stmt]:
    out: list[Stmt] = []
    for s in body:
        out.append(s)
        out.extend(_nested(s))
    return out


def _exprs(s: Stmt) -> list[Expr]:
    from ..ir.visit import stmt_exprs
    return stmt_exprs(s)


def _is_pointer_name(name: str, fn) -> bool:
    try:
        fn(Ref(name))
    except AdError:
        return True
    return False


def _nested(s: Stmt) -> list[Stmt]:
    out: list[Stmt] = []
    for blk in child_blocks(s):
        for x in blk:
            out.append(x)
            out.extend(_nested(x))
    return out


def _substitute(e: Expr, bound: dict[str, _Binding], pointers: set[str]) -> Expr:
    for x in walk_expr(e):
        if isinstance(x, Call) and x.intrinsic and x.name == "associated":
            raise unsupported("ASSOCIATED", x.span)

    def fn(x: Expr):
        if not isinstance(x, Ref) or x.name not in pointers:
            return None
        b = bound.get(x.name)
        if b is None:
            raise unsupported("pointer used before it is associated in this routine "
                              "(or associated elsewhere)", x.span, x.name)
        if x.path:
            raise unsupported("component of a pointer", x.span, x.name)
        if x.subs is None:
            return Ref(b.target.name, [_copy(s) for s in b.target.subs]
                       if b.target.subs is not None else None, span=x.span,
                       substring=x.substring)
        if b.target.subs is None:          # p => x: same bounds as x
            return Ref(b.target.name, x.subs, span=x.span, substring=x.substring)
        own = iter(x.subs)
        subs: list = []
        k = 0
        for t in b.target.subs:
            if not isinstance(t, Section):
                subs.append(_copy(t))
                continue
            lo, hi, st = b.dims[k]
            k += 1
            subs.append(_shift(next(own), lo, hi, st))
        return Ref(b.target.name, subs, span=x.span, substring=x.substring)
    return map_expr(e, fn)


def _copy(x):
    import copy
    return copy.deepcopy(x)


def _offset(i: Expr, lo: Expr, st: Optional[Expr]) -> Expr:
    """lo + (i - 1) * st: element i (1-based) of the section lo:..:st."""
    d = Bin("-", _copy(i), Lit("1", INT4))
    if st is not None:
        d = Bin("*", d, _copy(st))
    if isinstance(lo, Lit) and lo.text == "1" and st is None:
        return _copy(i)
    return Bin("+", _copy(lo), d)


def _shift(i, lo: Expr, hi: Expr, st: Optional[Expr]):
    if isinstance(i, Section):            # p(a:b:c) -> x(lo+(a-1)*st : lo+(b-1)*st : c*st)
        a = _offset(i.lo, lo, st) if i.lo is not None else _copy(lo)
        b = _offset(i.hi, lo, st) if i.hi is not None else _copy(hi)
        step = i.step
        if st is not None:
            step = Bin("*", _copy(i.step), _copy(st)) if i.step is not None else _copy(st)
        return Section(a, b, step)
    return _offset(i, lo, st)
