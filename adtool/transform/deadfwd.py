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

Elements.  `pop u(i); call flux_b(u(i), ...)` reads the popped value, not
what u held at the end of the forward sweep: liveness tracks an element read
(`u(i)`, scalar subscripts, for a scalar formal) apart from its array, and
a pop into that very reference kills it.  Without that, u is live at the
end of the forward sweep and its last update (`u = unew`, and all that
feeds it) is kept only for values that the pops then replace.  An element
stands for the value of its subscripts where it is read: any statement that
may change one of them (or anything unknown, or a loop boundary) turns it
back into its whole array.

Element per trip.  In `do i: push x(i); x(i) = x(i) * x(i)` the push of
the next trip reads x at the next i, which this trip's update does not
write when every write of x in the body is at the one key x(.., i, ..)
(_fresh_keys): a later trip's read of that key is not a reason to keep
this trip's write (_Next), so the update is as dead as its results.

Idle pairs.  Once dead statements are gone, a variable may be left with
pushes and pops but no write between them: nothing after its first push in
the forward sweep, and nothing but those pops in the backward sweep, writes
it.  Then every pop puts back the value already there (pops restore what
their push saved, same reference): the pushes and pops go, and liveness
runs again (the backward sweep's reads now reach the forward sweep).
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from ..ir.clone import clone
from typing import Optional

from ..analysis.readwrite import Summaries
from ..analysis.scope import Scopes, Var
from ..ir.build import integer, trip_count
from ..ir.nodes import (Allocate, Assign, Bin, Call, CallStmt, Case, Cycle, Deallocate, Exit, Expr, Goto, If,
                        ImpliedDo, Lit, Loop, Print, Raw, Ref, Return, Routine, Section, Select, Stmt, Stop, Continue,
                        TranslationUnit, While)
from ..ir.visit import calls_in, stmt_exprs, structural_key, walk_expr, walk_stmts
from ..ir.records import all_subs
from .elements import all_elements, element_key, int_value, same_bound


@dataclass(frozen=True)
class _Elem:
    """One element of an array read where its subscripts hold their current
    values (`u(i)`, key: the subscripts' structure); deps: the variables
    those subscripts read."""
    var: Var
    key: tuple
    deps: frozenset


@dataclass(frozen=True)
class _Next:
    """At the end of a trip of loop `loop`: the next trips read array var
    at key, the element subscripted by the loop's index, which no write of
    this trip (all of them at that key) reaches (see _fresh_keys)."""
    var: Var
    key: tuple
    loop: int


def _vars(live: set) -> set[Var]:
    """The variables live, whole or through an element."""
    return {x.var if isinstance(x, (_Elem, _Next)) else x for x in live}


def _live_write(live: set, writes: set[Var], s: Stmt, names: "_Names") -> bool:
    """Does a candidate's write reach a read?  A later trip's read of the
    element its own trip writes (_Next) does not."""
    hit = writes & {x.var if isinstance(x, _Elem) else x for x in live if not isinstance(x, _Next)}
    if hit:
        return True
    nxt = [x for x in live if isinstance(x, _Next) and x.var in writes]
    if not nxt:
        return False
    if not isinstance(s, Assign) or _user_calls(s.rhs):
        return True
    el = names.elem(s.lhs)
    return el is None or any(x.var != el.var or x.key != el.key for x in nxt)


def _widen(live: set, written: Optional[set[Var]]) -> set:
    """Elements whose subscripts a statement may change (written None: any)
    stand for their whole array from there on."""
    if not any(isinstance(x, _Elem) for x in live):
        return live
    out = set()
    for x in live:
        if isinstance(x, _Elem) and (written is None or x.deps & written):
            out.add(x.var)
        else:
            out.add(x)
    return out


def _kill_whole(live: set, v: Var) -> set:
    return {x for x in live if x != v and not (isinstance(x, _Elem) and x.var == v)}


class _Names:
    """Names of routine r as Vars, and callee effects mapped to them."""

    def __init__(self, tu: TranslationUnit, r: Routine, scopes: Scopes, summ: Summaries,
                 adjoint_use: Optional[dict] = None):
        self.tu, self.r, self.scopes, self.summ = tu, r, scopes, summ
        # routine -> Vars its f_b reads before writing (snapshots.adjoint_use)
        self.adjoint_use = adjoint_use or {}
        # Loops are swept to a fixpoint, nested loops once per trip of every
        # enclosing fixpoint: what a node reads or writes is asked many times
        # and depends on the node alone (the facts above do not change while
        # this object lives).  (kind, id) -> (node, frozenset); the node is
        # kept so that its id cannot be reused by another.
        self._memo: dict = {}

    def memo(self, kind: str, node, fn):
        hit = self._memo.get((kind, id(node)))
        if hit is not None and hit[0] is node:
            return hit[1]
        value = fn()
        if isinstance(value, set):
            value = frozenset(value)
        self._memo[(kind, id(node))] = (node, value)
        return value

    def var(self, name: str) -> Var:
        return self.scopes.var(self.r.name, name)

    def refs(self, e: Expr) -> frozenset[Var]:
        return self.memo("refs", e, lambda: {self.var(x.name) for x in walk_expr(e) if isinstance(x, Ref)})

    def elem(self, x: Ref) -> Optional[_Elem]:
        return self.memo("elem", x, lambda: self._elem(x))

    def _elem(self, x: Ref) -> Optional[_Elem]:
        """x as an element read (scalar subscripts, no component, no user
        function in them); None for anything else."""
        if not x.subs or x.path is not None or x.substring is not None:
            return None
        if any(isinstance(s, Section) for s in x.subs):
            return None
        deps: set[Var] = set()
        for s in x.subs:
            for y in walk_expr(s):
                if isinstance(y, (Call, ImpliedDo)) and not getattr(y, "intrinsic", False):
                    return None
                if isinstance(y, Ref):
                    deps.add(self.var(y.name))
        sym = self.scopes.symbol(self.r.name, x.name)
        if sym is None or sym.rank != len(x.subs) or sym.pointer:
            return None
        return _Elem(self.var(x.name), structural_key(x.subs), frozenset(deps))

    def reads(self, e: Expr) -> frozenset:
        """What evaluating e reads: element reads as elements (inside an
        implied do, whose index is its own, everything whole)."""
        return self.memo("reads", e, lambda: self._reads(e))

    def _reads(self, e: Expr) -> set:
        if any(isinstance(x, ImpliedDo) for x in walk_expr(e)):
            return set(self.refs(e))
        out: set = set()
        for x in walk_expr(e):
            if isinstance(x, Ref):
                el = self.elem(x)
                out.add(el if el is not None else self.var(x.name))
        return out

    def summary(self, name: str):
        if self.tu.routine(name) is None:
            return None
        return self.summ.get(name)

    def call_effects(self, name: str, args: list[Expr], which: str,
                     elements: bool = False) -> Optional[set]:
        """Vars a call of `name` reads ('use') or writes ('writes'), in the
        caller's terms; None when the routine is unknown.  elements: an
        element given for a scalar formal is read as an element."""
        s = self.summary(name)
        if s is None:
            return None
        callee = self.tu.routine(name)
        out: set = set()
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
                            formal = callee.symbols.get(v.name)
                            scalar = formal is not None and formal.rank == 0 and not formal.pointer
                            out |= self.reads(a) if elements and scalar else self.refs(a)
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
                      adjoint_use: Optional[dict] = None,
                      aliases: frozenset = frozenset()) -> tuple[list[Stmt], list[Stmt]]:
    """(fwd, bwd) without the statements whose results nobody reads, and
    without the pushes and pops left with nothing to restore.  adjoint_use:
    what each routine's f_b reads first (snapshots.adjoint_use).  aliases:
    generated names under which the routine sees a global (module or
    COMMON variable) its own scope cannot name; they are never unpaired.
    The lists given are not changed."""
    names = _Names(tu, r, scopes, summ, adjoint_use)
    if any(isinstance(x, (Raw, Goto, Return)) for x in walk_stmts(fwd + bwd)):
        return fwd, bwd

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

    for _ in range(8):
        # what the backward sweep reads before writing it (nothing dropped there)
        live = _Sweep(names, lambda v: True).block(bwd, set())[1]
        fwd = _Sweep(names, observable).block(fwd, live)[0]
        idle = _idle_pairs(names, fwd, bwd, aliases)
        if not idle:
            break
        fwd, bwd = _without_pairs(names, fwd, idle), _without_pairs(names, bwd, idle)
    return fwd, bwd


