"""Seeded generator of small, valid, deterministic C99 programs for
differential testing of adtool's C path (tests/test_c_random_programs.py).

A program is a prefix-named group of functions: 0-3 helpers (void
functions taking an array, a by-value scalar and a scalar by pointer;
double functions taking by-value scalars and a const array) and a head

    void PFX_head(double *x, double *y, double s, double *r, int n)

with x and y arrays of n elements (n is always 5 at run time).  Many
programs share one file; `main` initialises the inputs and calls each head
once.

Values stay in [-2, 2] by construction: every expression is built from
operations that map [-2, 2] into [-2, 2] with Lipschitz constant about 1
(sin, cos, tanh, e/(1+e*e), 0.5*(a+b), 0.25*a*b, a/(2.5+0.5*b), log and
pow of shifted arguments, ...), so nothing overflows, no intrinsic leaves
its smooth domain, and finite differences with step 1e-6 stay accurate.
Ternaries and branches bring kinks that are hit only by accident.

Heads also use heap temporaries (malloc/calloc with sizeof in any order,
casts, free), index increments inside statements (`w[k++] = ...`,
`y[--k]`), bool flags read by the next trip's branch, an unsigned
generator state whose bits pick the elements read and the branch taken
(unsigned counters, `>>`, `&`, `^`, `%`), memcpy/memset of a local
array, a two-index loop left with continue, pointer offsets as
actual arguments (`h(y + 1, ...)`,
`h(&w[2], ...)`) and local pointers walking an array (`xp = &x[1]; xp +=
1; *(xp + 1)`).  About a third end with a call of a helper whose
straight-line intermediates its adjoint reads (exit_values: in split mode
runs of pushes and pops, grouped into records by the C back end).

With structs (the default; ADTOOL_C_RANDOM_STRUCTS=0 turns them off) a
program may define `typedef struct { double a; double v[3]; int k; } PFX_rec`
and functions taking it by value (sometimes overwriting that copy and a
by-value scalar), by pointer (updating its members) and as an array of
structs; the head fills local structs and arrays of them from
its inputs, copies them whole and reads their members back.

    python tests/cprogen.py SEED [--prefix p001_]   # a standalone program
"""
from __future__ import annotations

import random
import sys
from dataclasses import dataclass, field

N = 5


@dataclass
class Program:
    prefix: str
    head: str
    text: str                       # the functions, without main
    call: str                       # main's statements that set up and call the head
    locals_: list[str] = field(default_factory=list)


def lit(rng: random.Random, lo: float = -1.0, hi: float = 1.0) -> str:
    return f"{rng.uniform(lo, hi):.4f}"


