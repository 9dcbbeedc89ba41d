"""The checkpoint plan: which mode (joint or split) every call site gets, and
why.

Four sources can speak about one call site, and users need to predict which
one wins, so they are layered in the fixed order of interface.md (strongest
first): command-line `--split/--joint`, plan file `[calls]`, plan file
`[routines]`, `$AD` directives in the source, the default (`--default-mode`,
else the plan's `default`, else Tapenade's "joint").  Inside one layer a
more specific name beats a broader one (`caller/callee#k` over
`caller/callee` over `callee`), so a plan can set a rule and its exceptions.

Every name is checked against the program before anything is generated: a
plan entry that matches nothing would otherwise be silently ignored, and the
user would believe a call checkpointed that is not.  Each decision keeps its
origin so that `adtool plan show` can answer "why is this call split?".
"""
from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass
from typing import Optional

import networkx as nx

from .. import callgraph
from ..diagnostics import bad_input
from ..ir.nodes import CallStmt, Directive, Loop, Routine, Span, TranslationUnit, While
from ..ir.visit import calls_in, stmt_exprs, walk_stmts

MODES = ("joint", "split")
CALL_MODE_DIRECTIVES = {"NOCHECKPOINT": "split", "CHECKPOINT": "joint"}
SECTIONS = ("default", "routines", "calls", "loops", "externals")


@dataclass(frozen=True)
class SiteMode:
    key: str            # caller/callee#k
    caller: str
    callee: str
    index: int
    span: Span          # the statement holding the call
    mode: str           # 'joint' | 'split'
    origin: str         # 'default' | 'directive at F:L' | 'plan file P:L' | 'command line'


@dataclass(frozen=True)
class _Rule:
    """One name given a mode: `callee` alone, `caller/callee` or
    `caller/callee#k` (caller and index None when not given)."""
    callee: str
    caller: Optional[str]
    index: Optional[int]
    mode: str
    origin: str

    @property
    def specificity(self) -> int:
        return (self.caller is not None) + (self.index is not None)

    def matches(self, caller: str, callee: str, index: Optional[int]) -> bool:
        if callee != self.callee or (self.caller is not None and caller != self.caller):
            return False
        return self.index is None or self.index == index


def _best(rules: list[_Rule], caller: str, callee: str, index: Optional[int]) -> Optional[_Rule]:
    hits = [r for r in rules if r.matches(caller, callee, index)]
    return max(hits, key=lambda r: r.specificity) if hits else None


def _call_mode(directives: list[Directive]) -> Optional[Directive]:
    """The CHECKPOINT/NOCHECKPOINT among directives; two that contradict each
    other leave no way to guess which one the user meant."""
    found = [d for d in directives if d.name in CALL_MODE_DIRECTIVES]
    modes = {CALL_MODE_DIRECTIVES[d.name] for d in found}
    if len(modes) > 1:
        raise bad_input("contradicting $AD CHECKPOINT and $AD NOCHECKPOINT for the same call",
                        found[-1].span)
    return found[0] if found else None


