"""Activity: which variables carry derivatives (varied ∧ useful).

Differentiating a passive variable costs time and memory but stays correct;
missing an active one gives a wrong gradient.  So the analysis is a
deliberately simple over-approximation: one value-flow graph over `Var`s for
all routines in the heads' call trees, flow- and context-insensitive, and
reachability in it.  Precision comes from two cheap facts only:

* values do not flow through indices, conditions, logical/integer-valued
  operations, or integer/logical/character variables (none of these can
  carry a derivative);
* at a call, a value enters a formal only if the callee may read it and
  leaves it only if the callee may write it (read/write summaries), so a
  routine called once with active and once with passive actuals does not
  make the passive actual's inputs varied.
"""
from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence, Union

from ..diagnostics import bad_input
from ..ir import intrinsics, records
from ..ir.nodes import (ArrayCtor, Assign, Bin, Call, CallStmt, Cast, Cond,
                        Expr, ImpliedDo, Loop, Ref, Return, Routine, Stmt,
                        Symbol, TranslationUnit, Un)
from ..ir.visit import stmt_exprs, sub_exprs, walk_stmts
from .readwrite import Summaries, callees, summaries
from .scope import RoutineLike, Scopes, Var

Head = tuple[str, Optional[Sequence[str]], Optional[Sequence[str]]]

_NO_VALUE_OPS = {"==", "!=", "<", "<=", ">", ">=", "and", "or", "eqv", "neqv", "concat"}
# Real-valued intrinsics whose value does not depend on their argument's value.
_CONSTANT_INTRINSICS = {"huge", "tiny", "epsilon", "kind"}
# Keyword arguments that select, never supply, a value.
_SELECTOR_KWARGS = {"dim", "kind", "mask", "back"}


class _Graph:
    def __init__(self) -> None:
        self.succ: dict[Var, set[Var]] = defaultdict(set)
        self.pred: dict[Var, set[Var]] = defaultdict(set)

    def edge(self, a: Var, b: Var) -> None:
        self.succ[a].add(b)
        self.pred[b].add(a)


