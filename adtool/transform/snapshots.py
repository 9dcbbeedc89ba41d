"""Snapshots and recording for the reverse sweeps: what goes on the stack
before an overwrite and comes back after its adjoint (recording), what a
joint call saves of its callee's inputs so that the callee's adjoint can
re-run it (call snapshots), and what f_fwd leaves for f_bwd (exit and
allocation snapshots).  The rules of what a snapshot must hold live here.
"""
from __future__ import annotations

from typing import Optional

from ..ir.clone import clone

from ..diagnostics import unsupported
from ..ir import records
from ..ir.build import integer, real
from ..ir.visit import calls_in, read_targets, refs_in, stmt_exprs
from .elements import all_elements, element_key
from ..ir.nodes import (INT4, LOGICAL, Allocate, Assign, Bin, Call, CallStmt, Continue, Cycle,
                        Deallocate, Dim, Exit, Expr, If, Loop, Print, Raw, Read, Ref, Return,
                        Routine, Section, Select, Stmt, Stop, Type, While)


class Snapshots:
    """Part of Reverse (reverse.py): snapshots and recording."""

    def _allocation_snapshot(self, r: Routine, v: Routine) -> tuple[list[Stmt], list[Stmt]]:
        """Local allocatable arrays die with f_fwd; f_bwd re-creates them (and
        their adjoints) with the bounds they had, recorded as integers."""
        pushes: list[Stmt] = []
        pops: list[Stmt] = []
        for name, s in r.symbols.items():
            if s.storage != "local" or not s.allocatable:
                continue
            active = self.ctx.active(r, name)
            # (Arrays given to adjoint calls count: a checkpointed call pops
            # its snapshot into them.)
            if name not in (self.needed or set()) and name not in self.call_args and not active:
                continue
            bounds = []
            for k in range(1, s.rank + 1):
                for fn in ("lbound", "ubound"):
                    bounds.append(Call(fn, [Ref(name), integer(k)], intrinsic=True))
            tmps = [self._tmp(f"ad_{name}_bound", INT4) for _ in bounds]
            for b in bounds:
                pushes.append(CallStmt("ad_push_integer4", [b]))
            pop_part = [CallStmt("ad_pop_integer4", [Ref(t)]) for t in reversed(tmps)]
            subs = [Section(Ref(tmps[2 * k]), Ref(tmps[2 * k + 1])) for k in range(s.rank)]
            items = [Ref(name, clone(subs))]
            if active:
                items.append(Ref(self.ctx.dname(r, name), clone(subs)))
            pop_part.append(Allocate(items))
            if active:
                pop_part.append(_zero_assign(Ref(self.ctx.dname(r, name)), s.type))
            pops = pop_part + pops
            for t in tmps:
                v.symbols[t] = self.out.symbols[t]
        return pushes, pops

    def _guard_formal_restores(self, r: Routine, v: Routine, pops: list[Stmt]) -> list[Stmt]:
        """f_bwd restores its arguments' values from f_fwd's exit, but an
        argument may be associated with a constant in the caller: pop into a
        temporary and write the argument only if the value changed."""
        out: list[Stmt] = []
        for p in pops:
            if not isinstance(p, CallStmt) or not isinstance(p.args[0], Ref) or p.args[0].path:
                out.append(p)        # records: never a literal constant, popped in place
                continue
            target = p.args[0]
            s = self.ctx.sym(r, target.name)
            if s is None or s.storage != "arg" or (r.kind == "function" and target.name == r.result) \
                    or (r.name, target.name) not in self.constant_actual:
                out.append(p)
                continue
            rank = s.rank
            if rank and self.ctx.tu.language == "c":
                # C arrays are never literal constants: pop in place
                out.append(p)
                continue
            if s.optional:          # pushed only if present (transform/optional_args.py)
                whole = out
                out = []
            tmp = self.ctx.fresh(v, f"ad_{target.name}_exit", clone(s.type),
                                 [Dim(None, None, True)] * rank if rank else None)
            if rank:
                v.symbols[tmp].allocatable = True
                out.append(Raw(f"allocate({tmp}, mold={target.name})"))
                out.append(CallStmt(p.name, [Ref(tmp), Call("size", [Ref(tmp)], [("kind", integer(8))],
                                                                intrinsic=True)]))
                cond = Call("any", [Bin("!=", Ref(tmp), Ref(target.name))], intrinsic=True)
            else:
                out.append(CallStmt(p.name, [Ref(tmp)] + p.args[1:]))
                cond = Bin("!=", Ref(tmp), Ref(target.name)) if s.type.base != "logical" \
                    else Bin("neqv", Ref(tmp), Ref(target.name))
            out.append(If([(cond, [Assign(Ref(target.name), Ref(tmp))])]))
            if rank:
                out.append(Deallocate([tmp]))
            if s.optional:
                whole.append(If([(Call("present", [Ref(target.name)], intrinsic=True), out)]))
                out = whole
        return out

    def _exit_snapshot(self, r: Routine, bwd: list[Stmt]) -> list[str]:
        """What f_bwd reads that may not survive until it runs: every needed
        local, and needed arguments/globals that something writes.  A name
        the backward sweep overwrites whole (typically by popping its
        recorded value) before any read needs no exit value."""
        out = []
        formals_passed = {n for n in self._in_place_args(bwd) if n in r.args}
        killed = self._killed_before_read(r, bwd)
        for name in sorted((set(self.needed or ()) | formals_passed) - killed):
            s = self.ctx.sym(r, name)
            if s is None or s.is_parameter or s.external:
                continue
            if s.storage == "arg" and (r.name, name) in self.stable:
                continue                 # nobody changes it: f_bwd sees the same value
            if s.storage in ("local", "result", "arg"):
                # Locals die with the call; arguments may be overwritten by the
                # caller before f_bwd runs.
                out.append(name)
            elif self.ctx.scopes.var(r.name, name) in self.written:
                out.append(name)
        # Generated temporaries read by the backward sweep are locals too.
        for name in sorted(self.needed or ()):
            if self.ctx.sym(r, name) is None and name in self.out.symbols:
                out.append(name)
        return out

    def _in_place_args(self, bwd: list[Stmt]) -> set[str]:
        """Variables the backward sweep passes to adjoint calls that expect
        to find them in place: every argument of a joint call (its snapshot
        leaves out formals the routine never writes, see _written_here), and
        the arguments of a split call whose formal is in self.stable;
        otherwise f_bwd restores its input itself."""
        from ..ir.visit import walk_stmts as _walk
        out: set[str] = set()
        for s in _walk(bwd):
            primal = getattr(s, "primal_call", None)
            if not isinstance(s, CallStmt) or s.name.startswith(("ad_push", "ad_pop", "ad_prof")):
                continue
            if primal is None:
                out.update(a.name for a in s.args if isinstance(a, Ref))
                continue
            callee = self.ctx.tu.routine(primal[0])
            joint = s.name != primal[0] + "_bwd"
            for f, a in zip(callee.args if callee else [], primal[1]):
                if isinstance(a, Ref) and (joint or (primal[0], f) in self.stable):
                    out.add(a.name)
        return out

    def _killed_before_read(self, r: Routine, bwd: list[Stmt]) -> set[str]:
        """Names the straight-line head of the backward sweep sets whole
        (pop into the whole variable, or whole assignment not reading it)
        before anything reads them.  A small array of constant bounds is
        also set whole when every one of its elements is popped or
        assigned at a constant subscript before any read of an element
        not yet set (`pop proj(2); ... proj(2) ...; pop proj(1)`): its exit
        values are never read either."""
        killed: set[str] = set()
        read: set[str] = set()
        partial: dict[str, set[tuple]] = {}

        def fresh_reads(st: Stmt, reads: set[str], target: Optional[Ref]) -> set[str]:
            # A read of an element already set is not a read of its exit value.
            out = set(reads)
            for n in reads & set(partial):
                refs = [x for e in stmt_exprs(st) for x in refs_in(e) if x.name == n]
                if all(x is target or element_key(x) in partial[n] for x in refs):
                    out.discard(n)
            return out

        def set_element(ref: Ref) -> None:
            key = element_key(ref)
            n = ref.name
            if key is None or n in read or n in killed:
                return
            every = all_elements(self.ctx.sym(r, n), r.language, lambda x: self.ctx.sym(r, x))
            if every is None:
                return
            partial.setdefault(n, set()).add(key)
            if partial[n] >= every:
                killed.add(n)

        for st in bwd:
            reads = self._reads_of([st])
            if isinstance(st, CallStmt) and st.name.startswith("ad_pop") and st.args \
                    and isinstance(st.args[0], Ref) and st.args[0].path is None:
                target = st.args[0]
                name = target.name
                read |= fresh_reads(st, reads, target) - {name}
                if target.subs is None:
                    if name not in read:
                        killed.add(name)
                else:
                    set_element(target)
                continue
            if isinstance(st, Assign) and st.lhs.path is None \
                    and not getattr(st, "sets_loop_index", False):
                name = st.lhs.name
                own = fresh_reads(st, reads, st.lhs)
                if st.lhs.subs is None and name not in reads:
                    read |= own
                    if name not in read:
                        killed.add(name)
                    continue
                if st.lhs.subs is not None and name not in own:
                    read |= own
                    set_element(st.lhs)
                    continue
            if not isinstance(st, (CallStmt, Assign)):
                # Anything else (loops, branches, adjoint calls): stop here;
                # what follows may read anything.
                break
            read |= fresh_reads(st, reads, None)
            if isinstance(st, CallStmt) and not st.name.startswith("ad_"):
                break
        return killed

    # ================================================================ recording

    def _record(self, r: Routine, targets: list[Ref]) -> tuple[list[Stmt], list[Stmt]]:
        """push before an overwrite / pop after its adjoint, for needed targets only."""
        return self._push_pop(r, self._recorded(targets))

    def _recorded(self, targets: list[Ref]) -> list[Ref]:
        if self.needed is None:
            return []
        later = self._later if self._later is not None else self.needed
        return [t for t in targets if t.name in later
                and self._may_hold_value(t.name, _written_key(t))]

    def _may_hold_value(self, name: str, part: Optional[str] = None) -> bool:
        """False for a local nothing can have written yet: its old value is
        garbage nobody reads, so recording it costs memory for nothing.
        part: the record component (`s%a%b`) when only that is recorded; a
        record's components are written one by one, so a record holds a
        value when any of its components does."""
        key = part or name
        if key in self._wr or name in self._wr:
            return True
        if any(key.startswith(w + "%") or w.startswith(key + "%") for w in self._wr if "%" in w):
            return True
        s = self.ctx.sym(self.r, name)
        if s is None:
            return name not in self.out.symbols     # generated temporaries start empty
        return not (s.storage == "local" and not s.save and s.init is None)

    def _note_writes(self, stmts: list[Stmt], fresh_per_trip: Optional[str] = None) -> None:
        from ..ir.visit import walk_stmts as _walk
        fresh = _fresh_per_trip(stmts, fresh_per_trip) if fresh_per_trip else set()
        for x in _walk(stmts):
            if isinstance(x, Assign):
                # a function called in the right side writes what it is
                # given by reference (`y = f(x, &k)` sets k)
                for c in calls_in(x.rhs):
                    if not c.intrinsic:
                        self._wr.update(_written_key(a) or a.name for a in c.args if isinstance(a, Ref))
                if x.lhs.name in fresh:
                    continue
                self._wr.add(_written_key(x.lhs) or x.lhs.name)
            elif isinstance(x, (Loop,)):
                self._wr.add(x.var)
            elif isinstance(x, CallStmt):
                self._wr.update(_written_key(a) or a.name for a in x.args if isinstance(a, Ref))
            elif isinstance(x, Allocate):
                self._wr.update(i.name for i in x.items)
            elif isinstance(x, Print):
                self._wr.update(read_targets(x))

    def _push_pop(self, r: Routine, refs: list[Ref]) -> tuple[list[Stmt], list[Stmt]]:
        pushes: list[Stmt] = []
        pops: list[Stmt] = []
        plain: list[Ref] = []
        for t in refs:
            typ = self._type(t)
            if typ.base != "derived":
                plain.append(t)
                continue
            # A record is recorded component by component, every type:
            # what a re-run reads may be an integer or character component.
            pu, po = self._push_pop_record(r, t, typ)
            pushes.extend(pu)
            pops[:0] = po
        refs = plain
        if not refs:
            return pushes, pops
        done_pushes, done_pops = pushes, pops
        pushes, pops = [], []
        for t in refs:
            typ = self._type(t)
            rank = self._rank(t)
            tag = _type_tag(typ, t, r.language)
            if rank == 0:
                if tag in ("logical", "character"):
                    pushes.append(CallStmt(f"ad_push_{tag}", [clone(t)]))
                    pops.append(CallStmt(f"ad_pop_{tag}", [clone(t)]))
                else:
                    pushes.append(CallStmt(f"ad_push_{tag}", [clone(t)]))
                    pops.append(CallStmt(f"ad_pop_{tag}", [clone(t)]))
            else:
                s = self._sym(t.name)
                if s is not None and t.subs is None and s.shape and s.shape[-1].ub is None \
                        and not s.shape[-1].assumed:
                    if r.language == "c":
                        raise unsupported(
                            "recording a pointer argument whose extent adtool cannot infer", s.span,
                            f"{t.name}: state it before the function, e.g. '// $AD EXTENT {t.name} n'")
                    raise unsupported("recording an assumed-size array (declare its size)",
                                      s.span, t.name)
                n = Call("size", [clone(t)], [("kind", integer(8))], intrinsic=True)
                pushes.append(CallStmt(f"ad_push_{tag}_array", [clone(t), n]))
                pops.append(CallStmt(f"ad_pop_{tag}_array", [clone(t), clone(n)]))
        return done_pushes + pushes, list(reversed(pops)) + done_pops

    def _push_pop_record(self, r: Routine, t: Ref, typ: Type) -> tuple[list[Stmt], list[Stmt]]:
        pushes: list[Stmt] = []
        pops: list[Stmt] = []
        rank = self._rank(t)
        for cname, c in records.typedef(typ).components.items():
            sub = records.with_path(t, [records.Part(cname)])
            if not self._may_hold_value(t.name, _written_key(sub)):
                continue            # a local's component nothing has written yet
            if c.allocatable:
                if rank or c.type.base == "derived":
                    raise unsupported("recording an allocatable component of an array of "
                                      "records, or of record type", t.span, f"{t.name}%{cname}")
                pu, po = self._push_pop_allocatable(r, sub)
            elif rank and (c.shape or c.type.base == "derived"):
                pu, po = self._push_pop_each(r, t, cname)
            elif c.type.base == "derived":
                pu, po = self._push_pop_record(r, sub, c.type)
            else:
                pu, po = self._push_pop(r, [sub])
            pushes.extend(pu)
            pops[:0] = po
        return pushes, pops

    def _push_pop_allocatable(self, r: Routine, sub: Ref) -> tuple[list[Stmt], list[Stmt]]:
        """An allocatable component is recorded with whether it was
        allocated: its values only when it was, the flag last so that the
        pop reads it first.  (The forward sweep never deallocates a local
        record's components, so it is still allocated at the pop.)"""
        from ..ir.nodes import If
        flag = self._tmp("ad_allocated", LOGICAL)
        is_alloc = Call("allocated", [clone(sub)], intrinsic=True)
        pu, po = self._push_pop(r, [sub])
        return ([Assign(Ref(flag), is_alloc), If([(Ref(flag), pu)]),
                 CallStmt("ad_push_logical", [Ref(flag)])],
                [CallStmt("ad_pop_logical", [Ref(flag)]), If([(Ref(flag), po)])])

    def _push_pop_each(self, r: Routine, t: Ref, cname: str) -> tuple[list[Stmt], list[Stmt]]:
        """A component that is itself an array or a record, of every element
        of a one-dimensional array of records t: element by element, in a
        loop (Fortran has no array expression for it)."""
        last_subs = t.path[-1].subs if t.path else t.subs
        if last_subs is not None and self._rank(t) == 1:
            # a section of records: recorded with the whole array it is part of
            t = clone(t)
            if t.path:
                t.path[-1].subs = None
            else:
                t.subs = None
        if self._rank(t) != 1:
            raise unsupported("recording an array or record component of a "
                              "multi-dimensional array of records", t.span, t.name)
        k = self._tmp("ad_k", INT4)
        elem = clone(t)
        if elem.path:
            elem.path[-1].subs = [Ref(k)]
        else:
            elem.subs = [Ref(k)]
        pu, po = self._push_pop(r, [records.with_path(elem, [records.Part(cname)])])
        lo = Call("lbound", [clone(t), integer(1)], intrinsic=True)
        hi = Call("ubound", [clone(t), integer(1)], intrinsic=True)
        return ([Loop(k, lo, hi, None, pu)],
                [Loop(k, clone(hi), clone(lo), integer(-1), po)])

    def _note_adjoint_use(self, r: Routine, body: list[Stmt]) -> None:
        """use(C_b): what r's joint adjoint f_b (its forward sweep after the
        dead work is gone, then its backward sweep) reads before writing,
        among r's formals and the globals, for the snapshots of r's joint
        call sites.  A linear routine's f_b reads no primal value at all."""
        from .deadfwd import upward_exposed
        live = upward_exposed(self.ctx.tu, r, self.ctx.scopes, self.rw.s, body, self.adjoint_use)
        use = self._as_inputs(r, live) if live is not None else None
        if use is not None:            # (None: jumps or unknown names, the primal's use stands)
            self.adjoint_use[r.name] = use
        writes = self._as_inputs(r, self._body_writes(r, body))
        if writes is not None:
            self.adjoint_writes[r.name] = writes

    def _as_inputs(self, r: Routine, vs: Optional[set]) -> Optional[set]:
        """r's formals and the globals among Vars of r's variant (private
        aliases of globals mapped back); None if a name cannot be placed."""
        if vs is None:
            return None
        out = set()
        for v in vs:
            if v.scope == r.name:
                if v.name in r.args:
                    out.add(v)
                elif v.name in self._alias_vars:
                    out.add(self._alias_vars[v.name])     # a global under a private name
                elif v.name not in r.symbols and v.name not in self.out.symbols:
                    return None
                continue
            out.add(v)
        return out

    def _body_writes(self, r: Routine, body: list[Stmt]) -> Optional[set]:
        """Vars a generated body of r's may change (conservative): its
        assignments and calls; None when a call's effects are unknown."""
        from ..ir.visit import calls_in, stmt_exprs, walk_stmts as _walk
        from .deadfwd import _Names
        names = _Names(self.ctx.tu, r, self.ctx.scopes, self.rw.s)
        out = set()
        for st in _walk(body):
            for e in stmt_exprs(st):
                for c in calls_in(e):
                    if not c.intrinsic:
                        w = names.call_effects(c.name, c.args, "writes")
                        if w is None:
                            return None
                        out |= w
            if isinstance(st, Assign):
                out.add(names.var(st.lhs.name))
            elif isinstance(st, Loop):
                out.add(names.var(st.var))
            elif isinstance(st, Print):
                out |= {names.var(n) for n in read_targets(st)}
            elif isinstance(st, (Allocate, Deallocate)):
                return None
            elif isinstance(st, CallStmt):
                refs = {names.var(a.name) for a in st.args if isinstance(a, Ref)}
                if st.name.startswith(("ad_push", "ad_pop", "ad_prof")):
                    # A pop restores what a push of this body took: a
                    # variable nothing else here writes keeps its value.
                    continue
                primal = getattr(st, "primal_call", None) or getattr(st, "fwd_of", None)
                name, args = primal if primal is not None else (st.name, st.args)
                if primal is not None and st.name == name + "_b" and name in self.adjoint_writes:
                    # a joint adjoint call writes what that f_b writes
                    names.adjoint_use = {name: self.adjoint_writes[name]}
                    w = names.call_effects(name, args, "adjoint_use")
                    names.adjoint_use = {}
                else:
                    w = names.call_effects(name, args, "writes")
                    if w is not None and primal is not None:
                        w = w | refs             # f_bwd / f_b may restore its arguments
                if w is None:
                    return None
                out |= w
            elif isinstance(st, Raw):
                import re
                m = re.fullmatch(r"\s*allocate\((\w+)\s*[(,].*", st.text, re.S)
                if m is None:
                    return None
                out.add(names.var(m.group(1)))     # a temporary made here
            elif not isinstance(st, (If, Loop, Select, While, Print, Continue, Return, Cycle,
                                     Exit, Stop)):
                return None
        return out

    def _snapshot(self, callee: Routine, args: list[Expr]) -> list[Ref]:
        """use(C_b) ∩ (out(C) ∪ written anywhere): the inputs the callee's
        joint adjoint reads (its forward re-run and backward sweep,
        _note_adjoint_use; the primal's use when not known) that may have
        changed by the time it runs."""
        summ = self.rw.summary(callee.name)
        out: list[Ref] = []
        use = self.adjoint_use.get(callee.name, summ.use)
        for v in sorted(use, key=str):
            ref = self._map_formal(callee, args, v)
            if ref is None:
                continue
            if v not in summ.writes and not self._written_here(ref.name):
                continue
            s = self._sym(ref.name)
            if s is not None and s.is_parameter:
                continue
            if all(not _same_ref(ref, o) for o in out):
                out.append(ref)
        return out

    def _written_here(self, name: str) -> bool:
        """May `name` (as seen from the routine being differentiated) change
        between here and the adjoint of what is here (in f_b: what this
        routine runs from here on, see Reverse.block; otherwise anywhere in
        the differentiated program)?"""
        sym = self.ctx.sym(self.r, name)
        if sym is None:
            return True          # a generated temporary or an alias: be safe
        # A formal the routine (and its callees) never writes keeps its value
        # for the whole invocation; between f_fwd and f_bwd the exit snapshot
        # puts it back (see _exit_snapshot).
        var = self.ctx.scopes.var(self.r.name, name)
        if self._after is not None:
            # in f_b: between here and the adjoint only this routine runs
            return var in self._after
        return var in self.written


