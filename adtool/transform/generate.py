"""Which routines and variants to generate, and the derivative unit that holds
them: module-level derivative storage (module m -> m_diff, with the
differentiated module procedures), then external routines."""
from __future__ import annotations

from ..ir.clone import clone
from typing import Optional

from ..analysis.activity import activity as compute_activity
from ..analysis.readwrite import stmt_writes, summaries
from ..analysis.recompute import restorable as restorable_actual, restorable_temporaries
from ..analysis.scope import Scopes, Var
from ..checkpoint.plan import Plan
from ..headspec import Head
from ..ir import records
from ..ir.nodes import (Assign, Bin, Call, CallStmt, Expr, Goto, Lit, Ref, Return, Stmt, Section, Module, Routine, Symbol, TranslationUnit,
                        Un, Use)
from ..ir.visit import calls_in, stmt_exprs, walk_stmts
from .context import DiffContext, deriv_symbol
from .lift import lift_internal, nodiff_copies, rename_calls
from ..analysis.saved_state import stateful_saves
from ..diagnostics import raise_all
from .normalize import normalize_unit
from .reverse import Reverse
from .tangent import Tangent
from .variants import CallPlanner


class _Summaries:
    def __init__(self, s):
        self.s = s

    def summary(self, name: str):
        return self.s[name]


def _callees(r: Routine) -> list[str]:
    out = []
    for s in walk_stmts(r.body):
        if isinstance(s, CallStmt):
            out.append(s.name)
        for e in stmt_exprs(s):
            for c in calls_in(e):
                if not c.intrinsic:
                    out.append(c.name)
    return out


def _reachable(tu: TranslationUnit, heads: list[str]) -> list[str]:
    seen: list[str] = []
    todo = list(heads)
    while todo:
        n = todo.pop(0)
        if n in seen or tu.routine(n) is None:
            continue
        seen.append(n)
        todo.extend(_callees(tu.routine(n)))
    return seen


def _callees_first(tu: TranslationUnit, names: list[str]) -> list[str]:
    """names in post-order of the call graph (a routine after the routines
    it calls; recursion broken where found)."""
    among = set(names)
    order: list[str] = []
    seen: set[str] = set()
    for root in names:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(_callees(tu.routine(root))))]
        while stack:
            n, it = stack[-1]
            for c in it:
                if c in among and c not in seen:
                    seen.add(c)
                    stack.append((c, iter(_callees(tu.routine(c)))))
                    break
            else:
                stack.pop()
                order.append(n)
    return order


def _tag_call_sites(tu: TranslationUnit, names: list[str]) -> None:
    """Mark every call of the differentiated routines with its call-site key
    and the directives written before its statement, before normalisation
    moves calls around: the checkpoint decision belongs to the call."""
    for n in names:
        r = tu.routine(n)
        counts: dict[str, int] = {}
        for s in walk_stmts(r.body):
            nodes = []
            for e in stmt_exprs(s):
                nodes.extend(c for c in calls_in(e) if not c.intrinsic)
            if isinstance(s, CallStmt):
                nodes.append(s)
            for node in nodes:
                counts[node.name] = counts.get(node.name, 0) + 1
                node.site_key = f"{n}/{node.name}#{counts[node.name]}"
                node.site_directives = list(s.directives)
                node.site_span = s.span


def site_of(stmt) -> object:
    """The call node a (normalised) call statement stands for."""
    return stmt.rhs if isinstance(stmt, Assign) else stmt