def _is_push(s: Stmt) -> bool:
    return isinstance(s, CallStmt) and s.name.startswith("ad_push") and bool(s.args) \
        and isinstance(s.args[0], Ref)


def _is_pop(s: Stmt) -> bool:
    return isinstance(s, CallStmt) and s.name.startswith("ad_pop") and bool(s.args) \
        and isinstance(s.args[0], Ref)


def _assign_writes(names: _Names, s: Assign) -> Optional[set[Var]]:
    """An assignment writes its target and what its user functions write."""
    out = {names.var(s.lhs.name)}
    for c in _user_calls(s.rhs):
        w = names.call_effects(c.name, c.args, "writes")
        if w is None:
            return None
        out |= w
    return out


def _may_write(names: _Names, s: Stmt) -> Optional[set[Var]]:
    """What one statement (not its nested ones) may write; None: anything."""
    if isinstance(s, Assign):
        return _assign_writes(names, s)
    if isinstance(s, CallStmt):
        if s.name.startswith(("ad_push", "ad_prof")):
            return set()
        if _is_pop(s):
            return {names.var(s.args[0].name)}
        primal = getattr(s, "primal_call", None) or getattr(s, "fwd_of", None)
        if primal is None:
            primal = (s.name, s.args) if not s.name.startswith("ad_") else None
        if primal is None:
            return None
        w = names.call_effects(primal[0], primal[1], "writes")
        if w is None:
            return None
        if s.name == primal[0] + "_bwd":
            # f_bwd puts back what f_fwd left (its exit snapshot): whatever
            # it is given, and globals its primal reads
            used = names.call_effects(primal[0], primal[1], "use") or set()
            return w | used | {names.var(a.name) for a in s.args if isinstance(a, Ref)}
        if getattr(s, "fwd_of", None) is not None:
            # f_fwd: the primal's writes, and a function's result, given last
            return w | {names.var(a.name) for a in s.args if isinstance(a, Ref)}
        if s.name != primal[0]:
            # f_b re-runs the primal (its writes) and adds to the adjoints
            w = w | {names.var(a.name) for a in s.args
                     if isinstance(a, Ref) and a.name not in names.r.symbols}
        return w
    if isinstance(s, Loop):
        return {names.var(s.var)}
    if isinstance(s, (If, Select, While, Exit, Cycle, Print, Stop, Continue)):
        return set()
    if isinstance(s, Allocate):
        return {names.var(i.name) for i in s.items}
    if isinstance(s, Deallocate):
        return {names.var(n) for n in s.names}
    return None