def _fresh_per_trip(body: list[Stmt], var: str) -> set[str]:
    """Arrays that a loop body over index `var` writes only as elements
    subscripted by `var` itself (x(var) = ..., x(j, var) = ...), with `var`
    unchanged by the body: no trip overwrites what an earlier trip wrote."""
    from ..ir.visit import calls_in, walk_expr, walk_stmts as _walk
    from ..ir.nodes import Select, While
    ok: dict[str, bool] = {}
    for x in _walk(body):
        if isinstance(x, Assign):
            lhs = x.lhs
            own = lhs.path is None and lhs.subs is not None and any(
                isinstance(d, Ref) and d.name == var and d.subs is None and d.path is None
                for d in lhs.subs)
            ok[lhs.name] = ok.get(lhs.name, True) and own
            if lhs.name == var:
                return set()
            for c in calls_in(x.rhs):
                if not c.intrinsic:
                    for a in c.args:       # a function may write its arguments
                        for y in walk_expr(a):
                            if isinstance(y, Ref):
                                ok[y.name] = False
        elif isinstance(x, CallStmt):
            for a in x.args:
                if isinstance(a, Ref):
                    ok[a.name] = False
                    if a.name == var:
                        return set()
        elif isinstance(x, Loop) and x.var == var:
            return set()
        elif isinstance(x, Print) and read_targets(x):
            if var in read_targets(x):
                return set()
            for n in read_targets(x):
                ok[n] = False
        elif not isinstance(x, (If, Loop, Select, While)) and hasattr(x, "items"):
            for i in x.items:
                ok[getattr(i, "name", "")] = False
    return {n for n, good in ok.items() if good}


