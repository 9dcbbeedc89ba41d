"""External routines: routines adtool has no source for, declared in TOML.

    [externals.squash]            # in an --externals file or the plan file
    args = ["in", "out", "in"]    # intent of each argument: in | out | inout
    depends = { 2 = [1] }         # output 2 depends on input 1 (1-based);
                                  #   default: every real output on every real input
    adjoint = "squash_b"          # the user's adjoint (default <name>_b)
    tangent = "squash_d"          # the user's tangent (default <name>_d)
    passive = true                # no derivative flows through it
    result = "real(8)"            # a function's result type; depends key "result"

A declaration becomes an ordinary IR routine (`Routine.declared` holds the
declaration) whose body states just what the declaration says: it reads
every input, and writes each output from the inputs it depends on.  The
analyses (read/write summaries, activity, snapshots) then treat a call of it
like any call, with no special case: its inputs are snapshotted in joint and
split calls, outputs are recorded when overwritten.  Generation
(transform/generate.py) never emits a body for it: calls go to the user's
adjoint and tangent, always joint (the user's adjoint is one routine), and
every real argument that a dependency names is active, so the user knows the
signature to write: each such argument followed by its adjoint.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from typing import Optional

from .diagnostics import bad_input, unsupported
from .ir.nodes import (INT4, REAL4, REAL8, Assign, Bin, Lit, Ref, Routine, Span, Symbol,
                       TranslationUnit, Type)

KEYS = ("args", "depends", "adjoint", "tangent", "passive", "result")
INTENTS = ("in", "out", "inout")
RESULT_TYPES = {"real(8)": REAL8, "double precision": REAL8, "double": REAL8,
                "real(4)": REAL4, "real": REAL4, "float": REAL4,
                "integer": INT4, "int": INT4}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class External:
    name: str
    intents: list[str]
    depends: Optional[dict] = None     # output index (1-based) or "result" -> input indices
    adjoint: str = ""
    tangent: str = ""
    passive: bool = False
    result: Optional[Type] = None
    span: Span = field(default_factory=lambda: Span("", 0, 0))

    def inputs(self) -> list[int]:
        return [k for k, i in enumerate(self.intents, 1) if i in ("in", "inout")]

    def outputs(self) -> list[int]:
        return [k for k, i in enumerate(self.intents, 1) if i in ("out", "inout")]


# ------------------------------------------------------------------ reading

def read_externals(paths: list[str], plan_file: Optional[str] = None) -> dict[str, External]:
    """Every declaration of the externals files and of the plan's
    [externals] tables; a name declared twice is an error."""
    out: dict[str, External] = {}
    for path, is_plan in [(p, False) for p in paths] + ([(plan_file, True)] if plan_file else []):
        for e in _read_file(path, is_plan):
            if e.name in out:
                raise bad_input(f"external '{e.name}' is declared twice (first at "
                                f"{out[e.name].span.file}:{out[e.name].span.line})", e.span)
            out[e.name] = e
    return out


def _read_file(path: str, is_plan: bool) -> list[External]:
    from .checkpoint.plan import _entry_lines
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as e:
        if is_plan:
            return []          # the plan reader reports it, as a plan file
        if isinstance(e, FileNotFoundError):
            raise bad_input("no such externals file", Span(path, 0, 0)) from None
        raise bad_input(f"cannot read the externals file: {e}", Span(path, 0, 0)) from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        if is_plan:
            return []          # the plan reader reports it, with its position
        raise bad_input(f"malformed externals file (TOML): {e}", Span(path, 0, 0)) from None
    lines = _entry_lines(text)

    def span(*key: str) -> Span:
        k = tuple(key)
        while k:
            if k in lines:
                return Span(path, lines[k], 1)
            k = k[:-1]
        return Span(path, 0, 0)
    if not is_plan:
        for key in doc:
            if key != "externals":
                raise bad_input(f"unknown key '{key}' in the externals file (declarations go in "
                                "[externals.NAME] tables)", span(key))
    table = doc.get("externals", {})
    if not isinstance(table, dict):
        raise bad_input("'externals' must be a table of [externals.NAME] tables", span("externals"))
    return [_declaration(name, body, lambda *k, n=name: span("externals", n, *k))
            for name, body in table.items()]


def _declaration(name: str, body, span) -> External:
    where = span()
    if not _IDENT.match(name):
        raise bad_input(f"'{name}' is not a routine name", where)
    if not isinstance(body, dict):
        raise bad_input(f"externals.{name} must be a table", where)
    for key in body:
        if key not in KEYS:
            import difflib
            close = difflib.get_close_matches(key, KEYS, n=1)
            raise bad_input(f"unknown key '{key}' in [externals.{name}]"
                            + (f"; did you mean '{close[0]}'?" if close else
                               f" (known keys: {', '.join(KEYS)})"), span(key))
    intents = body.get("args")
    if not isinstance(intents, list) or not all(isinstance(i, str) and i.lower() in INTENTS
                                                 for i in intents):
        raise bad_input(f"[externals.{name}] args must list the intent of each argument, "
                        "each \"in\", \"out\" or \"inout\"", span("args"))
    intents = [i.lower() for i in intents]
    e = External(name.lower(), intents, span=where)
    for key, suffix in (("adjoint", "_b"), ("tangent", "_d")):
        v = body.get(key, e.name + suffix)
        if not isinstance(v, str) or not _IDENT.match(v):
            raise bad_input(f"[externals.{name}] {key} must be a routine name", span(key))
        setattr(e, key, v.lower())
    passive = body.get("passive", False)
    if not isinstance(passive, bool):
        raise bad_input(f"[externals.{name}] passive must be true or false", span("passive"))
    e.passive = passive
    if "result" in body:
        r = body["result"]
        if not isinstance(r, str) or r.lower().replace(" ", "") not in \
                {k.replace(" ", "") for k in RESULT_TYPES}:
            raise bad_input(f"[externals.{name}] result must be one of "
                            + ", ".join(f'"{k}"' for k in RESULT_TYPES), span("result"))
        e.result = next(t for k, t in RESULT_TYPES.items()
                        if k.replace(" ", "") == r.lower().replace(" ", ""))
    if "depends" in body:
        e.depends = _depends(name, body["depends"], e, span)
    return e


def _depends(name: str, dep, e: External, span) -> dict:
    if not isinstance(dep, dict):
        raise bad_input(f"[externals.{name}] depends must be a table like {{ 2 = [1] }}",
                        span("depends"))
    out: dict = {}
    n = len(e.intents)
    for key, ins in dep.items():
        k: object
        if key == "result":
            if e.result is None:
                raise bad_input(f"[externals.{name}] depends names the result, but no result "
                                "type is declared", span("depends"))
            k = "result"
        elif key.isdigit() and 1 <= int(key) <= n and e.intents[int(key) - 1] != "in":
            k = int(key)
        else:
            raise bad_input(f"[externals.{name}] depends: '{key}' is not an output argument "
                            f"(1-based index of an \"out\" or \"inout\" argument, or \"result\")",
                            span("depends"))
        if not isinstance(ins, list) or not all(isinstance(i, int) and 1 <= i <= n and
                                                e.intents[i - 1] != "out" for i in ins):
            raise bad_input(f"[externals.{name}] depends: {key} = {ins!r} must list input "
                            "arguments (1-based indices of \"in\" or \"inout\" arguments)",
                            span("depends"))
        out[k] = list(ins)
    return out


# ------------------------------------------------------------------ the hint

def declaration_hint(name: str, nargs: int, is_function: bool) -> str:
    """The declaration to paste for an undeclared routine."""
    args = ", ".join(['"inout"'] * nargs)
    lines = [f"[externals.{name}]",
             f"args = [{args}]   # the intent of each argument: \"in\", \"out\" or \"inout\"",
             f"adjoint = \"{name}_b\"   # your adjoint: each real argument followed by its adjoint",
             f"tangent = \"{name}_d\"",
             "# depends = { 2 = [1] }   # output 2 depends on input 1 (default: all on all)",
             "# passive = true          # no derivative flows through it"]
    if is_function:
        lines.append('result = "real(8)"')
    return "\n".join(lines)


# ------------------------------------------------------------------ install

def install(tu: TranslationUnit, decls: dict[str, External]) -> None:
    """Add a routine for every declared external that the input calls and
    does not define (see the module docstring)."""
    if not decls:
        return
    from .analysis.scope import Scopes
    from .callgraph import call_sites
    defined = {r.name for r in tu.all_routines()}
    for name, e in decls.items():
        if name in defined:
            raise bad_input(f"'{name}' is declared as an external routine but defined in the "
                            "input files; remove one of the two", e.span)
    scopes = Scopes(tu)
    first: dict[str, tuple] = {}
    for r in tu.all_routines():
        for site in call_sites(r):
            if site.callee in decls and site.callee not in first:
                first[site.callee] = (r, site)
    for name, (caller, site) in first.items():
        tu.routines.append(_routine(decls[name], caller, site, tu, scopes))


def _call_args(caller: Routine, site):
    from .ir.nodes import CallStmt
    from .ir.visit import calls_in, stmt_exprs, walk_stmts
    k = 0
    for s in walk_stmts(caller.body):
        for ex in stmt_exprs(s):
            for c in calls_in(ex):
                if not c.intrinsic and c.name == site.callee:
                    k += 1
                    if k == site.index:
                        return list(c.args)
        if isinstance(s, CallStmt) and s.name == site.callee:
            k += 1
            if k == site.index:
                return list(s.args)
    return []


def _routine(e: External, caller: Routine, site, tu: TranslationUnit, scopes) -> Routine:
    args = _call_args(caller, site)
    where = site.span
    if len(args) != len(e.intents):
        raise bad_input(f"'{e.name}' is declared with {len(e.intents)} arguments "
                        f"({e.span.file}:{e.span.line}) but called with {len(args)}", where)
    iface = _explicit_interface(tu, e.name) if tu.language == "fortran" else None
    if iface is not None:
        return _from_interface(e, iface, tu)
    if site.is_function and e.result is None and tu.language == "fortran":
        raise bad_input(f"'{e.name}' is called as a function: declare its result type "
                        f"(result = \"real(8)\") in [externals.{e.name}]", e.span)
    proto = tu.prototypes.get(e.name) if tu.language == "c" else None
    if tu.language == "c" and proto is None:
        raise bad_input(f"external '{e.name}' needs a prototype in the C input (a header "
                        "declaring its parameter types)", where)
    names = proto.args if proto is not None else [f"a{k}" for k in range(1, len(args) + 1)]
    syms: dict[str, Symbol] = {}
    for k, (n, actual) in enumerate(zip(names, args), start=1):
        syms[n] = _formal(n, actual, caller, scopes, proto, e.intents[k - 1], where, e)
    kind = "function" if (proto is not None and proto.kind == "function") or \
        (proto is None and e.result is not None) else "subroutine"
    r = Routine(e.name, kind, list(names), syms, [], span=e.span, language=tu.language)
    if kind == "function":
        r.result = proto.result if proto is not None else e.name
        rtype = proto.symbols[proto.result].type if proto is not None else e.result
        syms[r.result] = Symbol(r.result, rtype, storage="result", span=e.span)
    r.body = _body(e, r, tu.language)
    r.declared = e
    return r


def _explicit_interface(tu: TranslationUnit, name: str) -> Optional[Routine]:
    """The user's INTERFACE body for a routine without source, if any."""
    owners = list(tu.modules) + tu.all_routines()
    for o in owners:
        for blk in o.interfaces:
            for b in blk.bodies:
                if b.name == name:
                    return b
    return None


