"""The C twin of driver.py: a gradient check built from the user's own main.

Just before the first statement of main that calls the head, a block runs
the tangent (f_d) and the adjoint (f_b) at that point and prints the
dot-product test <W, J·D> vs <J^T·W, D>, a central finite difference of
<W, f(x + hD)> and the stack's peak and leftover bytes; then it restores
the inputs and main goes on.  The block is placed in main rather than in a
separate file so that the user's static functions and globals stay in
reach; the derivative file is compiled apart, as users compile it.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

from ..backend.c import emit_unit
from ..backend.c_expr import CExpr, ctype
from ..diagnostics import bad_input
from ..ir.nodes import CallStmt, Raw, Ref, Routine, Stmt, TranslationUnit
from ..ir.visit import calls_in, child_blocks, stmt_exprs
from .driver import has_deriv

__all__ = ["c_check_program", "c_check_many"]


@dataclass
class _Active:
    formal: str
    ptr: str        # double * to the values the check perturbs
    count: str      # how many
    # For a struct argument, one _Active per real member reached (a leaf):
    # `leaf(base, i)` is the i-th value of that leaf in the structs `base`
    # (the primal, or the T_diff twins that hold its derivatives).
    leaf: object = None
    deriv: str = ""     # the T_diff variables' stem (ad_t{k}_d, ad_t{k}_b)
    ctype: str = "double"   # the values' C type: the derivative arrays passed have it too

    def at(self, i: str) -> str:
        return self.leaf(self.ptr, i) if self.leaf else f"{self.ptr}[{i}]"

    def d(self, k: int, suf: str, i: str) -> str:
        """The derivative value i in the tangent (d) or adjoint (b) argument."""
        if self.leaf and suf in ("d", "b"):
            return self.leaf(f"{self.deriv}_{suf}", i)
        return f"ad_a{k}_{suf}[{i}]"


def _real_leaves(t, types: dict, pointed, prefix: str = "") -> list[tuple[str, str, bool]]:
    """The real members reachable in a struct of type t, as (C member path,
    number of values, through a pointer), depth first: what its T_diff
    holds (ir/records.py).  pointed(path) is the extent of the array a
    pointer member points at, from main's `s.m = array`."""
    out = []
    td = types.get(t.name)
    for c in td.components.values():
        path = f"{prefix}.{c.name}"
        if c.pointer:
            if c.type.base != "real":
                continue
            n = pointed(path)
            if n is None:
                raise bad_input(f"driver: main does not point '{path[1:]}' of {td.name} at an array")
            out.append((path, n, True))
            continue
        n = 1
        for d in c.shape:
            if d.ub is None or not hasattr(d.ub, "text"):
                raise bad_input(f"driver: member '{c.name}' of {td.name} has no fixed size")
            n *= int(d.ub.text) + 1
        if c.type.base == "derived":
            inner = _real_leaves(c.type, types, lambda p: None, path)
            if inner and c.shape:
                raise bad_input(f"driver: array of structs '{c.name}' inside {td.name}")
            out += inner
        elif c.type.base == "real":
            if c.type.kind != 8:
                raise bad_input(f"driver: member '{c.name}' of {td.name} is not double")
            out.append((path, str(n), False))
    return out


def _struct_actives(a: str, base: str, elems: str, t, types: dict, stem: str,
                    pointed) -> tuple[list[_Active], list[str]]:
    """One _Active per real leaf of `elems` structs at `base` (an array of
    them or one struct variable), and the declarations that give the T_diff
    twins' pointer members arrays to point at."""
    out, setup = [], []
    for path, n, ptr in _real_leaves(t, types, pointed):
        if ptr:
            if elems != "1":
                raise bad_input(f"driver: pointer member '{path[1:]}' in an array of structs")
            name = path[1:].replace(".", "_")
            for suf in ("d", "b"):
                setup.append(f"double {stem}_{suf}_{name}[{n}];")
                setup.append(f"{stem}_{suf}[0]{path} = {stem}_{suf}_{name};")

        def leaf(b, i, path=path, n=n):
            return f"((double *)&({b})[({i}) / ({n})]{path})[({i}) % ({n})]"

        def pleaf(b, i, path=path):
            return f"({b})[0]{path}[{i}]"
        out.append(_Active(a, base, f"{elems} * ({n})", pleaf if ptr else leaf, stem))
    return out, setup


