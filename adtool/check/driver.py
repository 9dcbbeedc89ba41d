"""A gradient-check driver built from the user's own main program.

The first call of the head in the main program is replaced by a block that
runs the tangent (f_d) and adjoint (f_b) on the same point, prints the
dot-product test <W, J·D> vs <J^T·W, D> and a central finite difference of
<W, f(x + hD)>, and the runtime's stack peak.  Used by the test suite and by
the bundled example; the user's inputs and array shapes come for free.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Optional

from ..diagnostics import bad_input
from ..ir.nodes import (Assign, Call, CallStmt, Raw, Ref, Routine, Stmt,
                        TranslationUnit)
from ..ir.visit import child_blocks


@dataclass
class HeadCall:
    args: list            # actual argument expressions in main
    result: object        # Ref receiving a function result, or None


def _find_call(body: list[Stmt], head: str):
    for i, s in enumerate(body):
        if isinstance(s, CallStmt) and s.name == head:
            return body, i, HeadCall(s.args, None)
        if isinstance(s, Assign) and isinstance(s.rhs, Call) and s.rhs.name == head:
            return body, i, HeadCall(s.rhs.args, s.lhs)
        for b in child_blocks(s):
            found = _find_call(b, head)
            if found:
                return found
    return None


def primal_unit(tu: TranslationUnit) -> TranslationUnit:
    """The user's routines and modules without the main program."""
    out = copy.deepcopy(tu)
    # specialised copies are defined by the generated code, as for the user
    out.routines = [r for r in out.routines if r.kind != "program" and r.declared is None
                    and r.specialized_from is None]
    for m in out.modules:
        m.routines = [r for r in m.routines if r.specialized_from is None]
    return out


