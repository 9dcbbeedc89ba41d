"""The `--head` argument: `f`, or Tapenade's `f(dep1 dep2)/(indep1 indep2)`,
several heads separated by spaces.  Grammar: grammars/head_spec.ebnf."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from .diagnostics import bad_input


@dataclass
class Head:
    name: str
    dependents: Optional[list[str]] = None    # None: infer from what the head writes
    independents: Optional[list[str]] = None  # None: infer from what the head reads


_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_LIST = r"\(\s*((?:" + _IDENT + r"[\s,]*)*)\)"
_HEAD = re.compile(r"\s*(" + _IDENT + r")\s*(?:" + _LIST + r"\s*/\s*" + _LIST + r")?\s*")


def parse_heads(spec: str, case_sensitive: bool = False) -> list[Head]:
    """Names are folded to lower case unless case_sensitive (C keeps them
    exactly as written; Fortran names are case-insensitive)."""
    fold = (lambda w: w) if case_sensitive else str.lower
    if not spec or not spec.strip():
        raise bad_input("--head needs a routine name")
    heads: list[Head] = []
    pos = 0
    while pos < len(spec):
        if not spec[pos:].strip():
            break
        m = _HEAD.match(spec, pos)
        if m is None or m.end() == pos:
            raise bad_input(f"cannot read --head '{spec}' at column {pos + 1}: expected "
                            "'name' or 'name(dependents)/(independents)'")
        name, deps, indeps = m.group(1), m.group(2), m.group(3)
        split = (lambda s: [fold(w) for w in re.split(r"[\s,]+", s.strip()) if w]) \
            if deps is not None else None
        heads.append(Head(fold(name), split(deps) if split else None,
                          split(indeps) if split else None))
        pos = m.end()
    names = [h.name for h in heads]
    if len(set(names)) != len(names):
        raise bad_input(f"--head names a routine twice: {spec}")
    return heads
