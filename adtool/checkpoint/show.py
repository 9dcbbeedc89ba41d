"""`adtool plan show`: the call tree with each call site's mode and the rule
that gave it.

With four layers of rules (command line, plan file, directives, default) a
user cannot tell from the plan alone what a call will get; this prints the
resolved answer, from the same `Plan` the transform uses, so what is shown
is what is generated.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

from .plan import Plan, SiteMode, ordered_sites


@dataclass(frozen=True)
class Row:
    depth: int          # 1 for the head's own calls
    site: SiteMode
    last: bool          # the last call of its caller (drawn with a corner)
    prefix: str         # the tree rails to its left


def tree(plan: Plan, head: str) -> list[Row]:
    """Every path through the call tree: a routine called from two places
    is shown under both, since its calls run under both."""
    rows: list[Row] = []

    def rec(n: str, depth: int, prefix: str, stack: tuple) -> None:
        sites = ordered_sites(plan.graph, n)
        for i, s in enumerate(sites):
            last = i == len(sites) - 1
            rows.append(Row(depth, plan.site(s.key), last, prefix))
            if s.callee not in stack:       # recursion is refused earlier; never loop here
                rec(s.callee, depth + 1, prefix + ("    " if last else "|   "),
                    stack + (s.callee,))
    rec(head, 1, "", (head,))
    return rows


def loops(plan: Plan, head: str) -> list:
    """The loops in the head's call tree that a directive or the plan file
    names (LoopMode: binomial or plain), in routine and line order."""
    reach = {head} | {r.site.callee for r in tree(plan, head)}
    modes = getattr(plan.binomial_loops, "modes", {})
    return [modes[k] for k in sorted(modes) if k[0] in reach]


def text(plan: Plan, head: str) -> str:
    lines = [head]
    for row in tree(plan, head):
        s = row.site
        lines.append(f"{row.prefix}{'`-- ' if row.last else '|-- '}{s.key}  line {s.span.line}"
                     f"  {s.mode}  ({s.origin})")
    for lp in loops(plan, head):
        what = "plain" if not lp.snapshots else \
            f"binomial, {lp.snapshots} snapshot{'s' if lp.snapshots != 1 else ''}"
        lines.append(f"loop {lp.routine}:{lp.line}  {what}  ({lp.origin})")
    return "\n".join(lines) + "\n"


def document(plan: Plan, head: str) -> dict:
    return {"head": head,
            "sites": [{"key": r.site.key, "caller": r.site.caller, "callee": r.site.callee,
                       "index": r.site.index, "file": r.site.span.file,
                       "line": r.site.span.line, "mode": r.site.mode,
                       "origin": r.site.origin, "depth": r.depth}
                      for r in tree(plan, head)],
            "loops": [{"key": f"{lp.routine}:{lp.line}", "routine": lp.routine, "line": lp.line,
                       "file": lp.span.file, "mode": lp.mode,
                       "snapshots": lp.snapshots or None,
                       "origin": lp.origin} for lp in loops(plan, head)]}


def dot(plan: Plan) -> str:
    """One edge per call site (not per path), so the graph stays the size of
    the program; split edges dashed and red so the tape-holding calls stand
    out, with a legend saying so."""
    reach = set(plan.heads) | {s.callee for s in plan.sites}
    out = ["digraph checkpoint_plan {", '  node [shape=box, fontname="Helvetica"];',
           '  edge [fontname="Helvetica", fontsize=10];']
    for n in sorted(reach):
        shape = ", peripheries=2" if n in plan.heads else ""
        out.append(f'  "{n}" [label="{n}"{shape}];')
    for s in plan.sites:
        style = 'style=dashed, color="red", fontcolor="red"' if s.mode == "split" \
            else 'style=solid, color="black"'
        origin = s.origin.replace('"', "'")
        out.append(f'  "{s.caller}" -> "{s.callee}" [label="{s.key}\\nline {s.span.line}\\n'
                   f'{s.mode} ({origin})", {style}];')
    out += ["  subgraph cluster_legend {", '    label="legend"; fontname="Helvetica";',
            "    node [shape=plaintext];",
            '    legend_j1 [label=""]; legend_j2 [label="joint (checkpointed)"];',
            '    legend_s1 [label=""]; legend_s2 [label="split (taped)"];',
            "    legend_j1 -> legend_j2 [style=solid, color=\"black\"];",
            "    legend_s1 -> legend_s2 [style=dashed, color=\"red\"];",
            "  }", "}"]
    return "\n".join(out) + "\n"


def show(files: list[str], head_spec: str, include_dirs: list[str], defines: list[str],
         checkpoint_file: Optional[str] = None, split: Optional[list[str]] = None,
         joint: Optional[list[str]] = None, default_mode: Optional[str] = None,
         fmt: str = "text", dot_path: Optional[str] = None) -> str:
    """Read, check and resolve exactly as `differentiate` does, so that
    every error differentiate would give, show gives too."""
    from .. import pipeline
    from .directives import check_directives
    from .plan import resolve_plan
    tu = pipeline.read_sources(files, include_dirs, defines)
    from ..externals import install, read_externals
    install(tu, read_externals([], checkpoint_file))   # [externals] tables of the plan
    heads, _ = pipeline.resolve_heads(tu, head_spec)
    check_directives(tu)
    names = [h.name for h in heads]
    plan = resolve_plan(tu, names, checkpoint_file, split or [], joint or [], default_mode)
    if dot_path:
        from ..output import write_atomic
        write_atomic(dot_path, dot(plan))
    if fmt == "json":
        docs = [document(plan, h) for h in names]
        return json.dumps(docs[0] if len(docs) == 1 else docs, indent=1) + "\n"
    return "\n".join(text(plan, h) for h in names)