def check_driver(tu: TranslationUnit, head: str, deriv_b: Routine, deriv_d: Routine,
                 h: float = 1e-6, roles: Optional[tuple[list[str], list[str]]] = None
                 ) -> TranslationUnit:
    """The main program with the head call replaced by the check block.
    deriv_b/deriv_d are the generated head_b/head_d (their argument lists say
    which formals are active).  With roles = (dependents, independents) the
    block also prints the gradient at the program's point (seed 1 on every
    dependent) as `ADGRAD name` followed by one value per line, the raw
    material of reference adjoints (adtool check --save-reference)."""
    prog = next((r for r in tu.routines if r.kind == "program"), None)
    if prog is None:
        raise bad_input("no main program to build a driver from")
    prog = copy.deepcopy(prog)
    found = _find_call(prog.body, head)
    if found is None:
        raise bad_input(f"the main program never calls '{head}'")
    block, idx, hc = found
    f = tu.routine(head)
    formals = list(f.args)
    actual_of = dict(zip(formals, hc.args))
    if f.kind == "function":
        formals.append(f.result)
        actual_of[f.result] = hc.result

    act = [a for a in formals if has_deriv(deriv_b.args, a, formals) or has_deriv(deriv_d.args, a, formals)]
    names = {}
    lines = []
    prologue = []
    for k, a in enumerate(act, start=1):
        e = actual_of[a]
        if isinstance(e, Ref) and e.subs is None and e.name in prog.symbols:
            v = e.name
            sym = prog.symbols[v]
        else:
            # An element or expression: check on a scalar copy of it.
            fsym = f.symbols[a]
            if fsym.rank:
                raise bad_input(f"driver: array argument '{a}' must be passed as a whole variable")
            v = f"ad_arg{k}"
            sym = copy.deepcopy(fsym)
            sym.name = v
            sym.storage = "local"
            sym.intent = None
            prog.symbols[v] = sym
            prologue.append(f"{v} = {_actual_text(e)}")
            actual_of[a] = Ref(v)
        names[a] = v
        for suf in ("_ad0", "_add", "_adb", "_adt", "_adw", "_adp"):
            s2 = copy.deepcopy(sym)
            s2.name = v + suf
            if sym.type.base == "derived" and suf != "_ad0":
                s2.type = _record_alias(prog, sym.type, "b" if suf == "_adb" else "d")
            s2.storage = "local"
            s2.common = None
            s2.init = None
            s2.save = False
            s2.is_parameter = False
            s2.value = None
            s2.intent = None
            prog.symbols[s2.name] = s2
    # Scalars for the check.
    from ..ir.nodes import REAL8, INT4, Symbol
    for n in ("ad_lhs", "ad_rhs", "ad_fd", "ad_fp", "ad_fm", "ad_h", "ad_nrm"):
        prog.symbols[n] = Symbol(n, REAL8)
    prog.symbols["ad_seed"] = Symbol("ad_seed", INT4, shape=[_dim(64)])
    prog.symbols["ad_nseed"] = Symbol("ad_nseed", INT4)
    for n in ("ad_k1", "ad_k2", "ad_k3", "ad_k4"):
        prog.symbols[n] = Symbol(n, INT4)
    prog.symbols["ad_peak"] = Symbol("ad_peak", Symbol("x", _int8()).type)
    prog.symbols["ad_left"] = Symbol("ad_left", Symbol("x", _int8()).type)
    for n in ("ad_c0", "ad_c1", "ad_c2", "ad_c3", "ad_crate"):
        prog.symbols[n] = Symbol(n, _int8())
    prog.uses.append(_use_adstack())
    if f.module is not None:
        # A module procedure's derivatives live in the derivative modules
        # (interface.md): the program must USE them to call them.
        from ..ir.nodes import Use
        from ..transform.generate import derivative_module_name
        for which, r in (("b", deriv_b), ("d", deriv_d)):
            prog.uses.append(Use(derivative_module_name(f.module, which), [r.name]))

    def call_args(which: str) -> str:
        out = []
        for a in formals:
            if f.kind == "function" and a == f.result:
                continue
            out.append(_actual_text(actual_of[a]))
            if a in names and has_deriv(deriv_b.args if which == "b" else deriv_d.args, a, formals):
                out.append(names[a] + ("_adb" if which == "b" else "_add"))
        if f.kind == "function":
            if which == "d":
                out += [names.get(f.result, _actual_text(hc.result)), names[f.result] + "_add"]
            elif f.result in names:
                out.append(names[f.result] + "_adb")
        return ", ".join(out)

    plain = ", ".join(_actual_text(actual_of[a]) for a in f.args)
    call_plain = (f"{names.get(f.result, '')} = {head}({plain})" if f.kind == "function"
                  else f"call {head}({plain})")
    L = lines.append
    lines.extend(prologue)

    def each(v: str, *templates: str) -> None:
        """Lines for every real leaf of v: in the templates {X}(name) is
        that leaf of variable `name` (v itself for a non-record), {T}(e)
        the sum of e over the leaf's elements."""
        for pre, post, acc, arr, _ in _leaves(prog.symbols[v], v):
            lines.extend(pre)
            for t in templates:
                lines.append(_fill(t, acc, arr))
            lines.extend(post)
    L("call random_seed(size=ad_nseed)")
    L("ad_seed = 12345")
    L("call random_seed(put=ad_seed(1:ad_nseed))")
    for a, v in names.items():
        if prog.symbols[v].allocatable:   # the copies take the shape of the user's array
            for suf in ("_ad0", "_add", "_adb", "_adt", "_adw", "_adp"):
                L(f"if (allocated({v}{suf})) deallocate({v}{suf})")
                L(f"allocate({v}{suf}, source={v})")
        L(f"{v}_ad0 = {v}")
        for pre, post, acc, _, alloc in _leaves(prog.symbols[v], v):
            if alloc:     # a record's allocatable component: derivatives shaped alike
                lines.extend(pre)
                for suf in ("_add", "_adb", "_adt", "_adw", "_adp"):
                    L(f"if (.not. allocated({acc(v + suf)})) allocate({acc(v + suf)}, mold={acc(v)})")
                lines.extend(post)
        each(v, f"call random_number({{X}}({v}_add))", f"{{X}}({v}_add) = {{X}}({v}_add) - 0.5d0",
             f"{{X}}({v}_adp) = {{X}}({v}_add)", f"call random_number({{X}}({v}_adw))",
             f"{{X}}({v}_adw) = {{X}}({v}_adw) - 0.5d0")
    # tangent
    L(f"call {head}_d({call_args('d')})")
    L("ad_lhs = 0.0d0")
    for a, v in names.items():
        each(v, f"ad_lhs = ad_lhs + {{T}}({{X}}({v}_adw) * {{X}}({v}_add))")
    # adjoint
    for a, v in names.items():
        L(f"{v} = {v}_ad0")
        each(v, f"{{X}}({v}_adb) = {{X}}({v}_adw)")
    L("call system_clock(ad_c0, ad_crate)")
    L(f"call {head}_b({call_args('b')})")
    L("call system_clock(ad_c1)")
    L("ad_rhs = 0.0d0")
    L("ad_nrm = 0.0d0")
    for a, v in names.items():
        each(v, f"ad_rhs = ad_rhs + {{T}}({{X}}({v}_adb) * {{X}}({v}_adp))",
             f"ad_nrm = ad_nrm + {{T}}({{X}}({v}_adb) ** 2)")
    L("ad_peak = ad_stack_peak_bytes()")
    L("ad_left = ad_stack_bytes()")
    # finite differences along the same direction
    L(f"ad_h = {h!r}")
    for sign, tgt in (("+", "ad_fp"), ("-", "ad_fm")):
        for a, v in names.items():
            L(f"{v} = {v}_ad0")
            each(v, f"{{X}}({v}) = {{X}}({v}_ad0) {sign} ad_h * {{X}}({v}_adp)")
        L("call system_clock(ad_c2)")
        L(call_plain)
        L("call system_clock(ad_c3)")
        L(f"{tgt} = 0.0d0")
        for a, v in names.items():
            each(v, f"{tgt} = {tgt} + {{T}}({{X}}({v}_adw) * {{X}}({v}))")
    L("ad_fd = (ad_fp - ad_fm) / (2.0d0 * ad_h)")
    L("write(*, '(a, 4es26.17e3)') 'ADCHECK ', ad_lhs, ad_rhs, ad_fd, ad_nrm")
    L("write(*, '(a, 2i14)') 'ADSTACK ', ad_peak, ad_left")
    # adjoint and (last) primal call times, in clock ticks and ticks/second
    L("write(*, '(a, 3i20)') 'ADTIME ', ad_c1 - ad_c0, ad_c3 - ad_c2, ad_crate")
    if roles is not None:
        deps, indeps = roles
        for a, v in names.items():
            L(f"{v} = {v}_ad0")
            each(v, f"{{X}}({v}_adb) = {'1.0d0' if a in deps else '0.0d0'}")
        L(f"call {head}_b({call_args('b')})")
        for a, v in names.items():
            if a in indeps:
                L(f"write(*, '(a)') 'ADGRAD {a}'")
                each(v, f"write(*, '(es26.17e3)') {{X}}({v}_adb)")
        L("write(*, '(a)') 'ADGRAD-END'")
    for a, v in names.items():
        L(f"{v} = {v}_ad0")
    original = copy.deepcopy(block[idx])
    original.directives = []
    block[idx] = Raw("\n".join(lines))
    block.insert(idx + 1, original)
    out = TranslationUnit("fortran", tu.files)
    out.routines = [prog]
    return out


