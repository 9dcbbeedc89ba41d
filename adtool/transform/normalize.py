"""Bring routines into the shape the reverse-mode transform can reason about.

The adjoint of a routine is built from its control structure: every branch
taken and every trip count is recorded in the forward sweep and replayed
backwards.  That is only possible for *structured* control (If, Select,
counted loops and While loops that always run to their test) and for
expressions whose every call is an intrinsic with a known derivative rule.
This pass removes what stands in the way, without changing a single result:

* EXIT, CYCLE, mid-routine RETURN and forward GOTO become logical flags that
  guard the statements they would have skipped; loops they leave test the
  flag in their condition (a counted loop with such a jump is rewritten as
  a While loop that reproduces Fortran's once-evaluated bounds and the final
  value of the loop variable).
* calls of user functions are lifted out of expressions into their own
  assignments, so that the transform sees each call as a statement (the
  place where a checkpointing decision can be taken);
* real-valued expression actual arguments get a temporary, because the
  adjoint of a call needs a variable to accumulate the argument's adjoint in.

Constructs that cannot be rewritten exactly (backward GOTO, GOTO out of a
loop, GOTO into a block, STOP) are reported as unsupported with the span of
the offending statement.
"""
from __future__ import annotations

import copy
from ..ir.clone import clone, shallow
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

from ..diagnostics import bad_input, unsupported
from ..ir import elementwise, intrinsics
from ..ir.nodes import (INT4, LOGICAL, NOSPAN, REAL4, ArrayCtor, Assign, Bin,
                        Call, CallStmt, Cast, Cond, Continue, Cycle, Dim, Exit,
                        Expr, Goto, If, ImpliedDo, Lit, Loop, Module, Part, Ref,
                        Return, Routine, Section, Select, Span, Stmt, Stop,
                        Symbol, TranslationUnit, Type, Un, While)
from ..ir.build import int_value
from ..ir.typing import type_of
from .elemental_calls import ElementalCalls
from ..ir.visit import child_blocks, map_children, stmt_exprs, sub_exprs, walk_expr, walk_stmts

__all__ = ["normalize_routine", "normalize_unit"]

FunType = Callable[[str], Optional[Type]]

_INF = float("inf")
# Intrinsics that read only an array's shape, never its values.
_SHAPE_INQUIRIES = frozenset(("size", "lbound", "ubound", "shape"))
_TRUE = "true"
_FALSE = "false"
# Intrinsic subroutines: their arguments are not differentiated through a
# user adjoint, so expression actuals need no temporary.
_INTRINSIC_SUBROUTINES = frozenset(
    "random_number random_seed cpu_time system_clock date_and_time mvbits "
    "get_command get_command_argument get_environment_variable move_alloc "
    "execute_command_line".split())


# ---------------------------------------------------------------- public API

def normalize_routine(r: Routine, tu: TranslationUnit, fun_type: FunType) -> Routine:
    """A normalised deep copy of r; r itself is left as it was, so callers
    can still emit the user's original routine next to the adjoint."""
    r = clone(r)
    _Normalizer(r, tu, fun_type, _has_elemental(tu)).run()
    return r


def normalize_unit(tu: TranslationUnit, names: set[str]) -> TranslationUnit:
    """A copy of tu where only the routines named are rewritten: routines the
    plan does not differentiate must reach the output exactly as written."""
    new = clone(tu)
    fold = (lambda n: n) if tu.language == "c" else str.lower
    wanted = {fold(n) for n in names}
    fun_type = unit_fun_type(new)
    elemental = _has_elemental(new)
    for r in new.all_routines():
        if fold(r.name) in wanted:
            _Normalizer(r, new, fun_type, elemental).run()
    return new


def _has_elemental(tu: TranslationUnit) -> bool:
    return any(rt.elemental for rt in tu.all_routines())


def unit_fun_type(tu: TranslationUnit) -> FunType:
    """Result type of a function defined somewhere in tu (None if unknown)."""
    def fun_type(name: str) -> Optional[Type]:
        rt = tu.routine(name)
        if rt is not None and rt.result and rt.result in rt.symbols:
            return rt.symbols[rt.result].type
        return None
    return fun_type


# ---------------------------------------------------------------- helpers

def _t() -> Lit:
    return Lit(_TRUE, LOGICAL)


def _f() -> Lit:
    return Lit(_FALSE, LOGICAL)


def _set(flag: str, value: bool, span: Span) -> Assign:
    return Assign(Ref(flag, span=span), _t() if value else _f(), span=span)


def _none_of(flags: Iterable[str]) -> Expr:
    """`.not. (f1 .or. f2 ...)`: true while none of the jumps was taken."""
    fl = sorted(flags)
    e: Expr = Ref(fl[0])
    for f in fl[1:]:
        e = Bin("or", e, Ref(f))
    return Un("not", e)


def _user_calls(e: Expr) -> bool:
    """Whether e holds a user-function call this pass would lift."""
    if isinstance(e, ImpliedDo):
        return False
    if isinstance(e, Call) and not e.intrinsic:
        return True
    return any(_user_calls(c) for c in sub_exprs(e))


