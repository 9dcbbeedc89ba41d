"""Fortran output: statements, declarations, routines, modules, whole files.

Statements are printed in Python (they are expression-heavy); the layout of
program units and declaration blocks is in templates/fortran/*.j2.  Lines
are produced unfolded with indentation relative to their program unit, and
only the public entry points fold them at column 132: an internal procedure
is re-indented under its host, so folding earlier would count the wrong
columns.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Optional

from ..diagnostics import bad_input, unsupported
from ..ir.nodes import (Allocate, Assign, CallStmt, Continue, Cycle, Deallocate,
                        Dim, Directive, Exit, Goto, If, Interface, Loop, Module, Print, Raw,
                        Return, Routine, Select, Stmt, Stop, Symbol,
                        TranslationUnit, TypeDef, Use, While)
from ..ir.visit import refs_in
from .fortran_expr import fcall_text, fexpr, fstring, fsubscript, ftype
from .templates import render

__all__ = ["emit_unit", "emit_module", "emit_routine", "emit_stmts",
           "declaration_order", "fold_line", "MAX_LINE"]

IND = "  "
MAX_LINE = 132


# ---------------------------------------------------------------- public API

def emit_unit(tu: TranslationUnit, others: Optional[TranslationUnit] = None) -> str:
    """Fortran text of tu; `others` holds routines tu calls without
    defining them (the user's, for generated code)."""
    from .keywords import spell_omitted_arguments
    spell_omitted_arguments(tu, others)
    parts = [_fold_text(_module_lines(m, [t for t in tu.types.values() if t.module == m.name]))
             for m in tu.modules]
    parts += [_fold_text(_routine_lines(r)) for r in tu.routines]
    return render("fortran/unit.j2", parts=[p.rstrip("\n") for p in parts])


def emit_module(m: Module) -> str:
    return _fold_text(_module_lines(m))


def emit_routine(r: Routine, indent: int = 0) -> str:
    return _fold_text(_shift(_routine_lines(r), indent))


def emit_stmts(stmts: list[Stmt], indent: int) -> list[str]:
    return _finish(_Stmts().block(stmts, indent))


# ---------------------------------------------------------------- lines

def _fold_text(lines: list[str]) -> str:
    return "\n".join(_finish(lines)) + "\n"


def _finish(lines: Iterable[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        out.extend(fold_line(_place_label(line)))
    return out


# A label is kept apart from its line until the final indentation is known,
# then written into the left margin so the statement keeps its column.
_MARK = "\x01"


def _labelled(label: Optional[int], level: int, text: str) -> str:
    pad = IND * level
    if label is None:
        return pad + text
    return f"{_MARK}{label}{_MARK}{pad}{text}"


def _place_label(line: str) -> str:
    if not line.startswith(_MARK):
        return line
    _, lab, rest = line.split(_MARK, 2)
    text = rest.lstrip(" ")
    width = len(rest) - len(text)
    if len(lab) < width:
        return lab.ljust(width) + text
    return f"{lab} {text}"


def _shift(lines: Iterable[str], levels: int) -> list[str]:
    extra = IND * max(levels, 0)
    out = []
    for line in lines:
        if not line.strip():
            out.append("")
        elif line.startswith(_MARK):
            _, lab, rest = line.split(_MARK, 2)
            out.append(f"{_MARK}{lab}{_MARK}{extra}{rest}")
        else:
            out.append(extra + line)
    return out


def fold_line(line: str, limit: int = MAX_LINE) -> list[str]:
    """Split one source line into free-form continuation lines.

    Breaks go after a blank or comma outside character literals; only when
    none fits is a token or string split, which free form allows when the
    next line resumes right after its leading '&'.  Comment lines and
    trailing comments are never split (a '&' there would be comment text).
    """
    if len(line) <= limit or line.lstrip().startswith(("!", "#")):
        return [line]
    n = len(line)
    breakable = [False] * n
    quote: Optional[str] = None
    comment_at = n
    i = 0
    while i < n:
        c = line[i]
        if quote:
            if c == quote:
                if i + 1 < n and line[i + 1] == quote:
                    i += 2
                    continue
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "!":
            comment_at = i
            break
        elif c in " ,":
            breakable[i] = True
        i += 1
    m = re.match(r"\s*(\d{1,5}\s+)?", line)
    stmt_col = m.end() if m else 0
    cont = " " * (min(stmt_col, 60) + 4) + "&"

    out: list[str] = []
    pos, prefix = 0, ""
    while True:
        if len(prefix) + n - pos <= limit or \
                len(prefix) + comment_at - pos <= limit:
            out.append(prefix + line[pos:])
            return out
        budget = limit - 2 - len(prefix)          # room before " &"
        lo = max(pos, stmt_col if pos == 0 else pos)
        hi = min(pos + budget - 1, comment_at - 1)
        cut = -1
        for j in range(hi, lo, -1):
            if breakable[j] and line[pos:j + 1].strip():
                cut = j
                break
        if cut >= 0:
            out.append(prefix + line[pos:cut + 1].rstrip() + " &")
            pos = cut + 1
            while pos < n and line[pos] == " ":
                pos += 1
            prefix = cont + " "
        else:
            k = limit - 1 - len(prefix)
            while k > 1 and line[pos + k - 1] in "'\"":
                k -= 1                               # never split a doubled quote
            out.append(prefix + line[pos:pos + k] + "&")
            pos += k
            prefix = cont


def _directive_lines(ds: list[Directive], level: int) -> list[str]:
    return [IND * level + " ".join(["!$AD", d.name, *d.args]) for d in ds]


# ---------------------------------------------------------------- statements

@dataclass
class _LoopFrame:
    """How exit/cycle aimed at one loop are spelt inside its body.

    A post-tested loop is printed as `do ... if (.not. c) exit ... end do`;
    a `cycle` there must still reach the test, so the body sits in a named
    one-trip inner loop and cycle becomes an exit from that."""
    name: Optional[str]
    exit_text: str
    cycle_text: str


class _Stmts:
    def __init__(self, taken: Optional[set[str]] = None) -> None:
        self.frames: list[_LoopFrame] = []
        self.taken = {t.lower() for t in (taken or ())}
        self.counter = 0

    def fresh(self, stem: str) -> str:
        while True:
            self.counter += 1
            name = f"{stem}{self.counter}"
            if name not in self.taken:
                self.taken.add(name)
                return name

    def block(self, stmts: list[Stmt], level: int) -> list[str]:
        out: list[str] = []
        for s in stmts:
            out.extend(_directive_lines(s.directives, level))
            out.extend(self.stmt(s, level))
        return out

    def stmt(self, s: Stmt, level: int) -> list[str]:
        def line(text: str) -> list[str]:
            return [_labelled(s.label, level, text)]

        pad = IND * level
        if isinstance(s, Assign):
            return line(f"{fexpr(s.lhs)} = {fexpr(s.rhs)}")
        if isinstance(s, CallStmt):
            return line("call " + fcall_text(s.name, s.args, [], s.via))
        if isinstance(s, If):
            return self.if_(s, level)
        if isinstance(s, Loop):
            return self.loop(s, level)
        if isinstance(s, While):
            return self.while_(s, level)
        if isinstance(s, Select):
            return self.select(s, level)
        if isinstance(s, Exit):
            return line(self.jump(s.name, exit_=True))
        if isinstance(s, Cycle):
            return line(self.jump(s.name, exit_=False))
        if isinstance(s, Return):
            return line("return")
        if isinstance(s, Stop):
            word = "error stop" if s.error else "stop"
            return line(word if s.code is None else f"{word} {fexpr(s.code)}")
        if isinstance(s, Goto):
            return line(f"go to {s.target}")
        if isinstance(s, Continue):
            return line("continue")
        if isinstance(s, Print):
            specs = "".join(f", {k}={fexpr(v)}" for k, v in s.specs)
            items = ", ".join(fexpr(x) for x in s.items)
            if s.keyword not in ("write", "read"):
                return line(f"{s.keyword}({specs[2:]}) {items}".rstrip())
            unit = "*" if s.unit is None else fexpr(s.unit)
            fmt = "*" if s.fmt is None else fstring(s.fmt)
            return line(f"{s.keyword}({unit}, {fmt}{specs}) {items}".rstrip())
        if isinstance(s, Allocate):
            source = f", source={fexpr(s.source)}" if s.source is not None else ""
            return line(f"allocate({', '.join(fexpr(x) for x in s.items)}{source})")
        if isinstance(s, Deallocate):
            return line(f"deallocate({', '.join(list(s.names) + [fexpr(x) for x in s.parts])})")
        if isinstance(s, Raw):
            raw = s.text.rstrip("\n").split("\n")
            out = [_labelled(s.label, level, raw[0].strip())]
            out += [pad + t if t.strip() else "" for t in raw[1:]]
            return out
        raise unsupported(f"statement {type(s).__name__} in Fortran output", s.span)

    # -- control flow

    def if_(self, s: If, level: int) -> list[str]:
        pad = IND * level
        out: list[str] = []
        for k, (cond, body) in enumerate(s.branches):
            if k == 0:
                out.append(_labelled(s.label, level, f"if ({fexpr(cond)}) then"))
            else:
                out.append(f"{pad}else if ({fexpr(cond)}) then")
            out.extend(self.block(body, level + 1))
        if s.else_ is not None:
            out.append(f"{pad}else")
            out.extend(self.block(s.else_, level + 1))
        out.append(f"{pad}end if")
        return out

    def loop(self, s: Loop, level: int) -> list[str]:
        head = f"do {s.var} = {fexpr(s.lo)}, {fexpr(s.hi)}"
        if s.step is not None:
            head += f", {fexpr(s.step)}"
        named = f"{s.name}: " if s.name else ""
        out = [_labelled(s.label, level, named + head)]
        self.frames.append(_LoopFrame(s.name, "exit", "cycle"))
        out.extend(self.block(s.body, level + 1))
        self.frames.pop()
        out.append(IND * level + ("end do" + (f" {s.name}" if s.name else "")))
        return out

    def while_(self, s: While, level: int) -> list[str]:
        pad = IND * level
        named = f"{s.name}: " if s.name else ""
        end = "end do" + (f" {s.name}" if s.name else "")
        if not s.post_test:
            out = [_labelled(s.label, level, f"{named}do while ({fexpr(s.cond)})")]
            self.frames.append(_LoopFrame(s.name, "exit", "cycle"))
            out.extend(self.block(s.body, level + 1))
            self.frames.pop()
            return out + [pad + end]
        test = f"if (.not. ({fexpr(s.cond)})) exit"
        if not _cycles_to(s.body, s.name):
            out = [_labelled(s.label, level, f"{named}do")]
            self.frames.append(_LoopFrame(s.name, "exit", "cycle"))
            out.extend(self.block(s.body, level + 1))
            self.frames.pop()
            return out + [f"{pad}{IND}{test}" + (f" {s.name}" if s.name else ""), pad + end]
        outer = s.name or self.fresh("ad_loop")
        inner = self.fresh("ad_body")
        out = [_labelled(s.label, level, f"{outer}: do"), f"{pad}{IND}{inner}: do"]
        self.frames.append(_LoopFrame(s.name, f"exit {outer}", f"exit {inner}"))
        out.extend(self.block(s.body, level + 2))
        self.frames.pop()
        out += [f"{pad}{IND * 2}exit {inner}", f"{pad}{IND}end do {inner}",
                f"{pad}{IND}{test} {outer}", f"{pad}end do {outer}"]
        return out

    def jump(self, name: Optional[str], exit_: bool) -> str:
        word = "exit" if exit_ else "cycle"
        if name is None:
            if not self.frames:
                return word
            f = self.frames[-1]
            return f.exit_text if exit_ else f.cycle_text
        for f in reversed(self.frames):
            if f.name == name:
                text = f.exit_text if exit_ else f.cycle_text
                return text if text not in ("exit", "cycle") else f"{text} {name}"
        return f"{word} {name}"

    def select(self, s: Select, level: int) -> list[str]:
        pad = IND * level
        out = [_labelled(s.label, level, f"select case ({fexpr(s.expr)})")]
        for c in s.cases:
            vals = ", ".join(fsubscript(v) for v in c.values)
            out.append(f"{pad}case ({vals})")
            out.extend(self.block(c.body, level + 1))
        if s.default is not None:
            out.append(f"{pad}case default")
            out.extend(self.block(s.default, level + 1))
        out.append(f"{pad}end select")
        return out


def _cycles_to(body: list[Stmt], name: Optional[str], nested: bool = False) -> bool:
    """Does body hold a cycle of the enclosing loop (unnamed at its own
    level, or by that loop's name at any depth)?"""
    for s in body:
        if isinstance(s, Cycle) and ((s.name is None and not nested) or
                                     (name is not None and s.name == name)):
            return True
        if isinstance(s, If):
            blocks = [b for _, b in s.branches] + ([s.else_] if s.else_ else [])
            if any(_cycles_to(b, name, nested) for b in blocks):
                return True
        elif isinstance(s, Select):
            blocks = [c.body for c in s.cases] + ([s.default] if s.default else [])
            if any(_cycles_to(b, name, nested) for b in blocks):
                return True
        elif isinstance(s, (Loop, While)):
            if name is not None and _cycles_to(s.body, name, True):
                return True
    return False


# ---------------------------------------------------------------- declarations

def _deps(s: Symbol) -> list[str]:
    exprs = []
    for d in s.shape:
        exprs += [x for x in (d.lb, d.ub) if x is not None]
    exprs += [x for x in (s.type.length, s.value, s.init) if x is not None]
    return [r.name.lower() for e in exprs for r in refs_in(e)]


def declaration_order(symbols: list[Symbol]) -> list[Symbol]:
    """Parameters first, otherwise insertion order, except that a symbol
    named in another's bounds, length, value or initialiser comes before
    it (compilers reject a specification expression naming a later entity)."""
    by_name = {s.name.lower(): s for s in symbols}
    base = [s for s in symbols if s.is_parameter] + \
           [s for s in symbols if not s.is_parameter]
    state: dict[str, int] = {}
    out: list[Symbol] = []

    def visit(s: Symbol) -> None:
        key = s.name.lower()
        if state.get(key):
            return                   # done, or a cycle the compiler will report
        state[key] = 1
        for d in _deps(s):
            if d in by_name and d != key:
                visit(by_name[d])
        state[key] = 2
        out.append(s)

    for s in base:
        visit(s)
    return out


def _dim(d: Dim) -> str:
    if d.assumed:
        return f"{fexpr(d.lb)}:" if d.lb is not None else ":"
    if d.ub is None:
        return f"{fexpr(d.lb)}:*" if d.lb is not None else "*"
    if d.lb is None:
        return fexpr(d.ub)
    return f"{fexpr(d.lb)}:{fexpr(d.ub)}"


def _declaration(s: Symbol, is_arg: bool, fortran_args: bool = True) -> dict:
    void = s.type.base == "void"
    if void and not s.external:
        raise bad_input(f"'{s.name}' has no type and is not external", s.span)
    attrs: list[str] = []
    init: Optional[str] = None
    if s.is_parameter:
        if s.value is None:
            raise bad_input(f"parameter '{s.name}' has no value", s.span)
        attrs.append("parameter")
        init = fexpr(s.value)
    elif s.init is not None:
        init = fexpr(s.init)
    if is_arg and s.intent and not s.external:
        attrs.append(f"intent({s.intent.replace(' ', '').lower()})")
    if is_arg and s.by_value and fortran_args:
        attrs.append("value")
    if is_arg and s.optional:
        attrs.append("optional")
    if s.target and not s.is_parameter:
        attrs.append("target")
    if s.allocatable:
        attrs.append("allocatable")
    if s.pointer:
        attrs.append("pointer")
    if s.save and not s.is_parameter and s.common is None and s.storage != "common" \
            and not is_arg and s.init is None:
        attrs.append("save")
    if s.external:
        attrs.append("external")
    dims = ""
    if s.shape and not void:
        if s.allocatable or (s.pointer and all(d.assumed for d in s.shape)):
            dims = "(" + ",".join(":" for _ in s.shape) + ")"
        else:
            dims = "(" + ", ".join(_dim(d) for d in s.shape) + ")"
    if s.proc_interface is not None:
        return {"type": f"procedure({s.proc_interface})", "attrs": [], "name": s.name,
                "dims": "", "init": None}
    spec = "" if void else ftype(s.type)
    if s.polymorphic and is_arg and spec.startswith("type("):
        spec = "class(" + spec[len("type("):]
    return {"type": spec, "attrs": attrs,
            "name": s.name, "dims": dims, "init": init}


def _use_line(u: Use) -> str:
    renames = [f"{loc} => {rem}" for loc, rem in u.renames]
    renamed = {n.lower() for pair in u.renames for n in pair}
    if u.only is not None:
        names = [n for n in u.only if n.lower() not in renamed] + renames
        return f"use {u.module}, only: {', '.join(names)}" if names else \
            f"use {u.module}, only:"
    if renames:
        return f"use {u.module}, {', '.join(renames)}"
    return f"use {u.module}"


def _common_line(block: str, members: list[str]) -> str:
    return f"common /{block}/ {', '.join(members)}"


# ---------------------------------------------------------------- units

def _routine_lines(r: Routine, siblings: Iterable[str] = (),
                   host: Optional[Routine] = None) -> list[str]:
    if r.kind not in ("subroutine", "function", "program"):
        raise unsupported(f"routine kind '{r.kind}'", r.span)
    result = r.result or (r.name if r.kind == "function" else None)
    skip = {n.lower() for n in siblings} | {c.name.lower() for c in r.contains}
    if r.kind != "function" or (result or "").lower() != r.name.lower():
        skip.add(r.name.lower())
    else:
        skip.discard(r.name.lower())    # the result variable of a function named like it
    host_syms = {id(s) for s in host.symbols.values()} if host is not None else set()
    argset = {a.lower() for a in r.args}
    for a in r.args:
        if a not in r.symbols:
            raise bad_input(f"argument '{a}' of '{r.name}' has no symbol", r.span)

    # a dummy is declared even when a sibling procedure has its name (the
    # result of f_fwd is the dummy `f` beside a primal copy of f): it hides it
    syms = [s for s in r.symbols.values()
            if s.storage != "module" and (s.name.lower() not in skip or s.name.lower() in argset)
            and id(s) not in host_syms and not s.by_interface]
    decls = [_declaration(s, s.name.lower() in argset, r.language == "fortran")
             for s in declaration_order(syms)]
    commons = [_common_line(b, m) for b, m in r.commons.items()]

    taken = {n.lower() for n in r.symbols} | {r.name.lower()}
    body = _Stmts(taken).block(r.body, 1)
    contained: list[str] = []
    for k, c in enumerate(r.contains):
        if k:
            contained.append("")
        contained.extend(_shift(_routine_lines(c, host=r), 1))
    ctx = dict(name=r.name, directives=_directive_lines(r.directives, 0),
               uses=[_use_line(u) for u in r.uses], decls=decls,
               commons=commons + _interface_lines(r.interfaces), body=body, contained=contained)
    if r.kind == "program":
        text = render("fortran/program.j2", **ctx)
    else:
        res = result if r.kind == "function" and result and \
            result.lower() != r.name.lower() else None
        prefix = "elemental " if r.elemental else "pure " if r.pure else ""
        text = render("fortran/routine.j2", kind=r.kind, args=r.args,
                      result=res, prefix=prefix, **ctx)
    return text.rstrip("\n").split("\n")


def _interface_lines(blocks: list[Interface]) -> list[str]:
    """INTERFACE blocks, as lines of the specification part (after the
    declarations)."""
    out: list[str] = []
    for b in blocks:
        out.append(f"interface {b.name}" if b.name else
                   "abstract interface" if b.abstract else "interface")
        if b.procedures:
            out.append(f"{IND}module procedure {', '.join(b.procedures)}")
        for body in b.bodies:
            out.extend(x for x in _shift(_routine_lines(body), 1) if x.strip())
        out.append(f"end interface {b.name}" if b.name else "end interface")
    return out


def _type_lines(td: TypeDef) -> list[str]:
    """A derived type definition, components in declaration order."""
    out = [f"type :: {td.name}"]
    for c in td.components.values():
        out.append(IND + _decl_text(_declaration(c, False)))
    if td.bindings:
        out.append("contains")
        for name, b in td.bindings.items():
            attrs = "".join([", nopass" if b.nopass else "",
                             f", pass({b.pass_arg})" if b.pass_arg and not b.nopass else ""])
            target = f" => {b.procedure}" if b.procedure != name else ""
            out.append(f"{IND}procedure{attrs} :: {name}{target}")
    out.append(f"end type {td.name}")
    return out


def _decl_text(d: dict) -> str:
    return (", ".join([x for x in [d["type"]] + d["attrs"] if x]) + f" :: {d['name']}{d['dims']}"
            + (f" = {d['init']}" if d["init"] is not None else ""))


def _module_lines(m: Module, types: Iterable[TypeDef] = ()) -> list[str]:
    ordered = declaration_order(list(m.symbols.values()))
    types = list(types)
    head: list[str] = []
    if types:
        # named constants first: type components may be sized by them
        head = [_decl_text(_declaration(s, False)) for s in ordered if s.is_parameter]
        ordered = [s for s in ordered if not s.is_parameter]
    decls = [_declaration(s, False) for s in ordered]
    names = [r.name for r in m.routines]
    procs: list[str] = []
    for k, r in enumerate(m.routines):
        if k:
            procs.append("")
        procs.extend(_shift(_routine_lines(r, siblings=names), 1))
    private = sorted([n for n, s in m.symbols.items() if s.private] +
                     [r.name for r in m.routines if r.private] + [t.name for t in types if t.private])
    if private:     # an access statement has a declaration's shape: `private :: a, b`
        decls.append({"type": "private", "attrs": [], "name": ", ".join(private), "dims": "",
                      "init": None})
    text = render("fortran/module.j2", name=m.name,
                  uses=[_use_line(u) for u in m.uses], decls=decls,
                  procedures=procs, types=head + [x for td in types for x in _type_lines(td)],
                  interfaces=_interface_lines(m.interfaces))
    return text.rstrip("\n").split("\n")
