"""How many elements a C pointer argument has, as far as the routine can
tell.  `double *u` says nothing, yet recording `u` (a checkpoint snapshot,
a restore at f_fwd's exit) must push a known number of elements, and
Fortran's answer (size() of a descriptor) does not exist in C.

The extent is taken from the routine's own subscripts: constant indices,
and counted loops whose bounds are literals or by-value arguments the
routine never writes, so the bound means the same at entry as in the loop;
an array passed on counts with the callee's extent, its formals replaced
by the actuals.  Anything else (a while-loop index, a computed subscript)
leaves the extent unknown, and recording such an array stays an error.
The result is the largest index the code can touch plus one, which is
never more than the caller's array holds when the code runs.
"""
from __future__ import annotations

from ..ir.clone import clone
from typing import Optional

from ..ir.build import integer
from ..ir.nodes import Assign, Bin, Call, CallStmt, Expr, Lit, Loop, Ref, Routine, TranslationUnit
from ..ir.visit import child_blocks, map_expr, refs_in, stmt_exprs, walk_expr, walk_stmts

__all__ = ["infer_pointer_extents"]


def infer_pointer_extents(tu: TranslationUnit, names: list[str]) -> None:
    """Give every rank-1 pointer argument of the named routines whose
    extent can be inferred an upper bound (it still prints as a pointer)."""
    inf = _Infer(tu)
    for n in names:
        r = tu.routine(n)
        for a in r.args:
            s = r.symbols[a]
            if s.rank == 1 and s.shape[0].ub is None and not s.shape[0].assumed:
                e = inf.extent(r, a)
                if e is not None:
                    s.pointer = True
                    s.shape[0].ub = _simplify(Bin("-", e, integer(1)))


