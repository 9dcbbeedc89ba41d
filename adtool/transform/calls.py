"""Calls in the reverse sweeps: a call of a differentiated routine becomes
its forward-sweep call (the primal in joint mode, f_fwd in split mode) and
its adjoint call (f_b after the snapshot is restored, or f_bwd); formals and
globals the callee touches are mapped to what the caller can name.
"""
from __future__ import annotations

from typing import Optional

from ..ir.clone import clone
from ..diagnostics import unsupported
from ..analysis.recompute import restorable
from ..ir.build import integer
from ..ir.nodes import Assign, Call, CallStmt, Expr, Ref, Routine, Stmt, Use
from .association import associated_part
from .sweeps import Sweeps
from .snapshots import _same_ref, _whole_or_part, _zero_assign


class Calls:
    """Part of Reverse (reverse.py): call handling."""


    def call(self, s: Stmt, name: str, args: list[Expr], result: Optional[Ref] = None) -> Sweeps:
        r = self.r
        ctx = self.ctx
        callee = ctx.tu.routine(name)
        # Caller-side recording: what the call may overwrite and our backward sweep reads.
        outs = self._call_outputs(name, args, result)
        push_t, pop_t = self._record(r, outs)
        via = getattr(s, "via", None) or getattr(getattr(s, "rhs", None), "via", None)
        if result is not None:
            primal: Stmt = Assign(clone(result), Call(name, clone(args), via=via), span=s.span)
        else:
            primal = CallStmt(name, clone(args), span=s.span, via=via)
        if callee is None or name not in self.calls.diff:
            kill = []
            if result is not None and ctx.is_real(r, result) and ctx.active(r, result.name):
                # a passive value overwrites an active variable: its adjoint dies here
                kill = [_zero_assign(ctx.dref(r, result), self._type(result))]
            return Sweeps(push_t + [primal], pop_t + kill)
        pre: list[Stmt] = []
        after: list[Stmt] = []
        adj_args = self.calls.derivative_actuals(r, self.out, callee, args, pre, result, after)
        if result is not None:
            # f_b(x, xb, fb): the primal result itself is not an argument of the
            # adjoint (f_b(x, xb) for an integer result, which has no fb)
            del adj_args[-2 if self.calls.result_differentiable(callee) else -1]
        post: list[Stmt] = list(after)
        if result is not None and ctx.active(r, result.name):
            post.append(_zero_assign(ctx.dref(r, result), self._type(result)))
        mode = self.mode_of(r, s)
        prof = self._profile_ids(s, mode)
        if mode == "split":
            fargs = clone(args) + ([clone(result)] if result is not None else [])
            fcall = CallStmt(name + "_fwd", fargs, span=s.span)
            fcall.fwd_of = (name, clone(args))                # for deadfwd.py
            # id+1: the caller's own recording around the call (planner.py)
            fwd = _profiled(prof, 1, push_t) + _profiled(prof, 0, [fcall])
            # Temporaries f_bwd does not restore itself (see _formal_facts).
            again = self._reevaluate([a for f, a in zip(callee.args, args) if (name, f) in self.stable])
            adj = CallStmt(name + "_bwd", adj_args, span=s.span)
            adj.primal_call = (name, clone(args))      # for deadfwd.py
            bwd = again + pre + _profiled(prof, 2, [adj] + post + pop_t)
            return Sweeps(fwd, bwd)
        snap = self._snapshot(callee, args)
        if self.needed is None:
            by_call = {o.name for o in outs}
            self._joint_inputs |= {x.name for x in snap if x.name not in by_call}
        # Inputs re-evaluated from their expressions need no snapshot.
        again = self._reevaluate([x for x in snap if restorable(self.restorable, r.name, x) is not None])
        snap = [x for x in snap if restorable(self.restorable, r.name, x) is None]
        # Inputs our backward sweep reads anyway are recorded before every
        # overwrite and restored after it: unless the call writes them, they
        # hold at f_b what they held at the call, snapshot or not.
        if self.needed is not None:
            by_call = {o.name for o in outs}
            later = self._later if self._later is not None else self.needed
            snap = [x for x in snap if x.name not in later or x.name in by_call
                    or self.ctx.sym(r, x.name) is None]
        # A value both recorded (the call overwrites it, our backward sweep
        # reads it) and snapshotted (the call reads it) goes on the stack
        # once: popped to restore the call's input, pushed back for the
        # duration of f_b, popped again after it.
        kept = self._recorded(outs)
        both = [x for x in snap if any(_same_ref(x, k) for k in kept)]
        if both:
            push_t, pop_t = self._push_pop(r, [k for k in kept if not any(_same_ref(k, x) for x in both)])
            snap = [x for x in snap if not any(_same_ref(x, b) for b in both)]
        # When f_b writes none of them (its re-run, after dead-work removal,
        # leaves them alone), they still hold the call's inputs after it:
        # one pop restores both.
        once = [x for x in both if not self._adjoint_may_write(callee, args, x)]
        both = [x for x in both if not any(_same_ref(x, o) for o in once)]
        push_o, pop_o = self._push_pop(r, once)
        push_b, pop_b = self._push_pop(r, both)
        push_s, pop_s = self._push_pop(r, snap)
        fwd = _profiled(prof, 1, push_t + push_b + push_o + push_s) + _profiled(prof, 0, [primal])
        adj = CallStmt(name + "_b", adj_args, span=s.span)
        adj.primal_call = (name, clone(args))          # for deadfwd.py
        # id+3: what of the recording is pushed back for the duration of f_b
        # (both, not once): the caller's part of the stack while f_b runs
        bwd = _profiled(prof, 2, pop_s + pop_o + pop_b + _profiled(prof, 3, clone(push_b))
                        + again + pre + [adj] + post + pop_b + pop_t)
        return Sweeps(fwd, bwd)

    def _adjoint_may_write(self, callee: Routine, args: list[Expr], x: Ref) -> bool:
        """May the joint adjoint callee_b change x (a caller-side name)?"""
        writes = self.adjoint_writes.get(callee.name)
        if writes is None:
            return True
        xv = self._alias_vars.get(x.name) or self.ctx.scopes.var(self.r.name, x.name)
        for v in writes:
            if v.scope == callee.name:
                if v.name in callee.args:
                    a = args[callee.args.index(v.name)]
                    if isinstance(a, Ref) and a.name == x.name:
                        return True
                continue
            if v == xv:
                return True
        return False

    def _reevaluate(self, actuals: list[Expr]) -> list[Stmt]:
        """Assign again the argument temporaries among actuals that can be
        re-evaluated (analysis/recompute.py), for an adjoint call."""
        out: list[Stmt] = []
        for a in actuals:
            e = restorable(self.restorable, self.r.name, a)
            if e is not None and not any(x.lhs.name == a.name for x in out):
                out.append(Assign(Ref(a.name), e))
        return out

    def _profile_ids(self, s: Stmt, mode: str) -> Optional[int]:
        """With profiling on, each call site gets four runtime site ids:
        base (its forward-sweep call), base+1 (the caller's recording and
        the snapshot), base+2 (its adjoint call and the pops after it),
        base+3 (inside base+2: what of the recording a joint call pushes
        back for the duration of f_b); the table maps them back to
        caller/callee#k."""
        if self.profile is None or self.needed is None:
            return None
        node = s.rhs if isinstance(s, Assign) else s
        key = getattr(node, "site_key", None) or f"{self.r.name}/{node.name}"
        if key not in self.profile:
            self.profile[key] = {"id": 4 * (len(self.profile) + 1), "mode": mode,
                                 "caller": self.r.name, "callee": node.name}
        return self.profile[key]["id"]

    def _map_formal(self, callee: Routine, args: list[Expr], var) -> Optional[Ref]:
        """The caller-side expression for a callee Var (formal or global)."""
        r = self.r
        if var.scope == callee.name:
            if var.name in callee.args:
                a = args[callee.args.index(var.name)]
                if isinstance(a, Ref):
                    return associated_part(a, callee.symbols.get(var.name), self._sym(a.name),
                                           callee, args)
            return None
        for local, sym, v in self.ctx.scopes.visible(r.name):
            if v == var and not sym.is_parameter:
                return Ref(local)
        # A global the caller cannot name: bring it in under a private alias.
        return self._alias_global(var)

    def _alias_global(self, var) -> Optional[Ref]:
        """A global the callee touches but the caller cannot name: bring it
        into the generated routine under a private alias (use-rename for a
        module variable, a copy of the COMMON declaration otherwise)."""
        out = self.out
        if var.is_module:
            mod = var.scope.split(":", 1)[1]
            alias = f"ad_{mod}_{var.name}"
            self._alias_vars[alias] = var
            if alias not in self._alias_syms:
                out.uses.append(Use(mod, [alias], [(alias, var.name)]))
                s = clone(self.ctx.tu.module(mod).symbols[var.name])
                s.name = alias
                self._alias_syms[alias] = s
            return Ref(alias)
        if var.is_common:
            blk = var.scope.split(":", 1)[1]
            k = int(var.name.rsplit("#", 1)[1])
            if blk not in out.commons:
                decl = next((rt for rt in self.ctx.tu.all_routines() if blk in rt.commons), None)
                if decl is None:
                    raise unsupported(f"COMMON /{blk}/ is declared nowhere", self.r.span)
                members = []
                for j, m in enumerate(decl.commons[blk], start=1):
                    s = clone(decl.symbols[m])
                    s.name = f"ad_{blk}_{j}"
                    out.symbols[s.name] = s
                    self._alias_syms[s.name] = s
                    members.append(s.name)
                out.commons[blk] = members
            self._alias_vars[out.commons[blk][k - 1]] = var
            return Ref(out.commons[blk][k - 1])
        return None

    def _call_outputs(self, name: str, args: list[Expr], result: Optional[Ref]) -> list[Ref]:
        callee = self.ctx.tu.routine(name)
        outs: list[Ref] = []
        if result is not None:
            outs.append(_whole_or_part(result))
        if callee is None:
            # Unknown to us (cannot happen past the call-graph check); assume it writes its arguments.
            return outs + [_whole_or_part(a) for a in args if isinstance(a, Ref)]
        summ = self.rw.summary(callee.name)
        for v in sorted(summ.writes, key=str):
            ref = self._map_formal(callee, args, v)
            if ref is not None and ref.name not in {o.name for o in outs}:
                outs.append(ref)
        return outs


def _call_arg_names(bwd: list[Stmt]) -> set[str]:
    """Variables the backward sweep passes to adjoint calls."""
    from ..ir.visit import walk_stmts as _walk
    out: set[str] = set()
    for s in _walk(bwd):
        if isinstance(s, CallStmt) and not s.name.startswith(("ad_push", "ad_pop", "ad_prof")):
            out.update(a.name for a in s.args if isinstance(a, Ref))
    return out


def _profiled(base: Optional[int], offset: int, stmts: list[Stmt]) -> list[Stmt]:
    if base is None or not stmts:
        return stmts
    sid = integer(base + offset)
    return [CallStmt("ad_prof_enter", [sid])] + stmts + [CallStmt("ad_prof_exit", [clone(sid)])]