def differentiate_unit(tu: TranslationUnit, heads: list[Head], mode: str,
                       plan: Plan, profile: bool = False, primal_outputs: bool = True) -> TranslationUnit:
    names = _reachable(tu, [h.name for h in heads])
    tu = clone(tu)
    lifted = lift_internal(tu, set(names))
    _tag_call_sites(tu, names)
    ntu = normalize_unit(tu, set(names))
    if ntu.language == "c":
        from .c_extents import infer_pointer_extents
        infer_pointer_extents(ntu, names)
    scopes = Scopes(ntu)
    summ = summaries(ntu, scopes)
    act = compute_activity(ntu, [(h.name, h.dependents, h.independents) for h in heads])
    externals = _declared_activity(ntu, act)
    active = act.active_routines() | {h.name for h in heads}
    diff = [n for n in names if n in active]
    raise_all([e for n in diff for e in stateful_saves(ntu.routine(n), scopes, summ)])
    suffix = "b" if mode == "reverse" else "d"
    ctx = DiffContext(ntu, act, scopes, suffix)
    calls = CallPlanner(ctx, set(diff), uses_stack=(mode == "reverse"))
    ctx_modules = _derivative_modules(ntu, ctx, act, scopes)
    ctx.derivative_modules_seen_by = lambda r: _modules_seen(ntu, r, ctx_modules)

    variants: dict[str, list[Routine]] = {}
    if mode == "tangent":
        tg = Tangent(ctx, calls)
        for n in diff:
            if n not in externals:
                variants[n] = [tg.routine(ntu.routine(n))]
    else:
        written = set()
        for n in names:
            r = ntu.routine(n)
            for s in walk_stmts(r.body):
                written |= set(stmt_writes(s, r, scopes, summ))
        def mode_of(caller: Routine, stmt) -> str:
            if getattr(site_of(stmt), "name", None) in externals:
                return "joint"       # the user's adjoint is one routine: restore inputs, call it
            return plan.mode_of_site(caller.name, site_of(stmt), ntu)
        wanted = _wanted_variants(ntu, [h.name for h in heads], set(diff), mode_of,
                                  [h.name for h in heads if plan.head_split(h.name)])
        rev = Reverse(ctx, calls, mode_of, _Summaries(summ), written)
        rev.heads = {h.name for h in heads}
        rev.binomial_loops = plan.binomial_loops      # (routine, line) -> snapshots
        rev.primal_outputs = primal_outputs
        head_names = [h.name for h in heads]
        # Which argument values the backward sweeps find in place: first from
        # what never changes, then also from what each backward sweep records
        # anyway (learnt by a first pass over every routine with those facts).
        rev.restorable = restorable_temporaries(ntu, diff, scopes, summ)
        rev.stable, rev.constant_actual = _formal_facts(ntu, diff, scopes, written, head_names,
                                                         rev.restorable)
        needed = {n: (set(ntu.routine(n).args) if n in externals else
                      rev.backward_reads(ntu.routine(n))) for n in diff if wanted.get(n)}
        rev.restorable = restorable_temporaries(ntu, diff, scopes, summ, needed)
        rev.stable, rev.constant_actual = _formal_facts(ntu, diff, scopes, written, head_names,
                                                         rev.restorable, needed, summ,
                                                         {n for n, w in wanted.items() if "fwd" in w})
        rev.assumed_needed = needed
        if profile:
            rev.profile = {}
        # Callees first: a joint call's snapshot holds what the callee's f_b
        # reads (rev.adjoint_use), known once that f_b is built.
        for n in _callees_first(ntu, diff):
            if wanted.get(n) and n not in externals:
                variants[n] = rev.variants(ntu.routine(n), wanted[n])

    _call_user_derivatives(variants, externals, mode)
    # A head's derivative is what the user calls from another file: never
    # static, even when the head itself is (C).
    for h in heads:
        for v in variants.get(h.name, []):
            if v.name == f"{h.name}_{suffix}":
                v.static = False
    _use_variant_modules(ntu, variants, suffix)
    if lifted:
        for n, vs in list(variants.items()):
            for v in vs:
                _call_nodiff(v, lifted, ntu)
        called = _names_called([v for vs in variants.values() for v in vs])
        copies = {c.name: c for c in nodiff_copies(tu, lifted)}
        wanted_copies: set[str] = set()
        todo = [n for n in called if n in copies]
        while todo:
            n = todo.pop()
            if n not in wanted_copies:
                wanted_copies.add(n)
                todo.extend(m for m in _names_called([copies[n]]) if m in copies)
        for n in sorted(wanted_copies):
            variants.setdefault(n[: -len("_nodiff")], []).append(copies[n])
    out = TranslationUnit(tu.language, list(tu.files))
    if tu.language == "c":
        out.globals = _derivative_globals(ntu, ctx, act)
    by_module: dict[str, list[Routine]] = {}
    for n in diff:
        r = ntu.routine(n)
        for v in variants.get(n, []):
            if r.module:
                by_module.setdefault(r.module, []).append(v)
            else:
                out.routines.append(v)
    for mname, dmod in ctx_modules.items():
        dmod.routines = by_module.pop(mname, [])
        for v in dmod.routines:
            v.uses = [u for u in v.uses if u.module != dmod.name]
        out.modules.append(dmod)
    for mname, routines in by_module.items():
        dmod = Module(derivative_module_name(mname, suffix), {}, uses=[Use(mname)])
        dmod.routines = routines
        out.modules.append(dmod)
        ctx_modules[mname] = dmod
    # Module procedures need their own module (and the modules of their variants).
    for dmod in out.modules:
        for v in dmod.routines:
            if dmod.uses and not any(u.module == dmod.uses[0].module for u in v.uses):
                pass
    out.types = _placed_types(ntu, suffix)
    _no_private_types(ntu, [v for vs in variants.values() for v in vs])
    _order_modules(out)
    out.profile_sites = rev.profile if mode == "reverse" and profile else None
    out.head_roles = {h: (deps, indeps) for h, deps, indeps in act.heads}  # for adtool check
    # The user's derivatives of externals, for the C prototypes.
    out.external_variants = [_user_derivative(calls, externals[n], mode) for n in diff
                             if n in externals]
    return out


