"""Read, write and upward-exposed-read sets, per statement, block and routine.

Checkpointing needs `use(C) ∩ (out(C) ∪ out(D))` for a call or region C:
what C may read before writing it, and what may be overwritten before C is
re-run.  Both must be over-approximations (a missing variable is a wrong
gradient), while the must-write ("kill") facts that shrink `use` must be
under-approximations.  Facts are expressed over `Var`s so that storage seen
under different names in different routines is one fact.

Routine summaries hold only what a caller can observe: formal arguments, the
function result, module/COMMON/C globals, host variables of internal
procedures, and saved locals of the routine or its callees (state that
survives the call).  At a call site the callee's formals are mapped to the
actual arguments; everything else passes through unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

import networkx as nx

from ..ir.nodes import (Allocate, Assign, Call, CallStmt, Deallocate, Expr,
                        Goto, If, ImpliedDo, Loop, Print, Read, Ref, Return, Routine,
                        Select, Stmt, Stop, TranslationUnit, While,
                        Cycle, Exit)
from ..ir.visit import stmt_exprs, sub_exprs, walk_stmts
from .scope import RoutineLike, Scopes, Var

VarSet = frozenset[Var]


@dataclass(frozen=True)
class RoutineSummary:
    """reads/writes: may be read/written by a call.  use: may be read before
    being written (upward exposed) on some path.  kills: written as a whole
    on every path that returns, so a caller may stop tracking them."""
    reads: VarSet = frozenset()
    writes: VarSet = frozenset()
    use: VarSet = frozenset()
    kills: VarSet = frozenset()


Summaries = dict[str, RoutineSummary]


@dataclass
class Effects:
    """What one evaluation step does.  `upward` are the reads that happen
    before the step's own kills (callee `use` for calls, every read for
    plain expressions)."""
    reads: set[Var] = field(default_factory=set)
    writes: set[Var] = field(default_factory=set)
    upward: set[Var] = field(default_factory=set)
    kills: set[Var] = field(default_factory=set)

    def read(self, v: Var) -> None:
        self.reads.add(v)
        self.upward.add(v)

    def merge(self, o: "Effects") -> None:
        self.reads |= o.reads
        self.writes |= o.writes
        self.upward |= o.upward
        self.kills |= o.kills


class _Ctx:
    def __init__(self, routine: Routine, scopes: Scopes, summ: Summaries):
        self.r = routine
        self.scopes = scopes
        self.summ = summ

    def var(self, name: str) -> Optional[Var]:
        if not self.scopes.is_data(self.r, name):
            return None
        return self.scopes.var(self.r, name)


# ------------------------------------------------------------------ expressions

def _expr(e: Expr, ctx: _Ctx, eff: Effects, bound: frozenset[str] = frozenset()) -> None:
    if isinstance(e, Ref):
        if e.name not in bound:
            v = ctx.var(e.name)
            if v is not None:
                eff.read(v)
        for s in sub_exprs(e):
            _expr(s, ctx, eff, bound)
        return
    if isinstance(e, Call) and not e.intrinsic:
        _call(e.name, list(e.args) + [v for _, v in e.kwargs], ctx, eff, bound)
        return
    if isinstance(e, ImpliedDo):
        for x in (e.lo, e.hi, e.step):
            if x is not None:
                _expr(x, ctx, eff, bound)
        for x in e.items:
            _expr(x, ctx, eff, bound | {e.var})
        return
    for c in sub_exprs(e):
        _expr(c, ctx, eff, bound)


def _subs(ref: Ref, ctx: _Ctx, eff: Effects, bound: frozenset[str] = frozenset()) -> None:
    for s in sub_exprs(ref):
        _expr(s, ctx, eff, bound)


def _call(name: str, args: list[Expr], ctx: _Ctx, eff: Effects,
          bound: frozenset[str] = frozenset()) -> None:
    callee = ctx.scopes.callee(ctx.r, name)
    summ = ctx.summ.get(callee.name) if callee is not None else None
    if callee is None or summ is None:
        # Unknown code: any variable actual may be read and written.
        for a in args:
            if isinstance(a, Ref) and a.name not in bound and ctx.var(a.name) is not None:
                v = ctx.var(a.name)
                eff.read(v)
                eff.writes.add(v)
                _subs(a, ctx, eff, bound)
            else:
                _expr(a, ctx, eff, bound)
        return
    for k, a in enumerate(args):
        v = ctx.var(a.name) if isinstance(a, Ref) and a.name not in bound else None
        if v is None or k >= len(callee.args):
            _expr(a, ctx, eff, bound)
            continue
        _subs(a, ctx, eff, bound)
        f = Var(callee.name, callee.args[k])
        fsym = callee.symbols.get(callee.args[k])
        if f in summ.reads:
            eff.reads.add(v)
        if f in summ.use:
            eff.upward.add(v)
        if fsym is not None and fsym.by_value:
            continue            # C scalar: the callee writes its own copy
        if f in summ.writes:
            eff.writes.add(v)
        if f in summ.kills and a.subs is None and a.path is None:
            eff.kills.add(v)
    passthrough = ctx.scopes.persistent

    def outer(vs: VarSet) -> set[Var]:
        return {v for v in vs if v.scope != callee.name or v in passthrough}
    eff.reads |= outer(summ.reads)
    eff.writes |= outer(summ.writes)
    eff.upward |= outer(summ.use)
    eff.kills |= outer(summ.kills)


def _io_vars(e: Expr, ctx: _Ctx, eff: Effects) -> None:
    """An I/O implied-DO assigns its variable (unlike an array constructor's)."""
    if isinstance(e, ImpliedDo):
        v = ctx.var(e.var)
        if v is not None:
            eff.writes.add(v)
        for x in e.items:
            _io_vars(x, ctx, eff)


def _read_target(e: Expr, ctx: _Ctx, eff: Effects) -> None:
    """A READ item is written (its subscripts and an implied-DO's bounds
    read); a whole variable read in is killed, like an assigned one."""
    if isinstance(e, ImpliedDo):
        for b in (e.lo, e.hi, e.step):
            if b is not None:
                _expr(b, ctx, eff)
        v = ctx.var(e.var)
        if v is not None:
            eff.writes.add(v)
        for x in e.items:
            _read_target(x, ctx, eff)
    elif isinstance(e, Ref):
        _subs(e, ctx, eff)
        v = ctx.var(e.name)
        if v is not None:
            eff.writes.add(v)
            if e.subs is None and not e.path:
                eff.kills.add(v)


# ------------------------------------------------------------------ statements

def _expr_effects(exprs: list[Expr], ctx: _Ctx) -> Effects:
    eff = Effects()
    for e in exprs:
        _expr(e, ctx, eff)
    return eff


def _stmt_effects(s: Stmt, ctx: _Ctx) -> Effects:
    """Effects of s alone, nested statements excluded."""
    eff = Effects()
    if isinstance(s, Assign):
        _expr(s.rhs, ctx, eff)
        _subs(s.lhs, ctx, eff)
        v = ctx.var(s.lhs.name)
        if v is not None:
            eff.writes.add(v)
            if s.lhs.subs is None and s.lhs.path is None:
                eff.kills.add(v)
    elif isinstance(s, CallStmt):
        _call(s.name, s.args, ctx, eff)
    elif isinstance(s, Loop):
        for x in (s.lo, s.hi, s.step):
            if x is not None:
                _expr(x, ctx, eff)
        v = ctx.var(s.var)
        if v is not None:
            eff.writes.add(v)
            eff.kills.add(v)
    elif isinstance(s, Return):
        if s.value is not None:
            _expr(s.value, ctx, eff)
            if ctx.r.result:
                v = ctx.scopes.var(ctx.r, ctx.r.result)
                eff.writes.add(v)
                eff.kills.add(v)
    elif isinstance(s, Print):
        stored = s.stored()
        for x in stored:
            _read_target(x, ctx, eff)
        for x in s.items:
            if isinstance(s, Read):
                _read_target(x, ctx, eff)
            else:
                _expr(x, ctx, eff)
                _io_vars(x, ctx, eff)
        for x in ([s.unit] if s.unit is not None else []) + [v for _, v in s.specs]:
            if not any(x is y for y in stored):
                _expr(x, ctx, eff)
    elif isinstance(s, Allocate):
        if s.source is not None:
            _expr(s.source, ctx, eff)
        for ref in s.items:
            _subs(ref, ctx, eff)
            v = ctx.var(ref.name)
            if v is not None:
                eff.writes.add(v)
    elif isinstance(s, Deallocate):
        for x in s.parts:
            _subs(x, ctx, eff)
        for n in list(s.names) + [x.name for x in s.parts]:
            v = ctx.var(n)
            if v is not None:
                eff.writes.add(v)
    else:
        # If/While/Select/Stop: only the expressions they own.
        for x in stmt_exprs(s):
            _expr(x, ctx, eff)
    return eff


# ------------------------------------------------------------------ control flow graph

class _Node:
    __slots__ = ("eff", "succ")

    def __init__(self, eff: Effects, succ: list[int]):
        self.eff = eff
        self.succ = succ


class _Cfg:
    """A control flow graph over structured IR plus GOTO/EXIT/CYCLE/RETURN/STOP.

    Node 0 is the exit (RETURN and falling off the end; also jumps leaving a
    region).  STOP has no successor: it never returns to a caller."""

    def __init__(self, stmts: list[Stmt], ctx: _Ctx):
        self.ctx = ctx
        self.nodes: list[_Node] = [_Node(Effects(), [])]
        self.labels: dict[int, int] = {}
        self.entry = self._block(stmts, 0, [])
        for lab, n in self.labels.items():
            if not self.nodes[n].succ:
                self.nodes[n].succ = [0]      # target outside the statements given

    def _new(self, eff: Optional[Effects], succ: list[int]) -> int:
        self.nodes.append(_Node(eff or Effects(), succ))
        return len(self.nodes) - 1

    def _label(self, lab: int) -> int:
        if lab not in self.labels:
            self.labels[lab] = self._new(None, [])
        return self.labels[lab]

    def _block(self, stmts: list[Stmt], nxt: int, loops: list) -> int:
        for s in reversed(stmts):
            entry = self._stmt(s, nxt, loops)
            if s.label is not None:
                ln = self._label(s.label)
                self.nodes[ln].succ = [entry]
                entry = ln
            nxt = entry
        return nxt

    def _loop_target(self, name: Optional[str], loops: list, which: int) -> int:
        for lname, brk, cont in reversed(loops):
            if name is None or lname == name:
                return brk if which == 0 else cont
        return 0

    def _stmt(self, s: Stmt, nxt: int, loops: list) -> int:
        ctx = self.ctx
        if isinstance(s, If):
            after = self._block(s.else_, nxt, loops) if s.else_ is not None else nxt
            for cond, body in reversed(s.branches):
                body_entry = self._block(body, nxt, loops)
                after = self._new(_expr_effects([cond], ctx), [body_entry, after])
            return after
        if isinstance(s, Loop):
            test = self._new(None, [])
            step = Effects()
            v = ctx.var(s.var)
            if v is not None:
                step.read(v)
                step.writes.add(v)
                step.kills.add(v)
            incr = self._new(step, [test])
            body = self._block(s.body, incr, loops + [(s.name, nxt, incr)])
            self.nodes[test].succ = [body, nxt]
            return self._new(_stmt_effects(s, ctx), [test])
        if isinstance(s, While):
            test = self._new(_expr_effects([s.cond], ctx), [])
            body = self._block(s.body, test, loops + [(s.name, nxt, test)])
            self.nodes[test].succ = [body, nxt]
            return body if s.post_test else test
        if isinstance(s, Select):
            eff = _stmt_effects(s, ctx)
            succ = [self._block(c.body, nxt, loops) for c in s.cases]
            succ.append(self._block(s.default, nxt, loops) if s.default is not None else nxt)
            return self._new(eff, succ)
        if isinstance(s, Goto):
            return self._new(None, [self._label(s.target)])
        if isinstance(s, Exit):
            return self._new(None, [self._loop_target(s.name, loops, 0)])
        if isinstance(s, Cycle):
            return self._new(None, [self._loop_target(s.name, loops, 1)])
        if isinstance(s, Return):
            return self._new(_stmt_effects(s, ctx), [0])
        if isinstance(s, Stop):
            return self._new(_stmt_effects(s, ctx), [])
        return self._new(_stmt_effects(s, ctx), [nxt])

    def solve(self) -> tuple[set[Var], set[Var], set[Var], set[Var]]:
        """(reads, writes, use, kills at exit) by a forward must-write pass."""
        n = len(self.nodes)
        preds: list[list[int]] = [[] for _ in range(n)]
        for i, nd in enumerate(self.nodes):
            for j in nd.succ:
                preds[j].append(i)
        must_in: list[Optional[set[Var]]] = [None] * n     # None: not reached yet (top)
        must_in[self.entry] = set()
        work = [self.entry]
        while work:
            i = work.pop()
            out = must_in[i] | self.nodes[i].eff.kills
            for j in self.nodes[i].succ:
                if j == self.entry:
                    continue        # the entry is entered with nothing written
                old = must_in[j]
                new = set(out) if old is None else old & out
                if old is None or new != old:
                    must_in[j] = new
                    work.append(j)
        reads: set[Var] = set()
        writes: set[Var] = set()
        use: set[Var] = set()
        for i, nd in enumerate(self.nodes):
            reads |= nd.eff.reads
            writes |= nd.eff.writes
            if must_in[i] is not None:
                use |= nd.eff.upward - must_in[i]
        # An empty list writes nothing; a list that never returns kills
        # nothing a caller could observe.
        kills = must_in[0] if must_in[0] is not None and self.entry != 0 else set()
        return reads, writes, use, kills


# ------------------------------------------------------------------ summaries

def callees(r: Routine, scopes: Scopes) -> set[str]:
    """Names of the routines r calls that the IR defines."""
    out: set[str] = set()
    for s in walk_stmts(r.body):
        if isinstance(s, CallStmt):
            c = scopes.callee(r, s.name)
            if c is not None:
                out.add(c.name)
        for e in stmt_exprs(s):
            stack = [e]
            while stack:
                x = stack.pop()
                if isinstance(x, Call) and not x.intrinsic:
                    c = scopes.callee(r, x.name)
                    if c is not None:
                        out.add(c.name)
                stack.extend(sub_exprs(x))
    return out


def _summarize(r: Routine, scopes: Scopes, summ: Summaries) -> RoutineSummary:
    reads, writes, use, kills = _Cfg(r.body, _Ctx(r, scopes, summ)).solve()

    def keep(vs: set[Var]) -> VarSet:
        return frozenset(v for v in vs if scopes.is_nonlocal(v, r))
    return RoutineSummary(keep(reads), keep(writes), keep(use), keep(kills))


def compute_summaries(scopes: Scopes) -> Summaries:
    """Bottom-up over the call graph's strongly connected components.

    Inside a recursive component, callers see the members' kills as empty
    (sound for a must-fact) while reads/writes/use grow to a fixpoint."""
    g = nx.DiGraph()
    for name, r in scopes.routines.items():
        g.add_node(name)
        for c in callees(r, scopes):
            g.add_edge(name, c)
    cond = nx.condensation(g)
    summ: Summaries = {}
    for comp in reversed(list(nx.topological_sort(cond))):
        members = sorted(cond.nodes[comp]["members"])
        recursive = len(members) > 1 or g.has_edge(members[0], members[0])
        if not recursive:
            summ[members[0]] = _summarize(scopes.routines[members[0]], scopes, summ)
            continue
        for m in members:
            summ[m] = RoutineSummary()
        own: dict[str, RoutineSummary] = {}
        changed = True
        while changed:
            changed = False
            for m in members:
                new = _summarize(scopes.routines[m], scopes, summ)
                own[m] = new
                seen = RoutineSummary(new.reads, new.writes, new.use, frozenset())
                if seen != summ[m]:
                    summ[m] = seen
                    changed = True
        summ.update(own)
    return summ


def _scopes_of(x: Union[TranslationUnit, Scopes]) -> Scopes:
    return x if isinstance(x, Scopes) else Scopes(x)


def summaries(tu: Union[TranslationUnit, Scopes], scopes: Optional[Scopes] = None) -> Summaries:
    """Summaries of every routine, keyed by routine name.  Memoised on the
    Scopes object: build a new Scopes after changing the IR."""
    sc = scopes or _scopes_of(tu)
    if "summaries" not in sc.cache:
        sc.cache["summaries"] = compute_summaries(sc)
    return sc.cache["summaries"]  # type: ignore[return-value]


def _ctx(routine: RoutineLike, scopes: Scopes, summ: Optional[Summaries]) -> _Ctx:
    return _Ctx(scopes.routine(routine), scopes, summ if summ is not None else summaries(scopes))


# ------------------------------------------------------------------ per statement / block

def stmt_effects(stmt: Stmt, routine: RoutineLike, scopes: Scopes,
                 summ: Optional[Summaries] = None) -> Effects:
    return _stmt_effects(stmt, _ctx(routine, scopes, summ))


def stmt_reads(stmt: Stmt, routine: RoutineLike, scopes: Scopes,
               summ: Optional[Summaries] = None) -> set[Var]:
    return stmt_effects(stmt, routine, scopes, summ).reads


def stmt_writes(stmt: Stmt, routine: RoutineLike, scopes: Scopes,
                summ: Optional[Summaries] = None) -> set[Var]:
    return stmt_effects(stmt, routine, scopes, summ).writes


def stmt_must_kill(stmt: Stmt, routine: RoutineLike, scopes: Scopes,
                   summ: Optional[Summaries] = None) -> set[Var]:
    """Variables the statement certainly overwrites as a whole (scalar or
    whole-array assignment, loop variable, or a callee's kills through a
    whole-variable actual)."""
    return stmt_effects(stmt, routine, scopes, summ).kills


def block_reads(stmts: list[Stmt], routine: RoutineLike, scopes: Scopes,
                summ: Optional[Summaries] = None) -> set[Var]:
    ctx = _ctx(routine, scopes, summ)
    out: set[Var] = set()
    for s in walk_stmts(stmts):
        out |= _stmt_effects(s, ctx).reads
    return out


def block_writes(stmts: list[Stmt], routine: RoutineLike, scopes: Scopes,
                 summ: Optional[Summaries] = None) -> set[Var]:
    ctx = _ctx(routine, scopes, summ)
    out: set[Var] = set()
    for s in walk_stmts(stmts):
        out |= _stmt_effects(s, ctx).writes
    return out


def block_summary(stmts: list[Stmt], routine: RoutineLike, scopes: Scopes,
                  summ: Optional[Summaries] = None) -> RoutineSummary:
    """Flow-sensitive facts of a statement list run as a unit (a checkpointed
    region or a single call): all Vars, locals of `routine` included.  Jumps
    out of the list count as leaving it."""
    reads, writes, use, kills = _Cfg(stmts, _ctx(routine, scopes, summ)).solve()
    return RoutineSummary(frozenset(reads), frozenset(writes), frozenset(use), frozenset(kills))


def block_use(stmts: list[Stmt], routine: RoutineLike, scopes: Scopes,
              summ: Optional[Summaries] = None) -> set[Var]:
    return set(block_summary(stmts, routine, scopes, summ).use)


def snapshot(c: list[Stmt], d: list[Stmt], routine: RoutineLike, scopes: Scopes,
             summ: Optional[Summaries] = None) -> set[Var]:
    """use(C) ∩ (out(C) ∪ out(D)): what must be saved before C so that C can
    be re-run after C and D have executed."""
    uc = block_use(c, routine, scopes, summ)
    return uc & (block_writes(c, routine, scopes, summ) | block_writes(d, routine, scopes, summ))