def _idle_pairs(names: _Names, fwd: list[Stmt], bwd: list[Stmt], aliases) -> set[Var]:
    """Variables pushed and popped (same number of push and pop statements)
    that nothing writes from their first push in the forward sweep on, nor
    anything but their pops in the backward sweep."""
    pushed: dict[Var, int] = {}
    popped: dict[Var, int] = {}
    for s in walk_stmts(fwd + bwd):
        if _is_push(s):
            v = names.var(s.args[0].name)
            pushed[v] = pushed.get(v, 0) + 1
        elif _is_pop(s):
            v = names.var(s.args[0].name)
            popped[v] = popped.get(v, 0) + 1
    cands = {v for v, n in pushed.items() if popped.get(v) == n and v.name not in aliases}
    if not cands:
        return set()
    # from the first top-level statement holding a push of each on
    seen: set[Var] = set()
    blocked: set[Var] = set()
    for top in fwd:
        inner = list(walk_stmts([top]))
        seen |= {names.var(x.args[0].name) for x in inner if _is_push(x)} & cands
        for x in inner:
            w = _may_write(names, x)
            if w is None:
                return set()
            blocked |= w & seen
    for x in walk_stmts(bwd):
        if _is_pop(x):
            continue
        w = _may_write(names, x)
        if w is None:
            return set()
        blocked |= w
    return cands - blocked


