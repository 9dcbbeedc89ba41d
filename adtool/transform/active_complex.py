"""COMPLEX values may appear in a differentiated routine only as passive
data: derivatives of complex variables are not generated (their adjoint
needs conjugates the rule table does not hold).  Any complex variable the
derivative code would carry a derivative or a recorded temporary for is an
error that names it, instead of an adjoint that may be silently wrong."""
from __future__ import annotations

import re

from ..diagnostics import AdError, raise_all, unsupported
from ..ir.nodes import TranslationUnit

_SUFFIX = re.compile(r"_(b|d|fwd|bwd)$")


def refuse_active_complex(tu: TranslationUnit, out: TranslationUnit) -> None:
    errors: list[AdError] = []
    for r in out.all_routines():
        orig = tu.routine(_SUFFIX.sub("", r.name))
        if orig is None or orig is r:
            continue
        for name, s in r.symbols.items():
            if s.type.base == "complex" and name not in orig.symbols:
                errors.append(unsupported("active COMPLEX value", s.span,
                                          f"'{name}' in {r.name}: complex derivatives are not "
                                          "generated; keep complex data passive"))
    raise_all(errors)
