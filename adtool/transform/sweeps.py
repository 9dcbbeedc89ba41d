"""The two halves a reverse-mode construct turns into."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..ir.nodes import Stmt


@dataclass
class Sweeps:
    fwd: list[Stmt] = field(default_factory=list)
    bwd: list[Stmt] = field(default_factory=list)   # in execution order of the backward sweep