class _Builder:
    """Collects value sources of expressions and the call edges they imply."""

    def __init__(self, scopes: Scopes, summ: Summaries, graph: Optional[_Graph],
                 types: dict[Var, Symbol]):
        self.scopes = scopes
        self.summ = summ
        self.g = graph
        self.types = types

    def var(self, r: Routine, name: str) -> Optional[Var]:
        if not self.scopes.is_data(r, name):
            return None
        hit = self.scopes.lookup(r, name)
        v = hit[1] if hit else Var(r.name, name)
        if hit is not None:
            self.types.setdefault(v, hit[0])
        return v

    def formal(self, callee: Routine, name: str) -> Var:
        v = Var(callee.name, name)
        if name in callee.symbols:
            self.types.setdefault(v, callee.symbols[name])
        return v

    # -- expressions

    def values(self, e: Expr, r: Routine, out: set[Var]) -> None:
        """Add to out the Vars whose value flows into e's value."""
        if isinstance(e, Ref):
            v = self.var(r, e.name)
            if v is not None and not self._passive_part(e, r):
                out.add(v)
            self.side(sub_exprs(e), r)
            return
        if isinstance(e, Bin):
            if e.op in _NO_VALUE_OPS:
                self.side([e.left, e.right], r)
            else:
                self.values(e.left, r, out)
                self.values(e.right, r, out)
            return
        if isinstance(e, Un):
            if e.op == "not":
                self.side([e.operand], r)
            else:
                self.values(e.operand, r, out)
            return
        if isinstance(e, Call):
            if e.intrinsic:
                self._intrinsic(e, r, out)
            else:
                self.call(e.name, list(e.args), r, out)
            return
        if isinstance(e, Cast):
            self.values(e.operand, r, out)
            return
        if isinstance(e, Cond):
            self.side([e.cond], r)
            self.values(e.then, r, out)
            self.values(e.else_, r, out)
            return
        if isinstance(e, (ArrayCtor,)):
            for x in e.items:
                self.values(x, r, out)
            return
        if isinstance(e, ImpliedDo):
            for x in e.items:
                self.values(x, r, out)
            self.side([x for x in (e.lo, e.hi, e.step) if x is not None], r)
            return

    def side(self, exprs: Iterable[Expr], r: Routine) -> None:
        """Expressions whose value is not used but whose calls still bind arguments."""
        sink: set[Var] = set()
        for x in exprs:
            self.values(x, r, sink)

    def _intrinsic(self, e: Call, r: Routine, out: set[Var]) -> None:
        spec = intrinsics.lookup(e.name)
        if spec is not None and (spec.result in ("int", "int8", "logical", "char")
                                 or e.name in _CONSTANT_INTRINSICS):
            self.side(list(e.args) + [v for _, v in e.kwargs], r)
            return
        carried = list(e.args)
        ignored = []
        if e.name == "merge" and len(carried) > 2:
            ignored.append(carried.pop(2))
        for k, v in e.kwargs:
            (ignored if k in _SELECTOR_KWARGS else carried).append(v)
        for x in carried:
            self.values(x, r, out)
        self.side(ignored, r)

    def call(self, name: str, args: list[Expr], r: Routine, out: Optional[set[Var]]) -> None:
        """Bind actuals to formals; the call's value (functions) goes to out."""
        callee = self.scopes.callee(r, name)
        summ = self.summ.get(callee.name) if callee is not None else None
        if callee is None or summ is None:
            # Unknown code: every input may reach every variable actual and the result.
            srcs: set[Var] = set()
            for a in args:
                self.values(a, r, srcs)
            if out is not None:
                out |= srcs
            if self.g is not None:
                for a in args:
                    if isinstance(a, Ref):
                        v = self.var(r, a.name)
                        if v is not None:
                            for s in srcs:
                                self.g.edge(s, v)
            return
        if out is not None and callee.result:
            out.add(self.formal(callee, callee.result))
        for k, a in enumerate(args):
            if k >= len(callee.args):
                self.side([a], r)
                continue
            f = self.formal(callee, callee.args[k])
            if isinstance(a, Ref) and self.var(r, a.name) is not None:
                v = self.var(r, a.name)
                self.side(sub_exprs(a), r)
                if self.g is not None:
                    if f in summ.reads:
                        self.g.edge(v, f)
                    by_value = callee.symbols.get(callee.args[k])
                    if f in summ.writes and not (by_value is not None and by_value.by_value):
                        self.g.edge(f, v)
                continue
            srcs = set()
            self.values(a, r, srcs)
            if self.g is not None:
                for s in srcs:
                    self.g.edge(s, f)

    def _passive_part(self, e: Ref, r: Routine) -> bool:
        """A component path ending on an integer, logical or character
        component carries no value to or from its (active) record."""
        if not e.path:
            return False
        sym = records.ref_symbol(e, lambda n: self.scopes.symbol(r, n))
        return sym is not None and not records.differentiable(sym.type)

    # -- statements

    def stmt(self, s: Stmt, r: Routine) -> None:
        g = self.g
        assert g is not None
        if isinstance(s, Assign):
            srcs: set[Var] = set()
            self.values(s.rhs, r, srcs)
            self.side(sub_exprs(s.lhs), r)
            lhs = self.var(r, s.lhs.name)
            if lhs is not None and not self._passive_part(s.lhs, r):
                for v in srcs:
                    g.edge(v, lhs)
        elif isinstance(s, CallStmt):
            self.call(s.name, s.args, r, None)
        elif isinstance(s, Return) and s.value is not None and r.result:
            srcs = set()
            self.values(s.value, r, srcs)
            res = self.formal(r, r.result)
            for v in srcs:
                g.edge(v, res)
        elif isinstance(s, Loop):
            self.side([x for x in (s.lo, s.hi, s.step) if x is not None], r)
        else:
            self.side(stmt_exprs(s), r)


def _differentiable(sym: Optional[Symbol]) -> bool:
    return sym is None or records.differentiable(sym.type)


@dataclass
class Activity:
    """Result of the analysis; names are resolved through `scopes`."""
    scopes: Scopes
    summ: Summaries
    routines: set[str]                      # the heads' call trees
    varied: set[Var] = field(default_factory=set)
    useful: set[Var] = field(default_factory=set)
    active: set[Var] = field(default_factory=set)
    heads: list[tuple[str, list[str], list[str]]] = field(default_factory=list)
    _types: dict[Var, Symbol] = field(default_factory=dict, repr=False)

    def is_active_var(self, v: Var) -> bool:
        return v in self.active

    def is_active(self, routine_name: RoutineLike, var_name: str) -> bool:
        if not self.scopes.is_data(routine_name, var_name):
            return False
        return self.scopes.var(routine_name, var_name) in self.active

    def active_vars(self, routine_name: RoutineLike) -> set[str]:
        return {n for n, _, v in self.scopes.visible(routine_name) if v in self.active}

    def active_args(self, routine_name: RoutineLike) -> list[str]:
        r = self.scopes.routine(routine_name)
        out = [a for a in r.args if Var(r.name, a) in self.active]
        if r.result and Var(r.name, r.result) in self.active:
            out.append(r.result)
        return out

    def active_routines(self) -> set[str]:
        out: set[str] = set()
        for name in self.routines:
            s = self.summ.get(name)
            touched = (s.reads | s.writes) if s is not None else frozenset()
            if any(v.scope == name for v in self.active) or touched & self.active:
                out.add(name)
        return out

    def expr_is_active(self, expr: Expr, routine_name: RoutineLike) -> bool:
        r = self.scopes.routine(routine_name)
        srcs: set[Var] = set()
        _Builder(self.scopes, self.summ, None, {}).values(expr, r, srcs)
        return bool(srcs & self.active)