def _from_interface(e: External, iface: Routine, tu: TranslationUnit) -> Routine:
    """Types, kinds and shapes from the explicit interface; intents from the
    declaration, which must agree with those the interface states."""
    import copy as _copy
    if len(iface.args) != len(e.intents):
        raise bad_input(f"[externals.{e.name}] declares {len(e.intents)} arguments but its "
                        f"INTERFACE ({iface.span.file}:{iface.span.line}) has {len(iface.args)}",
                        e.span)
    r = _copy.deepcopy(iface)
    r.interfaces = []
    r.module = None                # an external routine, wherever its interface is
    for a, intent in zip(r.args, e.intents):
        s = r.symbols[a]
        if s.intent is not None and s.intent != intent:
            raise bad_input(f"[externals.{e.name}] gives argument '{a}' intent {intent}, its "
                            f"INTERFACE says intent({s.intent})", e.span)
        if s.optional:
            raise unsupported("external routine without source with OPTIONAL arguments (the "
                              "generated code would call your derivative by keyword)",
                              iface.span, a)
        s.intent = intent
    if r.kind == "function" and e.result is None:
        e.result = r.symbols[r.result].type
    r.span = e.span
    r.body = _body(e, r, tu.language)
    r.declared = e
    return r


def _formal(n: str, actual, caller: Routine, scopes, proto, intent: str, where: Span,
            e: External) -> Symbol:
    """The formal's symbol: C types from the prototype, Fortran types from
    the first call's actual; the rank (and a C pointer's being an array)
    from that actual."""
    import copy as _copy
    from .ir.nodes import Dim, Section
    from .ir.typing import type_of
    found = scopes.lookup(caller, actual.name) if isinstance(actual, Ref) else None
    asym = found[0] if found else None
    rank = 0
    if asym is not None:
        if actual.subs is None:
            rank = asym.rank
        else:
            rank = sum(1 for x in actual.subs if isinstance(x, Section))
    if proto is not None:
        s = _copy.deepcopy(proto.symbols[n])
        if s.by_value and intent != "in":
            raise bad_input(f"[externals.{e.name}] argument {list(proto.args).index(n) + 1} "
                            f"('{n}') is passed by value in the prototype: its intent is \"in\"",
                            e.span)
        s.shape = [Dim(None, None) for _ in range(rank)] if not s.by_value else []
    else:
        def lookup(x: str):
            f = scopes.lookup(caller, x)
            return f[0] if f else None
        t = type_of(actual, lookup, lambda x: None)
        s = Symbol(n, t, storage="arg", span=where)
        s.shape = [Dim(None, None, True) for _ in range(rank)]
    s.storage = "arg"
    s.intent = None if s.by_value else intent
    return s