def _declared_activity(tu: TranslationUnit, act) -> dict[str, Routine]:
    """Declared externals (externals.py): an external through which any
    derivative flows takes an adjoint for every real argument its
    declaration connects, whatever this program's activity, so that the
    user's adjoint has one fixed signature."""
    from ..externals import active_formals, no_passive_overwrite
    out = {r.name: r for r in tu.all_routines() if r.declared is not None}
    for name, r in out.items():
        formals = r.args + ([r.result] if r.result else [])
        hit = any(act.scopes.var(name, a) in act.active for a in formals)
        no_passive_overwrite(r, hit)
        if hit:
            act.active |= {act.scopes.var(name, a) for a in active_formals(r)}
    return out


def _call_user_derivatives(variants: dict, externals: dict, mode: str) -> None:
    """Calls of f_b / f_d of an external go to the names its declaration gives."""
    if not externals:
        return
    suffix = "_b" if mode == "reverse" else "_d"
    rename = {n + suffix: (r.declared.adjoint if mode == "reverse" else r.declared.tangent)
              for n, r in externals.items()}
    for vs in variants.values():
        for v in vs:
            for st in walk_stmts(v.body):
                if isinstance(st, CallStmt) and st.name in rename:
                    st.name = rename[st.name]


def _user_derivative(calls, r: Routine, mode: str) -> Routine:
    """The signature of the user's adjoint (tangent) of external r."""
    v = calls.variant_skeleton(r, "_b" if mode == "reverse" else "_d")
    if r.kind == "function" and mode == "reverse":
        v.args.remove(r.result)          # f_b(x, xb, fb), as for generated functions
        v.symbols.pop(r.result, None)
    for a in v.args:
        if a not in r.args and mode == "reverse":
            v.symbols[a].intent = "inout"      # adjoints flow both ways
    v.name = r.declared.adjoint if mode == "reverse" else r.declared.tangent
    v.static = False
    return v


def _derivative_globals(tu: TranslationUnit, ctx: DiffContext, act) -> dict[str, Symbol]:
    """C globals have no module to hang derivatives on: `vb` sits next to the
    generated code, zero-initialised like any file-scope variable."""
    out: dict[str, Symbol] = {}
    for name, s in tu.globals.items():
        if records.differentiable(s.type) and act.is_active_var(Var("global", name)):
            d = deriv_symbol(s, name + ctx.suffix)
            d.save = False
            out[d.name] = d
    return out


def derivative_module_name(module: str, suffix: str) -> str:
    """m_diff for the adjoint (interface.md); m_diff_d for the tangent, so both
    can be linked into one program."""
    return module + ("_diff" if suffix == "b" else "_diff_d")


