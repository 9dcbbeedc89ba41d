"""Elemental user procedures applied to arrays become loops over elements.

    t = sq(x) + 1                do ad_e1 = 1, size(t, 1)
                         ->        t(ad_e1) = sq(x(ad_e1)) + 1
                                 end do

The transform differentiates a call as a call: `sq_b` takes the scalars
`sq` takes, so an elemental call with array actuals has no derivative call
of its own (gfortran rejects `call sq_b(x, xb, tb)` with rank-1 actuals).
In a loop every call is scalar, and the loop's adjoint runs the element
calls backwards, which an elemental derivative could not do (its pushes and
pops would come out in the same order).

An assignment whose left side is an array has its element-by-element parts
(operators, elemental intrinsics and procedures, arrays of the statement's
rank) evaluated in the loop; everything else (a reduction such as sum(x),
an array-valued intrinsic) is evaluated once before it into a temporary, as
Fortran evaluates the right side before assigning.  The loop is exact when
the array assigned is referenced in the looped part only at the elements it
assigns (`x = sq(x)`); when it is read elsewhere (`x(2:n) = sq(x(1:n-1))`)
the loop fills a temporary that is then assigned.  An elemental call in any other position (inside sum(),
in a scalar assignment, an IF condition, a call's actual) goes into an
allocated temporary filled by such a loop.  CALL of an elemental subroutine
with array actuals is a loop of scalar calls.
"""
from __future__ import annotations

from typing import Optional

from ..diagnostics import unsupported
from ..ir import elementwise, intrinsics
from ..ir.clone import clone
from ..ir.nodes import (INT4, Allocate, Assign, Bin, Call, CallStmt, Cast, Deallocate, Expr, If,
                        ImpliedDo, Lit, Loop, Ref, Return, Section, Select, Span, Stmt, Un, While)
from ..ir.visit import map_blocks, map_children, structural_key, walk_expr