def _const_int(e: Optional[Expr], lookup) -> Optional[int]:
    """Value of an integer constant expression simple enough to read off
    (an omitted step is 1)."""
    return 1 if e is None else int_value(e, lookup)


def _is_constant(e: Expr, lookup) -> bool:
    """Loop bounds that cannot change while the loop runs need no copy."""
    if isinstance(e, Lit):
        return True
    if isinstance(e, Un) and e.op in ("-", "+"):
        return _is_constant(e.operand, lookup)
    if isinstance(e, Ref) and e.subs is None:
        sym = lookup(e.name)
        return sym is not None and sym.is_parameter
    return False


# ---------------------------------------------------------------- scope

def _module_closure(tu: TranslationUnit, names: Iterable[str]) -> list[Module]:
    out: list[Module] = []
    seen: set[str] = set()
    todo = list(names)
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        m = tu.module(n)
        if m is not None:
            out.append(m)
            todo.extend(u.module for u in m.uses)
    return out


def _scope_chain(r: Routine, tu: TranslationUnit) -> list[Routine]:
    """r and its hosts, innermost first."""
    chain = [r]
    seen = {id(r)}
    cur = r
    while cur.host:
        h = _find_host(tu, cur)
        if h is None or id(h) in seen:
            break
        chain.append(h)
        seen.add(id(h))
        cur = h
    return chain


def _find_host(tu: TranslationUnit, r: Routine) -> Optional[Routine]:
    for cand in tu.all_routines():
        if any(c is r for c in cand.contains):
            return cand
    return tu.routine(r.host) if r.host else None


def _build_lookup(r: Routine, tu: TranslationUnit) -> Callable[[str], Optional[Symbol]]:
    """Symbol visible under a name in r: own symbols, then host symbols,
    then the owning module and used modules (renames honoured)."""
    table: dict[str, Symbol] = {}
    chain = _scope_chain(r, tu)
    mod_names: list[str] = []
    for rt in chain:
        if rt.module:
            mod_names.append(rt.module)
        mod_names.extend(u.module for u in rt.uses)
    for m in reversed(_module_closure(tu, mod_names)):
        table.update(m.symbols)
    for rt in reversed(chain):
        for u in rt.uses:
            m = tu.module(u.module)
            if m is None:
                continue
            for local, remote in u.renames:
                if remote in m.symbols:
                    table[local] = m.symbols[remote]
        table.update(rt.symbols)
    for k, v in tu.globals.items():
        table.setdefault(k, v)

    def lookup(name: str) -> Optional[Symbol]:
        # r.symbols is read live: the temporaries this pass adds are typed
        # too (cos(f(x)) as an actual: the temporary for f(x) is real(8))
        return r.symbols.get(name) or table.get(name) or table.get(name.lower())
    return lookup


def _names_in(body: list[Stmt]) -> set[str]:
    out: set[str] = set()
    for s in walk_stmts(body):
        if isinstance(s, CallStmt):
            out.add(s.name)
        if isinstance(s, Loop):
            out.add(s.var)
        if isinstance(s, (Loop, While)) and s.name:
            out.add(s.name)
        for e in stmt_exprs(s):
            for x in walk_expr(e):
                if isinstance(x, (Ref, Call)):
                    out.add(x.name)
                elif isinstance(x, ImpliedDo):
                    out.add(x.var)
    return out


def _taken_names(r: Routine, tu: TranslationUnit) -> set[str]:
    """Every name a new local could collide with or shadow: the routine's
    symbols and body, its internal procedures (which see its locals by host
    association), its hosts, all visible modules, and all routine names."""
    names: set[str] = set()

    def add_routine(rt: Routine) -> None:
        names.update(rt.symbols)
        names.update(rt.args)
        names.add(rt.name)
        if rt.result:
            names.add(rt.result)
        names.update(_names_in(rt.body))
        for c in rt.contains:
            add_routine(c)
    chain = _scope_chain(r, tu)
    for rt in chain:
        add_routine(rt)
    mods: list[str] = []
    for rt in chain:
        if rt.module:
            mods.append(rt.module)
        mods.extend(u.module for u in rt.uses)
        for u in rt.uses:
            names.update(local for local, _ in u.renames)
    for m in _module_closure(tu, mods):
        names.add(m.name)
        names.update(m.symbols)
        for rt in m.routines:
            names.add(rt.name)
    for rt in tu.all_routines():
        names.add(rt.name)
    for m in tu.modules:
        names.add(m.name)
    names.update(tu.globals)
    return {n.lower() for n in names}


class _Names:
    """Fresh `ad_` names; a counter keeps them apart from each other and
    from everything the routine can already see."""

    def __init__(self, taken: set[str]):
        self.taken = taken
        self.counters: dict[str, int] = {}

    def fresh(self, base: str, numbered: bool = True) -> str:
        base = "ad_" + re.sub(r"[^a-z0-9_]", "_", base.lower())
        base = base[:55]
        if not numbered and base not in self.taken:
            self.taken.add(base)
            return base
        n = self.counters.get(base, 0)
        while True:
            n += 1
            cand = f"{base}{n}"
            if cand not in self.taken:
                break
        self.counters[base] = n
        self.taken.add(cand)
        return cand


