"""The call graph: routines as nodes, one edge per call site.

Checkpointing decisions are made per call site, so call sites are first-class
edge data (caller, callee, k-th call of that callee in the caller, span) and a
MultiDiGraph keeps two calls of the same routine apart.
"""
from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from .diagnostics import bad_input, unsupported
from .ir.nodes import Call, CallStmt, Routine, Span, TranslationUnit
from .ir.visit import calls_in, stmt_exprs, walk_stmts


@dataclass(frozen=True)
class CallSite:
    caller: str
    callee: str
    index: int          # 1-based among the caller's calls to this callee, source order
    span: Span
    is_function: bool = False

    @property
    def key(self) -> str:
        return f"{self.caller}/{self.callee}#{self.index}"


def call_sites(r: Routine) -> list[CallSite]:
    """User-routine calls of r in source order (calls inside expressions included)."""
    out: list[CallSite] = []
    counts: dict[str, int] = {}

    def add(name: str, span: Span, fn: bool) -> None:
        counts[name] = counts.get(name, 0) + 1
        out.append(CallSite(r.name, name, counts[name], span, fn))
    for s in walk_stmts(r.body):
        for e in stmt_exprs(s):
            for c in calls_in(e):
                if not c.intrinsic:
                    add(c.name, c.span if c.span.line else s.span, True)
        if isinstance(s, CallStmt):
            add(s.name, s.span, False)
    return out


def build(tu: TranslationUnit) -> nx.MultiDiGraph:
    g = nx.MultiDiGraph()
    for r in tu.all_routines():
        g.add_node(r.name, routine=r)
    for r in tu.all_routines():
        for site in call_sites(r):
            if site.callee not in g:
                g.add_node(site.callee, routine=None)
            g.add_edge(site.caller, site.callee, key=site.key, site=site)
    return g


def check_head(g: nx.MultiDiGraph, head: str) -> None:
    """Everything reachable from the head must be defined and not recursive."""
    if head not in g or g.nodes[head].get("routine") is None:
        known = sorted(n for n in g.nodes if g.nodes[n].get("routine") is not None)
        raise bad_input(f"unknown head routine '{head}'" + _closest(head, known))
    reach = {head} | nx.descendants(g, head)
    for u, v, data in g.edges(data=True):
        if u in reach and g.nodes[v].get("routine") is None:
            site = data["site"]
            from .externals import _call_args, declaration_hint
            nargs = len(_call_args(g.nodes[u]["routine"], site))
            raise bad_input(f"unknown routine '{v}' called from '{u}' (not defined in the input "
                            "files); if it is a library routine, declare it in a file given with "
                            "--externals (or in the plan file):\n\n"
                            + declaration_hint(v, nargs, site.is_function) + "\n", site.span)
    sub = g.subgraph(reach)
    cycles = list(nx.simple_cycles(nx.DiGraph(sub)))
    if cycles:
        cyc = min(cycles, key=len)
        r = g.nodes[cyc[0]]["routine"]
        raise unsupported("recursion", r.span, " -> ".join(cyc + [cyc[0]]))


def recursion(g: nx.MultiDiGraph) -> list[list[str]]:
    return [c for c in nx.simple_cycles(nx.DiGraph(g))]


def tree_lines(g: nx.MultiDiGraph, head: str, label=None) -> list[str]:
    """The call tree from head, one line per call site, as an indented outline."""
    lines = [head]

    def sites_of(n: str) -> list[CallSite]:
        return sorted((d["site"] for _, _, d in g.out_edges(n, data=True)),
                      key=lambda s: (s.span.line, s.span.col, s.callee, s.index))

    def rec(n: str, prefix: str, stack: tuple) -> None:
        sites = sites_of(n)
        for i, s in enumerate(sites):
            last = i == len(sites) - 1
            branch = "`-- " if last else "|-- "
            extra = label(s) if label else ""
            where = f"{s.span.file.split('/')[-1]}:{s.span.line}"
            lines.append(f"{prefix}{branch}{s.callee}  [{s.key}, {where}]{extra}")
            if s.callee in stack:
                lines[-1] += "  (recursive)"
                continue
            rec(s.callee, prefix + ("    " if last else "|   "), stack + (s.callee,))
    rec(head, "", (head,))
    return lines


def write_dot(g: nx.MultiDiGraph, head: str, path: str, style=None) -> None:
    reach = {head} | nx.descendants(g, head)
    out = ["digraph calltree {", '  node [shape=box, fontname="Helvetica"];']
    for n in sorted(reach):
        out.append(f'  "{n}";')
    for u, v, d in g.edges(data=True):
        if u in reach:
            s = d["site"]
            attrs = f'label="{s.key}\\nline {s.span.line}"'
            if style:
                attrs += ", " + style(s)
            out.append(f'  "{u}" -> "{v}" [{attrs}];')
    out.append("}")
    from .output import write_atomic
    write_atomic(path, "\n".join(out) + "\n")


def _closest(name: str, known: list[str]) -> str:
    import difflib
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    if close:
        return "; did you mean " + ", ".join(f"'{c}'" for c in close) + "?"
    return "; known routines: " + ", ".join(known[:12]) if known else ""
