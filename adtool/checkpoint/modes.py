"""Mode (joint or split) of each call site.

For now from the command line only: --split/--joint name routines (every
call of them) and --default-mode covers the rest.  Plan files and
directives arrive with the checkpointing issue; this is where they plug in.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..diagnostics import bad_input


@dataclass
class ModePlan:
    default: str = "joint"
    split_routines: set[str] = field(default_factory=set)
    joint_routines: set[str] = field(default_factory=set)

    def mode(self, caller: str, callee: str) -> str:
        if callee in self.split_routines:
            return "split"
        if callee in self.joint_routines:
            return "joint"
        return self.default

    def mode_of_site(self, caller: str, node, tu) -> str:
        """Strongest first: command line, directive before the call,
        directive before the callee's header, default."""
        callee = node.name
        if callee in self.split_routines:
            return "split"
        if callee in self.joint_routines:
            return "joint"
        for d in getattr(node, "site_directives", []):
            if d.name == "NOCHECKPOINT":
                return "split"
            if d.name == "CHECKPOINT":
                return "joint"
        target = tu.routine(callee)
        for d in (target.directives if target is not None else []):
            if d.name == "NOCHECKPOINT":
                return "split"
            if d.name == "CHECKPOINT":
                return "joint"
        return self.default


def from_options(default: str | None, split: list[str], joint: list[str],
                 known: set[str]) -> ModePlan:
    for name in list(split) + list(joint):
        if name not in known:
            import difflib
            close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise bad_input(f"--split/--joint names unknown routine '{name}'{hint}")
    both = set(split) & set(joint)
    if both:
        raise bad_input(f"routine(s) named in both --split and --joint: {', '.join(sorted(both))}")
    return ModePlan(default or "joint", set(split), set(joint))
