"""Signatures of generated routines and the argument lists of calls to them.

Tangent and reverse variants share one convention (interface.md): each
active formal is followed by its derivative; a function becomes a
subroutine whose result and the result's derivative come last.  A passive
actual passed where the callee expects an active formal gets a zeroed
temporary derivative, as Tapenade does.
"""
from __future__ import annotations

import copy
from ..ir.clone import clone
from typing import Optional

from ..diagnostics import unsupported
from ..ir import records
from ..ir.build import real
from ..ir.nodes import (Absent, Allocate, Assign, Bin, CallStmt, Dim, Expr, Ref, Routine, Section,
                        Stmt, Symbol, Use)
from .context import DiffContext, deriv_symbol
from ..ir.records import all_subs


def zero(target: Ref, t, rank: int = 0) -> Assign:
    """target = 0 in the precision of its primal twin (t); a record's
    derivative is zeroed by the derivative type's constructor (every
    component of T_diff is initialised to zero)."""
    from ..ir.records import zero_statement
    return zero_statement(target, t, rank)


def _add_into(target: Ref, src: Ref, t, rank: int, where: Expr) -> list[Stmt]:
    """target = target + src; a record's adjoint component by component
    (whole-array arithmetic for array components)."""
    if t.base != "derived":
        return [Assign(clone(target), Bin("+", clone(target), src))]
    if rank:
        raise unsupported("an array of records given to two arguments of one call",
                          where.span, getattr(where, "name", None))
    out: list[Stmt] = []
    for path, leaf in records.leaves(t, real_only=True):
        if leaf.type.base == "derived" or leaf.allocatable:
            raise unsupported("a record with an array of records or an allocatable component "
                              "given to two arguments of one call", where.span,
                              getattr(where, "name", None))
        tgt = records.with_path(target, path)
        out.append(Assign(tgt, Bin("+", clone(tgt), records.with_path(src, path))))
    return out


