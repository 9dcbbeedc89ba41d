"""What both differentiation modes need to know about a routine while they
rewrite it: which names are active, what their derivatives are called, the
type and rank of an expression, and fresh names that cannot clash."""
from __future__ import annotations

from ..ir.clone import clone
from typing import Optional

from ..diagnostics import unsupported
from ..ir import intrinsics
from ..ir.nodes import (ArrayCtor, Bin, Call, Cast, Cond, Dim, Expr, ImpliedDo,
                        Lit, Ref, Routine, Section, Symbol, TranslationUnit,
                        Type, Un)
from ..ir.typing import type_of
from ..ir.visit import walk_expr, walk_stmts, stmt_exprs


class DiffContext:
    def __init__(self, tu: TranslationUnit, activity, scopes, suffix: str):
        self.tu = tu
        self.act = activity
        self.scopes = scopes
        self.suffix = suffix
        self._names: dict[tuple[str, str], str] = {}
        self._primal_of: dict[str, dict[str, str]] = {}
        self._taken: dict[str, set[str]] = {}

    # ------------------------------------------------------------ symbols

    def sym(self, r: Routine, name: str) -> Optional[Symbol]:
        return self.scopes.symbol(r.name, name)

    def fun_type(self, name: str) -> Optional[Type]:
        f = self.tu.routine(name)
        if f is not None and f.result:
            return f.symbols[f.result].type
        return None

    def type_of(self, r: Routine, e: Expr) -> Type:
        return type_of(e, lambda n: self.sym(r, n), self.fun_type)

    def is_real(self, r: Routine, e: Expr) -> bool:
        return self.type_of(r, e).base in ("real", "complex")

    def rank_of(self, r: Routine, e: Expr, lookup=None) -> int:
        """Rank of e; lookup (name -> Symbol) overrides the routine's scope,
        for expressions over generated names."""
        if lookup is None:
            lookup = lambda n: self.sym(r, n)  # noqa: E731
        rank = lambda x: self.rank_of(r, x, lookup)  # noqa: E731
        if isinstance(e, Ref):
            if e.path:
                from ..ir.records import ref_rank
                return ref_rank(e, lookup)
            s = lookup(e.name)
            if s is None:
                return 0
            if e.subs is None:
                return s.rank
            # a section, or a vector subscript (x(idx): an integer array)
            return sum(1 for x in e.subs if isinstance(x, Section) or rank(x) > 0)
        if isinstance(e, (Bin,)):
            return max(rank(e.left), rank(e.right))
        if isinstance(e, (Un, Cast)):
            return rank(e.operand)
        if isinstance(e, Cond):
            return max(rank(x) for x in (e.cond, e.then, e.else_))
        if isinstance(e, (ArrayCtor,)):
            return 1
        if isinstance(e, Call):
            if not e.intrinsic:
                return 0
            spec = intrinsics.lookup(e.name)
            if e.name.lower() in intrinsics.SIGNATURES:
                logical = lambda x: type_of(x, lookup, self.fun_type).base == "logical"  # noqa: E731
                rr = intrinsics.result_rank(e.name, e.args, e.kwargs, rank, logical, lookup)
                # unknown only for a reshape to a shape= of unknown length,
                # refused where it is differentiated (rules.bind_call)
                return rr if rr is not None else 1
            if spec is not None and spec.elemental:
                return max([rank(a) for a in e.args] + [0])
            return 0
        return 0

    # ------------------------------------------------------------ activity

    def active(self, r: Routine, name: str) -> bool:
        return self.act.is_active(r.name, name)

    def expr_active(self, r: Routine, e: Expr) -> bool:
        """Whether an active variable's value flows into e: a reference
        counts where it is a value, never inside a subscript (an index is
        never active), so subscripts are not searched at all."""
        from ..ir.visit import sub_exprs
        stack = [e]
        while stack:
            x = stack.pop()
            if isinstance(x, Ref):
                if self.active(r, x.name):
                    return True
                continue
            stack.extend(sub_exprs(x))
        return False

    def dname(self, r: Routine, name: str) -> str:
        """Derivative name of `name` as seen from the primal routine r; globals
        keep one name everywhere; a clash with a user name gets a number."""
        key = (r.name, name)
        if key in self._names:
            return self._names[key]
        s = self.sym(r, name)
        cand = name + self.suffix
        if s is None or s.storage not in ("module", "common"):
            k = 0
            while self.sym(r, cand) is not None or cand in self._taken.get(r.name, set()):
                k += 1
                cand = f"{name}{self.suffix}{k}"
        self._names[key] = cand
        self._primal_of.setdefault(r.name, {})[cand] = name
        self._taken.setdefault(r.name, set()).add(cand)
        return cand

    def deriv_rank(self, r: Routine, e: Expr) -> int:
        """Rank of an expression over primal and derivative names (a
        derivative has its primal's shape)."""
        back = self._primal_of.get(r.name, {})

        def lookup(n: str):
            s = self.sym(r, n)
            if s is None and n in back:
                s = self.sym(r, back[n])
            return s
        return self.rank_of(r, e, lookup)

    def dref(self, r: Routine, e: Ref) -> Optional[Ref]:
        if not self.active(r, e.name):
            return None
        return Ref(self.dname(r, e.name), clone(e.subs), clone(e.path), span=e.span)

    # ------------------------------------------------------------ new names

    @staticmethod
    def fresh(r: Routine, base: str, typ: Type, shape: Optional[list[Dim]] = None,
              storage: str = "local") -> str:
        name = base
        k = 0
        while name in r.symbols:
            k += 1
            name = f"{base}{k}"
        r.symbols[name] = Symbol(name, typ, list(shape or []), storage=storage)
        return name


def deriv_symbol(s: Symbol, name: str, intent: Optional[str] = None) -> Symbol:
    """The derivative twin of a primal symbol: same type and shape, no value."""
    from ..ir.records import diff_type
    d = clone(s)
    d.name = name
    d.type = diff_type(s.type)
    d.is_parameter = False
    d.value = None
    d.init = None
    d.save = s.save if s.storage == "local" else False
    d.external = False
    d.implicit = False
    if intent is not None:
        d.intent = intent
    return d
