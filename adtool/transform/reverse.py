"""Reverse mode: forward sweep (run and record) and backward sweep (restore
and propagate adjoints), assembled into the variants a plan asks for:

    f_b   = forward sweep; backward sweep             (joint: one call)
    f_fwd = forward sweep; push what f_bwd will need  (split, first half)
    f_bwd = pop that; backward sweep                  (split, second half)

Values are recorded only if the backward sweep reads them (TBR): the
backward sweep is generated once without any recording, the variables it
reads are collected, and the sweeps are generated again pushing exactly
those before each overwrite.  Control flow is recorded as it happens
(branch taken, trip counts), never recomputed.
"""
from __future__ import annotations

import copy
from ..ir.clone import clone
from ..ir import records
import math
from typing import Callable, Optional

from ..diagnostics import bad_input, unsupported
from .index_recompute import inverted_counter, needed_again, recomputed_index
from ..ir.build import add, call, div, integer, mul, neg, real, trip_count
from ..ir.nodes import (INT4, LOGICAL, Allocate, ArrayCtor, Assign, Bin,
                        Call, CallStmt, Case, Cast, Cond, Continue, Deallocate,
                        Dim, Expr, If, Lit, Loop, Print, Read, Ref, Routine, Section, Stop,
                        Raw, Return, Part, Select, Stmt, Type, Un, While)
from ..ir.visit import map_expr, walk_expr
from .context import DiffContext
from .deadfwd import drop_dead_forward
from .dead_records import drop_dead_records
from .prune import prune_unused
from .rules import RuleError, bind_call, rule
from .tangent import _nest_minmax
from .intents import allocated_under_control, relax_written_intents
from .variants import CallPlanner, allocate_derivatives, is_whole_allocatable, reallocating
from .calls import Calls, _call_arg_names
from .snapshots import Snapshots, _whole_or_part, _zero_assign
from .sweeps import Sweeps
from .io_reads import primal_read, zero_read_derivatives
from ..ir.visit import read_targets