class CallPlanner:
    def __init__(self, ctx: DiffContext, diff_routines: set[str], uses_stack: bool):
        self.ctx = ctx
        self.diff = diff_routines
        self.uses_stack = uses_stack

    # ------------------------------------------------------------ signatures

    def active_formals(self, f: Routine) -> list[str]:
        names = [a for a in f.args if self.ctx.active(f, a)]
        return names

    def result_active(self, f: Routine) -> bool:
        return f.kind == "function" and f.result is not None

    def result_differentiable(self, f: Routine) -> bool:
        """Whether a function's variant has an argument for its result's
        derivative: not for an integer (a C function returning a count or
        an index while it writes active arrays through pointers)."""
        return self.result_active(f) and records.differentiable(f.symbols[f.result].type)

    def variant_skeleton(self, r: Routine, suffix: str) -> Routine:
        ctx = self.ctx
        if r.host is not None:
            raise unsupported("internal procedure in the differentiated call tree", r.span,
                              f"'{r.name}' is contained in '{r.host}'")
        syms: dict[str, Symbol] = {}
        args: list[str] = []
        for a in r.args:
            args.append(a)
            if ctx.active(r, a):
                args.append(ctx.dname(r, a))
        if self.result_active(r):
            args.append(r.result)
            if self.result_differentiable(r):
                args.append(ctx.dname(r, r.result))
        for name, s in r.symbols.items():
            n = clone(s)
            if n.storage == "result":
                n.storage = "arg"
            syms[name] = n
        for name, s in r.symbols.items():
            if s.is_parameter or s.external or s.storage in ("common",):
                continue
            if (ctx.active(r, name) or (r.kind == "function" and name == r.result)) \
                    and records.differentiable(s.type):
                dn = ctx.dname(r, name)
                d = deriv_symbol(s, dn)
                if d.storage == "result":
                    d.storage = "arg"
                if ctx.suffix == "b":
                    d.by_value = False      # an adjoint flows back to the caller
                syms[dn] = d
        out = copy.copy(r)
        out.name = r.name + suffix
        out.kind = "subroutine"
        out.args = args
        out.symbols = syms
        out.result = None
        out.body = []
        out.directives = []
        out.contains = []
        out.private = False        # callers outside the module call the variant of a PRIVATE one
        out.elemental = out.pure = False   # derivatives push, pop and are called per element
        out.interfaces = list(r.interfaces)
        out.uses = clone(r.uses)
        out.commons = clone(r.commons)
        self._global_derivatives(r, out)
        if self.uses_stack:
            out.uses.insert(0, Use("adstack"))
        return out

    def _global_derivatives(self, r: Routine, out: Routine) -> None:
        ctx = self.ctx
        mods = ctx.derivative_modules_seen_by(r)
        for m in mods:
            out.uses.append(Use(m))
        for blk, members in r.commons.items():
            dmembers = []
            for m in members:
                s = r.symbols[m]
                if ctx.active(r, m) and records.differentiable(s.type):
                    dn = ctx.dname(r, m)
                    d = deriv_symbol(s, dn)
                    d.common = blk + "_" + ctx.suffix
                    out.symbols[dn] = d
                    dmembers.append(dn)
            if dmembers:
                out.commons[blk + "_" + ctx.suffix] = dmembers

    def zero_local_derivatives(self, r: Routine, out: Routine, result_too: bool = True) -> list[Stmt]:
        ctx = self.ctx
        body: list[Stmt] = []
        for name, s in r.symbols.items():
            if s.storage not in ("local", "result") or s.is_parameter or s.external:
                continue
            if not records.differentiable(s.type) or s.allocatable:
                continue
            if s.storage == "result" and not result_too:
                continue
            if ctx.active(r, name) or (s.storage == "result"):
                body.append(zero(Ref(ctx.dname(r, name)), s.type, len(s.shape)))
        return body

    # ------------------------------------------------------------ call sites

    def derivative_actuals(self, r: Routine, out: Routine, callee: Routine,
                           actuals: list[Expr], pre: list[Stmt],
                           result: Optional[Ref] = None,
                           post: Optional[list[Stmt]] = None) -> list[Expr]:
        """The interleaved actual list for a call of callee's variant from r."""
        ctx = self.ctx
        if len(actuals) != len(callee.args):
            raise unsupported(f"call of '{callee.name}' with {len(actuals)} arguments "
                              f"(it has {len(callee.args)})",
                              actuals[0].span if actuals else callee.span)
        out_args: list[Expr] = []
        # Distinct scalar elements of one array may share it by reference (each
        # adjoint accumulates in place); arrays, sections and repeated
        # identical references may not.
        seen: dict[str, int] = {}
        seen_refs: list[Ref] = []
        in_refs: list[Ref] = []        # actuals of intent(in) formals of a Fortran callee
        read_only: dict[str, bool] = {}
        readers: dict[str, list[tuple[int, Ref]]] = {}
        pairs = list(zip(callee.args, actuals))
        if result is not None:
            pairs.append((callee.result, result))
        for formal, actual in pairs:
            out_args.append(clone(actual))
            formal_active = ctx.active(callee, formal) or \
                (formal == callee.result and self.result_differentiable(callee))
            if not formal_active:
                continue
            if isinstance(actual, Absent):          # an omitted optional argument
                out_args.append(Absent(span=actual.span))
                continue
            if isinstance(actual, Ref) and ctx.active(r, actual.name):
                if any(not isinstance(x, Section) and ctx.rank_of(r, x) > 0 for x in all_subs(actual)):
                    # x(idx) is a copy, not a variable its adjoint could accumulate into
                    raise unsupported("an array with a vector subscript as an actual argument "
                                      "(pass a copy: t = x(idx), then t)", actual.span, actual.name)
                key = _storage(actual)
                shared = [k for k in seen if _overlap(k, key)]
                if post is not None and shared and \
                        (ctx.rank_of(r, actual) > 0 or max(seen[k] for k in shared) > 0
                         or actual in seen_refs
                         or (self._reader(callee, formal)
                             and any(_may_alias(actual, o) for o in in_refs
                                     if _overlap(_storage(o), key)))) \
                        and not self._may_share(callee, formal, read_only.get(actual.name)):
                    # The same variable reaches two active formals: the
                    # adjoints would alias (and a section's copy-out would
                    # lose what the other accumulated).  Accumulate this
                    # one apart and add it afterwards.
                    if callee.language == "c" and not self._may_share(callee, formal, True):
                        if not read_only.get(actual.name):
                            raise unsupported("the same variable given to two arguments that "
                                              f"'{callee.name}' may write (aliased pointers)",
                                              actual.span, actual.name)
                        # Only readers (a by-value copy, a const pointer) had
                        # it so far: this writer's adjoint is in and out, so
                        # it takes the real one and the readers go apart.
                        for pos, earlier in readers.pop(actual.name, []):
                            out_args[pos] = self._alias_temp(r, out, earlier, pre, post)
                        read_only[actual.name] = False
                        out_args.append(ctx.dref(r, actual))
                        continue
                    out_args.append(self._alias_temp(r, out, actual, pre, post))
                    continue
                seen[key] = max(seen.get(key, 0), ctx.rank_of(r, actual))
                reads = self._may_share(callee, formal, True)
                read_only[actual.name] = read_only.get(actual.name, True) and reads
                if reads:
                    readers.setdefault(actual.name, []).append((len(out_args), actual))
                seen_refs.append(actual)
                if self._reader(callee, formal):
                    in_refs.append(actual)
                out_args.append(ctx.dref(r, actual))
                continue
            out_args.append(self._zero_temp(r, out, callee, formal, actual, pre))
        return out_args

    @staticmethod
    def _reader(callee: Routine, formal) -> bool:
        """An intent(in) formal of a Fortran callee: two of them may be given
        the same element (`f(x(i), x(1))`, i = 1), which the standard allows
        only because neither is changed; their adjoints only accumulate, so
        one of them goes through a zeroed temporary added back after."""
        s = callee.symbols.get(formal) if isinstance(formal, str) else None
        return callee.language == "fortran" and s is not None and s.intent == "in"

    def _may_share(self, callee: Routine, formal: str, others_read_only) -> bool:
        """C pointers have no copy-in/copy-out: formals the callee never
        writes (const pointers, by-value scalars it leaves alone) get
        adjoints that only accumulate, so one adjoint can serve them all
        (dot(a, a, n), f(x[0], x)).  Fortran keeps its temporaries."""
        if not others_read_only or callee.language != "c":
            return False
        s = callee.symbols[formal]
        return s.intent == "in" or (s.by_value and not self._writes(callee, formal))

    def _writes(self, callee: Routine, formal: str) -> bool:
        """May the callee change (its copy of) this formal?  The read/write
        analysis' summary says."""
        from ..analysis.readwrite import summaries
        sc = self.ctx.scopes
        return sc.var(callee.name, formal) in summaries(sc)[callee.name].writes

    def _alias_temp(self, r: Routine, out: Routine, actual: Ref, pre: list[Stmt],
                    post: list[Stmt]) -> Ref:
        from ..ir.nodes import Deallocate
        ctx = self.ctx
        t = ctx.type_of(r, actual)
        rank = ctx.rank_of(r, actual)
        if rank:
            name = self._array_like(out, f"ad_{actual.name}{ctx.suffix}_alias", records.diff_type(t),
                                    actual, rank, pre)
        else:
            name = ctx.fresh(out, f"ad_{actual.name}{ctx.suffix}_alias", records.diff_type(t))
        target = ctx.dref(r, actual)
        pre.append(zero(Ref(name), t))
        post.extend(_add_into(target, Ref(name), t, rank, actual))
        if rank:
            post.append(Deallocate([name]))
        return Ref(name)

    def _array_like(self, out: Routine, base: str, typ, like: Expr, rank: int,
                    pre: list[Stmt]) -> str:
        """A fresh allocatable array of like's shape, allocated in pre."""
        from ..backend.fortran_expr import fexpr
        from ..ir.nodes import Raw
        name = self.ctx.fresh(out, base, clone(typ),
                              [Dim(None, None, True) for _ in range(rank)])
        out.symbols[name].allocatable = True
        pre.append(Raw(f"allocate({name}, mold={fexpr(like)})"))
        return name

    def _zero_temp(self, r: Routine, out: Routine, callee: Routine, formal: str,
                   actual: Expr, pre: list[Stmt]) -> Ref:
        from ..ir.nodes import Call, Deallocate, If
        ctx = self.ctx
        fsym = callee.symbols[formal]
        if isinstance(actual, Ref) and actual.path:
            t = ctx.type_of(r, actual)
            rank = ctx.rank_of(r, actual)
            if rank == 0:
                name = ctx.fresh(out, f"ad_{actual.name}{ctx.suffix}", records.diff_type(t))
            else:
                name = self._array_like(out, f"ad_{actual.name}{ctx.suffix}", records.diff_type(t),
                                        actual, rank, pre)
                pre.insert(len(pre) - 1, If([(Call("allocated", [Ref(name)], intrinsic=True),
                                              [Deallocate([name])])]))
            pre.append(zero(Ref(name), t))
            return Ref(name)
        if isinstance(actual, Ref):
            asym = ctx.sym(r, actual.name)
            whole = actual.subs is None
            if asym is not None and (whole and asym.rank == 0 or
                                     (not whole and not any(isinstance(x, Section) for x in actual.subs))):
                t = asym.type
                if fsym.rank > 0 and not whole:
                    # `h(&w[1], ...)`, `call h(w(2), ...)`: the callee sees the
                    # array from that element on; it gets a zero array of the
                    # actual's shape from the same element on
                    if not asym.shape or any(d.ub is None or d.assumed for d in asym.shape):
                        raise unsupported("array element passed to an array argument that is "
                                          "active in the callee while passive here (an array "
                                          "whose size is not declared)", actual.span)
                    name = ctx.fresh(out, f"ad_{actual.name}{ctx.suffix}", records.diff_type(t),
                                     clone(asym.shape))
                    pre.append(zero(Ref(name), t))
                    return Ref(name, [clone(x) for x in actual.subs])
                name = ctx.fresh(out, f"ad_{actual.name}{ctx.suffix}", records.diff_type(t))
                pre.append(zero(Ref(name), t))
                return Ref(name)
            if asym is not None and whole and all(d.ub is not None and not d.assumed for d in asym.shape):
                name = ctx.fresh(out, f"ad_{actual.name}{ctx.suffix}", records.diff_type(asym.type),
                                 clone(asym.shape))
                pre.append(zero(Ref(name), asym.type))
                return Ref(name)
        if fsym.rank == 0:
            t = ctx.type_of(r, actual)
            t = t if t.base == "real" else fsym.type
            name = ctx.fresh(out, f"ad_tmp{ctx.suffix}", records.diff_type(t))
            pre.append(zero(Ref(name), t))
            return Ref(name)
        # Any other passive array (a section, an assumed-shape or allocatable
        # array, an expression): a zero array of its shape, re-made per call.
        from ..ir.nodes import Call, Deallocate, If
        rank = ctx.rank_of(r, actual)
        if rank == 0:
            raise unsupported("array element passed to an array argument that is active "
                              "in the callee while passive here", actual.span)
        name = self._array_like(out, f"ad_tmp{ctx.suffix}", records.diff_type(fsym.type), actual,
                                rank, pre)
        pre.insert(len(pre) - 1, If([(Call("allocated", [Ref(name)], intrinsic=True),
                                      [Deallocate([name])])]))
        pre.append(zero(Ref(name), fsym.type))
        return Ref(name)

    def tangent_call(self, r: Routine, out: Routine, call: CallStmt,
                     result: Optional[Ref] = None) -> list[Stmt]:
        from ..ir.nodes import Call
        callee = self.ctx.tu.routine(call.name)
        if callee is None or call.name not in self.diff:
            if result is not None:
                out: list[Stmt] = [Assign(clone(result), Call(call.name, clone(call.args),
                                                              via=call.via), span=call.span)]
                d = self.ctx.dref(r, result)
                if d is not None:       # a passive value overwrites an active variable
                    out.append(zero(d, self.ctx.type_of(r, result)))
                return out
            n = clone(call)
            n.directives = []
            return [n]
        pre: list[Stmt] = []
        args = self.derivative_actuals(r, out, callee, call.args, pre, result)
        return pre + [CallStmt(callee.name + "_d", args, span=call.span)]