class _Gen:
    def __init__(self, rng: random.Random, prefix: str):
        self.rng = rng
        self.p = prefix
        self.exit_helper = None     # name of the exit_values helper the head calls last
        self.rec = False            # the program defines PFX_rec and its functions
        self.inc_rng = None         # the head moves indices with k++ / --k (increments())
        self.bool_rng = None        # the head keeps a bool flag (flags())
        self.bits_rng = None        # the head picks indices from unsigned bits (bits())
        self.mem_rng = None         # the head copies and clears arrays with memcpy/memset (mem())
        self.pair_rng = None        # a two-index loop with continue (pairs())
        self.pick_rng = None        # an index set through a pointer by a call in an expression (pick())
        self.fp_rng = None          # a function-pointer parameter, two functions passed (fnptr())

    # ------------------------------------------------------------ structs

    def struct_functions(self) -> str:
        """PFX_rec and three functions: by value (sv), by pointer (sp), an
        array of them (sa).  Members stay in [-2, 2] like every value."""
        p, rng = self.p, self.rng
        st = "static " if rng.random() < 0.3 else ""
        out = [f"typedef struct {{\n    double a;\n    double v[3];\n    int k;\n}} {p}rec;\n",
               f"{st}double {p}sv({p}rec q, double c)\n{{\n" + self.copy_updates() +
               f"    return {self.expr(['q.a', 'q.v[q.k]', 'q.v[0]', 'c'], 2, [])};\n}}\n",
               f"void {p}sp({p}rec *q, double c)\n{{\n    int j;\n    for (j = 0; j < 3; j++)\n"
               f"        q->v[j] = {self.expr(['q->v[j]', 'q->a', 'c', '(*q).v[2]'], 2, [])};\n"
               f"    q->a = {self.expr(['q->a', 'q->v[q->k]', 'c'], 2, [])};\n}}\n",
               f"double {p}sa(const {p}rec *qs, int m)\n{{\n    double acc = 0.0;\n    int j;\n"
               f"    for (j = 0; j < m; j++)\n"
               f"        acc = 0.5 * acc + 0.5 * {self.expr(['qs[j].a', 'qs[j].v[1]', 'acc'], 2, [])};\n"
               f"    return acc;\n}}\n"]
        return "\n".join(out)

    def copy_updates(self) -> str:
        """sv may overwrite its by-value copies (the struct and the scalar):
        their adjoints are the callee's own, not the caller's."""
        if self.rng.random() < 0.5:
            return ""
        return (f"    q.a = {self.expr(['q.a', 'q.v[1]', 'c'], 2, [])};\n"
                f"    q.v[q.k] = 0.5 * (q.v[q.k] + q.a);\n"
                f"    c = {self.expr(['c', 'q.a'], 1, [])};\n")

    def struct_block(self, funcs: list[str]) -> list[str]:
        """Local structs in the head: filled, updated through a pointer,
        copied whole, passed by value and as an array, read back."""
        p, rng = self.p, self.rng
        lines = ["    {", f"        {p}rec rs[2], r1;", "        int j;",
                 "        for (j = 0; j < 2; j++) {",
                 f"            rs[j].a = {self.expr(['x[j]', 't1', 'y[j + 1]'], 2, funcs)};",
                 f"            rs[j].k = {rng.choice(['j + 1', '2 - j', '1'])};"]
        for m in range(3):
            lines.append(f"            rs[j].v[{m}] = {self.expr(['x[j + 1]', 'w[j]', 't2', 'rs[j].a'], 2, [])};")
        lines.append("        }")
        for _ in range(rng.randrange(1, 4)):
            k = rng.randrange(5)
            if k == 0:
                lines.append(f"        {p}sp(&rs[{rng.randrange(2)}], {rng.choice(['t1', 't2', 's'])});")
            elif k == 1:
                lines.append(f"        r1 = rs[{rng.randrange(2)}];")
                lines.append(f"        r1.a = {self.expr(['r1.a', 'r1.v[0]', 't1'], 2, [])};")
                lines.append(f"        t1 = 0.5 * (t1 + {p}sv(r1, {rng.choice(['t2', 's'])}));")
                lines.append(f"        t2 = 0.5 * (t2 + r1.{rng.choice(['a', 'v[0]', 'v[2]'])});")
            elif k == 2:
                lines.append(f"        t2 = {self.expr([f'{p}sa(rs, 2)', 't2'], 1, [])};")
            elif k == 3:
                lines.append(f"        y[{rng.randrange(N)}] = 0.5 * (y[{rng.randrange(N)}] + "
                             f"rs[{rng.randrange(2)}].v[rs[{rng.randrange(2)}].k]);")
            else:
                lines.append(f"        {p}sp(&rs[1], rs[0].a);")
                lines.append(f"        t1 = {self.expr(['rs[1].a', 'rs[0].v[2]', 't1'], 2, [])};")
        lines.append(f"        t2 = 0.5 * (t2 + {self.expr(['rs[0].a', 'rs[1].v[1]', 't2'], 2, [])});")
        lines.append("    }")
        return lines

    # ------------------------------------------------------------ expressions

    def expr(self, leaves: list[str], depth: int, funcs: list[str]) -> str:
        rng = self.rng
        if depth <= 0 or rng.random() < 0.25:
            if rng.random() < 0.15:
                return lit(rng)
            return rng.choice(leaves)
        k = rng.randrange(14)
        a = self.expr(leaves, depth - 1, funcs)
        if k == 0:
            return f"sin({a})"
        if k == 1:
            return f"cos({a})"
        if k == 2:
            return f"tanh({a})"
        if k == 3:
            return f"({a}) / (1.0 + ({a}) * ({a}))"
        if k == 4:
            return f"log(2.0 + 0.5 * ({a}))"
        if k == 5:
            return f"0.5 * pow(1.5 + 0.25 * ({a}), 1.3)"
        if k == 6:
            return f"exp(-0.5 * ({a}) * ({a}))"
        if k == 7:
            return f"0.5 * sqrt(1.0 + ({a}) * ({a}))"
        if k == 8 and funcs:
            f = rng.choice(funcs)
            b = self.expr(leaves, depth - 1, [])
            return f"{f}({a}, {b}, xs)" if "xs" in leaves_arrays(leaves) else f"{f}({a}, {b}, x)"
        b = self.expr(leaves, depth - 1, funcs)
        if k in (8, 9):
            return f"0.5 * ({a} + {b})"
        if k == 10:
            return f"0.5 * ({a} - {b})"
        if k == 11:
            return f"0.25 * ({a}) * ({b})"
        if k == 12:
            return f"({a}) / (2.5 + 0.5 * ({b}))"
        return f"(({a}) > ({b}) ? ({a}) : 0.5 * ({b}))"

    # ------------------------------------------------------------ functions

    def function(self, name: str) -> str:
        """double f(double u, double v, const double *xs): bounded in [-2, 2]."""
        leaves = ["u", "v", "xs[0]", f"xs[{self.rng.randrange(N)}]"]
        body = [f"    double t = {self.expr(leaves, 2, [])};"]
        if self.rng.random() < 0.5:
            body.append("    if (u > v)")
            body.append(f"        return 0.5 * (t + {self.expr(leaves + ['t'], 2, [])});")
        body.append(f"    return {self.expr(leaves + ['t'], 2, [])};")
        return f"double {name}(double u, double v, const double *xs)\n{{\n" + "\n".join(body) + "\n}\n"

    def helper(self, name: str, static: bool) -> str:
        """void h(double *a, double c, double *out, int n): updates a and *out."""
        leaves = ["a[i]", "c", "*out"]
        e = self.expr(leaves, 2, [])
        lines = [f"{'static ' if static else ''}void {name}(double *a, double c, double *out, int n)", "{",
                 "    int i;", "    for (i = 0; i < n; i++) {",
                 f"        a[i] = {e};",
                 "    }",
                 f"    *out = 0.5 * (*out) + 0.25 * {self.expr(['a[0]', 'a[n - 1]', 'c'], 2, [])};",
                 "}", ""]
        return "\n".join(lines)

    def exit_values(self, name: str) -> str:
        """void g(const double *a, double c, double *out): straight-line
        intermediates (two scalars and a small array) that its adjoint reads.
        Split, g_fwd leaves them on the stack at its end and g_bwd takes them
        back first: runs of pushes and of pops, which the C back end groups
        into records (backend/c_records.py)."""
        e1 = self.expr(["a[0]", "a[1]", "c"], 2, [])
        e2 = self.expr(["p", "a[2]", "c"], 2, [])
        e3 = self.expr(["q", "a[3]", "p"], 2, [])
        # a is read at constant subscripts only: its extent is stated
        lines = ["// $AD EXTENT a 4", f"static void {name}(const double *a, double c, double *out)", "{",
                 f"    double p = {e1};", f"    double q = {e2};", "    double m[2];",
                 "    m[0] = 0.25 * p * q;", f"    m[1] = {e3};",
                 "    *out = 0.5 * (*out) + 0.25 * (0.5 * m[0] * m[1] + 0.25 * p * q);", "}", ""]
        return "\n".join(lines)

    def increments(self, funcs: list[str]) -> list[str]:
        """Index variables moved inside expression statements (`w[k++] =
        e`, `t2 += y[--k] * e`), from a stream of their own."""
        main, self.rng = self.rng, self.inc_rng
        try:
            if self.rng.random() < 0.5:
                return ["    k = 0;", "    for (i = 0; i < n; i++)",
                        f"        w[k++] = {self.expr(['x[i]', 'w[i]', 't1'], 2, funcs)};"]
            self.extent_y = True      # y[--k]: adtool cannot infer y's extent from it
            return ["    k = n;", "    for (i = 0; i < n; i++)",
                    f"        t2 = 0.5 * t2 + 0.25 * y[--k] * {self.expr(['x[i]', 't1'], 1, [])};"]
        finally:
            self.rng = main

    def flags(self, funcs: list[str]) -> list[str]:
        """A bool flag overwritten every trip and read by the next one's
        branch: the adjoint records it (ad_push_bool), from a stream of its
        own."""
        main, self.rng = self.rng, self.bool_rng
        try:
            cut = lit(self.rng, -0.5, 0.5)
            return ["    {", f"        bool up = {self.rng.choice(['true', 'false', 't1 > 0.0'])};",
                    "        for (i = 0; i < n; i++) {",
                    f"            t2 = 0.5 * t2 + (up ? {self.expr(['x[i]', 't1'], 1, funcs)}"
                    f" : {self.expr(['y[i]', 't2'], 1, [])});",
                    f"            up = x[i] > {cut};", "        }", "    }"]
        finally:
            self.rng = main

    def bits(self, funcs: list[str]) -> list[str]:
        """An unsigned generator state stepped every trip of an unsigned
        counter; its bits choose the element read (an index the adjoint
        must record: it is overwritten every trip) and the branch."""
        main, self.rng = self.rng, self.bits_rng
        self.extent_y = True          # y[m]: adtool cannot infer y's extent from it
        try:
            state = self.rng.choice(["unsigned int", "uint32_t", "uint64_t", "unsigned long"])
            step = self.rng.choice(["h = h * 1664525u + 1013904223u;", "h ^= h << 13; h ^= h >> 17; h ^= h << 5;"])
            pick = self.rng.choice(["(unsigned int)(h >> 7) % (unsigned int)n",
                                    "(unsigned int)(h & 3u)", "(unsigned int)((h >> 3) ^ j) % 5u"])
            return ["    {", f"        {state} h = {self.rng.randrange(1, 2**31)}u;",
                    "        for (unsigned int j = 0; j < (unsigned int)n; j++) {",
                    f"            {step}", f"            unsigned int m = {pick};",
                    f"            t1 = 0.5 * t1 + 0.25 * x[m] * {self.expr(['w[j]', 't2', 'y[m]'], 1, funcs)};",
                    "            if ((h >> 4) & 1u)",
                    f"                t2 = 0.5 * t2 + 0.25 * {self.expr(['y[m]', 't1'], 1, [])};",
                    "        }", "    }"]
        finally:
            self.rng = main

    def mem(self) -> list[str]:
        """memcpy and memset of the local array w (whole, by count *
        sizeof, at an offset), from a stream of their own."""
        main, self.rng = self.rng, self.mem_rng
        try:
            out = [self.rng.choice(["    memcpy(w, y, n * sizeof(double));", "    memcpy(w, x, sizeof w);",
                                    "    memcpy(&w[1], y + 2, 2 * sizeof w[0]);"])]
            if self.rng.random() < 0.5:
                out.append(self.rng.choice(["    memset(&w[3], 0, sizeof(double));",
                                            "    memset(w + 2, 0, 2 * sizeof *w);"]))
            out += ["    for (i = 0; i < n; i++)",
                    f"        t2 = 0.5 * t2 + 0.25 * {self.expr(['w[i]', 't1'], 1, [])};"]
            return out
        finally:
            self.rng = main

    def pairs(self, funcs: list[str]) -> list[str]:
        """`for (i = 0, j = n - 1; i < j; i++, j--)`, not a counted loop,
        left early with continue (which must run the increment first)."""
        main, self.rng = self.rng, self.pair_rng
        self.extent_y = True          # y[i] of a while loop: adtool cannot infer y's extent
        try:
            return ["    {", "        int j;", "        for (i = 0, j = n - 1; i < j; i++, j--) {",
                    f"            if ({self.rng.choice(['x[i]', 'y[j]', 't1'])} > {lit(self.rng, -0.5, 0.5)})",
                    "                continue;",
                    f"            t1 = 0.5 * t1 + 0.25 * {self.expr(['x[j]', 'y[i]', 't2'], 2, funcs)};",
                    "        }", "    }"]
        finally:
            self.rng = main

    def pick_function(self) -> str:
        """PFX_pick: the index of the largest (or smallest) element, stored
        through a pointer, and a value of it returned."""
        main, self.rng = self.rng, self.pick_rng
        try:
            cmp = self.rng.choice([">", "<"])
            return ("// $AD EXTENT u m\n"       # u[b]: adtool cannot infer u's extent from it
                    f"double {self.p}pick(const double *u, int m, double t, int *where)\n{{\n"
                    "    int j, b = 0;\n    for (j = 1; j < m; j++)\n"
                    f"        if (u[j] {cmp} u[b])\n            b = j;\n    *where = b;\n"
                    f"    return {self.expr(['u[b]', 't', 'u[0]'], 2, [])};\n}}\n")
        finally:
            self.rng = main

    def pick(self, funcs: list[str]) -> list[str]:
        """`t1 = ... + pick(w, n, x[i], &at)`: an int the call sets inside an
        expression, read by the next statements and changing every trip (the
        adjoint must record it per trip: it used the last trip's value)."""
        main, self.rng = self.rng, self.pick_rng
        self.extent_y = True          # y[at]: adtool cannot infer y's extent from it
        try:
            return ["    {", "        int at;          /* set by the call before any use */", "        for (i = 0; i < n; i++) {",
                    f"            t1 = 0.5 * t1 + 0.25 * {self.p}pick(w, n, x[i], &at);",
                    f"            t2 = 0.5 * t2 + 0.25 * y[at] * {self.expr(['x[i]', 't1'], 1, funcs)};",
                    f"            w[at] = 0.5 * w[at] + {lit(self.rng, 0.1, 0.4)} * x[i];",
                    "        }", "    }"]
        finally:
            self.rng = main

    def fnptr_functions(self) -> str:
        """PFX_map(double (*g)(double, double), ...) applying g to each
        element, passing it on to PFX_one, and two functions for g: the
        front end specialises PFX_map per function (frontend/specialize.py)."""
        main, self.rng = self.rng, self.fp_rng
        p = self.p
        try:
            return (f"static double {p}ga(double u, double c)\n{{\n    return {self.expr(['u', 'c'], 2, [])};\n}}\n"
                    f"static double {p}gb(double u, double c)\n{{\n    return {self.expr(['u', 'c'], 2, [])};\n}}\n"
                    f"static double {p}one(double (*g)(double, double), double u, double c)\n{{\n"
                    f"    return 0.5 * g(u, c) + 0.25 * u;\n}}\n"
                    f"static void {p}map(double (*g)(double, double), double *a, double c, int n)\n{{\n"
                    "    int i;\n    for (i = 0; i < n; i++)\n"
                    f"        a[i] = 0.5 * a[i] + 0.5 * {p}one(g, a[i], c);\n}}\n")
        finally:
            self.rng = main

    def fnptr(self) -> list[str]:
        main, self.rng = self.rng, self.fp_rng
        try:
            first, second = self.rng.sample([f"{self.p}ga", f"&{self.p}gb", f"{self.p}gb"], 2)
            return [f"    {self.p}map({first}, w, {self.rng.choice(['t1', 't2', 's'])}, n);",
                    f"    {self.p}map({second}, y, {self.rng.choice(['t1', 't2', 's'])}, n);"]
        finally:
            self.rng = main

    def head(self, funcs: list[str], helpers: list[str]) -> str:
        rng = self.rng
        scal = ["t1", "t2", "s"]
        lines = ["    double t1, t2, w[5];", "    int i, k;",
                 "    for (i = 0; i < 5; i++)      /* gcc cannot see w[i < n] fill all of w */",
                 "        w[i] = 0.0;",
                 f"    t1 = {self.expr(['x[0]', 's', 'x[n - 1]'], 2, funcs)};",
                 f"    t2 = {self.expr(['t1', 's', 'y[1]'], 2, [])};",
                 "    for (i = 0; i < n; i++)",
                 f"        w[i] = {self.expr(['x[i]', 't1', 'y[i]'], 2, funcs)};"]
        nheap = 0
        used_rec = False
        for _ in range(rng.randrange(2, 6)):
            kind = rng.randrange(10)
            if kind == 7:
                # a heap temporary: malloc, filled, read, freed
                hp = f"hp{nheap}"
                nheap += 1
                size = rng.choice(["n * sizeof(double)", "sizeof(double) * n", f"n * sizeof *{hp}"])
                alloc = f"malloc({size})" if rng.random() < 0.7 else "calloc(n, sizeof(double))"
                lines += [f"    double *{hp} = {'(double *)' if rng.random() < 0.3 else ''}{alloc};",
                          "    for (i = 0; i < n; i++)",
                          f"        {hp}[i] = {self.expr(['x[i]', 'w[i]', 't1'], 2, funcs)};",
                          "    for (i = 0; i < n; i++)",
                          f"        y[i] = 0.5 * (y[i] + {self.expr([f'{hp}[i]', 'y[i]', 't2'], 2, [])});",
                          "    for (i = 0; i < n; i++)      /* (hp[k] outside a loop: gcc -Wmaybe-uninitialized) */",
                          f"        t2 = 0.5 * t2 + 0.25 * {hp}[i];",
                          f"    free({hp});"]
                continue
            if kind == 8 and helpers:
                # a pointer offset as the actual argument
                h = rng.choice(helpers)
                arr = rng.choice(["y", "w"])
                off = rng.randrange(1, 3)
                actual = f"{arr} + {off}" if rng.random() < 0.5 else f"&{arr}[{off}]"
                lines.append(f"    {h}({actual}, {rng.choice(scal)}, &{rng.choice(['t1', 't2'])}, n - {off});")
                continue
            if self.rec and rng.random() < 0.25:
                lines += self.struct_block(funcs)
                used_rec = True
                continue
            if kind == 9:
                # a local pointer into an array, walked
                lines += ["    {",
                          f"        const double *xp = &x[{rng.randrange(2)}];",
                          "        xp += 1;",
                          f"        t1 = {self.expr(['xp[0]', '*(xp + 1)', 't1', 't2'], 2, [])};",
                          "    }"]
                continue
            kind = kind % 7
            if kind == 0:
                lines += ["    for (i = 0; i < n; i++)",
                          f"        y[i] = {self.expr(['x[i]', 'y[i]', 'w[i]'] + scal, 3, funcs)};"]
            elif kind == 1:
                v = rng.choice(["t1", "t2"])
                lines.append(f"    {v} = {self.expr(['x[2]', 'w[1]', 'y[0]'] + scal, 3, funcs)};")
            elif kind == 2 and helpers:
                h = rng.choice(helpers)
                arr = rng.choice(["y", "w"])
                lines.append(f"    {h}({arr}, {rng.choice(scal)}, &{rng.choice(['t1', 't2'])}, n);")
            elif kind == 3:
                lines += [f"    if ({rng.choice(['x[0]', 't1', 'y[2]'])} > {lit(rng, -0.5, 0.5)}) {{",
                          f"        t2 = {self.expr(['t1', 'x[1]', 's'], 2, funcs)};",
                          "    } else {",
                          f"        t2 = {self.expr(['t2', 'y[3]', 's'], 2, [])};", "    }"]
            elif kind == 4:
                lines += ["    k = 0;", "    do {",
                          f"        t1 = {self.expr(['t1', 'x[k]', 'w[k]'], 2, [])};",
                          "        k++;", f"    }} while (k < {rng.randrange(1, 4)});"]
            elif kind == 5:
                lines += ["    for (i = n - 1; i >= 1; i--)",
                          f"        w[i] = {self.expr(['w[i - 1]', 'w[i]', 't2'], 2, [])};"]
            else:
                op = rng.choice(["+=", "-=", "*="])
                rhs = f"0.5 * {self.expr(['t1', 'y[4]'], 2, [])}" if op != "*=" else \
                    f"(0.75 + 0.1 * {self.expr(['t1', 'y[4]'], 1, [])})"
                lines.append(f"    t2 = 0.5 * t2;")
                lines.append(f"    t2 {op} {rhs};")
        if self.rec and not used_rec:
            lines += self.struct_block(funcs)
        if self.inc_rng is not None:
            lines += self.increments(funcs)
        if self.bool_rng is not None:
            lines += self.flags(funcs)
        if self.bits_rng is not None:
            lines += self.bits(funcs)
        if self.mem_rng is not None:
            lines += self.mem()
        if self.pair_rng is not None:
            lines += self.pairs(funcs)
        if self.pick_rng is not None:
            lines += self.pick(funcs)
        if self.fp_rng is not None:
            lines += self.fnptr()
        if self.exit_helper:
            lines.append(f"    {self.exit_helper}(&{self.exit_array}[1], {self.exit_scalar}, &t2);")
        lines += ["    for (i = 0; i < n; i++)",
                  f"        y[i] = 0.5 * (y[i] + {self.expr(['w[i]', 't1', 't2', 'x[i]'], 2, funcs)});",
                  f"    *r = {self.expr(['t1', 't2', 'y[0]', 'w[2]', 's'], 3, funcs)};"]
        extent = "// $AD EXTENT y n\n" if getattr(self, "extent_y", False) else ""
        return (f"{extent}void {self.p}head(double *x, double *y, double s, double *r, int n)\n{{\n"
                + "\n".join(lines) + "\n}\n")