# ---------------------------------------------------------------- the pass

@dataclass
class _LoopInfo:
    stmt: Stmt
    cycle: Optional[str] = None
    exit: Optional[str] = None


@dataclass
class _Item:
    """One source statement of a block after rewriting: the flag resets
    due at its label, its replacement statements, the flags it may set
    that outlive it, and where it came from."""
    resets: list[Stmt]
    stmts: list[Stmt]
    flags: set[str]
    span: Span


@dataclass
class _GotoCheck:
    labels: dict[int, list] = field(default_factory=dict)
    gotos: list = field(default_factory=list)


class _Normalizer:
    def __init__(self, r: Routine, tu: TranslationUnit, fun_type: FunType,
                 elemental: bool = False):
        self.elemental = elemental      # some routine is ELEMENTAL (elemental_calls.py)
        self.r = r
        self.tu = tu
        self._fun_type = fun_type
        self.lookup = _build_lookup(r, tu)
        self.names = _Names(_taken_names(r, tu))
        self.loops: list[_LoopInfo] = []
        self.goto_flag: dict[int, str] = {}        # label -> flag
        self.ret_flag: Optional[str] = None
        # flag -> label, so a block knows which flags its labels absorb
        self.flag_label: dict[str, int] = {}

    # ------------------------------------------------------------ symbols

    def new_local(self, base: str, t: Type, rank: int = 0, numbered: bool = True,
                  span: Span = NOSPAN) -> str:
        name = self.names.fresh(base, numbered)
        shape = [Dim(assumed=True) for _ in range(rank)]
        self.r.symbols[name] = Symbol(name, t, shape=shape, storage="local",
                                      allocatable=rank > 0, span=span)
        return name

    def fun_type(self, name: str) -> Type:
        t = self._fun_type(name)
        if t is not None:
            return t
        sym = self.lookup(name)
        if sym is not None:
            return sym.type
        return INT4 if name[:1].lower() in "ijklmn" else REAL4

    def type_of(self, e: Expr) -> Type:
        return type_of(e, self.lookup, lambda n: self.fun_type(n))

    def rank_of(self, e: Expr) -> int:
        """Rank of an expression, as far as a temporary's declaration needs
        it (an allocatable of that rank is then sized by assignment)."""
        if isinstance(e, Ref):
            if e.path:
                from ..ir.records import ref_rank
                return ref_rank(e, self.lookup)
            sym = self.lookup(e.name)
            if sym is None:
                return 0
            if e.subs is None:
                return sym.rank
            return sum(1 for s in e.subs
                       if isinstance(s, Section) or self.rank_of(s) > 0)
        if isinstance(e, Bin):
            return max(self.rank_of(e.left), self.rank_of(e.right))
        if isinstance(e, (Un, Cast)):
            return self.rank_of(e.operand)
        if isinstance(e, Cond):
            return max(self.rank_of(x) for x in (e.cond, e.then, e.else_))
        if isinstance(e, (ArrayCtor, ImpliedDo)):
            return 1
        if isinstance(e, Call):
            if not e.intrinsic:
                rt = self.tu.routine(e.name)
                if rt is not None and rt.elemental:
                    return max([self.rank_of(a) for a in e.args] + [self.rank_of(v) for _, v in e.kwargs]
                               + [0])
                if rt is not None and rt.result in rt.symbols:
                    return rt.symbols[rt.result].rank
                return 0
            spec = intrinsics.lookup(e.name)
            ranks = [self.rank_of(a) for a in e.args]
            if spec is None or not ranks:
                return 0
            if spec.elemental:
                return max(ranks)
            if e.name.lower() in intrinsics.SIGNATURES:
                rr = intrinsics.result_rank(
                    e.name, e.args, e.kwargs, self.rank_of,
                    lambda x: self.type_of(x).base == "logical", self.lookup)
                # unknown only for a reshape to a shape= of unknown length,
                # refused where it is differentiated (rules.bind_call)
                return rr if rr is not None else 1
            if e.name == "shape":
                return 1
            return 0
        return 0

    # ------------------------------------------------------------ driver

    def run(self) -> None:
        r = self.r
        _drop_tail_returns(r.body)
        self.check_gotos(r.body)
        body, esc = self.block(r.body)
        init = []
        if self.ret_flag is not None:
            init.append(_set(self.ret_flag, False, r.span))
        for label in sorted(self.goto_flag):
            init.append(_set(self.goto_flag[label], False, r.span))
        leftover = esc - ({self.ret_flag} if self.ret_flag else set())
        assert not leftover, leftover
        r.body = init + body
        if self.elemental:
            r.body = ElementalCalls(self).block(r.body)
        r.body = self.hoist_block(r.body)

    # ------------------------------------------------------------ GOTO

    def check_gotos(self, body: list[Stmt]) -> None:
        """Only forward jumps to a statement of an enclosing block, inside
        the same loop iteration or out of enclosing loops, can be expressed by guarding the statements
        jumped over; everything else is refused here, before any rewrite."""
        info = _GotoCheck()

        def scan(block: list[Stmt], chain: list) -> None:
            for i, s in enumerate(block):
                path = chain + [(id(block), i, s)]
                if s.label is not None:
                    info.labels[s.label] = path
                if isinstance(s, Goto):
                    info.gotos.append((s, path))
                for b in child_blocks(s):
                    scan(b, path)
        scan(body, [])
        for g, gpath in info.gotos:
            lpath = info.labels.get(g.target)
            if lpath is None:
                raise bad_input(f"GOTO to undefined label {g.target}", g.span)
            m = len(lpath) - 1
            if len(gpath) <= m or gpath[m][0] != lpath[m][0]:
                raise unsupported("GOTO into a block", g.span,
                                  f"label {g.target} is not in an enclosing block")
            if lpath[m][1] <= gpath[m][1]:
                raise unsupported("backward GOTO", g.span, f"to label {g.target}")
            if g.target not in self.goto_flag:
                flag = self.new_local(f"goto{g.target}", LOGICAL, numbered=False, span=g.span)
                self.goto_flag[g.target] = flag
                self.flag_label[flag] = g.target

    # ------------------------------------------------------------ jumps

    def block(self, stmts: list[Stmt]) -> tuple[list[Stmt], set[str]]:
        """Rewrite a block; returns it and the flags that may be set when it
        ends early (the caller guards what follows with them)."""
        items: list[_Item] = []
        here: dict[int, int] = {}
        for k, s in enumerate(stmts):
            resets: list[Stmt] = []
            if s.label is not None and s.label in self.goto_flag:
                here[s.label] = k
                resets.append(_set(self.goto_flag[s.label], False, s.span))
            s.label = None
            new, flags = self.stmt(s)
            new = [x for x in new if not (isinstance(x, Continue) and x.label is None
                                          and not x.directives)]
            items.append(_Item(resets, new, flags, s.span))

        def endpos(flag: str) -> float:
            lab = self.flag_label.get(flag)
            return here[lab] if lab is not None and lab in here else _INF

        out, esc = self.emit(items, 0, len(items), {}, endpos)
        return out, set(esc)

    def emit(self, items: list[_Item], k: int, end: int, pending: dict[str, float],
             endpos: Callable[[str], float]) -> tuple[list[Stmt], dict[str, float]]:
        """Emit items[k:end].  `pending` maps each flag that may already be
        set to the position where its jump lands (inf: beyond this block).
        Guards nest: the outermost covers the longest jump, so that each
        label ends exactly the guards of the jumps that target it."""
        out: list[Stmt] = []
        while k < end:
            live = {f: e for f, e in pending.items() if e > k}
            if live:
                far = max(live.values())
                hi = int(min(far, end))
                outer = [f for f, e in live.items() if e == far]
                inner = {f: e for f, e in live.items() if e != far}
                body, esc = self.emit(items, k, hi, inner, endpos)
                if body:
                    out.append(If([(_none_of(outer), body)], span=items[k].span))
                pending = dict(esc)
                if far > hi:
                    pending.update({f: far for f in outer})
                k = hi
                continue
            it = items[k]
            out.extend(it.resets)
            out.extend(it.stmts)
            pending = {f: endpos(f) for f in it.flags}
            k += 1
        return out, {f: e for f, e in pending.items() if e > end}

    def stmt(self, s: Stmt) -> tuple[list[Stmt], set[str]]:
        if isinstance(s, (Exit, Cycle)):
            info = self.target_loop(s)
            kind = "exit" if isinstance(s, Exit) else "cycle"
            flag = getattr(info, kind)
            if flag is None:
                base = f"{kind}_{info.stmt.name}" if info.stmt.name else kind
                flag = self.new_local(base, LOGICAL, span=s.span)
                setattr(info, kind, flag)
            a = _set(flag, True, s.span)
            a.directives = s.directives
            return [a], {flag}
        if isinstance(s, Return):
            if s.value is not None:
                raise unsupported("RETURN with a value before the end of a routine", s.span)
            if self.ret_flag is None:
                self.ret_flag = self.new_local("return", LOGICAL, numbered=False, span=s.span)
            a = _set(self.ret_flag, True, s.span)
            a.directives = s.directives
            return [a], {self.ret_flag}
        if isinstance(s, Goto):
            flag = self.goto_flag[s.target]
            a = _set(flag, True, s.span)
            a.directives = s.directives
            return [a], {flag}
        if isinstance(s, Stop):
            return [s], set()          # ends the run: nothing after it is reached
        if isinstance(s, If):
            esc: set[str] = set()
            branches = []
            for cond, body in s.branches:
                nb, e = self.block(body)
                branches.append((cond, nb))
                esc |= e
            s.branches = branches
            if s.else_ is not None:
                s.else_, e = self.block(s.else_)
                esc |= e
            return [s], esc
        if isinstance(s, Select):
            esc = set()
            for c in s.cases:
                c.body, e = self.block(c.body)
                esc |= e
            if s.default is not None:
                s.default, e = self.block(s.default)
                esc |= e
            return [s], esc
        if isinstance(s, (Loop, While)):
            return self.loop(s)
        return [s], set()

    def target_loop(self, s: Exit | Cycle) -> _LoopInfo:
        what = "EXIT" if isinstance(s, Exit) else "CYCLE"
        if not self.loops:
            raise bad_input(f"{what} outside a loop", s.span)
        if s.name is None:
            return self.loops[-1]
        for info in reversed(self.loops):
            if info.stmt.name and info.stmt.name.lower() == s.name.lower():
                return info
        raise bad_input(f"{what} names no enclosing loop '{s.name}'", s.span)

    def loop(self, s: Loop | While) -> tuple[list[Stmt], set[str]]:
        info = _LoopInfo(s)
        self.loops.append(info)
        try:
            body, esc = self.block(s.body)
        finally:
            self.loops.pop()
        own = {f for f in (info.cycle, info.exit) if f}
        stops = esc - ({info.cycle} if info.cycle else set())
        esc_out = esc - own
        if info.cycle:
            body.insert(0, _set(info.cycle, False, s.span))
        if not stops:
            s.body = body
            return [s], esc_out
        pre: list[Stmt] = []
        if info.exit:
            pre.append(_set(info.exit, False, s.span))
        go_on = _none_of(stops)
        if isinstance(s, While):
            # the flag test comes first: once a jump is taken the user's
            # condition may no longer be safe to evaluate (a(k) past the end)
            always = isinstance(s.cond, Lit) and s.cond.text == _TRUE
            s.cond = go_on if always else Bin("and", go_on, s.cond, span=s.cond.span)
            s.body = body
            return pre + [s], esc_out
        return pre + self.counted_as_while(s, body, stops), esc_out

    def counted_as_while(self, s: Loop, body: list[Stmt], stops: set[str]) -> list[Stmt]:
        """`do v = lo, hi, st` with a jump out of it, as a While loop.  The
        bounds are evaluated once, before v is assigned, as Fortran does; v
        is stepped only when no jump was taken, so after a normal end it is
        last + st and after a jump it keeps the value of that iteration."""
        sp = s.span
        vsym = self.lookup(s.var)
        vtype = vsym.type if vsym is not None else INT4
        pre: list[Stmt] = []
        hi = s.hi
        if not _is_constant(hi, self.lookup):
            name = self.new_local("hi", vtype, span=sp)
            pre.append(Assign(Ref(name, span=sp), hi, span=sp))
            hi = Ref(name, span=sp)
        sign = _const_int(s.step, self.lookup)
        if sign == 0:
            sign = None
        step: Expr
        if s.step is None:
            step = Lit("1", vtype)
        elif sign is not None:
            step = s.step
        else:
            name = self.new_local("st", vtype, span=sp)
            pre.append(Assign(Ref(name, span=sp), s.step, span=sp))
            step = Ref(name, span=sp)
        pre.append(Assign(Ref(s.var, span=sp), s.lo, span=sp))

        def v() -> Ref:
            return Ref(s.var, span=sp)
        zero = Lit("0", vtype)
        if sign is not None and sign > 0:
            test: Expr = Bin("<=", v(), clone(hi))
        elif sign is not None:
            test = Bin(">=", v(), clone(hi))
        else:
            test = Bin("or",
                       Bin("and", Bin(">", clone(step), zero),
                           Bin("<=", v(), clone(hi))),
                       Bin("and", Bin("<", clone(step), clone(zero)),
                           Bin(">=", v(), clone(hi))))
        if sign is not None and sign < 0 and isinstance(step, (Un, Lit)):
            nxt: Expr = Bin("-", v(), Lit(str(-sign), vtype))
        else:
            nxt = Bin("+", v(), clone(step))
        step_stmt = Assign(v(), nxt, span=sp)
        last = body[-1] if body else None
        if (isinstance(last, If) and len(last.branches) == 1 and last.else_ is None
                and not last.directives and last.branches[0][0] == _none_of(stops)
                and not any(isinstance(x, Assign) and x.lhs.name in stops
                            for x in walk_stmts(last.branches[0][1]))):
            # the body already ends with the same guard and sets no flag in
            # it: step inside it rather than testing the flags twice
            last.branches[0][1].append(step_stmt)
        else:
            body = body + [If([(_none_of(stops), [step_stmt])], span=sp)]
        w = While(Bin("and", _none_of(stops), test), body, name=s.name,
                  span=sp, directives=s.directives)
        return pre + [w]

    # ------------------------------------------------------------ hoisting

    def hoist_block(self, stmts: list[Stmt]) -> list[Stmt]:
        out: list[Stmt] = []
        for s in stmts:
            if isinstance(s, Assign) and isinstance(s.rhs, ArrayCtor):
                split = self.constructor_elements(s)
                if split:
                    out.extend(self.hoist_block(split))
                    continue
            pre: list[Stmt] = []
            if isinstance(s, Assign):
                s.lhs = self.hoist_ref(s.lhs, pre, s.span)
                if self.is_call_form(s):
                    # `v = f(args)` already is the shape a hoisted call takes
                    s.rhs = self.hoist_args(s.rhs, pre, s.span)
                else:
                    s.rhs = self.hoist(s.rhs, pre, s.span)
            elif isinstance(s, CallStmt):
                intr = (s.name.lower() in _INTRINSIC_SUBROUTINES
                        and self.tu.routine(s.name) is None)
                args = [self.hoist(a, pre, s.span) for a in s.args]
                if not intr:
                    args = [self.actual(a, pre, s.span)
                            for a in self.pin_subscripts(s.name, args, pre, s.span)]
                s.args = args
            elif isinstance(s, If):
                self.split_elseif(s)
                c0, b0 = s.branches[0]
                s.branches[0] = (self.hoist(c0, pre, s.span), b0)
            elif isinstance(s, Select):
                s.expr = self.hoist(s.expr, pre, s.span)
            elif isinstance(s, Loop):
                s.lo = self.hoist(s.lo, pre, s.span)
                s.hi = self.hoist(s.hi, pre, s.span)
                if s.step is not None:
                    s.step = self.hoist(s.step, pre, s.span)
            elif isinstance(s, Return) and s.value is not None:
                s.value = self.hoist(s.value, pre, s.span)
            # While conditions are re-evaluated every trip and Print items
            # are passive: both keep their calls.
            if isinstance(s, If):
                s.branches = [(c, self.hoist_block(b)) for c, b in s.branches]
                if s.else_ is not None:
                    s.else_ = self.hoist_block(s.else_)
            elif isinstance(s, Select):
                for c in s.cases:
                    c.body = self.hoist_block(c.body)
                if s.default is not None:
                    s.default = self.hoist_block(s.default)
            elif isinstance(s, (Loop, While)):
                s.body = self.hoist_block(s.body)
            out.extend(pre)
            out.extend(self.record_copy(s) if isinstance(s, Assign) else [s])
        return out

    def record_copy(self, s: Assign) -> list[Stmt]:
        """`v = tmp` of a record, where a temporary took a record-valued
        call (`v = vsub(v, x)`: the result and an argument share v): one
        assignment per component, as the front end does with the user's
        own record assignments; the transform differentiates only those
        (kept whole, v's derivative was never assigned: a silently wrong
        tangent and adjoint)."""
        if not isinstance(s.rhs, Ref) or self.type_of(s.lhs).base != "derived":
            return [s]
        from ..ir import records
        parts = records.expand_assignment(s.lhs, s.rhs, self.lookup, s.span,
                                          lambda: self.new_local("k", INT4, span=s.span))
        if not parts:
            return [s]
        for p in parts:
            p.span = s.span
        if parts and s.directives:
            parts[0].directives = s.directives
        return parts

    def constructor_elements(self, s: Assign) -> Optional[list[Stmt]]:
        """`p = (/ a, b, c /)` of scalars into a rank-1 array is one
        assignment per element (`p(1) = a` ...), whose adjoints the reverse
        sweep knows; an item that reads p, an implied-DO or an array item
        keeps the constructor."""
        lhs = s.lhs
        if lhs.path or self.rank_of(lhs) != 1 or any(
                isinstance(x, ImpliedDo) or self.rank_of(x) != 0 for x in s.rhs.items):
            return None
        if any(isinstance(y, Ref) and y.name == lhs.name for x in s.rhs.items for y in walk_expr(x)):
            return None
        sym = self.lookup(lhs.name)
        if sym is None or len(sym.shape) != (1 if lhs.subs is None else len(lhs.subs)):
            return None
        if lhs.subs is None:
            d, lo, step = 0, elementwise.lower_bound(sym, lhs.name, 0), None
        else:
            d = next(k for k, u in enumerate(lhs.subs) if isinstance(u, Section))
            u = lhs.subs[d]
            lo = clone(u.lo) if u.lo is not None else elementwise.lower_bound(sym, lhs.name, d)
            step = u.step
        out: list[Stmt] = []
        for k, item in enumerate(s.rhs.items):
            off: Expr = Lit(str(k), INT4)
            if step is not None:
                off = Bin("*", off, clone(step))
            sub = clone(lo) if k == 0 else Bin("+", clone(lo), off)
            subs = [sub] if lhs.subs is None else [
                sub if j == d else clone(u) for j, u in enumerate(lhs.subs)]
            a = Assign(Ref(lhs.name, subs, span=lhs.span), item, span=s.span)
            a.directives = s.directives if k == 0 else []
            out.append(a)
        return out

    def split_elseif(self, s: If) -> None:
        """`else if (c)` with a call in c becomes `else; t = f(..); if (c')`:
        the call then runs exactly when the original condition was tested."""
        for k in range(1, len(s.branches)):
            cond = s.branches[k][0]
            if _user_calls(cond):
                inner = If(s.branches[k:], s.else_, span=cond.span)
                s.branches = s.branches[:k]
                s.else_ = [inner]
                return

    def hoist_ref(self, ref: Ref, pre: list[Stmt], span: Span) -> Ref:
        if ref.subs is None:
            return ref
        return map_children(ref, lambda x: self.hoist(x, pre, span))

    def is_call_form(self, s: Assign) -> bool:
        """A scalar variable set to a user function result of its own type
        needs no temporary in between."""
        e, lhs = s.rhs, s.lhs
        if not (isinstance(e, Call) and not e.intrinsic):
            return False
        if lhs.subs is not None or lhs.path is not None:
            return False
        sym = self.lookup(lhs.name)
        # y = f(y): the result and an argument would share one adjoint.
        aliased = any(isinstance(x, Ref) and x.name == lhs.name for a in e.args for x in walk_expr(a))
        # g = f(x) with g in COMMON or a module: f (or what it calls) may read
        # g, and f_d would then see its result dummy through the global.
        aliased = aliased or (sym is not None and sym.storage not in ("local", "arg", "result"))
        return (sym is not None and sym.rank == 0 and self.rank_of(e) == 0 and not aliased
                and sym.type == self.fun_type(e.name))

    def hoist_args(self, e: Call, pre: list[Stmt], span: Span) -> Call:
        e = map_children(e, lambda x: self.hoist(x, pre, span))
        e.args = [self.actual(a, pre, span) for a in self.pin_subscripts(e.name, e.args, pre, span)]
        e.kwargs = [(k, self.actual(a, pre, span)) for k, a in e.kwargs]
        return e

    def hoist(self, e: Expr, pre: list[Stmt], span: Span) -> Expr:
        """e with each user call replaced by a temporary assigned in `pre`;
        arguments first, left to right, so side effects keep their order."""
        if isinstance(e, ImpliedDo):
            return e             # its items may depend on the implied-DO variable
        e = map_children(e, lambda x: self.hoist(x, pre, span))
        if not isinstance(e, Call) or e.intrinsic:
            return e
        t = self.fun_type(e.name)
        if t.base == "character" and not isinstance(t.length, Lit):
            return e
        e.args = [self.actual(a, pre, span) for a in self.pin_subscripts(e.name, e.args, pre, span)]
        e.kwargs = [(k, self.actual(a, pre, span)) for k, a in e.kwargs]
        rank = self.rank_of(e)
        tmp = self.new_local(e.name, t, rank, span=span)
        if rank > 0:
            self.size_result(tmp, e, span)
        pre.append(Assign(Ref(tmp, span=e.span), e, span=span))
        return Ref(tmp, span=e.span)

    def size_result(self, tmp: str, e: Call, span: Span) -> None:
        """The temporary holding an array-valued function result becomes an
        actual argument of the derivative routine (`traj = run_model(n, x)`
        -> `call run_model_d(n, x, xd, tmp, tmpd)`), whose dummy has the
        result's declared shape: the temporary (and so its derivative) gets
        that shape, with the callee's formals replaced by the actuals.  Only
        actuals that keep their value for the whole routine (constants,
        intent(in) scalars) can size a declaration; anything else is refused
        rather than left unallocated."""
        rt = self.tu.routine(e.name)
        res = rt.symbols.get(rt.result) if rt is not None and rt.result else None
        if res is None or res.allocatable or res.pointer:
            return
        formals = dict(zip(rt.args, e.args))

        def fixed_shape(a: Expr) -> bool:
            """size(a), lbound(a)...: a fixed-shape array, or a section of one
            with stable bounds, has the same shape all through the routine."""
            if not isinstance(a, Ref) or a.path:
                return False
            sym = self.lookup(a.name)
            if sym is None or sym.allocatable or sym.pointer or not all(
                    d.ub is not None and not d.assumed and stable(d.ub)
                    and (d.lb is None or stable(d.lb)) for d in sym.shape):
                return sym is not None and sym.storage == "arg" and sym.intent == "in" \
                    and not sym.allocatable and not sym.pointer and a.subs is None
            parts = [p for x in a.subs or [] for p in
                     ((x.lo, x.hi, x.step) if isinstance(x, Section) else (x,))]
            return all(p is None or stable(p) for p in parts)

        def stable(x: Expr) -> bool:
            if isinstance(x, Call) and x.intrinsic and x.name in _SHAPE_INQUIRIES:
                return bool(x.args) and fixed_shape(x.args[0]) and all(
                    stable(a) for a in x.args[1:]) and all(stable(v) for _, v in x.kwargs)
            if isinstance(x, Ref):
                sym = self.lookup(x.name)
                return x.subs is None and sym is not None and (
                    sym.is_parameter or (sym.storage == "arg" and sym.intent == "in"))
            if isinstance(x, Call) and not x.intrinsic:
                return False
            return all(stable(c) for c in sub_exprs(x))

        def mapped(x: Optional[Expr]) -> Optional[Expr]:
            if x is None:
                return None
            x = clone(x)

            def sub(y: Expr) -> Expr:
                if isinstance(y, Ref) and y.subs is None:
                    if y.name in formals:
                        return clone(formals[y.name])
                    c = rt.symbols.get(y.name)
                    if c is not None and c.is_parameter and isinstance(c.value, Lit):
                        return clone(c.value)
                return map_children(y, sub)
            x = sub(x)
            if not stable(x):
                raise unsupported(f"array-valued function '{e.name}' whose result size depends on a "
                                  "value that may change in the caller (pass the size as a "
                                  "constant or an intent(in) argument)", e.span or span)
            return x

        if any(d.ub is None or d.assumed for d in res.shape):
            raise unsupported(f"array-valued function '{e.name}' with an assumed-shape result",
                              e.span or span)
        sym = self.r.symbols[tmp]
        sym.shape = [Dim(mapped(d.lb), mapped(d.ub)) for d in res.shape]
        sym.allocatable = False

    def pin_subscripts(self, callee: str, args: list[Expr], pre: list[Stmt],
                       span: Span) -> list[Expr]:
        """`call foo(x(k), y, k)` where foo may change k: the actual is the
        element x(k) of k's value at the call, and so must be every push,
        pop and adjoint argument made of it later.  A subscript that reads a
        variable the call may write (another actual passed by reference that
        is not intent(in), or a global) is evaluated once into a temporary."""
        rt = self.tu.routine(callee)

        def writable(k: int) -> bool:
            if rt is None or k >= len(rt.args):
                return True
            f = rt.symbols.get(rt.args[k])
            return f is None or f.intent != "in"

        written = {a.name for k, a in enumerate(args) if isinstance(a, Ref) and writable(k)}

        def changes(e: Expr) -> bool:
            for x in walk_expr(e):
                if isinstance(x, Ref):
                    sym = self.lookup(x.name)
                    if x.name in written or (sym is not None and not sym.is_parameter
                                             and sym.storage in ("module", "common", "global")):
                        return True
            return False

        def pin(e: Optional[Expr]) -> Optional[Expr]:
            if e is None or isinstance(e, Lit) or not changes(e):
                return e
            tmp = self.new_local("sub", self.type_of(e), span=span)
            pre.append(Assign(Ref(tmp, span=e.span), e, span=span))
            return Ref(tmp, span=e.span)

        def moving(subs) -> bool:
            return subs is not None and any(
                changes(x) if not isinstance(x, Section)
                else any(p is not None and changes(p) for p in (x.lo, x.hi, x.step))
                for x in subs)

        def pinned(subs) -> list:
            return [Section(pin(x.lo), pin(x.hi), pin(x.step)) if isinstance(x, Section)
                    else pin(x) for x in subs]

        out = []
        for a in args:
            # subscripts of the variable and of every record component
            # (`s%a(k)`, `s(k)%a`) alike
            if isinstance(a, Ref) and (moving(a.subs) or any(moving(p.subs) for p in a.path or [])):
                a = copy.copy(a)
                if moving(a.subs):
                    a.subs = pinned(a.subs)
                if a.path:
                    a.path = [Part(p.name, pinned(p.subs)) if moving(p.subs) else p for p in a.path]
            out.append(a)
        return out

    def actual(self, a: Expr, pre: list[Stmt], span: Span) -> Expr:
        """A real-valued expression passed to a user routine goes through a
        temporary: its adjoint needs a variable to be accumulated into.  So
        does an array with a vector subscript, `x(idx)`: the compiler passes
        a copy of those elements anyway, which the callee may not define
        (Fortran 2018, 15.5.2.4), and the copy's adjoint is added back
        element by element (the adjoint of `t = x(idx)`, duplicates in idx
        included)."""
        if isinstance(a, Ref) and not self._vector_subscripted(a):
            return a
        t = self.type_of(a)
        if not t.is_real:
            return a
        tmp = self.new_local("arg", t, self.rank_of(a), span=span)
        assign = Assign(Ref(tmp, span=a.span), a, span=span)
        assign.arg_temp = True       # see analysis/recompute.py
        pre.append(assign)
        return Ref(tmp, span=a.span)

    def _vector_subscripted(self, a: Ref) -> bool:
        from ..ir.records import all_subs
        return any(not isinstance(x, Section) and self.rank_of(x) > 0 for x in all_subs(a))


def _drop_tail_returns(block: list[Stmt]) -> None:
    """A RETURN with nothing after it (also at the end of a branch that ends
    the routine) is a no-op; dropping it spares a flag.  A label or
    directives it carried stay on a CONTINUE in its place."""
    if not block:
        return
    last = block[-1]
    if isinstance(last, Return) and last.value is None:
        block[-1] = Continue(span=last.span, label=last.label, directives=last.directives)
    elif isinstance(last, If):
        for _, b in last.branches:
            _drop_tail_returns(b)
        if last.else_ is not None:
            _drop_tail_returns(last.else_)
    elif isinstance(last, Select):
        for c in last.cases:
            _drop_tail_returns(c.body)
        if last.default is not None:
            _drop_tail_returns(last.default)