class Plan:
    """Modes of the call sites reachable from the heads, resolved once so
    that the transform, `plan show` and the profiler all see the same
    decisions."""

    def __init__(self, tu: TranslationUnit, graph: nx.MultiDiGraph, heads: list[str],
                 cli: list[_Rule], calls: list[_Rule], routines: list[_Rule],
                 default: str, default_origin: str,
                 site_directives: dict[str, list[Directive]]):
        self.tu = tu
        self.graph = graph
        self.heads = list(heads)
        self.default = default
        self.default_origin = default_origin
        self._layers = (cli, calls, routines)
        self._site_directives = site_directives
        self.sites: list[SiteMode] = []
        self.binomial_loops: dict = {}           # (routine, line) -> snapshots
        self._by_key: dict[str, SiteMode] = {}
        for site in _reachable_sites(graph, heads):
            mode, origin = self.decide(site.caller, site.callee, site.index,
                                       site_directives.get(site.key, []))
            callee = tu.routine(site.callee)
            if callee is not None and callee.declared is not None:
                # The user's adjoint is one routine: restore inputs, call it.
                mode, origin = "joint", "external routine, always joint"
            sm = SiteMode(site.key, site.caller, site.callee, site.index, site.span, mode, origin)
            self.sites.append(sm)
            self._by_key[sm.key] = sm

    def site(self, key: str) -> Optional[SiteMode]:
        return self._by_key.get(key)

    def decide(self, caller: str, callee: str, index: Optional[int],
               site_directives: list[Directive], tu: Optional[TranslationUnit] = None
               ) -> tuple[str, str]:
        """(mode, origin) of one call; index None when the call's position
        is unknown, in which case only whole-routine and caller/callee names
        can match it."""
        for rules in self._layers:
            r = _best(rules, caller, callee, index)
            if r is not None:
                return r.mode, r.origin
        d = _call_mode(site_directives)
        if d is None:
            target = (tu or self.tu).routine(callee)
            d = _call_mode(target.directives) if target is not None else None
        if d is not None:
            return CALL_MODE_DIRECTIVES[d.name], f"directive at {d.span.file}:{d.span.line}"
        return self.default, self.default_origin

    def mode_of_site(self, caller: str, node, tu=None) -> str:
        """The transform asks with the call node it is differentiating; the
        key tagged on it before normalisation names the site even after
        calls were hoisted out of expressions."""
        key = getattr(node, "site_key", None)
        if key in self._by_key:
            return self._by_key[key].mode
        index = None
        if key and "#" in key:
            try:
                index = int(key.rsplit("#", 1)[1])
            except ValueError:
                index = None
        mode, _ = self.decide(caller, node.name, index, getattr(node, "site_directives", []), tu)
        return mode

    def head_split(self, name: str) -> bool:
        """A head named split (by --split, [routines] or NOCHECKPOINT before
        its header) gets its f_fwd/f_bwd pair besides f_b, for drivers
        that run the forward sweep and the adjoint apart (Tapenade's
        -nocheckpoint on the head).  The default mode does not count: a
        head has no call site it applies to."""
        cli, _, routines = self._layers
        for rules in (cli, routines):
            hits = [r for r in rules if r.callee == name and r.caller is None and r.index is None]
            if hits:
                return hits[-1].mode == "split"
        r = self.tu.routine(name)
        d = _call_mode(r.directives) if r is not None else None
        return d is not None and CALL_MODE_DIRECTIVES[d.name] == "split"

    def mode(self, caller: str, callee: str) -> str:
        return self.decide(caller, callee, None, [])[0]


def _reachable_sites(g: nx.MultiDiGraph, heads: list[str]) -> list[callgraph.CallSite]:
    """Each reachable site once, in the order the call tree first shows it."""
    out: list[callgraph.CallSite] = []
    seen_sites: set[str] = set()
    seen_nodes: set[str] = set()

    def rec(n: str) -> None:
        if n in seen_nodes or n not in g:
            return
        seen_nodes.add(n)
        for s in ordered_sites(g, n):
            if s.key not in seen_sites:
                seen_sites.add(s.key)
                out.append(s)
            rec(s.callee)
    for h in heads:
        rec(h)
    return out


def ordered_sites(g: nx.MultiDiGraph, n: str) -> list[callgraph.CallSite]:
    """n's call sites in source order (the order `callgraph` prints)."""
    return sorted((d["site"] for _, _, d in g.out_edges(n, data=True)),
                  key=lambda s: (s.span.line, s.span.col, s.callee, s.index))


# ---------------------------------------------------------------- names

class _Known:
    """What a name in a plan may refer to."""

    def __init__(self, tu: TranslationUnit, g: nx.MultiDiGraph):
        self.tu = tu
        # C names are case-sensitive, Fortran's are not (and are stored lower-cased).
        self.fold = (lambda n: n) if tu.language == "c" else str.lower
        self.routines = sorted(r.name for r in tu.all_routines())
        self.count: dict[tuple[str, str], int] = {}
        for _, _, d in g.edges(data=True):
            s = d["site"]
            k = (s.caller, s.callee)
            self.count[k] = max(self.count.get(k, 0), s.index)

    def pairs(self, caller: Optional[str] = None) -> list[str]:
        return sorted(f"{a}/{b}" for a, b in self.count if caller is None or a == caller)