def _storage(a: Ref) -> str:
    """Which storage an actual names, as far as aliasing goes: the variable,
    or one component of a record (`s%a%x`, disjoint from `s%b` and `s%a%y`)."""
    return "%".join([a.name] + [p.name for p in a.path]) if a.path else a.name


def _overlap(k1: str, k2: str) -> bool:
    return k1 == k2 or k1.startswith(k2 + "%") or k2.startswith(k1 + "%")


def _may_alias(a: Ref, b: Ref) -> bool:
    """Two elements of one array may be the same element unless a subscript
    provably differs (`x(i)` and `x(i+1)`, `x(1)` and `x(2)`); `x(i)` and
    `x(1)` are the same when i = 1, and their adjoints must not be two
    dummies of one call (Fortran assumes dummies do not alias: gfortran
    kept one update of xb(1) and lost the other, silently)."""
    if a == b:
        return True
    sa, sb = all_subs(a), all_subs(b)
    if len(sa) != len(sb):
        return True
    for u, v in zip(sa, sb):
        if isinstance(u, Section) or isinstance(v, Section):
            continue
        lu, lv = _linear(u), _linear(v)
        if lu is None or lv is None:
            continue
        diff = {k: lu.get(k, 0) - lv.get(k, 0) for k in set(lu) | set(lv)}
        if all(c == 0 for k, c in diff.items() if k) and diff.get("", 0) != 0:
            return False
    return True