def _without_pairs(names: _Names, stmts: list[Stmt], idle: set[Var]) -> list[Stmt]:
    """stmts without the pushes and pops of idle variables (new nodes where
    something inside changes)."""
    out: list[Stmt] = []
    for s in stmts:
        if (_is_push(s) or _is_pop(s)) and names.var(s.args[0].name) in idle:
            continue
        if isinstance(s, If):
            n = copy.copy(s)
            n.branches = [(c, _without_pairs(names, b, idle)) for c, b in s.branches]
            n.else_ = _without_pairs(names, s.else_, idle) if s.else_ is not None else None
            s = n
        elif isinstance(s, Select):
            n = copy.copy(s)
            n.cases = [Case(c.values, _without_pairs(names, c.body, idle)) for c in s.cases]
            n.default = _without_pairs(names, s.default, idle) if s.default is not None else None
            s = n
        elif isinstance(s, (Loop, While)):
            n = copy.copy(s)
            n.body = _without_pairs(names, s.body, idle)
            s = n
        out.append(s)
    return out


def upward_exposed(tu: TranslationUnit, r: Routine, scopes: Scopes, summ: Summaries,
                   body: list[Stmt], adjoint_use: Optional[dict] = None) -> Optional[set[Var]]:
    """Vars a generated body (of r's variant) may read before writing them,
    as names of r; None when the body has jumps this analysis does not
    follow."""
    if any(isinstance(x, (Goto, Return)) for x in walk_stmts(body)):
        return None
    names = _Names(tu, r, scopes, summ, adjoint_use)
    live = {x.var if isinstance(x, _Elem) else x
            for x in _Sweep(names, lambda v: True).block(body, set())[1]}
    # An array whose elements are all set before any is read (`proj(1) =
    # ...; proj(2) = ...`, or a loop over its extent, at the top of the
    # body) is not read on entry, though no single statement sets it whole.
    for v in [v for v in live if v.scope == r.name and v.name in r.args]:
        if _set_element_by_element(body, v.name, scopes.symbol(r.name, v.name), r.language):
            live.discard(v)
    # Raw text (allocate(t, mold=x) of a temporary): read every name of r
    # it mentions, kill nothing (the sweep above passed it by unchanged)
    for x in walk_stmts(body):
        if isinstance(x, Raw):
            live |= {names.var(t) for t in re.findall(r"[A-Za-z_]\w*", x.text)
                     if scopes.lookup(r.name, t) is not None}
    return live


def _set_element_by_element(body: list[Stmt], name: str, sym, language: str) -> bool:
    """Does the straight-line start of body set every element of the
    array `name` before reading an element not yet set?  Either at constant
    subscripts (a small constant-shaped array: `proj(1) = ...; proj(2) =
    ...`) or by one loop over its whole extent assigning `name(i)` (`do i =
    1, n: x2(i) = ...` for x2(n), n written nowhere in body).  Statements
    that do not mention the name are passed over; anything else that does
    ends the search."""
    if sym is None or not sym.shape or sym.allocatable:
        return False
    default_lb = integer(0 if language == "c" else 1)
    done: set[tuple] = set()
    every = all_elements(sym, language)

    def mentions(st: Stmt) -> list[Ref]:
        out = []
        for x in walk_stmts([st]):
            for e in stmt_exprs(x):
                out.extend(y for y in walk_expr(e) if isinstance(y, Ref) and y.name == name)
        return out

    def fills_whole(st: Stmt) -> bool:
        # do i = lb, ub: ...; name(i) = <no read of name>; ... (one dimension)
        if not isinstance(st, Loop) or len(sym.shape) != 1 or st.name is not None or \
                (st.step is not None and int_value(st.step, None) != 1):
            return False
        d = sym.shape[0]
        if d.assumed or d.ub is None or not same_bound(st.lo, d.lb if d.lb is not None else default_lb) \
                or not same_bound(st.hi, d.ub):
            return False
        bound_names = {x.name for e in (st.lo, st.hi) for x in walk_expr(e) if isinstance(x, Ref)}
        for x in walk_stmts(body):
            if isinstance(x, Assign) and x.lhs.name in bound_names or \
                    isinstance(x, Loop) and x.var in bound_names:
                return False
        # every trip reaches the assignment: no jump out of or within the body
        if any(isinstance(x, (Raw, Goto, Exit, Cycle, Return, While, If, Select))
               for x in walk_stmts(st.body)):
            return False
        sets = [x for x in st.body if isinstance(x, Assign) and x.lhs.name == name]
        if len(sets) != 1 or sets[0].lhs.subs != [Ref(st.var)] or sets[0].lhs.path is not None:
            return False
        if any(isinstance(x, Loop) or isinstance(x, Assign) and x.lhs.name == st.var
               for x in walk_stmts(st.body)):
            return False
        k = st.body.index(sets[0])
        for j, x in enumerate(st.body):
            refs = mentions(x)
            if j < k and refs:
                return False
            if j == k and any(y is not x.lhs for y in refs):
                return False
            if j > k and any(y.subs != [Ref(st.var)] for y in refs):
                return False
        return True

    for st in body:
        if isinstance(st, Raw):
            if re.search(rf"\b{re.escape(name)}\b", st.text):
                return False
            continue
        refs = mentions(st)
        if not refs:
            continue
        if not done and fills_whole(st):
            return True
        if every is None or not isinstance(st, Assign) or st.lhs.name != name:
            return False
        key = element_key(st.lhs)
        reads = [x for x in refs if x is not st.lhs]
        if key is None or any(element_key(x) not in done for x in reads):
            return False
        done.add(key)
        if done >= every:
            return True
    return False