def _derivative_modules(tu: TranslationUnit, ctx: DiffContext, act, scopes) -> dict[str, Module]:
    mods: dict[str, Module] = {}
    for m in tu.modules:
        syms: dict[str, Symbol] = {}
        for name, s in m.symbols.items():
            if s.is_parameter or not records.differentiable(s.type):
                continue
            if act.is_active_var(Var(f"module:{m.name}", name)):
                dn = name + ctx.suffix
                d = deriv_symbol(s, dn)
                d.storage = "module"
                d.module = derivative_module_name(m.name, ctx.suffix)
                from ..ir.build import real
                d.init = records.zero_value(s.type) if not s.allocatable else None
                d.save = False
                syms[dn] = d
        mods[m.name] = Module(derivative_module_name(m.name, ctx.suffix), syms, uses=[Use(m.name)])
    typed = _derivative_types(tu, ctx.suffix)
    for k, v in mods.items():
        wanted = set(typed.get(k, set()))
        for d in v.symbols.values():      # module variables' T_diff come from their T's module
            td = records.typedef(d.type)
            if td is not None and td.module:
                wanted.add(td.module)
        for other in sorted(wanted):
            if other != k:
                v.uses.append(Use(derivative_module_name(other, ctx.suffix)))
    return {k: v for k, v in mods.items() if v.symbols or k in typed or any(
        r.module == k for r in tu.all_routines())}


def _derivative_types(tu: TranslationUnit, suffix: str) -> dict[str, set[str]]:
    """T_diff for every record type T of module m that can carry a
    derivative, placed in m's derivative module (interface.md): module ->
    the modules whose derivative types its own T_diff components name."""
    out: dict[str, set[str]] = {}
    for td in list(tu.types.values()):
        if records.is_diff_type(td) or td.module is None:
            continue
        t = records.Type("derived", 0, name=td.name)
        if not records.differentiable(t) or _has_real_allocatable(td):
            continue        # (an error only if differentiated code needs its T_diff)
        records.diff_type(t)
        needs = out.setdefault(td.module, set())
        for c in td.components.values():
            inner = records.typedef(c.type)
            if inner is not None and records.differentiable(c.type) and inner.module:
                needs.add(inner.module)
    return out


def _no_private_types(tu: TranslationUnit, routines: list[Routine]) -> None:
    """Derivative code lives outside the user's modules: a PRIVATE type
    cannot be named there."""
    from ..diagnostics import unsupported
    for v in routines:
        for sym in v.symbols.values():
            td = records.typedef(sym.type)
            if td is not None and td.private:
                raise unsupported("PRIVATE derived type used by differentiated code", td.span,
                                  td.name)


def _has_real_allocatable(td) -> bool:
    for c in td.components.values():
        if c.allocatable and records.differentiable(c.type):
            return True
        inner = records.typedef(c.type)
        if inner is not None and _has_real_allocatable(inner):
            return True
    return False


def _placed_types(tu: TranslationUnit, suffix: str) -> dict:
    """The derivative types, each in the derivative module of its primal's module."""
    out = {}
    for name, td in tu.types.items():
        if records.is_diff_type(td):
            d = clone(td)
            # a C struct has no module: its T_diff sits at file scope
            d.module = derivative_module_name(td.module, suffix) if td.module else None
            out[name] = d
    return out


def _modules_seen(tu: TranslationUnit, r: Routine, dmods: dict[str, Module]) -> list[str]:
    seen = []
    names = [u.module for u in r.uses]
    if r.module:
        names.insert(0, r.module)
    todo = list(names)
    while todo:
        m = todo.pop(0)
        if m in seen:
            continue
        seen.append(m)
        mod = tu.module(m)
        if mod is not None:
            todo.extend(u.module for u in mod.uses)
    def useful(m: str) -> bool:
        return bool(dmods[m].symbols) or any(records.is_diff_type(td) and td.module == m
                                             for td in tu.types.values())
    return [dmods[m].name for m in seen if m in dmods and useful(m) and m != r.module] + \
        ([dmods[r.module].name] if r.module in dmods and useful(r.module) else [])