def _linear(e: Expr) -> Optional[dict]:
    """An integer subscript as {name: coefficient, "": constant}, or None."""
    from ..ir.nodes import Lit, Un
    if isinstance(e, Lit):
        try:
            return {"": int(e.text)}
        except ValueError:
            return None
    if isinstance(e, Ref):
        return {e.name: 1} if e.subs is None and not e.path else None
    if isinstance(e, Un) and e.op == "-":
        x = _linear(e.operand)
        return None if x is None else {k: -c for k, c in x.items()}
    if isinstance(e, Bin) and e.op in ("+", "-"):
        x, y = _linear(e.left), _linear(e.right)
        if x is None or y is None:
            return None
        sign = 1 if e.op == "+" else -1
        return {k: x.get(k, 0) + sign * y.get(k, 0) for k in set(x) | set(y)}
    if isinstance(e, Bin) and e.op == "*":
        x, y = _linear(e.left), _linear(e.right)
        if x is None or y is None:
            return None
        for c, other in ((x, y), (y, x)):
            if set(c) <= {""}:
                return {k: v * c.get("", 0) for k, v in other.items()}
        return None
    return None


def allocate_derivatives(ctx: DiffContext, r: Routine, s: Allocate) -> list[Stmt]:
    """The derivative of each active array allocated alike and zeroed; an
    allocatable component of an active record (`s%u`) has its derivative
    component (`sb%u`) when its type carries derivatives."""
    from ..ir import records
    out: list[Stmt] = []
    pairs = []
    for it in s.items:
        if not ctx.active(r, it.name):
            continue
        sym = records.ref_symbol(it, lambda n: ctx.sym(r, n))
        if sym is None or not records.differentiable(sym.type):
            continue
        pairs.append((Ref(ctx.dname(r, it.name), clone(it.subs), clone(it.path)), sym))
    if pairs:
        out.append(Allocate([d for d, _ in pairs], span=s.span))
        for d, sym in pairs:
            whole = clone(d)
            if whole.path:
                whole.path[-1].subs = None
            else:
                whole.subs = None
            out.append(zero(whole, sym.type))
    return out