class _Sweep:
    """Backward liveness over the structured forward sweep, dropping dead
    candidates on the way.  Loops iterate to a fixpoint (a value read in
    the next trip is live at the end of this one); a loop with EXIT or
    CYCLE inside is kept whole.  Live sets hold Vars and _Elems."""

    def __init__(self, names: _Names, observable):
        self.names = names
        self.observable = observable
        # A loop nested in loops is swept again on every trip of each
        # enclosing fixpoint, mostly with the live set it had the time
        # before: (id, live) -> (node, result), the node kept so that its id
        # stays its own.
        self._seen: dict = {}

    def block(self, stmts: list[Stmt], live: set) -> tuple[list[Stmt], set]:
        out: list[Stmt] = []
        live = frozenset(live)
        for s in reversed(stmts):
            key = (id(s), live)
            hit = self._seen.get(key)
            if hit is not None and hit[0] is s:
                kept, live = hit[1]
            else:
                kept, new = self.stmt(s, live)
                live = frozenset(new)
                self._seen[key] = (s, (kept, live))
            if kept is not None:
                out.append(kept)
        out.reverse()
        return out, set(live)

    def stmt(self, s: Stmt, live: frozenset) -> tuple[Optional[Stmt], set]:
        names = self.names
        if _is_pop(s):
            a = s.args[0]
            v = names.var(a.name)
            live = _widen(live, {v})
            if a.subs is None and a.path is None:
                live = _kill_whole(live, v)
            else:
                el = names.elem(a)
                if el is not None:
                    live = live - {el}
            return s, live | {x for sub in all_subs(a) for x in _sub_refs(names, sub)}
        if isinstance(s, CallStmt) and s.name.startswith(("ad_push", "ad_prof")):
            reads: set = set()
            for k, a in enumerate(s.args):
                reads |= names.reads(a) if k == 0 and _is_push(s) else names.refs(a)
            return s, live | reads
        fwd_of = getattr(s, "fwd_of", None)
        if isinstance(s, CallStmt) and fwd_of is not None:
            # f_fwd runs f and pushes what f_bwd will read (globals too): it
            # reads whatever f reads, not only the names its actuals mention
            used = names.call_effects(fwd_of[0], fwd_of[1], "use")
            return s, _widen(live, names.memo('may_write', s, lambda: _may_write(names, s))) | names.memo('all_refs', s, lambda: _all_refs(names, s)) | (used or set())
        primal = getattr(s, "primal_call", None)
        if isinstance(s, CallStmt) and primal is not None:
            # an adjoint call reads what the primal call would read first
            # (a joint one f_b: what f_b itself reads first, when known)
            used = names.call_effects(primal[0], primal[1],
                                      "adjoint_use" if s.name == primal[0] + "_b" else "use",
                                      elements=True)
            # ... and the adjoints it is given, which it accumulates into (an
            # allocatable's adjoint is zeroed in this sweep, where it is made)
            adjoints = {names.var(a.name) for a in s.args
                        if isinstance(a, Ref) and a.name not in names.r.symbols}
            live = _widen(live, names.memo('may_write', s, lambda: _may_write(names, s)))
            return s, live | adjoints | (used if used is not None else names.memo('all_refs', s, lambda: _all_refs(names, s)))
        writes = names.memo('writes', s, lambda: _writes(names, s))
        if writes is not None:
            if not _live_write(live, writes, s, names) and not any(self.observable(v) for v in writes):
                return None, live
            live = _widen(live, writes)
            if isinstance(s, Assign) and s.lhs.subs is None and s.lhs.path is None:
                live = _kill_whole(live, names.var(s.lhs.name))     # written whole
            return s, live | names.memo('stmt_reads', s, lambda: _reads(names, s))
        if isinstance(s, If):
            branches = []
            out = set(live) if s.else_ is None else set()
            conds: set = set()
            for c, b in s.branches:
                nb, lin = self.block(b, live)
                branches.append((c, nb))
                out |= lin
                conds |= names.reads(c)
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
            return n, out | names.reads(s.expr)
        if isinstance(s, (Loop, While)) and not names.memo(
                "jumps", s, lambda: any(isinstance(x, (Exit, Cycle)) for x in walk_stmts(s.body))):
            head: set[Var] = set()
            for e in ([s.lo, s.hi, s.step] if isinstance(s, Loop) else [s.cond]):
                if e is not None:
                    head |= names.refs(e)
            # trips change the index and whatever the body writes: elements
            # do not cross a loop's boundary
            live = _widen(live, None)
            end = set(live) | (head if isinstance(s, While) else set())
            fresh = names.memo('fresh', s, lambda: _fresh_keys(names, s)) if isinstance(s, Loop) else {}

            def carried(lin: set) -> set:
                # what a trip reads first, as the end of the trip before sees it
                out = set()
                for x in lin:
                    if isinstance(x, _Elem) and fresh.get(x.var) == x.key:
                        out.add(_Next(x.var, x.key, id(s)))
                    else:
                        out.add(x.var if isinstance(x, _Elem) else x)
                return out
            while True:
                body, lin = self.block(s.body, end)
                grown = end | carried(lin)
                if grown == end:
                    break
                end = grown
            # before the loop, the first trip's reads are of the whole array
            end = {x.var if isinstance(x, _Next) and x.loop == id(s) else x for x in end}
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
        return s, _widen(live, None) | names.memo('all_refs', s, lambda: _all_refs(names, s))


