"""Tangent mode: f -> f_d computing f and its directional derivative.

Each active assignment is preceded by the assignment of its tangent (so the
tangent sees the values before the primal overwrites them), each call to a
differentiated routine becomes a call to its _d twin with tangent arguments
interleaved, and control flow is kept as it is.
"""
from __future__ import annotations

import copy
from ..ir.clone import clone
from typing import Optional

from ..diagnostics import unsupported
from ..ir.build import add, mul, neg, real
from .io_reads import primal_read, zero_read_derivatives
from ..ir.nodes import (Read, Allocate, ArrayCtor, Deallocate, Assign, Bin, Call, CallStmt, Case, Cast,
                        Cond, Expr, If, Lit, Loop, Ref, Routine, Select, Stmt,
                        Un, While)
from .context import DiffContext
from .prune import prune_unused
from .rules import RuleError, bind_call, rule
from .variants import (CallPlanner, allocate_derivatives, is_transform_temporary,
                       is_whole_allocatable, reallocating, zero)


class Tangent:
    def __init__(self, ctx: DiffContext, calls: CallPlanner):
        self.ctx = ctx
        self.calls = calls

    # ------------------------------------------------------------ expressions

    def texpr(self, r: Routine, e: Expr) -> Optional[Expr]:
        """Tangent of e, or None when it is identically zero."""
        ctx = self.ctx
        if isinstance(e, Lit):
            return None
        if isinstance(e, Ref):
            return ctx.dref(r, e) if ctx.is_real(r, e) else None
        if isinstance(e, Un):
            t = self.texpr(r, e.operand)
            if t is None or e.op == "not":
                return None
            return neg(t) if e.op == "-" else t
        if isinstance(e, Bin):
            if e.op not in ("+", "-", "*", "/", "**"):
                return None
            k = self._kind(r, e)
            return self._combine(r, rule(e.op).partials([e.left, e.right], k), [e.left, e.right])
        if isinstance(e, Cast):
            return self.texpr(r, e.operand) if e.type.base == "real" else None
        if isinstance(e, Cond):
            tt, te = self.texpr(r, e.then), self.texpr(r, e.else_)
            if tt is None and te is None:
                return None
            k = self._kind(r, e)
            return Call("merge", [tt or real(0, k), te or real(0, k), e.cond], intrinsic=True)
        if isinstance(e, ArrayCtor):
            parts = [self.texpr(r, x) for x in e.items]
            if all(p is None for p in parts):
                return None
            k = self._kind(r, e)
            return ArrayCtor([p if p is not None else real(0, k) for p in parts])
        if isinstance(e, Call):
            if not e.intrinsic:
                raise unsupported("call of a differentiated function inside an expression "
                                  "that could not be hoisted", e.span)
            if e.name in _CONVERSIONS:
                # The tangent converts exactly as the value does.
                t = self.texpr(r, e.args[0]) if e.args else None
                if t is None:
                    return None
                return Call(e.name, [t] + clone(e.args[1:]), clone(e.kwargs),
                            intrinsic=True)
            if self.ctx.type_of(r, e).base not in ("real", "complex"):
                return None         # an integer, logical or character result is flat
            args = _nest_minmax(e)
            rl = rule(args.name)
            if rl is None:
                if any(self.ctx.expr_active(r, a) for a in args.args):
                    raise unsupported(f"intrinsic '{e.name}' (no derivative rule)", e.span)
                return None
            if rl.kind == "passive":
                return None
            if rl.kind == "linear":
                return self._linear(r, args, rl)
            k = self._kind(r, e)
            return self._combine(r, rl.partials(args.args, k), args.args)
        raise unsupported(f"expression {type(e).__name__}", e.span)

    def _linear(self, r: Routine, e: Call, rl) -> Optional[Expr]:
        try:
            b, rk = bind_call(e, lambda x: self.ctx.type_of(r, x),
                              lambda x: self.ctx.rank_of(r, x), lambda n: self.ctx.sym(r, n))
        except RuleError as err:
            raise unsupported(str(err), e.span)
        d = {}
        for n, a in b.items():
            t = self.texpr(r, a) if self.ctx.is_real(r, a) else None
            if t is not None and n not in rl.diff:
                raise unsupported(f"{e.name} with an active {n}= argument", e.span)
            if t is not None:
                d[n] = self._broadcast(r, e.name, a, t)
        if not d:
            return None
        try:
            return rl.tangent(b, d, self._kind(r, e), rk)
        except RuleError as err:
            raise unsupported(str(err), e.span)

    def _broadcast(self, r: Routine, name: str, arg: Expr, d: Optional[Expr]) -> Optional[Expr]:
        """An array argument whose tangent is a scalar (active only through a
        scalar term): give the array intrinsic an array of that value."""
        if d is None or self.ctx.rank_of(r, arg) == 0 or self.ctx.deriv_rank(r, d) > 0:
            return d
        zero_like = Bin("*", real(0, self._kind(r, arg)), clone(arg))
        return Bin("+", d, zero_like)

    def _combine(self, r: Routine, partials, args: list[Expr]) -> Optional[Expr]:
        total = None
        for p, a in zip(partials, args):
            if p is None:
                continue
            t = self.texpr(r, a)
            if t is None:
                continue
            total = add(total, mul(p, t))
        return total

    def _kind(self, r: Routine, e: Expr) -> int:
        t = self.ctx.type_of(r, e)
        return t.kind if t.base == "real" else 8

    # ------------------------------------------------------------ statements

    def stmts(self, r: Routine, out_r: Routine, body: list[Stmt]) -> list[Stmt]:
        out: list[Stmt] = []
        for s in body:
            out.extend(self.stmt(r, out_r, s))
        return out

    def _broadcast_into(self, r: Routine, out_r: Routine, d: Ref, tan: Expr, value: Expr,
                        lhs: Ref, primal: list[Stmt]) -> list[Stmt]:
        """The scalar tangent is computed first (it may read the old value);
        the derivative array then takes the primal array's shape and, for a
        user's array, its bounds: allocated with mold= the array after the
        primal assignment (u(0:n-1) keeps them, so must ud)."""
        from ..backend.fortran_expr import fexpr
        from ..ir.nodes import Raw
        t = self.ctx.sym(r, d.name) or out_r.symbols[d.name]
        tmp = self.ctx.fresh(out_r, f"{d.name}_scalar", clone(t.type))
        release = If([(Call("allocated", [Ref(d.name)], intrinsic=True), [Deallocate([d.name])])])
        if is_transform_temporary(lhs.name):
            return [Assign(Ref(tmp), tan), release, Raw(f"allocate({d.name}, mold={fexpr(value)})"),
                    Assign(clone(d), Ref(tmp))] + primal
        return [Assign(Ref(tmp), tan)] + primal + [
            release, Raw(f"allocate({d.name}, mold={fexpr(Ref(lhs.name))})"), Assign(clone(d), Ref(tmp))]

    def stmt(self, r: Routine, out_r: Routine, s: Stmt) -> list[Stmt]:
        ctx = self.ctx
        if isinstance(s, Assign):
            if isinstance(s.rhs, Call) and not s.rhs.intrinsic:
                call = CallStmt(s.rhs.name, s.rhs.args, span=s.span, via=s.rhs.via)
                return self.calls.tangent_call(r, out_r, call, result=s.lhs)
            d = ctx.dref(r, s.lhs) if ctx.is_real(r, s.lhs) else None
            whole_alloc = is_whole_allocatable(ctx, r, s.lhs, s.rhs)
            primal = reallocating(s.lhs, s.rhs, ctx, r, out_r) if whole_alloc else [clone(s)]
            if d is None:
                return primal
            t = self.texpr(r, s.rhs)
            k = self._kind(r, s.lhs)
            if whole_alloc:
                tan = t if t is not None else Bin("*", real(0, k), clone(s.rhs))
                if ctx.rank_of(r, tan, lambda n: ctx.sym(r, n) or out_r.symbols.get(n)) == 0:
                    # only a scalar part is active (w = 0.5d0 * (v - t), v passive): the
                    # tangent takes the value's shape and the scalar is broadcast into it
                    return self._broadcast_into(r, out_r, d, tan, s.rhs, s.lhs, primal)
                return reallocating(d, tan, ctx, r, out_r) + primal
            return [Assign(d, t if t is not None else real(0, k), span=s.span)] + primal
        if isinstance(s, CallStmt):
            return self.calls.tangent_call(r, out_r, s)
        if isinstance(s, If):
            return [If([(clone(c), self.stmts(r, out_r, b)) for c, b in s.branches],
                       self.stmts(r, out_r, s.else_) if s.else_ is not None else None,
                       span=s.span, label=s.label)]
        if isinstance(s, Loop):
            n = copy.copy(s)
            n.body = self.stmts(r, out_r, s.body)
            n.directives = []
            return [n]
        if isinstance(s, While):
            n = copy.copy(s)
            n.body = self.stmts(r, out_r, s.body)
            n.directives = []
            return [n]
        if isinstance(s, Select):
            return [Select(clone(s.expr),
                           [Case(clone(c.values), self.stmts(r, out_r, c.body)) for c in s.cases],
                           self.stmts(r, out_r, s.default) if s.default is not None else None,
                           span=s.span, label=s.label)]
        if isinstance(s, Read):
            from ..ir.typing import type_of
            return [primal_read(s)] + zero_read_derivatives(
                ctx, r, s.items, lambda e: type_of(e, lambda n: ctx.sym(r, n), ctx.fun_type))
        if isinstance(s, Allocate):
            return [clone(s)] + allocate_derivatives(ctx, r, s)
        if isinstance(s, Deallocate):
            from .variants import deallocate_derivatives
            names, parts = deallocate_derivatives(ctx, r, s)
            return [Deallocate(names, parts, span=s.span)]
        n = clone(s)
        n.directives = []
        return [n]

    def routine(self, r: Routine) -> Routine:
        out_r = self.calls.variant_skeleton(r, "_d")
        body = self.calls.zero_local_derivatives(r, out_r)
        body += self.stmts(r, out_r, r.body)
        out_r.body = body
        prune_unused(out_r)
        return out_r


_CONVERSIONS = ("real", "dble", "sngl", "float", "dfloat")


def _nest_minmax(e: Call) -> Call:
    """min/max of n > 2 arguments as nested pairs, so each rule sees two."""
    if e.name in ("min", "max") and len(e.args) > 2:
        acc = e.args[0]
        for a in e.args[1:]:
            acc = Call(e.name, [acc, a], intrinsic=True, span=e.span)
        return acc
    return e


__all__ = ["Tangent", "zero"]