class ElementalCalls:
    """nz: the normaliser of the routine (symbols, ranks, types, new locals)."""

    def __init__(self, nz):
        self.nz = nz

    # ---------------------------------------------------------- queries

    def elemental(self, name: str) -> bool:
        rt = self.nz.tu.routine(name)
        return rt is not None and rt.elemental

    def array_call(self, e: Expr) -> bool:
        """A call of an elemental user function with an array actual."""
        return (isinstance(e, Call) and not e.intrinsic and self.elemental(e.name)
                and any(self.nz.rank_of(a) > 0 for a in _actuals(e)))

    def holds(self, e: Optional[Expr]) -> bool:
        return e is not None and any(self.array_call(x) for x in walk_expr(e))

    # ---------------------------------------------------------- statements

    def block(self, stmts: list[Stmt]) -> list[Stmt]:
        out: list[Stmt] = []
        for s in stmts:
            map_blocks(s, self.block)
            out.extend(self.stmt(s))
        return out

    def stmt(self, s: Stmt) -> list[Stmt]:
        pre: list[Stmt] = []
        post: list[Stmt] = []
        span = s.span
        if isinstance(s, Assign):
            if not (self.holds(s.rhs) or self.holds(s.lhs)):
                return [s]
            s.lhs = self.subscripts(s.lhs, pre, post, span)
            rank = self.nz.rank_of(s.lhs)
            if rank == 0:
                s.rhs = self.extract(s.rhs, pre, post, span)
                return pre + [s] + post
            rhs = self.outside(s.rhs, rank, pre, post, span)
            if not self.aligned(s.lhs, rhs):
                # `x(2:n) = f(x(1:n-1))`: the whole right side first, as
                # Fortran evaluates it, into a temporary
                tmp = self.nz.new_local(s.lhs.name, self.nz.type_of(s.lhs), rank, span=span)
                bounds = [Call("size", [clone(s.lhs), Lit(str(k + 1), INT4)], intrinsic=True)
                          for k in range(rank)]
                return (pre + [Allocate([Ref(tmp, bounds)], span=span)]
                        + self.loops(Ref(tmp, span=span), rhs, rank, span)
                        + [Assign(s.lhs, Ref(tmp, span=span), span=span),
                           Deallocate([tmp], span=span)] + post)
            return pre + self.loops(s.lhs, rhs, rank, span) + post
        if isinstance(s, CallStmt):
            # (keyword actuals of user routines are in place by now)
            if self.elemental(s.name) and any(self.nz.rank_of(a) > 0 for a in s.args):
                rank = max(self.nz.rank_of(a) for a in s.args)
                s.args = [self.outside(a, rank, pre, post, span) for a in s.args]
                return pre + self.call_loops(s, rank, span) + post
            if not any(self.holds(a) for a in s.args):
                return [s]
            s.args = [self.extract(a, pre, post, span) for a in s.args]
            return pre + [s] + post
        if isinstance(s, If):
            if any(self.holds(c) for c, _ in s.branches[1:]):
                raise unsupported("elemental function applied to an array in an ELSE IF "
                                  "condition (assign it to a variable before the IF)", span)
            c0, b0 = s.branches[0]
            if self.holds(c0):
                s.branches[0] = (self.extract(c0, pre, post, span), b0)
            return pre + [s] + post
        if isinstance(s, While):
            if self.holds(s.cond):
                raise unsupported("elemental function applied to an array in a DO WHILE "
                                  "condition (assign it to a variable in the loop)", span)
            return [s]
        if isinstance(s, Select) and self.holds(s.expr):
            s.expr = self.extract(s.expr, pre, post, span)
        elif isinstance(s, Loop) and any(self.holds(x) for x in (s.lo, s.hi, s.step)):
            s.lo, s.hi = (self.extract(x, pre, post, span) for x in (s.lo, s.hi))
            if s.step is not None:
                s.step = self.extract(s.step, pre, post, span)
        elif isinstance(s, Return) and self.holds(s.value):
            s.value = self.extract(s.value, pre, post, span)
        return pre + [s] + post

    # ---------------------------------------------------------- expressions

    def subscripts(self, ref: Ref, pre, post, span: Span) -> Ref:
        if not self.holds(ref):
            return ref
        return map_children(ref, lambda x: self.extract(x, pre, post, span))

    def extract(self, e: Expr, pre: list[Stmt], post: list[Stmt], span: Span) -> Expr:
        """e with every elemental call on arrays replaced by an allocated
        temporary that a loop fills before the statement."""
        if isinstance(e, ImpliedDo) or not self.holds(e):
            return e
        if not self.array_call(e):
            return map_children(e, lambda x: self.extract(x, pre, post, span))
        rank = self.nz.rank_of(e)
        shaped = next(a for a in _actuals(e) if self.nz.rank_of(a) == rank)
        tmp = self.nz.new_local(e.name, self.nz.fun_type(e.name), rank, span=span)
        inner_pre: list[Stmt] = []
        inner_post: list[Stmt] = []
        rhs = self.outside(e, rank, inner_pre, inner_post, span)
        bounds = [Call("size", [clone(shaped), Lit(str(k + 1), INT4)], intrinsic=True)
                  for k in range(rank)]
        pre.extend(inner_pre)
        pre.append(Allocate([Ref(tmp, bounds)], span=span))
        pre.extend(self.loops(Ref(tmp, span=span), rhs, rank, span))
        pre.extend(inner_post)
        post.insert(0, Deallocate([tmp], span=span))
        return Ref(tmp, span=e.span)

    def outside(self, e: Expr, rank: int, pre, post, span: Span) -> Expr:
        """e as the looped part of a statement of the given rank: its
        element-by-element skeleton is kept, every other part is evaluated
        once before the loop."""
        if isinstance(e, Lit):
            return e
        if isinstance(e, Ref):
            if self.nz.rank_of(e) not in (0, rank):
                raise unsupported("elemental procedure applied to arrays of different ranks",
                                  span, e.name)
            return self.subscripts(e, pre, post, span)
        if isinstance(e, (Bin, Un, Cast)) or (isinstance(e, Call) and self._elementwise(e)):
            return map_children(e, lambda x: self.outside(x, rank, pre, post, span))
        e = self.extract(e, pre, post, span)
        r = self.nz.rank_of(e)
        if r == 0 and not any(isinstance(x, (Ref, Call)) for x in walk_expr(e)):
            return e
        if r not in (0, rank):
            raise unsupported("elemental procedure applied to arrays of different ranks", span)
        tmp = self.nz.new_local("val", self.nz.type_of(e), r, span=span)
        pre.append(Assign(Ref(tmp, span=span), e, span=span))
        return Ref(tmp, span=span)

    def _elementwise(self, e: Call) -> bool:
        if not e.intrinsic:
            return self.elemental(e.name)
        spec = intrinsics.lookup(e.name)
        return spec is not None and spec.elemental

    # ---------------------------------------------------------- loops

    def loops(self, lhs: Ref, rhs: Expr, rank: int, span: Span) -> list[Stmt]:
        idx = [self.nz.new_local("e", INT4, span=span) for _ in range(rank)]
        body: list[Stmt] = [Assign(self.element(lhs, rank, idx, span),
                                   self.element(rhs, rank, idx, span), span=span)]
        return self.nest(body, lhs, rank, idx, span)

    def call_loops(self, s: CallStmt, rank: int, span: Span) -> list[Stmt]:
        shaped = next(a for a in s.args if self.nz.rank_of(a) == rank)
        idx = [self.nz.new_local("e", INT4, span=span) for _ in range(rank)]
        s.args = [self.element(a, rank, idx, span) for a in s.args]
        return self.nest([s], shaped, rank, idx, span)

    def nest(self, body: list[Stmt], shaped: Expr, rank: int, idx: list[str], span: Span) -> list[Stmt]:
        # the first index innermost: column-major arrays are walked in order
        for k in range(rank):
            body = [Loop(idx[k], Lit("1", INT4),
                         Call("size", [clone(shaped), Lit(str(k + 1), INT4)], intrinsic=True),
                         None, body, span=span)]
        return body

    def element(self, e: Expr, rank: int, idx: list[str], span: Span) -> Expr:
        if isinstance(e, Ref):
            if self.nz.rank_of(e) == 0:
                return e
            if e.path:
                raise unsupported("elemental procedure applied to a record component", span, e.name)
            if e.subs is not None and any(not isinstance(u, Section) and self.nz.rank_of(u) > 0
                                          for u in e.subs):
                raise unsupported("elemental procedure applied to an array with a vector "
                                  "subscript", span, e.name)
            sym = self.nz.lookup(e.name)
            return elementwise.element(e, sym, idx)
        if isinstance(e, Lit):
            return e
        return map_children(e, lambda x: self.element(x, rank, idx, span))

    @staticmethod
    def aligned(lhs: Ref, rhs: Expr) -> bool:
        """The array assigned is read in the looped part only at the
        elements it assigns: element by element is exact."""
        key = None if lhs.subs is None else structural_key(lhs.subs)
        return not any(isinstance(x, Ref) and x.name == lhs.name and (
            None if x.subs is None else structural_key(x.subs)) != key for x in walk_expr(rhs))


def _actuals(e: Call) -> list[Expr]:
    return list(e.args) + [v for _, v in e.kwargs]