def _written_key(ref: Ref) -> Optional[str]:
    """`s%a%b` for a reference into component s%a%b, whatever its
    subscripts (None: no path)."""
    return "%".join([ref.name] + [p.name for p in ref.path]) if ref.path else None


def _whole_or_part(ref: Ref) -> Ref:
    return Ref(ref.name, clone(ref.subs), clone(ref.path), span=ref.span)


def _same_ref(a: Ref, b: Ref) -> bool:
    return a == b


def _zero_assign(target: Ref, typ: Type, rank: int = 0) -> Assign:
    from ..ir.records import zero_statement
    return zero_statement(target, typ, rank)


def _type_tag(t: Type, where: Ref, language: str = "fortran") -> str:
    if t.base == "real":
        return {4: "real4", 8: "real8"}.get(t.kind) or _bad(t, where)
    if t.base == "integer":
        if t.kind == 1 and language == "c" and not t.char:
            return "bool"                  # C's _Bool (frontend/c_types.py BOOL)
        if t.kind in (1, 2) and language == "c":
            return f"integer{t.kind}"      # C's char types and short (ir/nodes.py CHAR, INT2)
        return {4: "integer4", 8: "integer8"}.get(t.kind) or _bad(t, where)
    if t.base in ("logical", "character"):
        return t.base
    return _bad(t, where)


def _bad(t: Type, where: Ref):
    raise unsupported(f"recording a value of type {t}", where.span, where.name)