def _wanted_variants(tu: TranslationUnit, heads: list[str], diff: set[str],
                     mode_of, split_heads: list[str] = ()) -> dict[str, set[str]]:
    """f_b for the heads (and f_fwd + f_bwd for heads named split); then,
    through every call site of a generated routine, f_b (joint site) or
    f_fwd + f_bwd (split site) of the callee."""
    wanted: dict[str, set[str]] = {h: {"b"} | ({"fwd", "bwd"} if h in split_heads else set())
                                   for h in heads}
    todo = list(heads)
    while todo:
        n = todo.pop(0)
        r = tu.routine(n)
        for s in walk_stmts(r.body):
            callee = None
            if isinstance(s, CallStmt):
                callee = s.name
            elif isinstance(s, Assign) and isinstance(s.rhs, Call) and not s.rhs.intrinsic:
                callee = s.rhs.name
            if callee is None or callee not in diff:
                continue
            need = {"b"} if mode_of(r, s) == "joint" else {"fwd", "bwd"}
            have = wanted.setdefault(callee, set())
            if not need <= have:
                have |= need
                todo.append(callee)
    return wanted


_VARIANT_SUFFIXES = ("_b", "_fwd", "_bwd", "_d")


def _formal_facts(tu: TranslationUnit, diff: list[str], scopes, written: set,
                  heads: list[str] = (), restorable: Optional[dict] = None,
                  needed: Optional[dict] = None, summ=None, split: set = frozenset()):
    """Which formals keep their value for the whole adjoint (nothing writes
    them, nor what any call site passes, or every call site passes a
    temporary it re-evaluates before the adjoint call or a variable its
    backward sweep records anyway and the call does not write (`needed`:
    per routine, what its backward sweep reads)), and which are sometimes given a
    constant or an expression (they must never be written back).  The user
    calls a head's adjoint with whatever the primal accepted, so a head's
    formal that the head never writes may be a literal; a formal passed on
    as an actual inherits that from its caller.  A local of the caller that
    is written only before the call's top-level statement (`depth` set
    once before the time loop that calls smooth(x, depth, b)) also keeps
    its value from the call to its adjoint, unless the caller is itself
    split (its locals do not live from its f_fwd to its f_bwd)."""
    sites: dict[tuple[str, str], list[tuple[str, Expr]]] = {}
    in_place: set[int] = set()          # id() of actuals found in place by the adjoint call
    set_before: set[int] = set()        # id() of actuals written only before their call
    dset = set(diff)
    for n in diff:
        r = tu.routine(n)
        for st in walk_stmts(r.body):
            calls = [(st.name, st.args)] if isinstance(st, CallStmt) else []
            for e in stmt_exprs(st):
                calls.extend((c.name, c.args) for c in calls_in(e) if not c.intrinsic)
            by_call = None
            for name, args in calls:
                callee = tu.routine(name)
                if callee is None or name not in dset:
                    continue
                for f, a in zip(callee.args, args):
                    sites.setdefault((name, f), []).append((n, a))
                    if summ is not None and n not in split and _written_only_before(r, st, a, scopes, summ):
                        set_before.add(id(a))
                    if needed and isinstance(a, Ref) and a.path is None and a.name in needed.get(n, ()):
                        if by_call is None:
                            by_call = set(stmt_writes(st, r, scopes, summ))
                        if scopes.var(n, a.name) not in by_call:
                            in_place.add(id(a))
    stable = {(n, f) for n in diff for f in tu.routine(n).args
              if scopes.var(n, f) not in written}
    constant: set[tuple[str, str]] = set()
    for key, uses in sites.items():
        for caller, a in uses:
            if not isinstance(a, Ref):
                constant.add(key)
            else:
                sym = scopes.symbol(caller, a.name)
                if sym is not None and sym.is_parameter:
                    constant.add(key)
    constant |= {(h, f) for h in heads if h in dset for f in tu.routine(h).args
                 if scopes.var(h, f) not in written}
    grew = True
    while grew:
        grew = False
        for key, uses in sites.items():
            if key in constant:
                continue
            if any(isinstance(a, Ref) and (caller, a.name) in constant for caller, a in uses):
                constant.add(key)
                grew = True
    changed = True
    while changed:
        changed = False
        for key in list(stable):
            for caller, a in sites.get(key, []):
                ok = isinstance(a, Lit) or id(a) in in_place or id(a) in set_before or \
                    restorable_actual(restorable or {}, caller, a) is not None or (
                    isinstance(a, Ref) and scopes.var(caller, a.name) not in written and
                    (a.name not in tu.routine(caller).args or (caller, a.name) in stable) and
                    all(_plain_subscript(x) for x in _subscripts(a)))
                if not ok:
                    stable.discard(key)
                    changed = True
                    break
    return stable, constant