def _fresh_keys(names: _Names, s: Loop) -> dict:
    """Arrays every write of which in the loop's body (pops included) is
    the element at one key holding the bare loop index among its
    subscripts, with the index unchanged by the body: each trip writes
    elements no other trip touches, so a later trip's read at that key is
    of a value from before the loop.  Var -> key."""
    index = names.var(s.var)
    keys: dict = {}
    bad: set = set()

    def element_write(ref: Ref) -> None:
        v = names.var(ref.name)
        el = names.elem(ref)
        if el is None or not any(isinstance(x, Ref) and x.name == s.var and not x.subs and x.path is None
                                 for x in ref.subs):
            bad.add(v)
        elif keys.setdefault(v, el.key) != el.key:
            bad.add(v)
    for x in walk_stmts(s.body):
        if isinstance(x, Assign):
            for c in _user_calls(x.rhs):
                w = names.call_effects(c.name, c.args, "writes")
                if w is None or index in w:
                    return {}
                bad |= w
            if names.var(x.lhs.name) == index:
                return {}
            element_write(x.lhs)
        elif _is_pop(x):
            if names.var(x.args[0].name) == index:
                return {}
            element_write(x.args[0])
        elif isinstance(x, CallStmt) and x.name.startswith(("ad_push", "ad_prof")):
            continue
        else:
            w = _may_write(names, x)
            if w is None or index in w:
                return {}
            bad |= w
    return {v: k for v, k in keys.items() if v not in bad}


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
        return _assign_writes(names, s)
    if isinstance(s, CallStmt) and not s.name.startswith("ad_"):
        return names.call_effects(s.name, s.args, "writes")
    return None


def _reads(names: _Names, s: Stmt) -> set:
    out: set = set()
    if isinstance(s, Assign):
        out |= names.reads(s.rhs)
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
