"""Procedures passed as arguments: the callee is specialised per procedure.

    call rk2(rhs, u, dt, n)        ->    call rk2_rhs(u, dt, n)
    subroutine rk2(fcn, u, dt, n)        subroutine rk2_rhs(u, dt, n)
      call fcn(t, u, k1)                   call rhs(t, u, k1)

The transform differentiates calls it can name: a call through a dummy
procedure has no callee until run time, and its derivative call would need
the derivative of whatever was passed.  A copy of the callee per procedure
passed (a ProcRef actual) makes every such call a plain one; a dummy
procedure passed on (`call inner(fcn, ...)` inside rk2) becomes a ProcRef of
the specialised procedure in the copy and is specialised in its turn.  The
user's routine stays as written for the callers this does not concern.
What cannot be specialised (an intrinsic or a routine without source
passed, an internal procedure passed, a dummy procedure reached from the
head) is an error of the routine that needs it, reported when that
routine is differentiated.

A specialised routine is named `<routine>_<procedure>` (numbered if taken):
that is the name plans, call sites and derivatives (`rk2_rhs_b`) use.  A
primal call of it is printed as the user's call (Call.via), so the copy
itself is never output: the user's objects hold what it runs.
"""
from __future__ import annotations

from ..diagnostics import unsupported
from ..ir.clone import clone
from ..ir.nodes import Call, CallStmt, ProcRef, Routine, TranslationUnit, Use
from ..ir.visit import stmt_exprs, walk_expr, walk_stmts

_MAX_ROUNDS = 50


def specialize_procedure_args(tu: TranslationUnit) -> None:
    Specializer(tu).run()


