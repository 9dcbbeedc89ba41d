"""Dead statements in the forward sweep of a joint adjoint (f_b).

f_b runs the routine again only to record what its backward sweep needs.
A statement of that sweep whose results nothing reads afterwards (neither
the rest of the sweep nor the backward sweep) is work thrown away: in a time
step checkpointed as a whole, the flux computation and the state update at
the end of the step are re-run for nothing, since the adjoint of the update
needs neither.  Tapenade calls this adjoint liveness.

Who could still look at a dropped result?
- The routine's own backward sweep: the liveness below accounts for it,
  including what the adjoint calls it makes read (their routines' upward
  exposed reads).
- The caller of an inner f_b: never.  Whatever the caller's backward sweep
  reads after the call and the call overwrote, the caller recorded before
  the call and pops after it; it does not take values from f_b.
- The user, after calling a head's f_b: primal outputs are part of what a
  head's adjoint returns, so a head keeps every write to its arguments and
  to global state.  SAVE'd locals outlive the call in every routine: kept.

Candidates are assignments and plain calls of primal routines, at any depth
of loops and branches; pushes, calls of split forward routines and anything
unknown are kept and read whatever they mention (a split forward routine
also reads everything its primal reads, globals included).
"""
from __future__ import annotations

import copy
import re
from ..ir.clone import clone
from typing import Optional

from ..analysis.readwrite import Summaries
from ..analysis.scope import Scopes, Var
from ..ir.build import integer, trip_count
from ..ir.nodes import (Assign, Bin, Call, CallStmt, Case, Cycle, Exit, Expr, Goto, If, Lit, Loop, Raw, Ref,
                        Return, Routine, Select, Stmt, TranslationUnit, While)
from ..ir.visit import calls_in, stmt_exprs, walk_expr, walk_stmts
from ..ir.records import all_subs


class _Names:
    """Names of routine r as Vars, and callee effects mapped to them."""

    def __init__(self, tu: TranslationUnit, r: Routine, scopes: Scopes, summ: Summaries,
                 adjoint_use: Optional[dict] = None):
        self.tu, self.r, self.scopes, self.summ = tu, r, scopes, summ
        # routine -> Vars its f_b reads before writing (snapshots.adjoint_use)
        self.adjoint_use = adjoint_use or {}

    def var(self, name: str) -> Var:
        return self.scopes.var(self.r.name, name)

    def refs(self, e: Expr) -> set[Var]:
        return {self.var(x.name) for x in walk_expr(e) if isinstance(x, Ref)}

    def summary(self, name: str):
        if self.tu.routine(name) is None:
            return None
        return self.summ.get(name)

    def call_effects(self, name: str, args: list[Expr], which: str) -> Optional[set[Var]]:
        """Vars a call of `name` reads ('use') or writes ('writes'), in the
        caller's terms; None when the routine is unknown."""
        s = self.summary(name)
        if s is None:
            return None
        callee = self.tu.routine(name)
        out: set[Var] = set()
        if which == "adjoint_use":
            # what a joint adjoint call f_b reads: f_b's own upward-exposed
            # reads when known, else what the primal reads
            which = "use"
            vs = self.adjoint_use.get(name, s.use)
        else:
            vs = getattr(s, which)
        for v in vs:
            if v.scope == callee.name:
                if v.name in callee.args:
                    k = callee.args.index(v.name)
                    if k < len(args):
                        a = args[k]
                        if which == "writes":
                            if isinstance(a, Ref):
                                out.add(self.var(a.name))
                        else:
                            out |= self.refs(a)
                continue
            out.add(v)
        if which == "use":
            # the actuals' subscripts are evaluated by any call
            for a in args:
                if isinstance(a, Ref):
                    for x in all_subs(a):
                        out |= _sub_refs(self, x)
        return out


def _all_refs(names: _Names, s: Stmt) -> set[Var]:
    out: set[Var] = set()
    for x in walk_stmts([s]):
        for e in stmt_exprs(x):
            out |= names.refs(e)
        if isinstance(x, Assign):
            out.add(names.var(x.lhs.name))
        var = getattr(x, "var", None)
        if isinstance(var, str):
            out.add(names.var(var))
    return out


