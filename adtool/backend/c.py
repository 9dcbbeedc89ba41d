"""C99 output: statements in Python, file and function layout in
templates/c/*.j2.

The IR's Loop has Fortran's inclusive bound evaluated once; the C front end
only produces Loops whose bound the body cannot change, so `for (i = lo;
i <= hi; i++)` (or `i < x` when hi is `x - 1`) means the same.  A
function's result is an ordinary variable in the IR; `return` prints it.
"""
from __future__ import annotations

from typing import Optional

from ..diagnostics import unsupported
from ..ir.nodes import (INT4, INT8, Allocate, Cast, Expr, Assign, Ref, Bin, CallStmt, Continue, Cycle, Deallocate, Dim,
                        Directive, Exit,
                        Goto, If, Lit, Loop, Print, Raw, Return, Routine, Select, Section,
                        Stmt, Stop, Symbol, TranslationUnit, While)
from ..ir.visit import calls_in, refs_in, stmt_exprs, walk_stmts
from .c_arrays import array_assign, runtime_call
from .c_records import record_lines, record_run
from .c_expr import CExpr, c_string_literal, ctype, is_zero_lb
from .templates import render

__all__ = ["emit_unit", "emit_routine", "declaration"]

IND = "    "


def emit_unit(tu: TranslationUnit, extra_prototypes: Optional[list[str]] = None) -> str:
    """extra_prototypes: declarations of functions defined elsewhere (a
    check driver's derivative routines), after the struct definitions."""
    table = {r.name: r for r in tu.all_routines()}
    glob = CExpr(tu.globals.get, table.get, tu.types)
    from .c_struct import struct_definitions
    structs = struct_definitions(tu.types, glob)
    globals_ = [declaration(s, glob) + ";" for s in tu.globals.values()]
    protos = list(extra_prototypes or []) + \
        [signature(r, glob) + ";" for r in tu.routines if r.kind != "program"]
    # A declared external (externals.py) has a prototype here, its body elsewhere.
    bodies = [emit_routine(without_gotos(r, tu), tu, table) for r in tu.routines if r.declared is None]
    return render("c/unit.j2", includes=library_includes(tu.includes, bodies), structs=structs,
                  globals=globals_, prototypes=protos, routines=[b.rstrip("\n") for b in bodies])


def _element_pushed(r: Routine) -> set[str]:
    """Local fixed-size arrays whose elements the code pushes one at a time:
    a loop that overwrites `t[0]` records its old value on every trip, the
    first one's garbage too, which gcc -O2 flags as maybe-uninitialized
    once the routine is inlined; such an array starts at zero."""
    out = set()
    for s in walk_stmts(r.body):
        if isinstance(s, CallStmt) and s.name.startswith("ad_push_") and not s.name.endswith("_array") \
                and s.args and isinstance(s.args[0], Ref) and s.args[0].subs is not None:
            sym = r.symbols.get(s.args[0].name)
            if sym is not None and sym.storage == "local" and sym.shape and not sym.allocatable \
                    and all(isinstance(d.ub, Lit) and (d.lb is None or isinstance(d.lb, Lit))
                            for d in sym.shape):
                out.add(sym.name)
    return out


def without_gotos(r: Routine, tu: TranslationUnit) -> Routine:
    """r, or its normalised copy when it has a goto (C front end): the C
    back end prints no goto or label; normalize.py's flags stand for the
    forward jumps the front end accepts, as they do in derivative code."""
    if not any(isinstance(s, Goto) for s in walk_stmts(r.body)):
        return r
    from ..transform.normalize import normalize_routine, unit_fun_type
    return normalize_routine(r, tu, unit_fun_type(tu))


def library_includes(includes: list[str], bodies: list[str]) -> list[str]:
    """The user's system includes, and those of the library functions the
    front end's lowering of assert() writes (fprintf, exit) where the user
    included only assert.h."""
    out = list(includes)
    text = "\n".join(bodies)
    for header, use in (("stdio.h", "fprintf("), ("stdlib.h", "exit(")):
        if use in text and not any(header in i for i in out):
            out.append(f"#include <{header}>")
    return out