def call_tree(scopes: Scopes, heads: Iterable[str]) -> set[str]:
    """Routines reachable from the heads through calls the IR can resolve."""
    seen: set[str] = set()
    work = list(heads)
    while work:
        name = work.pop()
        if name in seen or name not in scopes.routines:
            continue
        seen.add(name)
        work.extend(callees(scopes.routines[name], scopes))
    return seen


def _reach(start: Iterable[Var], adj: dict[Var, set[Var]], types: dict[Var, Symbol]) -> set[Var]:
    seen = {v for v in start if _differentiable(types.get(v))}
    work = deque(seen)
    while work:
        v = work.popleft()
        for w in adj.get(v, ()):
            if w not in seen and _differentiable(types.get(w)):
                seen.add(w)
                work.append(w)
    return seen


def activity(tu: Union[TranslationUnit, Scopes], heads: Sequence[Head],
             scopes: Optional[Scopes] = None) -> Activity:
    """heads: (routine, dependents, independents); names are formals, the
    function result, or any variable visible in the head.  Empty or None
    lists default to the real formals the head reads before writing
    (independents) and those it may write plus the result (dependents)."""
    sc = scopes or (tu if isinstance(tu, Scopes) else Scopes(tu))
    for h in heads:
        if h[0] not in sc.routines:
            raise bad_input(f"unknown head routine '{h[0]}'")
    summ = summaries(sc)
    tree = call_tree(sc, [h[0] for h in heads])
    g = _Graph()
    types: dict[Var, Symbol] = {}
    b = _Builder(sc, summ, g, types)
    for name in tree:
        r = sc.routines[name]
        for a in r.args + ([r.result] if r.result else []):
            b.formal(r, a)
        for s in walk_stmts(r.body):
            b.stmt(s, r)
    indep: set[Var] = set()
    dep: set[Var] = set()
    resolved: list[tuple[str, list[str], list[str]]] = []
    for head, deps, indeps in heads:
        r = sc.routines[head]
        s = summ[head]

        def real_formal(a: str) -> bool:
            return a in r.symbols and records.differentiable(r.symbols[a].type)
        if not indeps:
            # intent(out) values on entry are undefined, whatever `use` says
            # about element-wise writes.
            indeps = [a for a in r.args if real_formal(a) and Var(head, a) in s.use
                      and r.symbols[a].intent != "out"]
        if not deps:
            deps = [a for a in r.args if real_formal(a) and Var(head, a) in s.writes]
            if r.result and real_formal(r.result):
                deps.append(r.result)
        for n in list(deps) + list(indeps):
            if sc.lookup(r, n) is None:
                raise bad_input(f"'{n}' is not a variable of head routine '{head}'", r.span)
        dep |= {b.var(r, n) or Var(head, n) for n in deps}
        indep |= {b.var(r, n) or Var(head, n) for n in indeps}
        resolved.append((head, list(deps), list(indeps)))
    varied = _reach(indep, g.succ, types)
    useful = _reach(dep, g.pred, types)
    # The head's signature follows the head spec, never this analysis
    # (interface.md): a named dependent or independent keeps its derivative
    # argument even when no derivative connects it to the others.
    active = (varied & useful) | {v for v in dep | indep if _differentiable(types.get(v))}
    _overwritten_formals(sc, summ, tree, b, active)
    return Activity(sc, summ, tree, varied, useful, active, resolved, types)


def _overwritten_formals(sc: Scopes, summ: Summaries, tree: set[str], b: "_Builder",
                         active: set[Var]) -> None:
    """A callee that may overwrite an active actual kills its derivative, even
    if nothing active flows into the new value: such formals are active too,
    so the callee is differentiated and its adjoint resets the derivative
    exactly when (and where) the primal overwrote the value."""
    from ..ir.nodes import CallStmt as _CallStmt
    from ..ir.visit import calls_in, stmt_exprs
    changed = True
    while changed:
        changed = False
        for name in sorted(tree):
            r = sc.routines[name]
            for st in walk_stmts(r.body):
                sites = [(st.name, st.args)] if isinstance(st, _CallStmt) else []
                for e in stmt_exprs(st):
                    sites.extend((c.name, c.args) for c in calls_in(e) if not c.intrinsic)
                for callee_name, args in sites:
                    callee = sc.callee(r, callee_name)
                    cs = summ.get(callee.name) if callee is not None else None
                    if cs is None:
                        continue
                    for k, a in enumerate(args[:len(callee.args)]):
                        if not isinstance(a, Ref):
                            continue
                        v = b.var(r, a.name)
                        f = b.formal(callee, callee.args[k])
                        sym = callee.symbols.get(callee.args[k])
                        if v in active and f in cs.writes and f not in active \
                                and sym is not None and records.differentiable(sym.type):
                            active.add(f)
                            changed = True