def _sub_refs(names: _Names, x) -> set[Var]:
    parts = [x.lo, x.hi, x.step] if hasattr(x, "lo") else [x]
    out: set[Var] = set()
    for p in parts:
        if p is not None:
            out |= names.refs(p)
    return out


def drop_dead_forward(tu: TranslationUnit, r: Routine, scopes: Scopes, summ: Summaries,
                      fwd: list[Stmt], bwd: list[Stmt], keep_outputs: bool,
                      adjoint_use: Optional[dict] = None) -> list[Stmt]:
    """fwd without the statements whose results nobody reads."""
    names = _Names(tu, r, scopes, summ, adjoint_use)
    if any(isinstance(x, (Raw, Goto, Return)) for x in walk_stmts(fwd + bwd)):
        return fwd
    # what the backward sweep reads before writing it (nothing dropped there)
    live = _Sweep(names, lambda v: True).block(bwd, set())[1]

    def observable(v: Var) -> bool:
        if v.scope != r.name:
            return keep_outputs              # global state
        hit = scopes.lookup(r.name, v.name)
        if hit is None:
            return False                     # a generated temporary
        sym = hit[0]
        if sym.save or sym.init is not None:
            return True
        return keep_outputs and sym.storage in ("arg", "result")

    return _Sweep(names, observable).block(fwd, live)[0]


def upward_exposed(tu: TranslationUnit, r: Routine, scopes: Scopes, summ: Summaries,
                   body: list[Stmt], adjoint_use: Optional[dict] = None) -> Optional[set[Var]]:
    """Vars a generated body (of r's variant) may read before writing them,
    as names of r; None when the body has jumps this analysis does not
    follow."""
    if any(isinstance(x, (Goto, Return)) for x in walk_stmts(body)):
        return None
    names = _Names(tu, r, scopes, summ, adjoint_use)
    live = _Sweep(names, lambda v: True).block(body, set())[1]
    # Raw text (allocate(t, source=e) of a temporary): read every name of
    # r it mentions, kill nothing (the sweep above passed it by unchanged)
    for x in walk_stmts(body):
        if isinstance(x, Raw):
            live |= {names.var(t) for t in re.findall(r"[A-Za-z_]\w*", x.text)
                     if scopes.lookup(r.name, t) is not None}
    return live