class Reverse(Snapshots, Calls):
    """Builds the reverse variants of one routine at a time (snapshots and
    recording in snapshots.py, calls in calls.py)."""

    def __init__(self, ctx: DiffContext, calls: CallPlanner, mode_of: Callable[[Routine, object], str],
                 rw, written_anywhere: set):
        self.ctx = ctx
        self.calls = calls
        self.mode_of = mode_of          # (caller routine, call node) -> 'joint' | 'split'
        self.rw = rw                    # read/write facts (analysis.readwrite)
        self.written = written_anywhere  # Vars written anywhere in the differentiated program
        self.needed: Optional[set[str]] = None   # names the backward sweep reads (TBR)
        self.out: Optional[Routine] = None
        self.r: Optional[Routine] = None
        self._alias_syms: dict = {}
        self._alias_vars: dict = {}              # private alias of a global -> its Var
        self.adjoint_use: dict = {}              # routine -> Vars its f_b reads first (snapshots.py)
        self.adjoint_writes: dict = {}           # routine -> Vars its f_b may write
        self._stmt_reads: dict = {}              # id(statement) -> what its backward sweep reads
        self._joint_inputs: set = set()          # first pass: inputs of joint calls the calls keep
        self._later: Optional[set[str]] = None   # what the backward sweep reads after this point
        self._after: Optional[set] = None        # Vars written from this point to its adjoint
        self.profile: Optional[dict] = None     # call-site key -> {id, mode, ...} when profiling
        self.stable: set = set()                 # (routine, formal) f_bwd finds in place, unrestored
        self.primal_outputs = True               # a head's f_b also computes what its primal returns
        self.restorable: dict = {}               # (routine, temporary) -> its expression
        self.heads: set = set()                  # their f_b keeps every primal output
        self.assumed_needed: dict = {}           # routine -> names kept recorded (generate.py)
        self.constant_actual: set = set()        # (routine, formal) sometimes given a constant
        self._loop_vars: list[str] = []
        self._loop_depth = 0                     # loops (DO and WHILE) around the statement
        self.call_args: set[str] = set()
        self._seed_depth = 0                     # nesting of _distribute (temporaries per level)
        self._seed_tmps: dict = {}               # (level, kind) -> its temporary, per variant
        self._call_tmps: dict = {}               # (k, kind) -> k-th shared call's temporary

    # ================================================================ routines

    def variants(self, r: Routine, wanted: set[str]) -> list[Routine]:
        """wanted ⊆ {'b', 'fwd', 'bwd'}."""
        first = self._first_pass(r)
        # (what the argument facts were decided on stays recorded, whatever
        # this pass finds: see generate.py and analysis/recompute.py)
        reads = self._reads_of(first)
        self.needed = reads | self.assumed_needed.get(r.name, set())
        self.call_args = _call_arg_names(first)
        # Recording is decided statement by statement (TBR): a value is
        # pushed before an overwrite only if the part of the backward sweep
        # that runs after that overwrite's adjoint reads it (see block).
        self._later = self.needed - reads
        # Only f_b (its sweeps run back to back in one call): a call's inputs
        # can change before its adjoint only by what runs after it in this
        # routine (see block); f_fwd/f_bwd share these sweeps and let the
        # caller run in between: anything written anywhere counts there.
        self._after = None if ("fwd" in wanted or "bwd" in wanted) else set()
        # Pass 2: the real sweeps.
        results = []
        while True:
            base = self.calls.variant_skeleton(r, "_b")
            self._alias_syms = {}
            self._wr = set()
            self.out = base
            self._seed_tmps = {}
            self._call_tmps = {}
            sw = self.block(r.body)
            # Recording adds reads of its own: a pop into w(k) reads k, which
            # the first pass (no pops) never saw.  Unless k is needed too, a
            # later overwrite of k is not recorded (the pop lands in another
            # element: wrong adjoint, joint mode too) and f_bwd does not get
            # k back from f_fwd (garbage index).  Again until nothing grows.
            more = self._reads_of(sw.bwd) - self.needed
            if not more:
                break
            self.needed |= more
        sw.fwd, sw.bwd = drop_dead_records(base, sw.fwd, sw.bwd)
        zero = self.calls.zero_local_derivatives(r, base, result_too=False)
        if "b" in wanted:
            if r.name not in self.heads:
                _warn_read_rerun(r)
            b = clone(base)
            b.name = r.name + "_b"
            fwd, bwd = drop_dead_forward(self.ctx.tu, r, self.ctx.scopes, self.rw.s, sw.fwd,
                                         zero + sw.bwd,
                                         keep_outputs=r.name in self.heads and self.primal_outputs,
                                         adjoint_use=self.adjoint_use,
                                         aliases=frozenset(self._alias_syms))
            b.body = fwd + bwd + self._reset_result(r)
            self._note_adjoint_use(r, b.body)
            results.append(self._finish(b, r, "_b"))
        if "fwd" in wanted or "bwd" in wanted:
            exit_vars = self._exit_snapshot(r, sw.bwd)
            push_e, pop_e = self._push_pop(r, [Ref(n) for n in exit_vars])
            pop_e = self._guard_formal_restores(r, base, pop_e)
            push_a, pop_a = self._allocation_snapshot(r, base)
            push_e, pop_e = push_e + push_a, pop_a + pop_e
            if "fwd" in wanted:
                f = clone(base)
                f.name = r.name + "_fwd"
                f.args = [a for a in r.args] + ([r.result] if r.kind == "function" else [])
                f.body = sw.fwd + push_e
                results.append(self._finish(f, r, "_fwd", primal_only=True))
            if "bwd" in wanted:
                bw = clone(base)
                bw.name = r.name + "_bwd"
                bw.args = [a for a in base.args if not (r.kind == "function" and a == r.result)]
                bw.body = pop_e + zero + sw.bwd + self._reset_result(r)
                results.append(self._finish(bw, r, "_bwd"))
        return results

    def _by_value_copies(self, v: Routine, r: Routine) -> None:
        """A C argument passed by value is the callee's own copy: when the
        routine overwrites it, the adjoint of that copy must not be the
        caller's adjoint (`*ab`), which holds contributions of the caller's
        other uses that the reset at the overwrite would wipe out.  The
        adjoint sweep works on a local starting at zero, added to the
        caller's adjoint on the way out."""
        from ..analysis.readwrite import summaries
        from ..ir.visit import child_blocks, refs_in, stmt_exprs, walk_stmts
        ctx, sc = self.ctx, self.ctx.scopes
        writes = summaries(sc)[r.name].writes
        for a in r.args:
            s = r.symbols[a]
            if not s.by_value or not ctx.active(r, a) or sc.var(r.name, a) not in writes:
                continue
            dn = ctx.dname(r, a)
            if dn not in v.args:
                continue
            local = ctx.fresh(v, f"ad_{dn}_copy", clone(v.symbols[dn].type))
            for st in walk_stmts(v.body):
                for e in stmt_exprs(st):
                    for x in refs_in(e):
                        if x.name == dn:
                            x.name = local
            add = self._add_back(v, s.type, Ref(dn), Ref(local))

            def before_returns(body: list[Stmt]) -> list[Stmt]:
                out: list[Stmt] = []
                for st in body:
                    for blk in child_blocks(st):
                        blk[:] = before_returns(blk)
                    if isinstance(st, Return):
                        out.extend(clone(add))
                    out.append(st)
                return out
            v.body = [_zero_assign(Ref(local), s.type, len(s.shape))] + before_returns(v.body) + add

    def _add_back(self, v: Routine, t: Type, target: Ref, local: Ref) -> list[Stmt]:
        """target += local, member by member for a struct (array members in loops)."""
        if t.base != "derived":
            return [Assign(target, Bin("+", clone(target), local))]
        out: list[Stmt] = []
        for path, leaf in records.leaves(t, real_only=True):
            if leaf.type.base == "derived":
                raise unsupported("array of structs inside a struct passed by value and overwritten",
                                  leaf.span, leaf.name)
            idx = [self.ctx.fresh(v, "ad_m", INT4) for _ in leaf.shape]
            last = Part(path[-1].name, [Ref(i) for i in idx] or None)
            tgt = records.with_path(target, path[:-1] + [last])
            body: list[Stmt] = [Assign(tgt, Bin("+", clone(tgt), records.with_path(local, path[:-1] + [last])))]
            for i, d in zip(idx, leaf.shape):
                body = [Loop(i, clone(d.lb) if d.lb is not None else integer(0), clone(d.ub), None, body)]
            out.extend(body)
        return out

    def _first_pass(self, r: Routine) -> list[Stmt]:
        """The backward sweep built without recording: what it reads decides
        what the real sweeps record."""
        self.r = r
        self.needed = None
        self._later = None
        self._after = None
        self._stmt_reads = {}
        self._alias_syms = {}
        self._wr = set()
        self.out = self.calls.variant_skeleton(r, "_b")
        self._seed_tmps = {}
        self._call_tmps = {}
        return self.block(r.body).bwd

    def backward_reads(self, r: Routine) -> set[str]:
        """What r's backward sweep reads, under the facts set so far."""
        return self._reads_of(self._first_pass(r))

    def _reset_result(self, r: Routine) -> list[Stmt]:
        if r.kind != "function":
            return []
        from .variants import zero
        return []

    def _finish(self, v: Routine, r: Routine, suffix: str, primal_only: bool = False) -> Routine:
        if r.language == "c" and suffix in ("_b", "_bwd"):
            self._by_value_copies(v, r)
        if r.kind == "function" and suffix in ("_b", "_bwd"):
            # f_b(x, xb, fb): the primal result is a local, its adjoint the last argument.
            v.args = [a for a in v.args if a != r.result]
            res = v.symbols[r.result]
            res.storage = "local"
            res.intent = None
        if primal_only:
            keep = set(v.args)
            for name in list(v.symbols):
                s = v.symbols[name]
                if s.storage == "arg" and name not in keep:
                    s.storage = "local"
                    s.intent = None
        for name in list(v.symbols):
            s = v.symbols[name]
            if s.storage == "arg" and name not in v.args:
                s.storage = "local"
                s.intent = None
            if s.storage != "arg":
                continue
            if name not in r.args and name != r.result:
                s.intent = "inout"       # adjoints flow both ways
            elif suffix == "_bwd" and s.intent in ("in", "out"):
                s.intent = None          # f_bwd may restore it from f_fwd's exit
        prune_unused(v)
        v.body = self._define_recorded_locals(v) + self._define_descriptors(v) + v.body
        relax_written_intents(v)
        return v

    def _define_descriptors(self, v: Routine) -> list[Stmt]:
        """An allocatable local allocated in one branch of the forward sweep
        and read in the matching branch of the backward sweep makes gfortran
        -Wall warn that its bounds may be used uninitialised (it cannot
        match the branches).  A zero-size allocation undone at once gives
        the descriptor defined bounds on every path; nothing else changes.
        Only locals allocated under a branch or loop need it."""
        if self.ctx.tu.language == "c":
            return []
        nested = allocated_under_control(v.body)
        out: list[Stmt] = []
        for name in sorted(v.symbols):
            s = v.symbols[name]
            if s.storage != "local" or not s.allocatable or not s.rank or s.save \
                    or s.type.base not in ("real", "integer", "logical") or name not in nested:
                continue
            out.append(Raw(f"allocate({name}({', '.join(['0'] * s.rank)}))"))
            out.append(Deallocate([name]))
        if out:
            # said once, so that a reader does not wonder
            out.insert(0, Raw("! zero-size allocations: defined bounds on every path for "
                              "gfortran -Wall (no effect)"))
        return out

    def _define_recorded_locals(self, v: Routine) -> list[Stmt]:
        """Scalar locals recorded inside loops are pushed on the first trip
        before anything wrote them; give them a value so compilers (and
        valgrind) have nothing to warn about.  Costs one store each."""
        from ..ir.visit import walk_stmts as _walk
        names: list[str] = [n for n in sorted(self.needed or ())
                            if n in v.symbols and n not in v.args
                            and v.symbols[n].storage == "local" and not v.symbols[n].rank
                            and not v.symbols[n].save and v.symbols[n].init is None
                            and not v.symbols[n].is_parameter
                            and v.symbols[n].type.base in ("real", "integer", "logical")]
        for x in _walk(v.body):
            if isinstance(x, CallStmt) and (x.name.startswith("ad_push_") or x.name.startswith("ad_pop_")) \
                    and x.args and isinstance(x.args[0], Ref) and x.args[0].subs is None:
                n = x.args[0].name
                sym = v.symbols.get(n)
                if sym is None or sym.storage != "local" or sym.rank or sym.save or sym.init is not None \
                        or n in v.args or sym.type.base not in ("real", "integer", "logical"):
                    continue
                if n not in names:
                    names.append(n)
        out: list[Stmt] = []
        for n in names:
            t = v.symbols[n].type
            if t.base == "logical":
                out.append(Assign(Ref(n), Lit("false", LOGICAL)))
            elif t.base == "integer":
                out.append(Assign(Ref(n), integer(0)))
            else:
                out.append(Assign(Ref(n), real(0, t.kind)))
        return out

    def _sym(self, name: str):
        s = self.ctx.sym(self.r, name)
        if s is None:
            s = self._alias_syms.get(name)
        if s is None and self.out is not None:
            s = self.out.symbols.get(name)
        return s

    def _type(self, e: Expr) -> Type:
        from ..ir.typing import type_of
        return type_of(e, self._sym, self.ctx.fun_type)

    def _rank(self, e: Expr) -> int:
        return self.ctx.rank_of(self.r, e, self._sym)

    def _tmp(self, base: str, typ: Type, shape=None) -> str:
        return self.ctx.fresh(self.out, base, typ, shape)

    # ================================================================ statements

    def block(self, body: list[Stmt]) -> Sweeps:
        out = Sweeps()
        again: list[Stmt] = []   # integer indices assigned again, not recorded
        k = 0
        closed = -1          # index of the statement whose END closed a region
        ctx = self._later    # read after this block's backward sweep (None: first pass)
        before: set[str] = set()   # read by the backward sweeps of the statements so far
        ctx_after = self._after
        if ctx_after is not None:
            from ..analysis.readwrite import block_writes
            suffix = [set() for _ in range(len(body) + 1)]
            for j in range(len(body) - 1, -1, -1):
                suffix[j] = suffix[j + 1] | block_writes([body[j]], self.r, self.ctx.scopes, self.rw.s)
        while k < len(body):
            s = body[k]
            start = k
            if ctx is not None:
                # An overwrite here is undone after the backward sweeps of
                # this statement and of those before it run (and, around
                # this block, what runs after it: a loop's other trips).
                own = self._own_reads(body, k)
                self._later = ctx | before | own
                before |= own
            if ctx_after is not None:
                # Written between this statement and its adjoint: it, what
                # follows it here, and what follows this block (for a loop
                # body: the whole loop, its other trips).
                self._after = ctx_after | suffix[k]
            outer_inputs = self._joint_inputs
            self._joint_inputs = set()
            if any(d.name == "CHECKPOINT-START" for d in s.directives):
                end = _region_end(body, k)
                sw = self.region(body[k:end])
                self._note_writes(body[k:end])
                closed = end
                k = end
            else:
                if any(d.name == "CHECKPOINT-END" for d in s.directives) and k != closed:
                    d = next(d for d in s.directives if d.name == "CHECKPOINT-END")
                    raise bad_input("$AD CHECKPOINT-END without a CHECKPOINT-START before it "
                                    "in the same block", d.span)
                a = recomputed_index(self.r, self.ctx.sym(self.r, s.lhs.name) if isinstance(s, Assign)
                                     else None, body, k, bool(self._loop_vars), self._recomputable, again)
                if a is not None:
                    again.append(a)
                    sw = Sweeps([Assign(clone(s.lhs), clone(s.rhs), span=s.span)], [])
                else:
                    sw = self.stmt(s)
                self._note_writes([s])
                k += 1
            if self.needed is None:
                # (+ the subscripts of what it writes: the pops that undo
                # those writes read them, and this pass has no pops)
                reads = self._reads_of(sw.bwd) | self._in_place_split_args(sw.bwd) \
                    | _written_subscript_names(body[start:k])
                for x in body[start:k]:
                    self._stmt_reads[id(x)] = (x, reads, set(self._joint_inputs))
            self._joint_inputs = outer_inputs | self._joint_inputs
            out.fwd.extend(sw.fwd)
            out.bwd[0:0] = sw.bwd
        self._later = ctx
        self._after = ctx_after
        out.bwd[0:0] = [clone(a) for a in needed_again(out.bwd, again)]
        return out

    def _own_reads(self, body: list[Stmt], k: int) -> set[str]:
        """What the backward sweep of body[k] (a region: of the region it
        starts) reads, from the first pass; every needed name if unknown."""
        got = self._stmt_reads.get(id(body[k]))
        if got is None or got[0] is not body[k]:
            return set(self.needed or ())
        # Inputs of joint calls here that the calls leave alone and our
        # backward sweep reads somewhere anyway: recorded at the overwrites
        # that follow rather than snapshotted (an overwrite by a joint call
        # that snapshots them anyway then costs no second copy).
        return got[1] | (got[2] & (self.needed or set()))

    def _in_place_split_args(self, bwd: list[Stmt]) -> set[str]:
        """Actuals of split calls whose formal f_bwd finds in place
        (self.stable): they hold their value only if every overwrite after
        the call records them."""
        from ..ir.visit import walk_stmts as _walk
        out: set[str] = set()
        assumed = self.assumed_needed.get(self.r.name, set())
        for s in _walk(bwd):
            primal = getattr(s, "primal_call", None)
            if not isinstance(s, CallStmt) or primal is None or s.name != primal[0] + "_bwd":
                continue
            callee = self.ctx.tu.routine(primal[0])
            for f, a in zip(callee.args if callee else [], primal[1]):
                # (generate._formal_facts: an actual the caller's backward
                # sweep reads; temporaries re-evaluated need no recording)
                if isinstance(a, Ref) and (primal[0], f) in self.stable and a.name in assumed:
                    out.add(a.name)
        return out

    def region(self, stmts: list[Stmt]) -> Sweeps:
        """A checkpointed region behaves as a joint call of an inlined
        routine: snapshot its inputs and run it plainly in the forward
        sweep; in the backward sweep restore them, re-run it recording, and
        propagate its adjoint at once."""
        r = self.r
        scopes = self.ctx.scopes
        summ = self.rw.s
        from ..analysis.readwrite import block_use, block_writes
        use = block_use(stmts, r, scopes, summ)
        outs = block_writes(stmts, r, scopes, summ)
        by_var = {v: n for n, _, v in scopes.visible(r.name)}

        def name_of(v):
            if v in by_var:
                return Ref(by_var[v])
            return self._alias_global(v)
        tbr = [x for x in (name_of(v) for v in sorted(outs, key=str)) if x is not None]
        push_t, pop_t = self._record(r, tbr)
        snap: list[Ref] = []
        for v in sorted(use, key=str):
            ref = name_of(v)
            if ref is None:
                continue
            sym = self._sym(ref.name)
            if sym is None or sym.is_parameter or sym.type.base == "character":
                continue
            if not (v in outs or self._written_here(ref.name)) or not self._may_hold_value(ref.name):
                continue
            snap.append(ref)
        push_s, pop_s = self._push_pop(r, snap)
        plain = [clone(_without_start(st)) for st in stmts]
        inner = self.block([_without_start(stmts[0])] + list(stmts[1:]))
        fwd = push_t + push_s + plain
        bwd = pop_s + inner.fwd + inner.bwd + pop_t
        return Sweeps(fwd, bwd)



    def _branches(self, blocks: list[Optional[list[Stmt]]]) -> list[Optional[Sweeps]]:
        """Each branch starts from what was written before the construct."""
        before = set(self._wr)
        after = set(before)
        out = []
        for b in blocks:
            self._wr = set(before)
            out.append(self.block(b) if b is not None else None)
            after |= self._wr
        self._wr = after
        return out

    def stmt(self, s: Stmt) -> Sweeps:
        r = self.r
        if isinstance(s, Assign):
            if isinstance(s.rhs, Call) and not s.rhs.intrinsic:
                return self.call(s, s.rhs.name, s.rhs.args, result=s.lhs)
            return self.assign(s)
        if isinstance(s, CallStmt):
            return self.call(s, s.name, s.args)
        if isinstance(s, If):
            return self.if_(s)
        if isinstance(s, Select):
            return self.select(s)
        if isinstance(s, Loop):
            return self.loop(s)
        if isinstance(s, While):
            return self.while_(s)
        if isinstance(s, Print) and read_targets(s):
            # The values read (and IOSTAT= and the like) are recorded like
            # any overwrite; the derivatives of what a READ read restart
            # from zero (with the indices of the read).
            push, pop = self._record(r, [Ref(n) for n in read_targets(s)])
            zero = zero_read_derivatives(self.ctx, r, s.items, self._type) \
                if isinstance(s, Read) else []
            return Sweeps(push + [primal_read(s)], zero + pop)
        if isinstance(s, (Print, Continue, Stop)):
            n = clone(s)
            n.directives = []
            n.label = None
            return Sweeps([n], [])
        if isinstance(s, Allocate):
            pre, post = self._reallocation(r, s) if self._loop_depth and r.language == "fortran" \
                else ([], [])
            fwd = pre + [clone(s)] + allocate_derivatives(self.ctx, r, s)
            return Sweeps(fwd, post)
        if isinstance(s, Deallocate):
            # The backward sweep still needs the arrays: local allocatables are
            # released when the variant returns, as the language does anyway.
            for n in list(s.names) + [x.name for x in s.parts]:
                sym = self.ctx.sym(r, n)
                if sym is None or sym.storage != "local" or sym.save \
                        or not (sym.allocatable or n not in s.names):
                    raise unsupported("DEALLOCATE of a non-local array in a differentiated "
                                      "routine", s.span, n)
            return Sweeps([], [])
        raise unsupported(f"{type(s).__name__} statement in a differentiated routine", s.span)

    def _reallocation(self, r: Routine, s: Allocate) -> tuple[list[Stmt], list[Stmt]]:
        """A local array allocated inside a loop is allocated again on the
        next trip.  The forward sweep keeps arrays allocated (the backward
        sweep reads them), so a re-allocation first records the array it
        replaces (bounds and values, its derivative zeroed) and releases
        it; the backward sweep, on its way back past the ALLOCATE, puts
        that array back."""
        from ..ir.nodes import Dim
        fwd: list[Stmt] = []
        bwd: list[Stmt] = []
        for it in s.items:
            sym = self.ctx.sym(r, it.name)
            if it.path or sym is None or sym.storage != "local" or not sym.allocatable:
                continue
            a = it.name
            rank = len(sym.shape)
            active = self.ctx.active(r, a) and records.differentiable(sym.type)
            d = self.ctx.dname(r, a) if active else None
            flag = self._tmp("ad_realloc", LOGICAL)
            lb = self._tmp(f"ad_{a}_lb", INT4, [Dim(None, integer(rank))])
            ub = self._tmp(f"ad_{a}_ub", INT4, [Dim(None, integer(rank))])
            push_v, pop_v = self._push_pop(r, [Ref(a)])
            push_b, pop_b = self._push_pop(r, [Ref(lb), Ref(ub)])
            gone = [a] + ([d] if d else [])
            # (bounds zeroed first: gfortran -Wall cannot see the flag guard them)
            fwd += [Assign(Ref(flag), Call("allocated", [Ref(a)], intrinsic=True)),
                    Assign(Ref(lb), integer(0)), Assign(Ref(ub), integer(0)),
                    If([(Ref(flag), [Assign(Ref(lb), Call("lbound", [Ref(a)], intrinsic=True)),
                                     Assign(Ref(ub), Call("ubound", [Ref(a)], intrinsic=True))]
                         + push_v + push_b + [Deallocate(gone)])]),
                    CallStmt("ad_push_logical", [Ref(flag)])]
            bounds = [Section(Ref(lb, [integer(k + 1)]), Ref(ub, [integer(k + 1)]))
                      for k in range(rank)]
            back = [Deallocate(gone), Allocate([Ref(a, bounds)])] + pop_v
            if d:
                back += [Allocate([Ref(d, clone(bounds))]), _zero_assign(Ref(d), sym.type)]
            bwd[:0] = [CallStmt("ad_pop_logical", [Ref(flag)]),
                       If([(Ref(flag), [Assign(Ref(lb), integer(0)), Assign(Ref(ub), integer(0))]
                            + pop_b + back)])]
        return fwd, bwd

    # ---------------------------------------------------------------- assignment

    def assign(self, s: Assign) -> Sweeps:
        r = self.r
        ctx = self.ctx
        push, pop = self._record(r, [_whole_or_part(s.lhs)])
        if push:
            undo = inverted_counter(r, ctx.sym(r, s.lhs.name), s)
            if undo is not None:
                # k = k + 1: undone by k = k - 1, no push (inverted_counter)
                return Sweeps([Assign(clone(s.lhs), clone(s.rhs), span=s.span)], [undo])
        lhs_active = ctx.is_real(r, s.lhs) and ctx.active(r, s.lhs.name)
        if is_whole_allocatable(ctx, r, s.lhs, s.rhs):
            fwd = push + reallocating(s.lhs, s.rhs, ctx, r, self.out)
            if lhs_active:
                # its adjoint exists from the first assignment on, zeroed
                d = ctx.dname(r, s.lhs.name)
                fwd.append(If([(Un("not", Call("allocated", [Ref(d)], intrinsic=True)),
                                [Raw(f"allocate({d}, mold={s.lhs.name})"),
                                 _zero_assign(Ref(d), self._type(s.lhs))])]))
        else:
            fwd = push + [Assign(clone(s.lhs), clone(s.rhs), span=s.span)]
        if not lhs_active:
            return Sweeps(fwd, pop)
        seed_ref = ctx.dref(r, s.lhs)
        rank = self._rank(s.lhs)
        typ = self._type(s.lhs)
        adj: list[Stmt] = []
        lhs_in_rhs = any(isinstance(x, Ref) and x.name == s.lhs.name for x in walk_expr(s.rhs))
        inc = _increment(s.lhs, s.rhs)
        if inc is not None:
            # x = x ± e (e free of x): x's adjoint passes through unchanged.
            sign, rest = inc
            seed0: Expr = clone(seed_ref)
            adj.extend(self.adjoint(rest, neg(seed0) if sign < 0 else seed0, rank))
        elif self._expr_active(s.rhs):
            if lhs_in_rhs:
                shape = [Dim(None, None, True)] * rank if rank else None
                tname = self._tmp(f"ad_{s.lhs.name}{ctx.suffix}", Type(typ.base, typ.kind), shape)
                if rank:
                    self.out.symbols[tname].allocatable = True
                seed: Expr = Ref(tname)
                if rank:
                    # allocate(source=) rather than realloc-on-assignment:
                    # same effect, no spurious uninitialised-bounds warnings.
                    adj.append(Allocate([Ref(tname)], source=clone(seed_ref)))
                else:
                    adj.append(Assign(Ref(tname), clone(seed_ref)))
                adj.append(_zero_assign(seed_ref, typ))
                adj.extend(self.adjoint(s.rhs, seed, rank))
                if rank:
                    adj.append(Deallocate([tname]))
            else:
                adj.extend(self.adjoint(s.rhs, clone(seed_ref), rank))
                adj.append(_zero_assign(seed_ref, typ))
        else:
            adj.append(_zero_assign(seed_ref, typ))
        return Sweeps(fwd, pop + self._shared_calls(adj))

    def _shared_calls(self, adj: list[Stmt]) -> list[Stmt]:
        """Evaluate once a math call the adjoint statements of one
        assignment repeat.  `y = 1/(1 + exp(-x))` gives three `exp(-x)` (the
        partials of the quotient and of exp); C compilers may not merge them
        (exp sets errno), so each costs a libm call.  Within these
        statements only adjoints and seed temporaries are assigned, so a
        call reading none of them has one value throughout."""
        if len(adj) < 2 or not all(isinstance(st, Assign) for st in adj):
            return adj
        assigned = {st.lhs.name for st in adj}
        k = 0
        while True:
            seen: list = []
            counts: list[int] = []
            for st in adj:
                for x in walk_expr(st.rhs):
                    if isinstance(x, Call) and x.intrinsic and x.name in _SHARED_CALLS and \
                            not any(isinstance(y, Ref) and y.name in assigned for y in walk_expr(x)):
                        for i, c in enumerate(seen):
                            if c == x:
                                counts[i] += 1
                                break
                        else:
                            seen.append(x)
                            counts.append(1)
            pick = next((c for c, n in zip(seen, counts) if n > 1), None)
            if pick is None or self._rank(pick) != 0:
                return adj
            typ = self._type(pick)
            if typ.base != "real":
                return adj
            key = (k, typ.kind)
            name = self._call_tmps.get(key)
            if name is None:
                name = self._tmp("ad_f", Type("real", typ.kind))
                self._call_tmps[key] = name
            k += 1
            pick = clone(pick)
            first = None
            out: list[Stmt] = []
            for i, st in enumerate(adj):
                if first is None and any(x == pick for x in walk_expr(st.rhs)):
                    first = i
                    out.append(Assign(Ref(name), clone(pick)))
                out.append(Assign(st.lhs, map_expr(st.rhs, lambda x: Ref(name) if x == pick else None),
                                  span=st.span))
            adj = out

    def _expr_active(self, e: Expr) -> bool:
        return self.ctx.expr_active(self.r, e)

    def adjoint(self, e: Expr, seed: Expr, rank: int, extent: Optional[Expr] = None) -> list[Stmt]:
        """Statements adding d(e)/d(v) * seed to the adjoint of every active v in e.
        rank is the rank of the whole statement (seed's rank)."""
        r = self.r
        ctx = self.ctx
        if not self._expr_active(e):
            return []
        if rank > 0 and self._rank(e) == 0:
            # A scalar inside an array context receives the sum of the seeds;
            # a scalar seed (broadcast by a reduction) counts once per element.
            if self._rank(seed) == 0 and extent is not None:
                seed = mul(seed, Call("size", [clone(extent)], intrinsic=True))
            else:
                seed = Call("sum", [seed], intrinsic=True)
            rank = 0
        if isinstance(e, Ref):
            if not (ctx.is_real(r, e) and ctx.active(r, e.name)):
                return []
            target = ctx.dref(r, e)
            tk, sk = self._type(e), self._type(seed)
            if tk.base == "real" and sk.base == "real" and sk.kind > tk.kind:
                seed = Call("real", [seed], [("kind", integer(tk.kind))], intrinsic=True)
            if self._has_vector_subscript(e):
                return self._scatter_add(e, target, seed, rank)
            return [Assign(target, add(clone(target), seed))]
        if isinstance(e, Un):
            if e.op == "-":
                return self.adjoint(e.operand, neg(seed), rank, extent)
            return self.adjoint(e.operand, seed, rank, extent)
        if isinstance(e, Cast):
            # a cast to an integer is a step function: no derivative (as in tangent)
            return self.adjoint(e.operand, seed, rank, extent) if e.type.base == "real" else []
        if isinstance(e, Bin):
            if e.op not in ("+", "-", "*", "/", "**"):
                return []
            k = self._kind(e)
            if e.op == "*" and e.left == e.right:
                # x * x: one term 2x, not two identical ones
                pairs = [(mul(real(2, k), clone(e.left)), e.left)]
            elif e.op == "/" and self._expr_active(e.right):
                # u / v: divide the seed once; u takes it, v takes -(u/v)
                # times it.  Two divisions where 1/v and -(u/v)/v take three.
                # (A passive v keeps 1/v * seed: compilers hoist 1/v.)
                pairs = [(p, a) for p, a in ((real(1, k), e.left),
                                             (neg(div(clone(e.left), clone(e.right))), e.right))
                         if self._expr_active(a)]
                return self._distribute(pairs, div(seed, clone(e.right)), rank, extent)
            else:
                parts = rule(e.op).partials([e.left, e.right], k)
                pairs = [(p, a) for p, a in zip(parts, [e.left, e.right])
                         if p is not None and self._expr_active(a)]
            return self._distribute(pairs, seed, rank, extent)
        if isinstance(e, Cond):
            k = self._kind(e)
            return (self.adjoint(e.then, Call("merge", [seed, real(0, k), e.cond], intrinsic=True), rank, extent)
                    + self.adjoint(e.else_, Call("merge", [real(0, k), seed, e.cond], intrinsic=True), rank, extent))
        if isinstance(e, Call):
            if not e.intrinsic:
                raise unsupported("call of a differentiated function inside an expression "
                                  "that could not be hoisted", e.span)
            if self._type(e).base not in ("real", "complex"):
                return []           # an integer, logical or character result is flat
            e2 = _nest_minmax(e)
            rl = rule(e2.name)
            if rl is None:
                raise unsupported(f"intrinsic '{e.name}' (no derivative rule)", e.span)
            if rl.kind == "passive":
                return []
            if rl.kind == "linear":
                try:
                    b, rk = bind_call(e2, self._type, self._rank, self._sym)
                    if self._rank(seed) == 0 and self._rank(e2) > 0:
                        # a scalar seed from an enclosing reduction reaches
                        # every element of this array-valued call
                        seed = call("reshape", ArrayCtor([seed]), call("shape", clone(e2)),
                                    pad=ArrayCtor([clone(seed)]))
                    out = []
                    for n, a in b.items():
                        if not (self._expr_active(a) and self._type(a).base in ("real", "complex")):
                            continue
                        if n not in rl.diff:
                            raise RuleError(f"{e2.name} with an active {n}= argument")
                        out.extend(self.adjoint(a, rl.adjoint(b, n, clone(seed), self._kind(e), rk),
                                                rk[n], a))
                    return out
                except RuleError as err:
                    raise unsupported(str(err), e.span)
            k = self._kind(e)
            parts = rl.partials(e2.args, k)
            pairs = [(p, a) for p, a in zip(parts, e2.args) if p is not None and self._expr_active(a)]
            return self._distribute(pairs, seed, rank, extent)
        if isinstance(e, ArrayCtor):
            # reached only when an item is active (checked on entry)
            raise unsupported("array constructor with active items in reverse mode", e.span)
        raise unsupported(f"expression {type(e).__name__} in reverse mode", e.span)

    def _has_vector_subscript(self, e: Ref) -> bool:
        subs = list(e.subs or []) + [x for p in e.path or [] for x in p.subs or []]
        return any(not isinstance(x, Section) and self._rank(x) > 0 for x in subs)

    def _scatter_add(self, e: Ref, target: Ref, seed: Expr, rank: int) -> list[Stmt]:
        """x(idx) in an expression: its adjoint adds each seed element to
        xb(idx(k)) one k at a time, since idx may repeat an index (an array
        assignment xb(idx) = xb(idx) + s would keep one of the repeats).
        Beside sections (`a(idx, :)`, `a(i, 2:5, idx)`) the seed's slice
        along the vector subscript's dimension is added at once: a section
        repeats no index."""
        # where the subscripts are: the variable's own (-1) or a component's
        places = [(-1, e.subs or [])] + [(p, part.subs or []) for p, part in enumerate(e.path or [])]
        spots = [(p, k) for p, subs in places for k, x in enumerate(subs)
                 if not isinstance(x, Section) and self._rank(x) > 0]
        if len(spots) != 1:
            raise unsupported("more than one vector subscript on an active array",
                              e.span, e.name)
        p, v = spots[0]
        subs = e.subs if p < 0 else e.path[p].subs
        # the seed's dimension that runs along the vector subscript: the
        # array-valued subscripts before it, among this reference's own
        if p >= 0 and any(isinstance(x, Section) or self._rank(x) > 0
                          for q, ss in places if q != p for x in ss):
            raise unsupported("vector subscript of a record component together with "
                              "array subscripts elsewhere in the reference", e.span, e.name)
        along = sum(1 for x in subs[:v] if isinstance(x, Section) or self._rank(x) > 0)
        k = self._tmp("ad_vk", INT4)
        if rank > 0 and self._rank(seed) > 0:
            typ = self._type(e)
            srank = self._rank(e)
            tmp = self._tmp(f"ad_{e.name}_seed", Type(typ.base, typ.kind),
                            [Dim(None, None, True) for _ in range(srank)])
            self.out.symbols[tmp].allocatable = True
            head = [Allocate([Ref(tmp)], source=clone(seed))]
            # the copy has the seed's bounds (gfortran gives a vector-
            # subscripted source lower bound 0): count from its lbound
            at = add(Call("lbound", [Ref(tmp), integer(along + 1)], intrinsic=True),
                     add(Ref(k), integer(-1)))
            each: Expr = Ref(tmp, [at if d == along else Section(None, None, None)
                                   for d in range(srank)])
            tail = [Deallocate([tmp])]
        else:
            head, each, tail = [], seed, []
        el = clone(target)
        vsub = subs[v]
        if p < 0:
            el.subs[v] = _index_at(vsub, Ref(k))
        else:
            el.path[p].subs[v] = _index_at(vsub, Ref(k))
        n = Call("size", [clone(vsub)], intrinsic=True)
        return head + [Loop(k, integer(1), n, None, [Assign(el, add(clone(el), each))])] + tail

    def _distribute(self, pairs: list, seed: Expr, rank: int, extent: Optional[Expr]) -> list[Stmt]:
        """Pass seed * partial to each operand.  A scalar seed that is itself
        an expression and would be evaluated more than once (two operands,
        or one that splits further) is computed once into a temporary:
        without it the adjoint of a nested quotient re-evaluates the whole
        chain of partials once per leaf."""
        out: list[Stmt] = []
        if rank == 0 and not _simple(seed) and (len(pairs) > 1 or any(not isinstance(a, Ref) for _, a in pairs)):
            # One temporary per nesting level and kind, shared by all the
            # statements of the routine (a level's value is dead once its
            # operands are done).
            key = (self._seed_depth, self._kind(seed))
            name = self._seed_tmps.get(key)
            if name is None:
                name = self._tmp("ad_seed", Type("real", key[1]))
                self._seed_tmps[key] = name
            out.append(Assign(Ref(name), seed))
            seed = Ref(name)
        self._seed_depth += 1
        try:
            for p, a in pairs:
                out.extend(self.adjoint(a, seed if _is_one(p) else mul(p, clone(seed)), rank, extent))
        finally:
            self._seed_depth -= 1
        return out

    def _kind(self, e: Expr) -> int:
        t = self._type(e)
        return t.kind if t.base == "real" else 8

    # ---------------------------------------------------------------- control flow

    def _recomputable(self, exprs: list[Expr]) -> bool:
        """Can the backward sweep evaluate these again and get what the
        forward sweep got?  Yes when they read only enclosing loop indices
        (the backward loops set them) and values nothing ever changes."""
        for e in exprs:
            for x in walk_expr(e):
                if isinstance(x, Call) and not x.intrinsic:
                    return False
                if not isinstance(x, Ref) or x.name in self._loop_vars:
                    continue
                sym = self.ctx.sym(self.r, x.name)
                if sym is None:
                    return False
                if sym.is_parameter:
                    continue
                if sym.storage == "arg":
                    if (self.r.name, x.name) not in self.stable:
                        return False
                elif self.ctx.scopes.var(self.r.name, x.name) in self.written:
                    return False
        return True

    def if_(self, s: If) -> Sweeps:
        sws = self._branches([b for _, b in s.branches] + [s.else_])
        branches = [(c, sw) for (c, _), sw in zip(s.branches, sws)]
        else_sw = sws[-1]
        all_sw = [b for _, b in branches] + ([else_sw] if else_sw else [])
        if not any(sw.bwd for sw in all_sw):
            return Sweeps([If([(clone(c), sw.fwd) for c, sw in branches],
                              else_sw.fwd if else_sw else None, span=s.span)], [])
        if self._recomputable([c for c, _ in s.branches]):
            fwd = [If([(clone(c), sw.fwd) for c, sw in branches],
                      else_sw.fwd if else_sw else None, span=s.span)]
            bwd = [If([(clone(c), sw.bwd) for c, sw in branches],
                      else_sw.bwd if else_sw else None)]
            return Sweeps(fwd, bwd)
        n = len(branches) + 1
        bits = max(1, math.ceil(math.log2(n + 1)))
        br = self._tmp("ad_branch", INT4)
        fwd_branches = []
        for k, (c, sw) in enumerate(branches, start=1):
            fwd_branches.append((clone(c), sw.fwd + [Assign(Ref(br), integer(k))]))
        else_fwd = (else_sw.fwd if else_sw else []) + [Assign(Ref(br), integer(n))]
        fwd = [If(fwd_branches, else_fwd, span=s.span),
               CallStmt("ad_push_control", [Ref(br), integer(bits)])]
        cases = [Case([integer(k)], sw.bwd) for k, (_, sw) in enumerate(branches, start=1) if sw.bwd]
        if else_sw and else_sw.bwd:
            cases.append(Case([integer(n)], else_sw.bwd))
        bwd = [CallStmt("ad_pop_control", [Ref(br), integer(bits)]),
               Select(Ref(br), cases, None)]
        return Sweeps(fwd, bwd)

    def select(self, s: Select) -> Sweeps:
        sws = self._branches([c.body for c in s.cases] + [s.default])
        cases = [(c, sw) for c, sw in zip(s.cases, sws)]
        dflt = sws[-1]
        if not any(sw.bwd for _, sw in cases) and not (dflt and dflt.bwd):
            return Sweeps([Select(clone(s.expr), [Case(clone(c.values), sw.fwd) for c, sw in cases],
                                  dflt.fwd if dflt else None, span=s.span)], [])
        if self._recomputable([s.expr]):
            fwd = [Select(clone(s.expr), [Case(clone(c.values), sw.fwd) for c, sw in cases],
                          dflt.fwd if dflt else None, span=s.span)]
            bwd = [Select(clone(s.expr), [Case(clone(c.values), sw.bwd) for c, sw in cases],
                          dflt.bwd if dflt else None)]
            return Sweeps(fwd, bwd)
        n = len(cases) + 1
        bits = max(1, math.ceil(math.log2(n + 1)))
        br = self._tmp("ad_branch", INT4)
        fcases = [Case(clone(c.values), sw.fwd + [Assign(Ref(br), integer(k))])
                  for k, (c, sw) in enumerate(cases, start=1)]
        fdef = (dflt.fwd if dflt else []) + [Assign(Ref(br), integer(n))]
        fwd = [Select(clone(s.expr), fcases, fdef, span=s.span),
               CallStmt("ad_push_control", [Ref(br), integer(bits)])]
        bcases = [Case([integer(k)], sw.bwd) for k, (_, sw) in enumerate(cases, start=1) if sw.bwd]
        if dflt and dflt.bwd:
            bcases.append(Case([integer(n)], dflt.bwd))
        bwd = [CallStmt("ad_pop_control", [Ref(br), integer(bits)]), Select(Ref(br), bcases, None)]
        return Sweeps(fwd, bwd)

    def loop_body(self, s: Loop):
        """What every reversal of a counted loop starts from: the recording
        of its index, the sweeps of its body, and (when the body has
        nothing to reverse) the plain loop as the whole answer.
        (push_v, pop_v, body, plain-or-None)."""
        push_v, pop_v = self._record(self.r, [Ref(s.var)])
        # Later iterations see everything the body writes, except arrays
        # whose every write in the body is an element subscripted by this
        # loop's index: each trip writes its own element, so the value it
        # overwrites was written by no earlier trip.
        self._wr.add(s.var)
        self._note_writes(s.body, fresh_per_trip=s.var)
        self._loop_vars.append(s.var)
        self._loop_depth += 1
        try:
            body = self.block(s.body)
        finally:
            self._loop_vars.pop()
            self._loop_depth -= 1
        if body.bwd:
            return push_v, pop_v, body, None
        n = clone(s)
        n.body = body.fwd
        n.directives = []
        n.label = None
        return push_v, pop_v, body, Sweeps(push_v + [n], pop_v)

    def loop(self, s: Loop) -> Sweeps:
        from .binomial import binomial_loop, snapshots_of
        snaps = snapshots_of(self, s)
        if snaps is not None:
            return binomial_loop(self, s, snaps)
        r = self.r
        push_v, pop_v, body, plain = self.loop_body(s)
        if plain is not None:
            return plain
        step = s.step if s.step is not None else integer(1)
        fwd: list[Stmt] = list(push_v)
        bwd_pre: list[Stmt] = []
        # Bounds: constants, and bounds the backward sweep can evaluate again
        # (enclosing loop indices, values nothing changes), need no
        # recording; otherwise save once at loop entry.
        lo_e, step_e = clone(s.lo), clone(step)
        hi_e = clone(s.hi)
        saved: list[tuple[str, Expr]] = []
        again = self._recomputable([s.lo, s.hi, step])
        if not _constant(s.lo) and not again:
            v = self._tmp("ad_from", INT4)
            saved.append((v, lo_e))
            lo_e = Ref(v)
        if not _constant(step) and not again:
            v = self._tmp("ad_step", INT4)
            saved.append((v, step_e))
            step_e = Ref(v)
        cnt = None
        if not (_constant(s.lo) and _constant(s.hi) and _constant(step)) and not again:
            cnt = self._tmp("ad_count", INT4)
        for v, e in saved:
            fwd.append(Assign(Ref(v), e))
        if cnt is not None:
            # Fortran's trip count, taken at entry as the language does.
            fwd.append(Assign(Ref(cnt), trip_count(lo_e, hi_e, step_e, self._constants(r))))
        fl = Loop(s.var, clone(lo_e), clone(hi_e), clone(step_e), body.fwd, span=s.span)
        fwd.append(fl)
        pushes, pops = self._push_pop(r, [Ref(v) for v, _ in saved] + ([Ref(cnt)] if cnt else []))
        fwd.extend(pushes)
        k = self._tmp("ad_iter", INT4)
        if cnt is not None:
            n_e: Expr = Ref(cnt)
        else:
            n_e = trip_count(s.lo, s.hi, step, self._constants(r))
        set_var = Assign(Ref(s.var), Bin("+", clone(lo_e), Bin("*", Ref(k), clone(step_e))))
        set_var.sets_loop_index = True
        bl = Loop(k, Bin("-", n_e, integer(1)), integer(0), integer(-1), [set_var] + body.bwd)
        bwd = pops + [bl] + pop_v
        return Sweeps(fwd, bwd)

    def while_(self, s: While) -> Sweeps:
        self._note_writes(s.body)
        self._loop_depth += 1
        try:
            body = self.block(s.body)
        finally:
            self._loop_depth -= 1
        if not body.bwd:
            n = clone(s)
            n.body = body.fwd
            n.directives = []
            return Sweeps([n], [])
        cnt = self._tmp("ad_count", INT4)
        # A post-tested loop (C's do-while) counts its trips the same way.
        fwd = [Assign(Ref(cnt), integer(0)),
               While(clone(s.cond), [Assign(Ref(cnt), Bin("+", Ref(cnt), integer(1)))] + body.fwd,
                     span=s.span, post_test=s.post_test),
               CallStmt("ad_push_integer4", [Ref(cnt)])]
        k = self._tmp("ad_iter", INT4)
        bwd = [CallStmt("ad_pop_integer4", [Ref(cnt)]),
               Loop(k, integer(1), Ref(cnt), None, body.bwd)]
        return Sweeps(fwd, bwd)

    def _constants(self, r: Routine):
        """Where trip counts may be folded (Fortran: see ir.build.trip_count)."""
        if r.language == "c":
            return None
        return lambda name: self.ctx.sym(r, name)

    # ---------------------------------------------------------------- TBR

    def _reads_of(self, bwd: list[Stmt]) -> set[str]:
        """Names whose values the backward sweep reads, excluding derivatives,
        popped targets and the arguments of adjoint calls (the callee restores
        those itself)."""
        names: set[str] = set()
        dnames = set(self.out.symbols) - set(self.r.symbols)
        bound: list[str] = []     # primal loop indices the backward loops set themselves

        def add_expr(e: Expr) -> None:
            for x in walk_expr(e):
                if isinstance(x, Ref) and x.name not in bound:
                    names.add(x.name)

        def add_indices(e: Expr) -> None:
            if isinstance(e, Ref):
                for sub in (e.subs or []) + [x for p in e.path or [] for x in p.subs or []]:
                    for p in ([sub.lo, sub.hi, sub.step] if isinstance(sub, Section) else [sub]):
                        if p is not None:
                            add_expr(p)
            else:
                add_expr(e)

        def visit(stmts: list[Stmt]) -> None:
            for s in stmts:
                if isinstance(s, Assign):
                    add_indices(s.lhs)
                    add_expr(s.rhs)
                elif isinstance(s, CallStmt):
                    if s.name.startswith("ad_pop") or s.name.startswith("ad_push"):
                        if s.args and isinstance(s.args[0], Ref):
                            add_indices(s.args[0])
                        continue
                    for a in s.args:
                        add_indices(a)
                elif isinstance(s, If):
                    for c, b in s.branches:
                        add_expr(c)
                        visit(b)
                    if s.else_:
                        visit(s.else_)
                elif isinstance(s, Select):
                    add_expr(s.expr)
                    for c in s.cases:
                        visit(c.body)
                    if s.default:
                        visit(s.default)
                elif isinstance(s, Loop):
                    for e in (s.lo, s.hi, s.step):
                        if e is not None:
                            add_expr(e)
                    first = s.body[0] if s.body else None
                    sets_index = isinstance(first, Assign) and first.lhs.subs is None \
                        and getattr(first, "sets_loop_index", False)
                    if sets_index:
                        add_expr(first.rhs)
                        bound.append(first.lhs.name)
                        visit(s.body[1:])
                        bound.pop()
                    else:
                        visit(s.body)
                elif isinstance(s, While):
                    add_expr(s.cond)
                    visit(s.body)
                elif isinstance(s, Allocate):
                    # allocate(t, source=w1 * resb): the seed of a vector-
                    # subscripted read reads w1 (f_bwd needs its exit value)
                    if s.source is not None:
                        add_expr(s.source)
                    for it in s.items:
                        add_indices(it)
        visit(bwd)
        return {n for n in names if n not in dnames or n in self.r.symbols}