class Specializer:
    def __init__(self, tu: TranslationUnit):
        self.tu = tu
        self.made: dict[tuple, Routine] = {}
        self.taken = {r.name for r in tu.all_routines()} | {m.name for m in tu.modules}

    def run(self) -> None:
        for _ in range(_MAX_ROUNDS):
            if not any([self.routine(r) for r in self.tu.all_routines()]):
                break
        else:
            first = next(iter(self.made.values()))
            first.errors.append(unsupported("procedures passed as arguments more than "
                                            f"{_MAX_ROUNDS} levels deep (recursion?)", first.span))
        for r in self.tu.all_routines():
            for a in r.args:
                s = r.symbols.get(a)
                if s is not None and s.external and not s.shape and not r.declared:
                    r.errors.append(unsupported(
                        f"dummy procedure '{a}' of '{r.name}' (adtool specialises a routine for "
                        "each procedure its callers pass; a call of it from the head or with a "
                        "procedure it cannot see is not specialised)", s.span or r.span))
                    break

    # ---------------------------------------------------------- call sites

    def routine(self, r: Routine) -> bool:
        """Specialise the callee of every call in r that passes procedures;
        whether anything changed."""
        changed = False
        for s in walk_stmts(r.body):
            calls = [s] if isinstance(s, CallStmt) else []
            calls += [c for e in stmt_exprs(s) for c in walk_expr(e)
                      if isinstance(c, Call) and not c.intrinsic]
            for c in calls:
                if any(isinstance(a, ProcRef) for a in c.args):
                    changed |= self.call(r, c)
        return changed

    def call(self, caller: Routine, c) -> bool:
        bound: dict[int, str] = {}
        for k, a in enumerate(c.args):
            if not isinstance(a, ProcRef):
                continue
            own = caller.symbols.get(a.name)
            if own is not None and own.storage == "arg":
                return False        # passed on: specialised with its caller
            target = self.tu.routine(a.name)
            if target is None or target.declared is not None:
                self._fail(caller, f"procedure '{a.name}' passed as an argument (an intrinsic "
                                   "or a routine whose source is not given)", a)
                return False
            if target.host is not None:
                self._fail(caller, f"internal procedure '{a.name}' passed as an argument", a)
                return False
            if target.private and target.module is not None:
                callee_r = self.tu.routine(c.name)
                if callee_r is None or callee_r.module != target.module:
                    self._fail(caller, f"PRIVATE procedure '{a.name}' passed as an argument "
                                       "to a routine of another module", a)
                    return False
            bound[k] = target.name
        callee = self.tu.routine(c.name)
        if callee is None or callee.declared is not None:
            self._fail(caller, f"procedure passed as an argument to '{c.name}', whose source "
                               "is not given", c)
            return False
        for k in bound:
            d = callee.symbols.get(callee.args[k]) if k < len(callee.args) else None
            if d is None or not d.external or d.shape:
                self._fail(caller, f"procedure '{bound[k]}' passed to '{c.name}' for its "
                                   "argument that is not a procedure", c)
                return False
        spec = self.specialised(callee, bound)
        c.via = (spec.name, c.name, None, tuple(sorted(bound.items())))
        c.name = spec.name
        c.args = [a for k, a in enumerate(c.args) if k not in bound]
        return True

    def _fail(self, caller: Routine, what: str, node) -> None:
        err = unsupported(what, getattr(node, "span", None) or caller.span)
        if not any(str(e) == str(err) for e in caller.errors):
            caller.errors.append(err)       # the ProcRef stays: printed as written

    # ---------------------------------------------------------- copies

    def specialised(self, callee: Routine, bound: dict[int, str]) -> Routine:
        key = (id(callee), tuple(sorted(bound.items())))
        if key in self.made:
            return self.made[key]
        r = clone(callee)
        base = "_".join([callee.name] + [bound[k] for k in sorted(bound)])
        name, n = base, 1
        while name in self.taken or name.lower() in {t.lower() for t in self.taken}:
            n += 1
            name = f"{base}{n}"
        self.taken.add(name)
        r.name = name
        r.specialized_from = callee.specialized_from or callee.name
        # C: a function only adtool knows, defined (static) in the generated
        # file for the derivative code's primal calls, like a static one
        r.static = r.static or r.language == "c"
        if r.kind == "function" and r.result == callee.name:
            # the result variable was named like the function
            r.symbols[name] = r.symbols.pop(callee.name)
            r.symbols[name].name = name
            r.result = name
            _rename(r, callee.name, name, calls=False)
        renames = {callee.args[k]: bound[k] for k in bound}
        r.args = [a for k, a in enumerate(callee.args) if k not in bound]
        for d, p in renames.items():
            target = self.tu.routine(p)
            sym = r.symbols.pop(d)
            if target.module is None:
                # an external procedure: declared EXTERNAL (with its type, for
                # a function) where the dummy was
                sym.name, sym.storage, sym.intent, sym.by_interface = p, "local", None, False
                r.symbols[p] = sym
            elif target.module != r.module and not any(
                    u.module == target.module and (u.only is None or p in u.only) for u in r.uses):
                r.uses.append(Use(target.module, [p]))
            _rename(r, d, p, calls=True)
            for blk in r.interfaces:
                blk.bodies = [b for b in blk.bodies if b.name != d]
            r.interfaces = [b for b in r.interfaces if b.bodies or b.procedures or b.name]
        self._place(callee, r)
        self.made[key] = r
        return r

    def _place(self, callee: Routine, r: Routine) -> None:
        if callee.host is not None:
            host = next(h for h in self.tu.all_routines() if any(c is callee for c in h.contains))
            host.contains.append(r)
        elif callee.module is not None:
            self.tu.module(callee.module).routines.append(r)
        else:
            self.tu.routines.append(r)


def _rename(r: Routine, old: str, new: str, calls: bool) -> None:
    """References to `old` in r and its internal procedures become `new`:
    calls of it and procedure actuals (calls=True), or variable references."""
    from ..ir.nodes import Ref
    for rt in [r] + _contained(r):
        if rt is not r and old in rt.symbols:
            continue                     # shadowed there
        for s in walk_stmts(rt.body):
            if calls and isinstance(s, CallStmt) and s.name == old:
                s.name, s.via = new, None
            for e in stmt_exprs(s):
                for x in walk_expr(e):
                    if calls and isinstance(x, Call) and not x.intrinsic and x.name == old:
                        x.name, x.via = new, None
                    elif calls and isinstance(x, ProcRef) and x.name == old:
                        x.name = new
                    elif not calls and isinstance(x, Ref) and x.name == old:
                        x.name = new


def _contained(r: Routine) -> list[Routine]:
    out: list[Routine] = []
    for c in r.contains:
        out.append(c)
        out.extend(_contained(c))
    return out