class _Sweep:
    """Backward liveness over the structured forward sweep, dropping dead
    candidates on the way.  Loops iterate to a fixpoint (a value read in
    the next trip is live at the end of this one); a loop with EXIT or
    CYCLE inside is kept whole."""

    def __init__(self, names: _Names, observable):
        self.names = names
        self.observable = observable

    def block(self, stmts: list[Stmt], live: set[Var]) -> tuple[list[Stmt], set[Var]]:
        out: list[Stmt] = []
        live = set(live)
        for s in reversed(stmts):
            kept, live = self.stmt(s, live)
            if kept is not None:
                out.append(kept)
        out.reverse()
        return out, live

    def stmt(self, s: Stmt, live: set[Var]) -> tuple[Optional[Stmt], set[Var]]:
        names = self.names
        if isinstance(s, CallStmt) and s.name.startswith("ad_pop") and s.args \
                and isinstance(s.args[0], Ref):
            a = s.args[0]
            if a.subs is None and a.path is None:
                live = live - {names.var(a.name)}
            return s, live | {v for x in all_subs(a) for v in _sub_refs(names, x)}
        fwd_of = getattr(s, "fwd_of", None)
        if isinstance(s, CallStmt) and fwd_of is not None:
            # f_fwd runs f and pushes what f_bwd will read (globals too): it
            # reads whatever f reads, not only the names its actuals mention
            used = names.call_effects(fwd_of[0], fwd_of[1], "use")
            return s, live | _all_refs(names, s) | (used or set())
        primal = getattr(s, "primal_call", None)
        if isinstance(s, CallStmt) and primal is not None:
            # an adjoint call reads what the primal call would read first
            # (a joint one f_b: what f_b itself reads first, when known)
            used = names.call_effects(primal[0], primal[1],
                                      "adjoint_use" if s.name == primal[0] + "_b" else "use")
            # ... and the adjoints it is given, which it accumulates into (an
            # allocatable's adjoint is zeroed in this sweep, where it is made)
            adjoints = {names.var(a.name) for a in s.args
                        if isinstance(a, Ref) and a.name not in names.r.symbols}
            return s, live | adjoints | (used if used is not None else _all_refs(names, s))
        writes = _writes(names, s)
        if writes is not None:
            if not (writes & live) and not any(self.observable(v) for v in writes):
                return None, live
            if isinstance(s, Assign) and s.lhs.subs is None and s.lhs.path is None:
                live = live - {names.var(s.lhs.name)}     # written whole
            return s, live | _reads(names, s)
        if isinstance(s, If):
            branches = []
            out = set(live) if s.else_ is None else set()
            conds: set[Var] = set()
            for c, b in s.branches:
                nb, lin = self.block(b, live)
                branches.append((c, nb))
                out |= lin
                conds |= names.refs(c)
            else_ = None
            if s.else_ is not None:
                else_, lin = self.block(s.else_, live)
                out |= lin
                else_ = else_ or None
            if not any(b for _, b in branches) and not else_:
                return None, live
            n = copy.copy(s)
            n.branches, n.else_ = branches, else_
            return n, out | conds
        if isinstance(s, Select):
            out = set(live) if s.default is None else set()
            cases = []
            for c in s.cases:
                nb, lin = self.block(c.body, live)
                cases.append(Case(c.values, nb))
                out |= lin
                for v in c.values:
                    out |= _sub_refs(names, v)
            default = None
            if s.default is not None:
                default, lin = self.block(s.default, live)
                out |= lin
            if not any(c.body for c in cases) and not default:
                return None, live
            n = copy.copy(s)
            n.cases, n.default = cases, default
            return n, out | names.refs(s.expr)
        if isinstance(s, (Loop, While)) and not any(isinstance(x, (Exit, Cycle))
                                                    for x in walk_stmts(s.body)):
            head: set[Var] = set()
            for e in ([s.lo, s.hi, s.step] if isinstance(s, Loop) else [s.cond]):
                if e is not None:
                    head |= names.refs(e)
            end = set(live) | (head if isinstance(s, While) else set())
            while True:
                body, lin = self.block(s.body, end)
                grown = end | lin
                if grown == end:
                    break
                end = grown
            n = copy.copy(s)
            n.body = body
            if isinstance(s, Loop):
                index = names.var(s.var)
                if not body:
                    if index not in live:
                        return None, live
                    return _final_index(s), (live - {index}) | head
                return n, (end - {index}) | head
            return n, end | head
        return s, live | _all_refs(names, s)


def _final_index(s: Loop) -> Assign:
    """What an emptied counted loop still does: leave its index one step
    past the last trip (lo + trips * step), as Fortran and C both do."""
    lo, hi = clone(s.lo), clone(s.hi)
    if s.step is None or (isinstance(s.step, Lit) and s.step.text == "1"):
        value: Expr = Call("max", [lo, Bin("+", hi, integer(1))], intrinsic=True)
    else:
        value = Bin("+", lo, Bin("*", trip_count(lo, hi, s.step), clone(s.step)))
    return Assign(Ref(s.var), value, span=s.span)


def _user_calls(e: Expr) -> list[Call]:
    return [c for c in calls_in(e) if not c.intrinsic]


def _writes(names: _Names, s: Stmt) -> Optional[set[Var]]:
    """What a candidate statement writes; None for non-candidates."""
    if isinstance(s, Assign):
        out = {names.var(s.lhs.name)}
        for c in _user_calls(s.rhs):
            w = names.call_effects(c.name, c.args, "writes")
            if w is None:
                return None
            out |= w
        return out
    if isinstance(s, CallStmt) and not s.name.startswith("ad_"):
        return names.call_effects(s.name, s.args, "writes")
    return None


def _reads(names: _Names, s: Stmt) -> set[Var]:
    out: set[Var] = set()
    if isinstance(s, Assign):
        out |= names.refs(s.rhs)
        for x in all_subs(s.lhs):
            out |= _sub_refs(names, x)
        if s.lhs.subs is not None or s.lhs.path is not None:
            out.add(names.var(s.lhs.name))   # a partial write keeps the rest
        for c in _user_calls(s.rhs):
            out |= names.call_effects(c.name, c.args, "use") or set()
        return out
    assert isinstance(s, CallStmt)
    out |= names.call_effects(s.name, s.args, "use") or set()
    for a in s.args:
        out |= names.refs(a)               # conservative: every actual
    return out