def deallocate_derivatives(ctx: DiffContext, r: Routine, s) -> list:
    """What a DEALLOCATE releases, with the derivatives that were allocated
    alongside (allocate_derivatives)."""
    from ..ir import records
    names = list(s.names) + [ctx.dname(r, n) for n in s.names if ctx.active(r, n)]
    parts = [clone(x) for x in s.parts]
    for x in s.parts:
        sym = records.ref_symbol(x, lambda n: ctx.sym(r, n))
        if ctx.active(r, x.name) and sym is not None and records.differentiable(sym.type):
            parts.append(Ref(ctx.dname(r, x.name), clone(x.subs), clone(x.path)))
    return names, parts


def is_transform_temporary(name: str) -> bool:
    """Locals the transform makes are named ad_* (the user's are renamed
    away from that prefix): assigned once and used whole, their bounds never
    matter."""
    return name.startswith("ad_")


def reallocating(target: Ref, value: Expr, ctx: DiffContext, r: Routine, out: Routine) -> list[Stmt]:
    """`a = expr` for a whole allocatable array (Fortran 2003 reallocation
    on assignment).  A user's array is assigned as written: one already
    allocated with the value's shape keeps its bounds (`allocate(u(0:n-1));
    u = 2*x` leaves u(0:n-1)), which deallocate + allocate(source=) would
    rebase to the value's (and gfortran gives a vector-subscripted source
    lower bound 0), so that u(0) read the wrong element.  The transform's
    own temporaries (ad_*, assigned once, used whole) are spelled as
    deallocate + allocate(source=), which spares them gfortran's spurious
    uninitialised-descriptor warnings; a value that reads the temporary
    itself goes to a new allocatable first (move_alloc)."""
    from ..ir.nodes import Allocate, Call, Dim, If, Deallocate
    from ..ir.visit import walk_expr
    if not is_transform_temporary(target.name):
        return [Assign(clone(target), clone(value))]
    if any(isinstance(x, Ref) and x.name == target.name for x in walk_expr(value)):
        sym = ctx.sym(r, target.name) or out.symbols.get(target.name)
        tmp = ctx.fresh(out, f"ad_{target.name}_new", sym.type, [Dim(assumed=True) for _ in sym.shape])
        out.symbols[tmp].allocatable = True
        return [Allocate([Ref(tmp)], source=clone(value)),
                CallStmt("move_alloc", [Ref(tmp), Ref(target.name)])]
    return [If([(Call("allocated", [Ref(target.name)], intrinsic=True), [Deallocate([target.name])])]),
            Allocate([Ref(target.name)], source=clone(value))]


def is_whole_allocatable(ctx: DiffContext, r: Routine, lhs: Ref, rhs: Expr) -> bool:
    """`a = array expression` for a whole local allocatable: Fortran
    (re)allocates a to the value's shape.  A scalar value is broadcast into
    a as it is (`flux = 0.0d0`) and reallocates nothing."""
    s = ctx.sym(r, lhs.name)
    return (lhs.subs is None and s is not None and s.allocatable and s.storage == "local"
            and ctx.rank_of(r, rhs) > 0)