def _body(e: External, r: Routine, lang: str) -> list:
    """Reads of every input, then each output from its dependencies."""
    lb = "0" if lang == "c" else "1"

    def elem(name: str) -> Ref:
        s = r.symbols[name]
        return Ref(name, [Lit(lb, INT4) for _ in range(s.rank)] if s.rank else None)
    body = []
    for k in e.inputs():
        a = r.args[k - 1]
        t = r.symbols[a].type
        if t.base not in ("real", "integer", "logical", "complex"):
            continue
        d = f"ad_ext_in{k}"
        r.symbols[d] = Symbol(d, t)
        body.append(Assign(Ref(d), elem(a)))
    real_in = [k for k in e.inputs() if r.symbols[r.args[k - 1]].type.base == "real"]
    targets: list = [(k, r.args[k - 1]) for k in e.outputs()]
    if r.result:
        targets.append(("result", r.result))
    for key, a in targets:
        t = r.symbols[a].type
        if t.base != "real" or e.passive:
            body.append(Assign(elem(a), Lit("0", t) if t.base != "real" else Lit("0.0", t)))
            continue
        deps = e.depends.get(key, []) if e.depends is not None else real_in
        rhs = None
        for k in deps:
            x = elem(r.args[k - 1])
            term = Bin("*", x, elem(r.args[k - 1]))   # nonlinear: the adjoint reads it
            rhs = term if rhs is None else Bin("+", rhs, term)
        body.append(Assign(elem(a), rhs if rhs is not None else Lit("0.0", t)))
    return body


def active_formals(r: Routine) -> list[str]:
    """The formals a declared external's derivative routines take an
    adjoint for: every real argument a dependency names."""
    e: External = r.declared
    if e.passive:
        return []
    real = {a for a in r.args if r.symbols[a].type.base == "real"}
    named: set[int] = set()
    if e.depends is None:
        ins = [k for k in e.inputs() if r.args[k - 1] in real]
        outs = [k for k in e.outputs() if r.args[k - 1] in real]
        if outs or (r.result and r.symbols[r.result].type.base == "real"):
            named |= set(ins) | set(outs)
    else:
        for key, ins in e.depends.items():
            if ins:
                named |= set(ins)
                if key != "result":
                    named.add(key)
    return [r.args[k - 1] for k in sorted(named) if r.args[k - 1] in real]


def no_passive_overwrite(r: Routine, active: bool) -> None:
    if r.declared is not None and r.declared.passive and active:
        raise unsupported(f"passive external '{r.name}' writes a variable whose derivative is "
                          "needed", r.span, "declare its dependencies instead of passive = true")