def _pointed(prog: Routine, var: str, ex: CExpr):
    """path -> extent of the array main points `var.path` at, if it does."""
    from ..ir.nodes import Assign
    from ..ir.visit import walk_stmts
    found = {}
    for st in walk_stmts(prog.body):
        if isinstance(st, Assign) and st.lhs.name == var and st.lhs.path and st.lhs.subs is None \
                and isinstance(st.rhs, Ref) and st.rhs.subs is None and st.rhs.name in prog.symbols:
            arr = prog.symbols[st.rhs.name]
            if arr.rank == 1 and arr.shape[0].ub is not None:
                found["".join("." + p.name for p in st.lhs.path)] = _extent_text(arr.shape[0], ex)
    return found.get


def _find(body: list[Stmt], head: str):
    for i, s in enumerate(body):
        for e in stmt_exprs(s):
            for c in calls_in(e):
                if c.name == head:
                    return body, i, c.args
        if isinstance(s, CallStmt) and s.name == head:
            return body, i, s.args
        for b in child_blocks(s):
            found = _find(b, head)
            if found:
                return found
    return None


def c_check_program(tu: TranslationUnit, head: str, deriv_b: Routine, deriv_d: Routine,
                    h: float = 1e-6, roles=None) -> str:
    """The user's file with the check block in main and prototypes of the
    derivative routines (whose signatures deriv_b/deriv_d give).  roles =
    (dependents, independents) adds the gradient at the program's point
    (seed 1 on every dependent), printed as `ADGRAD head name` then one
    value per line."""
    return c_check_many(tu, [(head, deriv_b, deriv_d)], h, roles)


def c_check_many(tu: TranslationUnit, heads: list[tuple[str, Routine, Routine]],
                 h: float = 1e-6, roles=None) -> str:
    """One check block per head (each before main's first call of it); the
    lines they print start with `ADCHECK head`, `ADSTACK head` and `ADTIME
    head` (adjoint and last primal call, clock() ticks, CLOCKS_PER_SEC)."""
    if not any(r.kind == "program" for r in tu.routines):
        raise bad_input("no main function to build a driver from")
    out = copy.deepcopy(tu)
    prog = next(r for r in out.routines if r.kind == "program")
    _diff_types(out, heads)
    table = {r.name: r for r in tu.all_routines()}
    protos = []
    for head, deriv_b, deriv_d in heads:
        _insert_check(tu, prog, table, head, deriv_b, deriv_d, h, roles)
        protos += [_prototype(deriv_b, tu, table), _prototype(deriv_d, tu, table)]
    return "\n".join(['#include "adstack.h"', "#include <stdio.h>", "#include <time.h>"]) + "\n" + \
        emit_unit(out, protos)


def _diff_types(out: TranslationUnit, heads) -> None:
    """The T_diff types of the heads' struct arguments, defined in the
    driver as in the generated files (ir/records.py makes both)."""
    from ..ir import records
    before = records.bound()
    records.bind(out.types)
    try:
        for _, deriv_b, deriv_d in heads:
            for r in (deriv_b, deriv_d):
                for s in r.arg_symbols():
                    if s.type.base == "derived" and s.type.name.endswith(records.DIFF_SUFFIX):
                        primal = s.type.name[:-len(records.DIFF_SUFFIX)]
                        if primal in out.types:
                            records.diff_type(out.types[primal] and
                                              type(s.type)("derived", name=primal))
    finally:
        records.bind(before)


