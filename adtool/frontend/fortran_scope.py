"""Fortran name resolution: host association, USE (only, renames), callable routines."""
from __future__ import annotations

from typing import Optional


from ..ir.nodes import INT4, Lit, Routine, Span, Symbol, Use
from .fortran_tree import _Unit, _line_of


def _iso_fortran_env() -> dict[str, Symbol]:
    """The named constants of ISO_FORTRAN_ENV real codes use (kinds are
    byte sizes, as everywhere in the IR, which is gfortran's numbering)."""
    values = {"real32": 4, "real64": 8, "real128": 16, "int8": 1, "int16": 2, "int32": 4,
              "int64": 8, "input_unit": 5, "output_unit": 6, "error_unit": 0,
              "character_storage_size": 8, "numeric_storage_size": 32, "file_storage_size": 8,
              "iostat_end": -1, "iostat_eor": -2}
    return {n: Symbol(n, INT4, storage="module", module="iso_fortran_env", is_parameter=True,
                      value=Lit(str(v), INT4)) for n, v in values.items()}


INTRINSIC_MODULES = {"iso_fortran_env": _iso_fortran_env()}


class Scope:
    """Which Symbol or Routine a name reaches from the unit being lowered."""

    # -------------------------------------------------------------- name resolution

    def lookup(self, name: str, unit: Optional[_Unit] = None) -> Optional[Symbol]:
        u = unit or self.cur
        while u is not None:
            if name in u.routine.symbols:
                return u.routine.symbols[name]
            sym = self._via_uses(name, u.routine.uses, set())
            if sym is not None:
                return sym
            if u.module is not None and u.host is None:
                if name in u.module.symbols:
                    return u.module.symbols[name]
                sym = self._via_uses(name, u.module.uses, set())
                if sym is not None:
                    return sym
            u = u.host
        return None

    def _via_uses(self, name: str, uses: list[Use], seen: set) -> Optional[Symbol]:
        for use in uses:
            remote = name
            for local, rem in use.renames:
                if local == name:
                    remote = rem
            if use.only is not None and name not in use.only:
                continue
            if any(local == name for local, _ in use.renames) or use.only is not None or \
                    all(rem != name for _, rem in use.renames):
                if use.module in INTRINSIC_MODULES:
                    sym = INTRINSIC_MODULES[use.module].get(remote)
                    if sym is not None:
                        return sym
                    continue
                mod = self.tu.module(use.module)
                if mod is None or use.module in seen:
                    continue
                if remote in mod.symbols:
                    return mod.symbols[remote]
                sym = self._via_uses(remote, mod.uses, seen | {use.module})
                if sym is not None:
                    return sym
        return None

    def callable_routine(self, name: str) -> Optional[Routine]:
        """The routine a call to `name` reaches: internal, module, or external."""
        u = self.cur
        while u is not None:
            for c in u.routine.contains:
                if c.name == name:
                    return c
            u = u.host
        mods = []
        u = self.cur
        while u is not None:
            if u.module is not None:
                mods.append(u.module.name)
            mods.extend(x.module for x in u.routine.uses)
            u = u.host
        seen: set[str] = set()
        while mods:
            m = mods.pop(0)
            if m in seen:
                continue
            seen.add(m)
            mod = self.tu.module(m)
            if mod is None:
                continue
            for r in mod.routines:
                if r.name == name:
                    return r
            mods.extend(x.module for x in mod.uses)
        for r in self.tu.routines:
            if r.name == name and r.kind != "program":
                return r
        return None

    def _span_at(self, node, word: str) -> Span:
        line = _line_of(node)
        span = self.cur.src.span(line) if self.cur else Span("<input>", line)
        if self.cur is not None:
            text = self.cur.src.line_text(line).lower()
            key = word.split()[0].lower()
            col = text.find(key)
            if col >= 0:
                return Span(span.file, span.line, col + 1)
            stripped = len(text) - len(text.lstrip())
            return Span(span.file, span.line, stripped + 1)
        return span