class _Infer:
    def __init__(self, tu: TranslationUnit) -> None:
        self.tu = tu
        self.memo: dict[tuple[str, str], Optional[Expr]] = {}
        self.busy: set[tuple[str, str]] = set()

    def extent(self, r: Routine, p: str) -> Optional[Expr]:
        key = (r.name, p)
        if key in self.memo:
            return self.memo[key]
        if key in self.busy:
            return None                       # recursion: give up
        self.busy.add(key)
        try:
            cands = self._candidates(r, p, r.body, {})
        finally:
            self.busy.discard(key)
        out = None if cands is None or not cands else _max(cands)
        self.memo[key] = out
        return out

    def _invariant(self, r: Routine, e: Expr) -> bool:
        written = self._written(r)
        for x in refs_in(e):
            s = r.symbols.get(x.name)
            if x.subs is not None or s is None or s.storage != "arg" or not s.by_value \
                    or s.type.base != "integer" or x.name in written:
                return False
        return not any(isinstance(c, Call) and not c.intrinsic for c in walk_expr(e))

    def _written(self, r: Routine) -> set[str]:
        out = set()
        for s in walk_stmts(r.body):
            if isinstance(s, Assign):
                out.add(s.lhs.name)
            elif isinstance(s, Loop):
                out.add(s.var)
        return out

    def _bound(self, r: Routine, e: Expr, loops: dict) -> Optional[Expr]:
        """The largest value e takes, as an expression valid at entry."""
        if isinstance(e, Lit) and e.type.base == "integer":
            return e
        if isinstance(e, Ref) and e.subs is None and e.name in loops:
            lp = loops[e.name]
            step = lp.step
            if step is not None and not (isinstance(step, Lit) and step.type.base == "integer"):
                return None
            k = int(step.text) if step is not None else 1
            inner = {v: x for v, x in loops.items() if v != e.name}
            return self._bound(r, lp.hi if k > 0 else lp.lo, inner)
        if isinstance(e, Bin) and e.op in ("+", "-") and isinstance(e.right, Lit):
            b = self._bound(r, e.left, loops)
            return None if b is None else Bin(e.op, b, clone(e.right))
        if isinstance(e, Bin) and e.op == "+" and isinstance(e.left, Lit):
            return self._bound(r, Bin("+", e.right, e.left), loops)
        if isinstance(e, Call) and e.intrinsic and e.name == "max" and e.args:
            bs = [self._bound(r, a, loops) for a in e.args]
            return None if any(b is None for b in bs) else _max(_flat_max(bs))
        if self._invariant(r, e):
            return clone(e)
        return None

    def _candidates(self, r: Routine, p: str, body, loops: dict) -> Optional[list[Expr]]:
        out: list[Expr] = []
        for s in body:
            calls: list[tuple[str, list[Expr]]] = []
            if isinstance(s, CallStmt):
                calls.append((s.name, s.args))
            exprs = stmt_exprs(s) if not isinstance(s, Loop) else [s.lo, s.hi] + ([s.step] if s.step else [])
            for e in exprs:
                calls.extend((c.name, c.args) for c in walk_expr(e) if isinstance(c, Call) and not c.intrinsic)
            passed = set()
            for name, args in calls:
                for k, a in enumerate(args):
                    if isinstance(a, Ref) and a.name == p and a.subs is None:
                        passed.add(id(a))
                        c = self._through_call(r, name, k, args, loops)
                        if c is None:
                            return None
                        out.append(c)
                    elif isinstance(a, Ref) and a.name == p and a.subs is not None and len(a.subs) == 1 \
                            and self._array_formal(name, k):
                        # &p[i] given for an array: the callee's extent from there on
                        passed.add(id(a))
                        c = self._through_call(r, name, k, args)
                        b = self._bound(r, a.subs[0], loops)
                        if c is None or b is None:
                            return None
                        out.append(Bin("+", b, c))
            for e in exprs:
                for x in refs_in(e):
                    if x.name != p or id(x) in passed:
                        continue
                    if x.subs is None or len(x.subs) != 1:
                        return None
                    b = self._bound(r, x.subs[0], loops)
                    if b is None:
                        return None
                    out.append(Bin("+", b, integer(1)))
            inner = dict(loops)
            if isinstance(s, Loop):
                inner[s.var] = s
            for blk in child_blocks(s):
                c = self._candidates(r, p, blk, inner)
                if c is None:
                    return None
                out.extend(c)
        return out

    def _array_formal(self, name: str, k: int) -> bool:
        q = self.tu.routine(name)
        return q is not None and k < len(q.args) and q.symbols[q.args[k]].rank >= 1

    def _through_call(self, r: Routine, name: str, k: int, args: list[Expr],
                      loops: Optional[dict] = None) -> Optional[Expr]:
        """The callee's extent of its k-th formal in the caller's terms: its
        largest value over the caller's enclosing loops (a callee that
        touches p[0..i] from inside `for i < n` touches p[0..n-1])."""
        q = self.tu.routine(name)
        if q is None or k >= len(q.args):
            return None
        f = q.symbols[q.args[k]]
        if f.rank != 1:
            return None
        if f.shape[0].ub is not None:       # declared, stated ($AD EXTENT) or inferred already
            e = Bin("+", clone(f.shape[0].ub), integer(1))
        else:
            e = self.extent(q, q.args[k])
        if e is None:
            return None
        actual = dict(zip(q.args, args))

        def sub(x):
            if isinstance(x, Ref) and x.subs is None and x.name in actual:
                return clone(actual[x.name])
            return None
        e = map_expr(clone(e), sub)
        return self._bound(r, e, loops or {})


def _simplify(e: Expr) -> Expr:
    """Fold literal integer arithmetic so `N + 1 - 1` prints as `40`."""
    def fold(x):
        if isinstance(x, Bin) and x.op in ("+", "-") and isinstance(x.right, Lit) \
                and x.right.type.base == "integer":
            c = int(x.right.text) * (1 if x.op == "+" else -1)
            if isinstance(x.left, Lit) and x.left.type.base == "integer":
                return integer(int(x.left.text) + c)
            if isinstance(x.left, Bin) and x.left.op in ("+", "-") and isinstance(x.left.right, Lit) \
                    and x.left.right.type.base == "integer":
                c += int(x.left.right.text) * (1 if x.left.op == "+" else -1)
                base = x.left.left
            else:
                base = x.left
            if c == 0:
                return base
            return Bin("+" if c > 0 else "-", base, integer(abs(c)))
        return None
    return map_expr(e, fold)


def _flat_max(es: list[Expr]) -> list[Expr]:
    out: list[Expr] = []
    for e in es:
        out += _flat_max(e.args) if isinstance(e, Call) and e.intrinsic and e.name == "max" else [e]
    return out


def _max(cands: list[Expr]) -> Expr:
    cands = [_simplify(c) for c in cands]
    lits = [int(c.text) for c in cands if isinstance(c, Lit)]
    rest: list[Expr] = []
    for c in cands:
        if not isinstance(c, Lit) and c not in rest:
            rest.append(c)
    if lits:
        rest.append(integer(max(lits)))
    out = rest[0]
    for c in rest[1:]:
        out = Call("max", [out, c], intrinsic=True)
    return out