def _written_subscript_names(stmts: list[Stmt], bound: frozenset = frozenset()) -> set[str]:
    """Names in the subscripts of what stmts assign or pass to calls (but
    the indices of loops among stmts inside those loops: their backward
    loops set them again)."""
    from ..ir.visit import child_blocks
    from ..ir.records import all_subs
    out: set[str] = set()
    for st in stmts:
        refs = [st.lhs] if isinstance(st, Assign) else \
            [a for a in st.args if isinstance(a, Ref)] if isinstance(st, CallStmt) else []
        if isinstance(st, Assign):
            refs += [a for c in calls_of(st.rhs) for a in c.args if isinstance(a, Ref)]
        for ref in refs:
            for x in all_subs(ref):
                for p in ([x.lo, x.hi, x.step] if isinstance(x, Section) else [x]):
                    if p is not None:
                        out.update(y.name for y in walk_expr(p)
                                   if isinstance(y, Ref) and y.name not in bound)
        inner = bound | {st.var} if isinstance(st, Loop) else bound
        for blk in child_blocks(st):
            out |= _written_subscript_names(blk, inner)
    return out


def calls_of(e: Expr) -> list:
    from ..ir.visit import calls_in
    return [c for c in calls_in(e) if not c.intrinsic]


def _without_start(s: Stmt) -> Stmt:
    c = copy.copy(s)
    c.directives = [d for d in s.directives if d.name != "CHECKPOINT-START"]
    return c