def leaves_arrays(leaves: list[str]) -> str:
    return " ".join(leaves)


def generate(seed: int, prefix: str = "p000_", structs: bool | None = None) -> Program:
    """structs: None reads ADTOOL_C_RANDOM_STRUCTS (on unless "0")."""
    import os
    if structs is None:
        structs = os.environ.get("ADTOOL_C_RANDOM_STRUCTS", "1") != "0"
    rng = random.Random(seed)
    g = _Gen(rng, prefix)
    funcs = [f"{prefix}f{k}" for k in range(rng.randrange(0, 3))]
    helpers = [f"{prefix}h{k}" for k in range(rng.randrange(0, 3))]
    parts = []
    if structs:
        # a random stream of its own, so that the programs without structs
        # stay what they were for the same seed
        sub = random.Random(seed * 7919 + 1)
        if sub.random() < 0.6:
            g.rec = True
            g.rng = sub
            parts.append(g.struct_functions())
            g.rng = rng
    # the exit_values helper in about a third of the programs, from its own
    # stream too (the programs without it stay what they were)
    sub = random.Random(seed * 7919 + 2)
    if sub.random() < 0.35:
        g.rng = sub
        g.exit_helper = f"{prefix}g"
        g.exit_array, g.exit_scalar = sub.choice(["x", "y"]), sub.choice(["t1", "s"])
        parts.append(g.exit_values(g.exit_helper))
        g.rng = rng
    # increments inside expression statements in about 40% of the heads
    sub = random.Random(seed * 7919 + 3)
    if sub.random() < 0.4:
        g.inc_rng = sub
    sub = random.Random(seed * 7919 + 4)     # a bool flag in about 30%
    if sub.random() < 0.3:
        g.bool_rng = sub
    sub = random.Random(seed * 7919 + 5)     # unsigned bits in about 30%
    if sub.random() < 0.3:
        g.bits_rng = sub
    sub = random.Random(seed * 7919 + 6)     # memcpy/memset in about 25%
    if sub.random() < 0.25:
        g.mem_rng = sub
    sub = random.Random(seed * 7919 + 7)     # a two-index loop with continue in about 25%
    if sub.random() < 0.25:
        g.pair_rng = sub
    sub = random.Random(seed * 7919 + 8)     # an index set by a call in an expression in about 30%
    if sub.random() < 0.3:
        g.pick_rng = sub
        parts.append(g.pick_function())
    sub = random.Random(seed * 7919 + 9)     # a function-pointer parameter in about 25%
    if sub.random() < 0.25:
        g.fp_rng = sub
        parts.append(g.fnptr_functions())
    parts += [g.function(f) for f in funcs]
    parts += [g.helper(h, static=rng.random() < 0.3) for h in helpers]
    parts.append(g.head(funcs, helpers))
    xs = ", ".join(lit(rng) for _ in range(N))
    ys = ", ".join(lit(rng) for _ in range(N))
    v = prefix.rstrip("_")
    call = [f"    double {v}x[5] = {{{xs}}}, {v}y[5] = {{{ys}}}, {v}r = 0.0;",
            f"    {prefix}head({v}x, {v}y, {lit(rng)}, &{v}r, 5);",
            f'    printf("%.15e %.15e\\n", {v}r, {v}y[2]);']
    return Program(prefix, prefix + "head", "\n".join(parts), "\n".join(call))


def source(programs: list[Program]) -> str:
    out = ["#include <stdio.h>", "#include <stdlib.h>", "#include <string.h>", "#include <stdbool.h>",
           "#include <stdint.h>",
           "#include <math.h>", ""]
    out += [p.text for p in programs]
    out += ["int main(void)", "{"]
    out += [p.call for p in programs]
    out += ["    return 0;", "}", ""]
    return "\n".join(out)


if __name__ == "__main__":
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    prefix = sys.argv[sys.argv.index("--prefix") + 1] if "--prefix" in sys.argv else "p000_"
    sys.stdout.write(source([generate(seed, prefix)]))