def _record_alias(prog: Routine, t, which: str):
    """The driver sees T_diff of both the tangent and the adjoint module:
    each under its own local name."""
    from ..ir import records
    from ..ir.nodes import Type, Use
    from ..transform.generate import derivative_module_name
    td = records.typedef(t)
    if td is None or td.module is None:
        raise bad_input(f"driver: type '{t.name}' is not defined in a module")
    local = f"ad_{t.name}_{which}"
    mod = derivative_module_name(td.module, which)
    if not any(u.module == mod and local in (u.only or []) for u in prog.uses):
        prog.uses.append(Use(mod, [local], [(local, t.name + records.DIFF_SUFFIX)]))
    return Type("derived", 0, name=local)


def _leaves(sym, v: str):
    """(lines before, lines after, accessor of the leaf in a variable
    shaped like v, whether the leaf expression is an array, whether it is an
    allocatable component) for each real
    leaf of v; arrays of records holding arrays or records are walked
    element by element."""
    from ..ir import records
    if sym.type.base != "derived":
        return [([], [], lambda n: n, bool(sym.rank), False)]
    out = []

    def walk(typ, acc, rank: int, pre: list, post: list, depth: int) -> None:
        comps = [(n, c) for n, c in records.typedef(typ).components.items()
                 if records.differentiable(c.type)]
        if rank and any(c.shape or c.type.base == "derived" for _, c in comps):
            if rank > 1:
                raise bad_input(f"driver: multi-dimensional array of records in '{v}'")
            k = f"ad_k{depth}"
            pre = pre + [f"do {k} = 1, size({acc(v)})"]
            post = ["end do"] + post
            acc = (lambda n, a=acc, k=k: f"{a(n)}({k})")
            rank = 0
        for n, c in comps:
            sub = (lambda x, a=acc, n=n: f"{a(x)}%{n}")
            if c.type.base == "derived":
                walk(c.type, sub, rank + c.rank, pre, post, depth + 1)
            else:
                out.append((pre, post, sub, bool(rank or c.rank), c.allocatable))
    walk(sym.type, lambda n: n, sym.rank, [], [], 1)
    return out


def _fill(template: str, acc, arr: bool) -> str:
    """Replace {X}(name) by the leaf accessor and {T}(e) by a total."""
    def x(m):
        return acc(m.group(1))
    text = re.sub(r"\{X\}\((\w+)\)", x, template)
    out, i = "", 0
    while True:
        j = text.find("{T}(", i)
        if j < 0:
            return out + text[i:]
        depth, k = 0, j + 3
        while True:
            if text[k] == "(":
                depth += 1
            elif text[k] == ")":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        inner = text[j + 4:k]
        out += text[i:j] + (f"sum({inner})" if arr else f"({inner})")
        i = k + 1


def has_deriv(args: list[str], a: str, primal: list[str]) -> bool:
    """Whether formal a is followed by its derivative in a generated
    argument list: the next name is a's derivative name (a + b/d, maybe
    numbered) and not itself a formal of the primal (n followed by nt, or
    n by a formal nb, is not a derivative)."""
    if a not in args:
        return False
    i = args.index(a)
    return (i + 1 < len(args) and args[i + 1] not in primal
            and re.fullmatch(re.escape(a) + r"[bd]\d*", args[i + 1]) is not None)


def _actual_text(e) -> str:
    from ..backend.fortran_expr import fexpr
    return fexpr(e)


def _dim(n: int):
    from ..ir.nodes import Dim, Lit, INT4
    return Dim(None, Lit(str(n), INT4))


def _int8():
    from ..ir.nodes import INT8
    return INT8


def _use_adstack():
    from ..ir.nodes import Use
    return Use("adstack", ["ad_stack_peak_bytes", "ad_stack_bytes"])