def _region_end(body: list[Stmt], start: int) -> int:
    """Index of the statement carrying the matching CHECKPOINT-END (the region
    stops before it), or the end of the block when the END was the block's
    last word (the front end then keeps it on a trailing CONTINUE)."""
    depth = 0
    for j in range(start, len(body)):
        names = [d.name for d in body[j].directives]
        if j > start and "CHECKPOINT-END" in names:
            depth -= names.count("CHECKPOINT-END")
            if depth <= 0:
                return j
        depth += names.count("CHECKPOINT-START")
    d = next(d for d in body[start].directives if d.name == "CHECKPOINT-START")
    raise bad_input("$AD CHECKPOINT-START without a matching CHECKPOINT-END in the same block",
                    d.span)


# Math functions whose repeated calls in one assignment's adjoint are
# evaluated once (_shared_calls): pure, real-valued, elemental.
_SHARED_CALLS = frozenset({
    "exp", "log", "log10", "log1p", "expm1", "sqrt", "cbrt", "pow", "hypot",
    "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh",
    "asinh", "acosh", "atanh", "erf", "erfc", "lgamma", "tgamma"})


def _increment(lhs: Ref, rhs: Expr):
    """(sign, e) when rhs is `lhs + e`, `e + lhs` or `lhs - e` with the
    assigned variable absent from e; None otherwise."""
    if not isinstance(rhs, Bin) or rhs.op not in ("+", "-"):
        return None

    def same(x: Expr) -> bool:
        return x == lhs

    def free(x: Expr) -> bool:
        return not any(isinstance(y, Ref) and y.name == lhs.name for y in walk_expr(x))
    if same(rhs.left) and free(rhs.right):
        return (1 if rhs.op == "+" else -1), rhs.right
    if rhs.op == "+" and same(rhs.right) and free(rhs.left):
        return 1, rhs.left
    return None