def _closest(name: str, known: list[str], what: str) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    if close:
        return "; did you mean " + ", ".join(f"'{c}'" for c in close) + "?"
    if known:
        more = ", ..." if len(known) > 12 else ""
        return f"; {what}: " + ", ".join(f"'{k}'" for k in known[:12]) + more
    return f"; there are no {what}"


def _listed(names: list[str], near: str, most: int = 8) -> str:
    """names, the closest to `near` first, cut short when there are many."""
    close = difflib.get_close_matches(near, names, n=most, cutoff=0.0)
    more = ", ..." if len(names) > most else ""
    return ", ".join(f"'{c}'" for c in close) + more


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _parse_name(raw: str, mode: str, origin: str, known: _Known, where: str,
                span: Optional[Span], site_only: bool = False) -> _Rule:
    """A routine name, `caller/callee` or `caller/callee#k`, checked against
    the program."""
    name = known.fold(raw.strip())
    if "/" not in name:
        if site_only:
            raise bad_input(f"{where} '{raw}' is not a call site; write 'caller/callee' or "
                            f"'caller/callee#k' (routines belong in [routines])", span)
        if not _IDENT.match(name):
            raise bad_input(f"{where} '{raw}' is neither a routine name nor a call site "
                            "'caller/callee[#k]'", span)
        if name not in known.routines:
            raise bad_input(f"{where} names unknown routine '{raw}'"
                            + _closest(name, known.routines, "known routines"), span)
        return _Rule(name, None, None, mode, origin)
    caller, rest = name.split("/", 1)
    callee, hash_, k = rest.partition("#")
    caller, callee = caller.strip(), callee.strip()
    if not _IDENT.match(caller) or not _IDENT.match(callee):
        raise bad_input(f"{where} '{raw}' is not a call site 'caller/callee' or "
                        "'caller/callee#k'", span)
    index = None
    if hash_:
        if not k.strip().isdigit() or int(k) < 1:
            raise bad_input(f"{where} '{raw}': the call number after '#' must be a "
                            "positive integer (1 = the first call in source order)", span)
        index = int(k)
    if caller not in known.routines:
        raise bad_input(f"{where} '{raw}' names unknown routine '{caller}'"
                        + _closest(caller, known.routines, "known routines"), span)
    n = known.count.get((caller, callee), 0)
    if n == 0:
        if callee not in known.routines:
            hint = _closest(callee, known.routines, "known routines")
            raise bad_input(f"{where} '{raw}' names unknown routine '{callee}'{hint}", span)
        mine = known.pairs(caller)
        theirs = sorted(f"{a}/{b}" for a, b in known.count if b == callee)
        hint = ("; its calls: " + _listed(mine, f"{caller}/{callee}")) if mine \
            else f"; '{caller}' calls no routine"
        if theirs:
            hint += f"; '{callee}' is called at " + _listed(theirs, f"{caller}/{callee}")
        raise bad_input(f"{where} '{raw}': '{caller}' never calls '{callee}'{hint}", span)
    if index is not None and index > n:
        have = ", ".join(f"'{caller}/{callee}#{i}'" for i in range(1, min(n, 8) + 1)) \
            + (", ..." if n > 8 else "")
        times = "once" if n == 1 else f"{n} times"
        raise bad_input(f"{where} '{raw}': '{caller}' calls '{callee}' only {times} "
                        f"(call sites {have})", span)
    return _Rule(callee, caller, index, mode, origin)


def _cli_rules(split: list[str], joint: list[str], known: _Known) -> list[_Rule]:
    both = {known.fold(n) for n in split} & {known.fold(n) for n in joint}
    if both:
        raise bad_input("named in both --split and --joint: " + ", ".join(sorted(both)))
    return [_parse_name(n, mode, "command line", known, f"--{mode}", None)
            for mode, names in (("split", split), ("joint", joint)) for n in names]


# ---------------------------------------------------------------- plan file