def _written_only_before(r: Routine, call: Stmt, a: Expr, scopes, summ) -> bool:
    """Is a (a whole local of r, or its element at a plain subscript)
    written only by top-level statements of r before the one holding call?
    Then nothing r runs from the call's forward sweep to its adjoint call
    writes it: later statements' forward sweeps do not, and the backward
    sweep reaches the adjoints of those writes only after the call's."""
    if not isinstance(a, Ref) or a.path is not None or \
            not all(_plain_subscript(x) for x in _subscripts(a)):
        return False
    sym = scopes.symbol(r.name, a.name)
    if sym is None or sym.storage != "local" or sym.save or sym.pointer or sym.allocatable:
        return False
    if any(isinstance(x, (Goto, Return)) for x in walk_stmts(r.body)):
        return False
    v = scopes.var(r.name, a.name)
    for k, top in enumerate(r.body):
        if any(x is call for x in walk_stmts([top])):
            return all(v not in set(stmt_writes(x, r, scopes, summ)) for x in walk_stmts(r.body[k:]))
    return False


def _plain_subscript(x: Expr) -> bool:
    """Literals and scalar variables combined by arithmetic (`k * 11 + 3`,
    C's `&cams[k * 11]`): the backward sweep evaluates such a subscript to
    what it was at the call, as it does for a lone variable."""
    if isinstance(x, Lit) or (isinstance(x, Ref) and x.subs is None and x.path is None):
        return True
    if isinstance(x, Bin) and x.op in ("+", "-", "*"):
        return _plain_subscript(x.left) and _plain_subscript(x.right)
    if isinstance(x, Un) and x.op in ("-", "+"):
        return _plain_subscript(x.operand)
    return False


def _subscripts(a: Ref) -> list:
    out = []
    for x in records.all_subs(a):
        out.extend([p for p in ((x.lo, x.hi, x.step) if isinstance(x, Section) else (x,)) if p is not None])
    return out


def _names_called(routines: list[Routine]) -> set[str]:
    out: set[str] = set()
    for v in routines:
        for s in walk_stmts(v.body):
            if isinstance(s, CallStmt):
                out.add(s.name)
            for e in stmt_exprs(s):
                out.update(c.name for c in calls_in(e) if not c.intrinsic)
    return out


def _call_nodiff(v: Routine, lifted: set[str], tu: TranslationUnit) -> None:
    """Primal calls of lifted internal procedures go to their private copies;
    a function copy outside a module needs a type declaration."""
    called = {c.name for s in walk_stmts(v.body) for e in stmt_exprs(s)
              for c in calls_in(e) if not c.intrinsic and c.name in lifted}
    rename_calls(v, lifted)
    for n in sorted(called):        # declaration order: the same every run
        f = tu.routine(n)
        if f.module is None and f.result:
            t = f.symbols[f.result].type
            v.symbols[n + "_nodiff"] = Symbol(n + "_nodiff", t, external=True)


def _use_variant_modules(tu: TranslationUnit, variants: dict[str, list[Routine]], suffix: str) -> None:
    """A call to the variant of a module procedure needs that module's
    derivative module in scope (the variant lives there)."""
    for primal, vs in variants.items():
        home = tu.routine(primal).module
        for v in vs:
            for s in walk_stmts(v.body):
                if not isinstance(s, CallStmt):
                    continue
                for suf in _VARIANT_SUFFIXES:
                    if s.name.endswith(suf):
                        callee = tu.routine(s.name[: -len(suf)])
                        if callee is not None and callee.module and callee.module != home:
                            dm = derivative_module_name(callee.module, suffix)
                            if not any(u.module == dm for u in v.uses):
                                v.uses.append(Use(dm))
                        break


def _order_modules(out: TranslationUnit) -> None:
    out.order_modules()