def emit_routine(r: Routine, tu: TranslationUnit, table: Optional[dict] = None,
                 zero_locals: bool = False) -> str:
    """zero_locals: generated code passes scalars that some paths never set
    (a by-value actual of an f_bwd that does not read it), which gcc flags
    as maybe-uninitialized; starting them at zero costs nothing."""
    table = table if table is not None else {x.name: x for x in tu.all_routines()}
    if r.contains:
        raise unsupported("internal procedures in C output", r.span)
    ex = CExpr(lambda n: r.symbols.get(n) or tu.globals.get(n),
               lambda n: table.get(n) or proc_routine(r.symbols.get(n)), tu.types)
    dead, named = _uses(r) if r.kind != "program" else (set(), set(r.symbols))
    for s in list(r.symbols.values()):
        if heap_length(s) and s.name in named:       # the heap array's length variable
            named.add(heap_length(s))
            dead.discard(heap_length(s))
    pushed = _element_pushed(r) if zero_locals else set()
    locals_ = [declaration(s, ex) + ((" = {0}" if s.type.base == "derived" or s.shape else " = 0")
                                      if zero_locals and (not s.shape or s.name in pushed)
                                      and s.init is None and not s.save else "") + ";"
               for s in r.symbols.values()
               if s.storage in ("local", "result") and s.name in named and s.name not in dead]
    st = _Stmts(r, ex, dead)
    st.declared = {s.name for s in r.symbols.values()
                   if s.storage in ("local", "result") and s.name in named and s.name not in dead}
    body = [f"{IND}(void){a};" for a in r.args if a not in named] + st.block(r.body, 1)
    if not (r.body and isinstance(r.body[-1], Return)):
        body += st.frees(1)
    if r.kind == "function" and not (r.body and isinstance(r.body[-1], Return)):
        body.append(f"{IND}return {r.result};")
    return render("c/routine.j2", directives=_pragmas(r.directives, 0),
                  signature=signature(r, ex), locals=locals_, body=body)


# ---------------------------------------------------------------- declarations

def _uses(r: Routine) -> tuple[set[str], set[str]]:
    """Locals whose stores nobody reads, and names mentioned at all.
    Generated code assigns values nobody reads (a function's result inside
    its adjoint, and what only fed it), which C compilers reject under
    -Werror; those stores are dropped, to a fixed point."""
    stmts = list(walk_stmts(r.body))
    named: set[str] = {x.name for s in stmts for e in stmt_exprs(s) + _bounds(s) for x in refs_in(e)}
    named |= {it.name for s in stmts if isinstance(s, Allocate) for it in s.items}
    named |= {s.var for s in stmts if isinstance(s, Loop)}
    # A by-value argument is the function's own copy: stores nobody reads
    # (a derivative's copy of a primal that was overwritten) go like a local's.
    locals_ = {n for n, s in r.symbols.items()
               if (s.storage in ("local", "result") or (s.storage == "arg" and s.by_value))
               and not s.save and not (r.kind == "function" and n == r.result)}
    dead: set[str] = set()
    while True:
        read: set[str] = set()
        for s in stmts:
            if isinstance(s, Assign) and s.lhs.name in dead and \
                    not any(not c.intrinsic for c in calls_in(s.rhs)):
                continue
            for e in stmt_exprs(s) + _bounds(s):
                read.update(x.name for x in refs_in(e) if not (isinstance(s, Assign) and x is s.lhs))
            if isinstance(s, (CallStmt,)):
                read.update(a.name for a in s.args if isinstance(a, Ref))
            if isinstance(s, Loop):
                read.add(s.var)
            if isinstance(s, Allocate):          # a heap array's storage is kept
                read.update(it.name for it in s.items)
            if isinstance(s, Deallocate):
                read.update(s.names)
        new = {n for n in locals_ if n not in read}
        if new == dead:
            live = {s.lhs.name for s in stmts if isinstance(s, Assign) and s.lhs.name not in dead}
            return dead, named & (read | live)
        dead = new