def _key_parts(s: str, pos: int) -> tuple[list[str], int]:
    """A (dotted) TOML key from pos: its parts and where it stops."""
    parts: list[str] = []
    while True:
        while pos < len(s) and s[pos] in " \t":
            pos += 1
        if pos >= len(s):
            return parts, pos
        q = s[pos]
        if q in "\"'":
            end = pos + 1
            while end < len(s) and s[end] != q:
                end += 2 if (q == '"' and s[end] == "\\") else 1
            parts.append(s[pos + 1:end])
            pos = end + 1
        else:
            m = re.match(r"[A-Za-z0-9_-]+", s[pos:])
            if not m:
                return parts, pos
            parts.append(m.group(0))
            pos += m.end()
        while pos < len(s) and s[pos] in " \t":
            pos += 1
        if pos < len(s) and s[pos] == ".":
            pos += 1
            continue
        return parts, pos


def _entry_lines(text: str) -> dict[tuple[str, ...], int]:
    """Line of each table header and key, by key path as written and
    lower-cased: tomllib forgets positions, and an error must point at the
    entry it is about (the exact spelling first, so that of two spellings
    of one name the right one is blamed)."""
    lines: dict[tuple[str, ...], int] = {}
    section: tuple[str, ...] = ()

    def note(path: tuple[str, ...], no: int) -> None:
        lines.setdefault(path, no)
        lines.setdefault(("", *(p.lower() for p in path)), no)
    for no, line in enumerate(text.splitlines(), 1):
        st = line.lstrip()
        if st.startswith("["):
            parts, _ = _key_parts(st.lstrip("["), 0)
            section = tuple(parts)
            note(section, no)
        elif st and st[0] not in "#":
            parts, pos = _key_parts(st, 0)
            if parts and st[pos:pos + 1] == "=":
                for i in range(1, len(parts) + 1):
                    note(section + tuple(parts[:i]), no)
    return lines