def _simple(e: Expr) -> bool:
    """Cheap enough to evaluate twice."""
    if isinstance(e, Un) and e.op == "-":
        e = e.operand
    return isinstance(e, Lit) or (isinstance(e, Ref) and all(
        isinstance(x, (Lit, Ref)) for x in (e.subs or [])))


def _is_one(e: Expr) -> bool:
    return isinstance(e, Lit) and e.type.base in ("real", "integer") and float(e.text) == 1.0


def _constant(e: Optional[Expr]) -> bool:
    return e is None or isinstance(e, Lit) or (isinstance(e, Un) and isinstance(e.operand, Lit))


def _warn_read_rerun(r: Routine) -> None:
    """A joint adjoint runs its routine again: a READ in it reads again."""
    from ..diagnostics import warn
    from ..ir.visit import walk_stmts
    for s in walk_stmts(r.body):
        if isinstance(s, Read):
            warn(f"READ in '{r.name}' runs again when its adjoint re-runs '{r.name}' "
                 "(joint mode): the unit must give the same values again (reopened or "
                 f"rewound), or make the call split (--split {r.name}) so it reads once", s.span)
            return


def _index_at(sub: Expr, k: Expr) -> Expr:
    """Element k of a vector subscript: idx -> idx(k); idx(a:b) -> idx(a+k-1)."""
    if isinstance(sub, Ref) and sub.subs is None and not sub.path:
        return Ref(sub.name, [k])
    if isinstance(sub, Ref) and not sub.path and len(sub.subs) == 1 and isinstance(sub.subs[0], Section) \
            and sub.subs[0].step is None:
        lo = sub.subs[0].lo if sub.subs[0].lo is not None else Call("lbound", [Ref(sub.name), integer(1)],
                                                                    intrinsic=True)
        return Ref(sub.name, [add(clone(lo), add(k, integer(-1)))])
    raise unsupported("vector subscript that is not an integer array or a section of one",
                      getattr(sub, "span", None))