def _bounds(s: Stmt) -> list:
    """The bound expressions of an Allocate (read when it runs)."""
    if not isinstance(s, Allocate):
        return []
    out = []
    for it in s.items:
        for sub in it.subs or []:
            out += [x for x in ((sub.lo, sub.hi) if isinstance(sub, Section) else (sub,)) if x is not None]
    return out


def _extent(d: Dim, ex: CExpr) -> str:
    if d.assumed:
        raise unsupported("assumed-shape array in C output", None)
    if d.ub is None:
        return ""
    ub = d.ub
    if isinstance(ub, Bin) and ub.op == "-" and isinstance(ub.right, Lit) and ub.right.text == "1" \
            and is_zero_lb(d.lb):
        return ex(ub.left)
    if isinstance(ub, Lit) and ub.type.base == "integer" and (d.lb is None or isinstance(d.lb, Lit)):
        lb = 0 if d.lb is None else int(d.lb.text)
        return str(int(ub.text) - lb + 1)
    lb = d.lb if d.lb is not None else Lit("0", ub.type if isinstance(ub, Lit) else d.lb.type)
    return ex(Bin("+", Bin("-", ub, lb), Lit("1", lb.type)))


def proc_routine(sym: Optional[Symbol]) -> Optional[Routine]:
    """What a call through a function-pointer parameter passes: its
    parameters' kinds as formals (a routine re-printed as written)."""
    if sym is None or sym.proc_params is None:
        return None
    from ..ir.nodes import Dim, Lit, INT4, REAL8
    syms = {}
    args = []
    for k, kind in enumerate(sym.proc_params):
        a = f"a{k}"
        args.append(a)
        if kind == "value":
            syms[a] = Symbol(a, REAL8, storage="arg", by_value=True)
        else:
            syms[a] = Symbol(a, REAL8, shape=[Dim(Lit("0", INT4), None)], storage="arg",
                             pointer=True)
    r = Routine(sym.name, "subroutine" if sym.type.base == "void" else "function", args, syms, [],
                language="c")
    if r.kind == "function":
        r.result = sym.name + "_result"
        syms[r.result] = Symbol(r.result, sym.type, storage="result")
    return r


def declaration(s: Symbol, ex: CExpr, is_arg: bool = False) -> str:
    """`double a[n][m]` from the IR's reversed shape; a pointer for a
    scalar argument passed by reference and for an assumed-size vector."""
    if s.proc_interface is not None and is_arg:
        return s.proc_interface          # a function pointer parameter, as written
    base = ctype(s.type)
    if s.is_parameter:
        raise unsupported("named constant in C output", s.span)
    const = "const " if is_arg and s.intent == "in" else ""
    if not is_arg and heap_length(s):
        return f"{base} *{s.name} = 0"
    if is_arg and not s.shape:
        return f"{base} {s.name}" if s.by_value else f"{const}{base} *{s.name}"
    if is_arg and s.rank == 1 and (s.shape[0].ub is None or s.pointer):
        return f"{const}{base} *{s.name}"
    dims = "".join(f"[{_extent(d, ex)}]" for d in reversed(s.shape))
    text = f"{base} {s.name}{dims}"
    if s.save and not is_arg and s.storage == "local":
        text = "static " + text
    if s.init is not None and not is_arg:
        text += " = " + _initialiser(s, ex)
    return text