class _PlanFile:
    def __init__(self, path: str, known: _Known):
        self.path = path
        self.known = known
        self.default: Optional[tuple[str, str]] = None
        self.calls: list[_Rule] = []
        self.routines: list[_Rule] = []
        self.loops: list[tuple[str, Span, Routine, object, int]] = []   # 0: plain
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except FileNotFoundError:
            raise bad_input("no such plan file", Span(path, 0, 0)) from None
        except UnicodeDecodeError:
            raise bad_input("the plan file is not UTF-8 text (TOML expected)", Span(path, 0, 0)) \
                from None
        except OSError as e:
            raise bad_input(f"cannot read the plan file: {e.strerror}", Span(path, 0, 0)) from None
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            msg = str(e)
            m = re.search(r"\s*\(at line (\d+), column (\d+)\)\s*$", msg)
            if m:
                span = Span(path, int(m.group(1)), int(m.group(2)))
                msg = msg[:m.start()]
            else:
                span = Span(path, max(1, text.count("\n") + (not text.endswith("\n"))), 1)
                msg = re.sub(r"\s*\(at end of document\)\s*$", " at the end of the file", msg)
            raise bad_input(f"malformed plan file (TOML): {msg}", span) from None
        self.lines = _entry_lines(text)
        self._read(doc)

    def span(self, *path: str) -> Span:
        """The line of the entry at path, or of the nearest enclosing one."""
        p = tuple(path)
        while p:
            for q in (p, ("", *(x.lower() for x in p))):
                if q in self.lines:
                    return Span(self.path, self.lines[q], 1)
            p = p[:-1]
        return Span(self.path, 0, 0)

    def origin(self, *path: str) -> str:
        return f"plan file {self.path}:{self.span(*path).line}"

    def _mode(self, value, what: str, span: Span) -> str:
        if isinstance(value, str) and value in MODES:
            return value
        shown = f"'{value}'" if isinstance(value, str) else repr(value)
        hint = ""
        if isinstance(value, str):
            close = difflib.get_close_matches(value.lower(), MODES, n=1, cutoff=0.5)
            hint = f"; did you mean '{close[0]}'?" if close else ""
        raise bad_input(f"{what} = {shown}: the mode must be \"joint\" or \"split\"{hint}", span)

    def _read(self, doc: dict) -> None:
        seen: dict[str, str] = {}
        for key, value in doc.items():
            k = key.lower()
            if k in seen:
                raise bad_input(f"'{key}' and '{seen[k]}' are the same name (names are "
                                "case-insensitive)", self.span(key))
            seen[k] = key
            if k not in SECTIONS:
                kind = "section" if isinstance(value, dict) else "key"
                raise bad_input(f"unknown {kind} '{key}' in the plan file"
                                + _closest(k, list(SECTIONS), "known keys and sections"),
                                self.span(key))
            if k == "default":
                self.default = (self._mode(value, "default", self.span(key)), self.origin(key))
                continue
            if not isinstance(value, dict):
                raise bad_input(f"'{key}' must be a table ([{k}] followed by entries)",
                                self.span(key))
            getattr(self, "_read_" + k)(key, value)

    def _entries(self, section: str, table: dict):
        """(name as written, lower-cased name, value, span), refusing two
        spellings of one Fortran name."""
        seen: dict[str, str] = {}
        for name, value in table.items():
            low = self.known.fold(name.strip())
            span = self.span(section, name)
            if low in seen:
                raise bad_input(f"[{section}] names '{low}' twice ('{seen[low]}' and '{name}'; "
                                "Fortran names are case-insensitive)", span)
            seen[low] = name
            yield name, value, span

    def _read_externals(self, section: str, table: dict) -> None:
        """[externals.NAME] declarations: read by adtool/externals.py."""

    def _read_routines(self, section: str, table: dict) -> None:
        for name, value, span in self._entries(section, table):
            mode = self._mode(value, f"[routines] {name}", span)
            self.routines.append(_parse_name(name, mode, self.origin(section, name), self.known,
                                             "[routines] entry", span))

    def _read_calls(self, section: str, table: dict) -> None:
        for name, value, span in self._entries(section, table):
            mode = self._mode(value, f"[calls] \"{name}\"", span)
            self.calls.append(_parse_name(name, mode, self.origin(section, name), self.known,
                                          "[calls] entry", span, site_only=True))

    def _read_loops(self, section: str, table: dict) -> None:
        """[loops]: "routine:line" = { binomial = { snapshots = N } }, or
        "plain", which a plan needs to turn off a loop's `$AD BINOMIAL-CKP`
        (the plan file is stronger than directives, interface.md; without
        "plain" a plan could only add binomial loops, never remove one)."""
        for name, value, span in self._entries(section, table):
            m = re.match(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(\d+)\s*$", self.known.fold(name))
            if not m:
                raise bad_input(f"[loops] \"{name}\": a loop is named \"routine:line\" (the "
                                "line of its DO/for header)", span)
            if value == "plain":
                snaps = 0
            else:
                snaps = value.get("binomial", {}).get("snapshots") \
                    if isinstance(value, dict) and isinstance(value.get("binomial"), dict) else None
                if (not isinstance(value, dict) or set(value) != {"binomial"}
                        or not isinstance(value["binomial"], dict)
                        or set(value["binomial"]) != {"snapshots"}
                        or not isinstance(snaps, int) or isinstance(snaps, bool) or snaps < 1):
                    hint = ""
                    if isinstance(value, str) and difflib.get_close_matches(
                            value.lower(), ["plain"], n=1, cutoff=0.5):
                        hint = "; did you mean \"plain\"?"
                    raise bad_input(f"[loops] \"{name}\": expected \"plain\" (not binomial) or "
                                    "{ binomial = { snapshots = N } } with N a positive integer"
                                    + hint, span)
            rname, line = m.group(1), int(m.group(2))
            r = self.known.tu.routine(rname)
            if r is None:
                raise bad_input(f"[loops] \"{name}\" names unknown routine '{rname}'"
                                + _closest(rname, self.known.routines, "known routines"), span)
            loops = [s for s in walk_stmts(r.body) if isinstance(s, (Loop, While))]
            hit = [s for s in loops if s.span.line == line]
            if not hit:
                have = [f"{rname}:{s.span.line}" for s in loops]
                hint = (f"; the loops of '{rname}' are " + ", ".join(f"'{h}'" for h in have)
                        if have else f"; '{rname}' has no loop")
                raise bad_input(f"[loops] \"{name}\": no DO loop of '{rname}' starts on "
                                f"line {line}{hint}", span)
            if snaps:
                from ..transform.binomial import check_binomial_loop
                check_binomial_loop(hit[0], span)
            self.loops.append((name, span, r, hit[0], snaps))


# ---------------------------------------------------------------- resolving

def site_directives(tu: TranslationUnit) -> dict[str, list[Directive]]:
    """The directives standing before the statement of each call site, keyed
    like callgraph's sites (same walk order, so the k-th calls agree)."""
    out: dict[str, list[Directive]] = {}
    for r in tu.all_routines():
        counts: dict[str, int] = {}
        for s in walk_stmts(r.body):
            names = [c.name for e in stmt_exprs(s) for c in calls_in(e) if not c.intrinsic]
            if isinstance(s, CallStmt):
                names.append(s.name)
            for n in names:
                counts[n] = counts.get(n, 0) + 1
                if s.directives:
                    out[f"{r.name}/{n}#{counts[n]}"] = list(s.directives)
    return out


def resolve_plan(tu: TranslationUnit, heads: list[str], plan_file: Optional[str],
                 split: list[str], joint: list[str], default_mode: Optional[str]) -> Plan:
    """Check every name given in the plan file and on the command line
    against the program, then decide each reachable call site.  Raises
    AdError: exit 2 for names and values that do not fit, exit 1 for
    plan entries asking for what is not implemented yet."""
    if default_mode not in (None, *MODES):
        raise bad_input(f"--default-mode must be joint or split, not '{default_mode}'")
    g = callgraph.build(tu)
    known = _Known(tu, g)
    pf = _PlanFile(plan_file, known) if plan_file else None
    cli = _cli_rules(split, joint, known)
    if default_mode is not None:
        default, origin = default_mode, "command line"
    elif pf is not None and pf.default is not None:
        default, origin = pf.default
    else:
        default, origin = "joint", "default"
    dirs = site_directives(tu)
    for ds in dirs.values():
        _call_mode(ds)
    for r in tu.all_routines():
        _call_mode(r.directives)
    plan = Plan(tu, g, [known.fold(h) for h in heads], cli,
                pf.calls if pf else [], pf.routines if pf else [], default, origin, dirs)
    plan.binomial_loops = binomial_loops(tu, pf)
    return plan


@dataclass(frozen=True)
class LoopMode:
    routine: str
    line: int
    span: Span
    snapshots: int          # 0 when plain
    origin: str

    @property
    def mode(self) -> str:
        return "binomial" if self.snapshots else "plain"


def binomial_loops(tu: TranslationUnit, pf: Optional["_PlanFile"]) -> dict:
    """(routine, header line) -> snapshots of every binomial loop: the plan
    file's [loops] over the source's `$AD BINOMIAL-CKP`.  A loop the plan
    file sets "plain" is left out, its LoopMode kept in .modes: the
    transform must not fall back on its directive (snapshots_of), and
    plan show says who turned it off."""
    from ..transform.binomial import directive_snapshots
    found: dict = {}
    for r in tu.all_routines():
        for s in walk_stmts(r.body):
            n = directive_snapshots(s)
            if n is not None:
                d = next(d for d in s.directives if d.name == "BINOMIAL-CKP")
                found[(r.name, s.span.line)] = LoopMode(
                    r.name, s.span.line, s.span, n, f"directive at {d.span.file}:{d.span.line}")
    for name, span, r, loop, n in (pf.loops if pf else []):
        found[(r.name, loop.span.line)] = LoopMode(r.name, loop.span.line, loop.span, n,
                                                   f"plan file {span.file}:{span.line}")
    return _Loops(found)


class _Loops(dict):
    """snapshots by (routine, line) of the binomial loops, with every
    loop's LoopMode (plain ones too) in .modes."""

    def __init__(self, modes: dict):
        super().__init__({k: v.snapshots for k, v in modes.items() if v.snapshots})
        self.modes = modes
