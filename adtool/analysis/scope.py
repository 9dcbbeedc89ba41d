"""Storage identity for names seen from routines.

Data-flow facts must agree across routines: a module variable renamed on
`use`, a COMMON member spelled differently in two routines, or a host
variable seen from an internal procedure is one piece of storage and so one
`Var`.  The front end has its own lookup while lowering; this module answers
the same question from the finished IR alone, because later stages never see
the front end.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional, Union

from ..ir.nodes import Module, Routine, Symbol, TranslationUnit, Use

RoutineLike = Union[Routine, str]


@dataclass(frozen=True)
class Var:
    """scope: routine name (args, locals, result), 'module:<m>', 'common:<blk>'
    or 'global' (C file-scope variables).  For COMMON, name is '<blk>#<k>' with
    k the 1-based position in the block, so routines that name members
    differently agree."""
    scope: str
    name: str

    @property
    def is_module(self) -> bool:
        return self.scope.startswith("module:")

    @property
    def is_common(self) -> bool:
        return self.scope.startswith("common:")

    def __str__(self) -> str:
        return f"{self.scope}::{self.name}"


def common_var(block: str, k: int) -> Var:
    return Var(f"common:{block}", f"{block}#{k}")


class Scopes:
    """Name resolution over a TranslationUnit, mirroring the front end's
    order: own symbols, own `use`s, the owning module (module procedures),
    then the host (internal procedures), then C file-scope globals."""

    def __init__(self, tu: TranslationUnit):
        from ..ir import records
        records.bind(tu.types)
        self.tu = tu
        self.routines: dict[str, Routine] = {}
        for r in tu.all_routines():
            self.routines.setdefault(r.name, r)
        self.modules: dict[str, Module] = {m.name: m for m in tu.modules}
        self._cache: dict[tuple[str, str], Optional[tuple[Symbol, Var]]] = {}
        # Saved locals keep their value between calls: for callers they
        # behave like globals private to the routine.
        self.persistent: set[Var] = set()
        for r in tu.all_routines():
            for name, sym in r.symbols.items():
                if sym.storage == "local" and (sym.save or sym.init is not None) \
                        and not sym.is_parameter and not sym.external:
                    self.persistent.add(Var(r.name, name))
        self.cache: dict[str, object] = {}   # per-TU results other analyses memoise here

    # ------------------------------------------------------------ routines

    def routine(self, r: RoutineLike) -> Routine:
        if isinstance(r, Routine):
            return r
        return self.routines[r]

    def callee(self, caller: RoutineLike, name: str) -> Optional[Routine]:
        """The routine a call to `name` from `caller` reaches (internal,
        module, external), or None when it is not in the input."""
        r = self.routine(caller)
        u: Optional[Routine] = r
        while u is not None:
            for c in u.contains:
                if c.name == name:
                    return c
            u = self.routines.get(u.host) if u.host else None
        mods: list[str] = []
        u = r
        while u is not None:
            if u.module:
                mods.append(u.module)
            mods.extend(x.module for x in u.uses)
            u = self.routines.get(u.host) if u.host else None
        seen: set[str] = set()
        while mods:
            m = mods.pop(0)
            if m in seen or m not in self.modules:
                continue
            seen.add(m)
            mod = self.modules[m]
            for c in mod.routines:
                if c.name == name:
                    return c
            mods.extend(x.module for x in mod.uses)
        for c in self.tu.routines:
            if c.name == name and c.kind != "program":
                return c
        # Not visible by the rules (e.g. a module procedure called without
        # `use`): fall back on the unique name, as the call graph does.
        c = self.routines.get(name)
        return c if c is not None and c.kind != "program" else None

    # ------------------------------------------------------------ variables

    def lookup(self, routine: RoutineLike, name: str) -> Optional[tuple[Symbol, Var]]:
        r = self.routine(routine)
        key = (r.name, name)
        if key not in self._cache:
            self._cache[key] = self._lookup(r, name)
        return self._cache[key]

    def symbol(self, routine: RoutineLike, name: str) -> Optional[Symbol]:
        hit = self.lookup(routine, name)
        return hit[0] if hit else None

    def var(self, routine: RoutineLike, name: str) -> Var:
        """Var of a name; an unknown name is taken as a local of the routine."""
        hit = self.lookup(routine, name)
        return hit[1] if hit else Var(self.routine(routine).name, name)

    def is_data(self, routine: RoutineLike, name: str) -> bool:
        """True for names that denote storage (not constants or procedures)."""
        sym = self.symbol(routine, name)
        if sym is None:
            return True
        return not sym.is_parameter and not (sym.external and not sym.shape)

    def _lookup(self, r: Routine, name: str) -> Optional[tuple[Symbol, Var]]:
        u: Optional[Routine] = r
        while u is not None:
            if name in u.symbols:
                return self._own(u, name)
            hit = self._via_uses(name, u.uses, set())
            if hit is not None:
                return hit
            if u.module and not u.host and u.module in self.modules:
                mod = self.modules[u.module]
                if name in mod.symbols:
                    return self._in_module(mod, name)
                hit = self._via_uses(name, mod.uses, set())
                if hit is not None:
                    return hit
            u = self.routines.get(u.host) if u.host else None
        if name in self.tu.globals:
            return self.tu.globals[name], Var("global", name)
        return None

    def _own(self, r: Routine, name: str) -> tuple[Symbol, Var]:
        sym = r.symbols[name]
        if sym.storage == "common" and sym.common is not None:
            members = r.commons.get(sym.common, [])
            if name in members:
                return sym, common_var(sym.common, members.index(name) + 1)
            return sym, Var(f"common:{sym.common}", name)
        if sym.storage == "global":
            return sym, Var("global", name)
        return sym, Var(r.name, name)

    def _in_module(self, mod: Module, name: str) -> tuple[Symbol, Var]:
        sym = mod.symbols[name]
        if sym.storage == "common" and sym.common is not None:
            # The IR keeps no member order for COMMON declared in a module.
            return sym, Var(f"common:{sym.common}", name)
        return sym, Var(f"module:{mod.name}", name)

    def _via_uses(self, name: str, uses: list[Use], seen: set[str]) -> Optional[tuple[Symbol, Var]]:
        for use in uses:
            renamed = [rem for loc, rem in use.renames if loc == name]
            if use.only is not None and name not in use.only:
                continue
            if not renamed and use.only is None and any(rem == name for _, rem in use.renames):
                continue        # `use m, a => b` hides b
            remote = renamed[0] if renamed else name
            mod = self.modules.get(use.module)
            if mod is None or use.module in seen:
                continue
            if remote in mod.symbols:
                return self._in_module(mod, remote)
            hit = self._via_uses(remote, mod.uses, seen | {use.module})
            if hit is not None:
                return hit
        return None

    # ------------------------------------------------------------ listings

    def visible(self, routine: RoutineLike) -> Iterator[tuple[str, Symbol, Var]]:
        """Every data name usable in the routine, each once, innermost first."""
        r = self.routine(routine)
        names: list[str] = []
        u: Optional[Routine] = r
        while u is not None:
            names.extend(u.symbols)
            names.extend(self._use_names(u.uses, set()))
            if u.module and not u.host and u.module in self.modules:
                mod = self.modules[u.module]
                names.extend(mod.symbols)
                names.extend(self._use_names(mod.uses, set()))
            u = self.routines.get(u.host) if u.host else None
        names.extend(self.tu.globals)
        done: set[str] = set()
        for n in names:
            if n in done:
                continue
            done.add(n)
            hit = self.lookup(r, n)
            if hit is not None and self.is_data(r, n):
                yield n, hit[0], hit[1]

    def _use_names(self, uses: list[Use], seen: set[str]) -> list[str]:
        out: list[str] = []
        for use in uses:
            mod = self.modules.get(use.module)
            if mod is None or use.module in seen:
                continue
            if use.only is not None:
                out.extend(use.only)
                continue
            hidden = {rem for _, rem in use.renames}
            out.extend(loc for loc, _ in use.renames)
            out.extend(n for n in mod.symbols if n not in hidden)
            out.extend(n for n in self._use_names(mod.uses, seen | {use.module}) if n not in hidden)
        return out

    def is_nonlocal(self, v: Var, routine: RoutineLike) -> bool:
        """Storage that outlives a call of `routine` or is shared with its
        caller: formals, result, globals, host variables, saved locals."""
        r = self.routine(routine)
        if v.scope != r.name:
            return True
        return v.name in r.args or v.name == r.result or v in self.persistent