def _insert_check(tu: TranslationUnit, prog: Routine, table: dict, head: str,
                  deriv_b: Routine, deriv_d: Routine, h: float, roles=None) -> None:
    found = _find(prog.body, head)
    if found is None:
        raise bad_input(f"main never calls '{head}'")
    block, idx, actuals = found
    f = tu.routine(head)
    ex = CExpr(lambda n: prog.symbols.get(n) or tu.globals.get(n), table.get, tu.types)
    fex = CExpr(lambda n: f.symbols.get(n) or tu.globals.get(n), table.get, tu.types)
    L: list[str] = ["{"]
    act: list[_Active] = []
    plain: list[str] = []
    structs: dict[str, tuple[str, str, str]] = {}    # formal -> (T_diff, how many, stem)
    for k, (a, e) in enumerate(zip(f.args, actuals), start=1):
        fs = f.symbols[a]
        active = has_deriv(deriv_b.args, a, f.args) or has_deriv(deriv_d.args, a, f.args)
        if not active:
            plain.append(ex.actual(e, fs))
            continue
        if fs.type.base == "derived":
            diff = fs.type.name + "_diff"
            stem = f"ad_t{k}"
            if fs.by_value:
                L.append(f"{fs.type.name} ad_s{k}[1];")
                L.append(f"ad_s{k}[0] = {ex(e)};")
                base, elems = f"ad_s{k}", "1"
                plain.append(f"ad_s{k}[0]")
            else:
                if not isinstance(e, Ref) or e.subs is not None or e.path or e.name not in prog.symbols:
                    raise bad_input(f"driver: pass '{a}' of '{head}' as a whole local variable of main")
                s = prog.symbols[e.name]
                elems = " * ".join(_extent_text(d, ex) for d in s.shape) or "1"
                base = e.name if s.shape else f"(&{e.name})"
                plain.append(ex.actual(e, fs))
            structs[a] = (diff, elems, stem)
            L.append(f"{diff} {stem}_d[{elems}], {stem}_b[{elems}];")
            more, setup = _struct_actives(a, base, elems, fs.type, tu.types, stem,
                                          _pointed(prog, e.name, ex) if isinstance(e, Ref) else (lambda p: None))
            act += more
            L += setup
            continue
        ct = ctype(fs.type)          # float or double (the check's sums stay double)
        if fs.by_value:
            L.append(f"{ct} ad_s{k} = {ex(e)};")
            act.append(_Active(a, f"(&ad_s{k})", "1", ctype=ct))
            plain.append(f"ad_s{k}")
            continue
        if not isinstance(e, Ref) or e.subs is not None or e.name not in prog.symbols:
            raise bad_input(f"driver: pass '{a}' of '{head}' as a whole local variable of main")
        s = prog.symbols[e.name]
        n = " * ".join(_extent_text(d, ex) for d in s.shape) or "1"
        act.append(_Active(a, f"(({ct} *){'&' if not s.shape else ''}{e.name})", n, ctype=ct))
        plain.append(ex.actual(e, fs))
    if f.kind == "function":
        ct = ctype(f.symbols[f.result].type)
        L.append(f"{ct} ad_res = 0.0;")
        act.append(_Active(f.result, "(&ad_res)", "1", ctype=ct))
    for k, v in enumerate(act):
        for suf in ("0", "w", "p") if v.leaf else ("0", "d", "b", "w", "p"):
            L.append(f"{v.ctype if suf in ('d', 'b') else 'double'} ad_a{k}_{suf}[{v.count}];")
    L += ["double ad_lhs = 0.0, ad_rhs = 0.0, ad_nrm = 0.0, ad_fp = 0.0, ad_fm = 0.0;",
          f"double ad_h = {h!r};", "unsigned long ad_rng = 12345UL;", "long ad_peak, ad_left;", "int ad_k;",
          "clock_t ad_c0, ad_c1, ad_c2 = 0, ad_c3 = 0;"]

    def each(k: int, body: str) -> None:
        L.append(f"for (ad_k = 0; ad_k < {act[k].count}; ad_k++) {body}")

    def rnd(target: str) -> str:
        return (f"{{ ad_rng = ad_rng * 6364136223846793005UL + 1442695040888963407UL; "
                f"{target} = (double)((ad_rng >> 11) % 1000003UL) / 1000003.0 - 0.5; }}")
    for k, v in enumerate(act):
        each(k, f"{{ ad_a{k}_0[ad_k] = {v.at('ad_k')}; }}")
        each(k, rnd(v.d(k, "d", "ad_k")))
        each(k, f"{{ ad_a{k}_p[ad_k] = {v.d(k, 'd', 'ad_k')}; }}")
        each(k, rnd(f"ad_a{k}_w[ad_k]"))

    def deriv_args(which: str) -> str:
        names = deriv_b.args if which == "b" else deriv_d.args
        out = []
        for a, p in zip(f.args, plain):
            out.append(p)
            if has_deriv(names, a, f.args) and a in structs:
                stem = structs[a][2]
                by_value = f.symbols[a].by_value
                out.append(f"{stem}_{which}[0]" if by_value and which == "d" else f"{stem}_{which}")
            elif has_deriv(names, a, f.args):
                k = next(j for j, v in enumerate(act) if v.formal == a)
                by_value = f.symbols[a].by_value
                out.append(f"ad_a{k}_{which}[0]" if by_value and which == "d" else f"ad_a{k}_{which}")
        if f.kind == "function":
            k = len(act) - 1
            if which == "d":
                out += ["&ad_res", f"ad_a{k}_d"]
            else:
                out.append(f"ad_a{k}_b")
        return ", ".join(out)
    # tangent
    L.append(f"{head}_d({deriv_args('d')});")
    for k, v in enumerate(act):
        each(k, f"ad_lhs += ad_a{k}_w[ad_k] * {v.d(k, 'd', 'ad_k')};")
    # adjoint, from the same point
    for k, v in enumerate(act):
        each(k, f"{{ {v.at('ad_k')} = ad_a{k}_0[ad_k]; {v.d(k, 'b', 'ad_k')} = ad_a{k}_w[ad_k]; }}")
    L.append("ad_stack_reset_peak();")
    L.append("ad_c0 = clock();")
    L.append(f"{head}_b({deriv_args('b')});")
    L.append("ad_c1 = clock();")
    for k, v in enumerate(act):
        each(k, f"{{ ad_rhs += {v.d(k, 'b', 'ad_k')} * ad_a{k}_p[ad_k]; ad_nrm += {v.d(k, 'b', 'ad_k')} * {v.d(k, 'b', 'ad_k')}; }}")
    L += ["ad_peak = (long)ad_stack_peak_bytes();", "ad_left = (long)ad_stack_bytes();"]
    # central differences along D
    call = f"{head}({', '.join(plain)})"
    for sign, tgt in (("+", "ad_fp"), ("-", "ad_fm")):
        for k, v in enumerate(act):
            each(k, f"{v.at('ad_k')} = ad_a{k}_0[ad_k] {sign} ad_h * ad_a{k}_p[ad_k];")
        L.append("ad_c2 = clock();")
        L.append(("ad_res = " if f.kind == "function" else "") + call + ";")
        L.append("ad_c3 = clock();")
        for k, v in enumerate(act):
            each(k, f"{tgt} += ad_a{k}_w[ad_k] * {v.at('ad_k')};")
    for k, v in enumerate(act):
        each(k, f"{v.at('ad_k')} = ad_a{k}_0[ad_k];")
    L.append(f'printf("ADCHECK {head} %.17e %.17e %.17e %.17e\\n", ad_lhs, ad_rhs, '
             '(ad_fp - ad_fm) / (2.0 * ad_h), ad_nrm);')
    L.append(f'printf("ADSTACK {head} %ld %ld\\n", ad_peak, ad_left);')
    L.append(f'printf("ADTIME {head} %ld %ld %ld\\n", (long)(ad_c1 - ad_c0), (long)(ad_c3 - ad_c2), '
             '(long)CLOCKS_PER_SEC);')
    if roles is not None:
        deps, indeps = roles
        for k, v in enumerate(act):
            seed = "1.0" if v.formal in deps else "0.0"
            each(k, f"{{ {v.at('ad_k')} = ad_a{k}_0[ad_k]; {v.d(k, 'b', 'ad_k')} = {seed}; }}")
        L.append(f"{head}_b({deriv_args('b')});")
        for k, v in enumerate(act):
            if v.formal in indeps:
                L.append(f'printf("ADGRAD {head} {v.formal}\\n");')
                each(k, 'printf("%.17e\\n", ' + v.d(k, "b", "ad_k") + ');')
        L.append('printf("ADGRAD-END\\n");')
        for k, v in enumerate(act):
            each(k, f"{v.at('ad_k')} = ad_a{k}_0[ad_k];")
    L.append("}")
    block.insert(idx, Raw("\n".join(L)))


def _extent_text(d, ex: CExpr) -> str:
    from ..backend.c import _extent
    t = _extent(d, ex)
    return t if t.isalnum() else f"({t})"


def _prototype(r: Routine, tu: TranslationUnit, table: dict) -> str:
    from ..backend.c import signature
    return signature(r, CExpr(lambda n: r.symbols.get(n) or tu.globals.get(n), table.get, tu.types)) + ";"