def heap_length(s: Symbol) -> Optional[str]:
    """The length variable of a local heap array (frontend/c_heap.py): an
    allocatable whose one dimension is [0, len - 1]."""
    if not s.allocatable or s.storage != "local" or s.rank != 1 or s.save:
        return None
    d = s.shape[0]
    if is_zero_lb(d.lb) and isinstance(d.ub, Bin) and d.ub.op == "-" and isinstance(d.ub.left, Ref) \
            and d.ub.left.subs is None and isinstance(d.ub.right, Lit) and d.ub.right.text == "1":
        return d.ub.left.name
    return None


def _initialiser(s: Symbol, ex: CExpr) -> str:
    from ..ir.nodes import ArrayCtor
    if not s.shape:
        return ex(s.init)
    if not isinstance(s.init, ArrayCtor):
        raise unsupported("array initialiser that is not a list in C output", s.span)
    items = [ex(x) for x in s.init.items]
    for d in s.shape[:-1]:                 # group C's innermost dimensions first
        n = int(_extent(d, ex))
        items = ["{" + ", ".join(items[k:k + n]) + "}" for k in range(0, len(items), n)]
    return "{" + ", ".join(items) + "}"


def signature(r: Routine, ex: CExpr) -> str:
    if r.kind == "program":
        return "int main(void)"
    ret = ctype(r.symbols[r.result].type) if r.kind == "function" else "void"
    params = ", ".join(declaration(s, ex, is_arg=True) for s in r.arg_symbols()) or "void"
    return ("static " if r.static else "") + f"{ret} {r.name}({params})"


def _pragmas(ds: list[Directive], level: int) -> list[str]:
    # As comments: `#pragma ad` would trip -Wunknown-pragmas under -Wall.
    return [IND * level + " ".join(["// $AD", d.name, *d.args]) for d in ds]


# ---------------------------------------------------------------- statements

class _Stmts:
    def __init__(self, r: Routine, ex: CExpr, dead: set[str]) -> None:
        self.r = r
        self.ex = ex
        self.dead = dead                  # locals whose stores are dropped (see _uses)
        self.frames: list[str] = []       # 'loop' | 'switch', innermost last
        self.declared: set[str] = set()   # locals the routine declares

    def block(self, stmts: list[Stmt], level: int) -> list[str]:
        out: list[str] = []
        k = 0
        while k < len(stmts):
            run, pop = record_run(stmts, k, self.ex)
            if run:
                out.extend(record_lines(run, pop, IND * level, IND))
                k += len(run)
                continue
            s = stmts[k]
            k += 1
            if s.label is not None:
                raise unsupported("statement label in C output", s.span)
            out.extend(_pragmas(s.directives, level))
            out.extend(self.stmt(s, level))
        return out

    def stmt(self, s: Stmt, level: int) -> list[str]:
        pad = IND * level
        ex = self.ex
        if isinstance(s, Assign):
            if s.lhs.name in self.dead:
                if any(not c.intrinsic for c in calls_in(s.rhs)):
                    return [f"{pad}(void)({ex(s.rhs)});"]
                return []
            sym = ex.symbol(s.lhs.name)
            if s.lhs.subs is None and sym is not None and sym.shape:
                return array_assign(s, sym, ex, level)
            return [f"{pad}{ex(s.lhs)} = {ex(s.rhs)};"]
        if isinstance(s, CallStmt):
            callee = ex.routine(s.name)
            if callee is None and s.name.startswith("ad_"):
                return [pad + runtime_call(s.name, s.args, ex, s.span)]
            if callee is None:
                raise unsupported(f"call of '{s.name}', which is not in the unit, in C output", s.span)
            return [f"{pad}{s.name}({ex.actuals(callee, s.args)});"]
        if isinstance(s, If):
            return self.if_(s, level)
        if isinstance(s, Loop):
            return self.loop(s, level)
        if isinstance(s, While):
            return self.while_(s, level)
        if isinstance(s, Select):
            return self.select(s, level)
        if isinstance(s, (Exit, Cycle)):
            return [pad + self.jump(s)]
        if isinstance(s, Return):
            if self.r.kind == "function":
                return self.frees(level) + [f"{pad}return {self.r.result};"]
            return self.frees(level) + [f"{pad}return" + (" 0;" if self.r.kind == "program" else ";")]
        if isinstance(s, Allocate):
            return self.allocate(s, level)
        if isinstance(s, Deallocate):
            out = []
            for n in s.names:
                self._heap(n, s.span)
                out += [f"{pad}free({n});", f"{pad}{n} = 0;"]
            return out
        if isinstance(s, Stop):
            code = ex(s.code) if s.code is not None else "0"
            if s.code is not None and ex.type_of(s.code).base not in ("integer",):
                raise unsupported("stop with a non-integer code in C output", s.span)
            return [f"{pad}return {code};" if self.r.kind == "program" else f"{pad}exit({code});"]
        if isinstance(s, Print):
            stream = s.unit.text if isinstance(s.unit, Lit) and s.unit.text in ("stderr", "stdout") else None
            if (s.unit is not None and stream is None) or s.fmt is None:
                raise unsupported("Fortran-style write in C output", s.span)
            args = "".join(", " + ex(x) for x in s.items)
            if stream is not None:
                return [f"{pad}fprintf({stream}, {c_string_literal(s.fmt)}{args});"]
            return [f"{pad}printf({c_string_literal(s.fmt)}{args});"]
        if isinstance(s, Continue):
            return []
        if isinstance(s, Raw):
            return [pad + t if t.strip() else "" for t in s.text.rstrip("\n").split("\n")]
        raise unsupported(f"statement {type(s).__name__} in C output", s.span)

    def _heap(self, name: str, span) -> str:
        sym = self.ex.symbol(name)
        length = heap_length(sym) if sym is not None else None
        if length is None:
            raise unsupported("a temporary array of run-time size in C output", span, name)
        return length

    def allocate(self, s: Allocate, level: int) -> list[str]:
        """Set the length, then allocate (a heap array allocated again, as
        in a loop whose free the adjoint defers to the exit, is released
        first)."""
        pad, ex = IND * level, self.ex
        if s.source is not None:
            raise unsupported("allocation from a source value in C output", s.span)
        out = []
        for it in s.items:
            length = self._heap(it.name, s.span)
            sub = it.subs[0] if it.subs else None
            if isinstance(sub, Section):
                lo, hi = sub.lo, sub.hi
            else:
                lo, hi = None, sub
            if hi is None:
                raise unsupported("allocation without bounds in C output", s.span, it.name)
            if not is_zero_lb(lo) and not (isinstance(lo, Lit) and int(lo.text) == 0):
                hi = Bin("-", hi, lo)      # C arrays start at 0: same length
            d = Dim(Lit("0", INT4), hi)
            base = ctype(ex.symbol(it.name).type)
            out.append(f"{pad}{length} = {_extent(d, ex)};")
            out += [f"{pad}free({it.name});",
                    f"{pad}{it.name} = malloc({length} * sizeof({base}));"]
        return out

    def frees(self, level: int) -> list[str]:
        """C's twin of Fortran freeing local allocatables at return."""
        return [f"{IND * level}free({n});" for n, s in self.r.symbols.items()
                if heap_length(s) and n in self.declared]

    def nested(self, kind: str, body: list[Stmt], level: int) -> list[str]:
        self.frames.append(kind)
        try:
            return self.block(body, level)
        finally:
            self.frames.pop()

    def jump(self, s) -> str:
        if s.name is not None:
            raise unsupported("exit or cycle of a named loop in C output", s.span)
        if "loop" not in self.frames:
            raise unsupported("exit or cycle outside a loop in C output", s.span)
        if isinstance(s, Exit) and self.frames[-1] == "switch":
            raise unsupported("leaving a loop from inside a select in C output", s.span)
        return "break;" if isinstance(s, Exit) else "continue;"

    def if_(self, s: If, level: int) -> list[str]:
        pad = IND * level
        out = []
        for k, (cond, body) in enumerate(s.branches):
            out.append(f"{pad}{'if' if k == 0 else '} else if'} ({self.ex(cond)}) {{")
            out.extend(self.block(body, level + 1))
        if s.else_ is not None:
            out.append(f"{pad}}} else {{")
            out.extend(self.block(s.else_, level + 1))
        return out + [pad + "}"]

    def loop(self, s: Loop, level: int) -> list[str]:
        pad, ex = IND * level, self.ex
        step = s.step
        if step is not None and not (isinstance(step, Lit) and step.type.base == "integer"):
            raise unsupported("loop step that is not a constant in C output", s.span)
        k = int(step.text) if step is not None else 1
        if k == 0:
            raise unsupported("loop step zero", s.span)
        v = s.var
        hi, lo = s.hi, s.lo
        sym = self.ex.symbol(v)
        if sym is not None and sym.type.unsigned:
            # the front end's long bounds (c_stmt._signed), compared in the
            # counter's own type as the user wrote them
            hi, lo = _unsigned_bound(hi), _unsigned_bound(lo)
        if k > 0:
            if isinstance(hi, Bin) and hi.op == "-" and isinstance(hi.right, Lit) and hi.right.text == "1":
                test = f"{v} < {ex(hi.left)}" if ex.p(hi.left)[1] > 10 else f"{v} < ({ex(hi.left)})"
            elif isinstance(hi, Lit) and hi.type.base == "integer":
                test = f"{v} < {int(hi.text) + 1}"
            else:
                test = f"{v} <= {_paren(ex, hi)}"
            inc = f"{v}++" if k == 1 else f"{v} += {k}"
        else:
            if isinstance(hi, Bin) and hi.op == "+" and isinstance(hi.right, Lit) and hi.right.text == "1":
                test = f"{v} > {_paren(ex, hi.left)}"
            else:
                test = f"{v} >= {_paren(ex, hi)}"
            inc = f"{v}--" if k == -1 else f"{v} -= {-k}"
        out = [f"{pad}for ({v} = {ex(lo)}; {test}; {inc}) {{"]
        out.extend(self.nested("loop", s.body, level + 1))
        return out + [pad + "}"]

    def while_(self, s: While, level: int) -> list[str]:
        pad = IND * level
        if s.name is not None:
            raise unsupported("named loop in C output", s.span)
        if s.post_test:
            return [f"{pad}do {{", *self.nested("loop", s.body, level + 1),
                    f"{pad}}} while ({self.ex(s.cond)});"]
        return [f"{pad}while ({self.ex(s.cond)}) {{", *self.nested("loop", s.body, level + 1),
                pad + "}"]

    def select(self, s: Select, level: int) -> list[str]:
        pad = IND * level
        out = [f"{pad}switch ({self.ex(s.expr)}) {{"]
        groups = [(c.values, c.body) for c in s.cases] + \
            ([(None, s.default)] if s.default is not None else [])
        for values, body in groups:
            if values is None:
                out.append(f"{pad}default:")
            for v in values or []:
                if isinstance(v, Section):
                    raise unsupported("case range in C output", s.span)
                out.append(f"{pad}case {self.ex(v)}:")
            out.extend(self.nested("switch", body, level + 1))
            out.append(f"{pad}{IND}break;")
        return out + [pad + "}"]


def _unsigned_bound(e: Expr) -> Expr:
    """`(long)n` or `(long)n - 1` back to `n` or `n - 1`."""
    if isinstance(e, Cast) and e.type == INT8:
        return e.operand
    if isinstance(e, Bin) and e.op in ("+", "-") and isinstance(e.left, Cast) and e.left.type == INT8:
        return Bin(e.op, e.left.operand, e.right, span=e.span)
    return e


def _paren(ex: CExpr, e) -> str:
    text, prec = ex.p(e)
    return text if prec > 10 else f"({text})"
