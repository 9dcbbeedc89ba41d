"""Seeded generator of small, valid, deterministic Fortran 90 programs for
differential testing of adtool (tests/test_random_programs.py).

A *program* is a prefix-named group of 1-4 external routines: 0-3 helpers
(subroutines with intent(in)/inout/out arguments, real(8) functions) and a
head subroutine taking real(8) scalars and 1-D arrays of a fixed size n (a
PARAMETER or an integer argument) and writing real(8) outputs.  Many programs
with distinct prefixes (p001_, p002_, ...) can share one source file.

Values stay bounded by construction: every real variable holds a value in
[-VB, VB] at every point of the run, and every assignment is a map of the
state that is at most LMAX-Lipschitz in the max norm.  The expression
generator carries, for each expression, an upper bound of its magnitude and
of the sum of its partial derivatives (both valid whenever all variables are
in [-VB, VB]); an assignment whose right side could leave those limits is
multiplied by a constant that brings it back.  So nothing overflows, no
intrinsic is evaluated outside its smooth domain (sqrt, log, ** with real
exponents get positive arguments bounded away from 0, division is by
quantities bounded away from 0), non-smooth intrinsics (abs, sign, min, max,
mod, int) are placed so that kinks are only hit by accident, and the
derivative of the whole program stays moderate (finite differences with a
step of 1e-6 stay accurate to ~1e-8).

    python tests/progen.py SEED [--prefix p001_]   # a standalone program
"""
from __future__ import annotations

import math
import random
import re
import sys
from dataclasses import dataclass, field
from typing import Optional

VB = 2.0        # bound on every real variable
LMAX = 1.0      # Lipschitz bound (max norm) of every assignment
MAXLINE = 100   # wrap generated lines longer than this


# ----------------------------------------------------------------------------
# numbers


def lit(c: float) -> str:
    """A real(8) literal."""
    if c == 0:
        return "0.0d0"
    if 1e-3 <= abs(c) < 1e4:
        s = f"{c:.6f}".rstrip("0")
        if s.endswith("."):
            s += "0"
        return s + "d0"
    m, e = f"{c:.4e}".split("e")
    return f"{m}d{int(e)}"


def round_down(f: float) -> float:
    """A short decimal in (0, f]."""
    if f >= 1:
        return 1.0
    e = math.floor(math.log10(f))
    m = math.floor(f / 10 ** e * 10) / 10          # two significant digits
    return float(f"{m:.1f}e{e}")


# ----------------------------------------------------------------------------
# expressions


@dataclass
class E:
    text: str
    b: float                 # |value| <= b
    l: float                 # sum of |partials| <= l (Lipschitz, max norm)
    names: frozenset = frozenset()   # variables referenced (for aliasing checks)
    atom: bool = False       # needs no parentheses as an operand
    arr: bool = False        # array-valued

    def p(self) -> str:
        return self.text if self.atom else f"({self.text})"

    def q(self) -> str:
        """Text that may follow a binary operator."""
        return f"({self.text})" if self.text.startswith("-") else self.text


def _n(*es) -> frozenset:
    out = frozenset()
    for e in es:
        out |= e.names
    return out


@dataclass
class Var:
    name: str
    kind: str                # "real" | "int" | "char" | "rec" (a record of the program's type)
    rank: int = 0
    intent: Optional[str] = None   # in | out | inout | None (local) | "result"

    @property
    def writable(self) -> bool:
        return self.intent not in ("in", "gin")    # gin: a COMMON variable a function reads


@dataclass
class Sig:
    """A generated routine's interface, as its callers see it."""
    name: str
    kind: str                        # "subroutine" | "function"
    args: list                       # [Var]; the int arg "n" has kind "int" and name "n"
    nmode: str                       # "param" | "arg"
    writes_globals: bool = False     # may write the program's COMMON block


_WORDS = ["fast", "slow", "mid "]      # values of the len=4 character variables


def _unconnected(a: Var) -> bool:
    """Head arguments q1 (output) and qx (input) only meet through inquiry
    intrinsics: no derivative connects them to anything."""
    return a.name in ("q1", "qx")


def anchor(sig: Sig) -> Var:
    return next(a for a in sig.args if a.kind == "real" and a.rank == 0 and a.intent == "in")


@dataclass
class LoopVar:
    name: str
    lo: int
    hi: int


# Sections of a 1-D array of size n: (text with n symbolic, element count).
def sections(n: int) -> list[tuple[str, int]]:
    s = [(":", n), ("1:n", n), ("n:1:-1", n), ("2:n", n - 1), ("1:n-1", n - 1),
         ("n-1:1:-1", n - 1), ("2:n-1", n - 2), ("3:n", n - 2), ("1:n-2", n - 2),
         ("1:n:2", (n + 1) // 2), ("2:n:2", n // 2), ("n:1:-2", (n + 1) // 2),
         ("n-1:1:-2", n // 2), ("2:4", 3), ("1:3", 3), ("n-2:n", 3)]
    return [x for x in s if x[1] >= 1]


class Features:
    """Which constructs the generator may use (all on by default).  A
    construct that exposes an adtool bug is switched off here, with a
    comment naming the bug, so that the suite stays green."""

    def __init__(self, **kw):
        self.while_loops = True
        self.exit_cycle = True
        self.sections = True
        self.overlapping_sections = True
        self.function_calls = True
        self.subroutine_calls = True
        self.calls_in_loops = True
        self.int_from_real = True
        self.nonsmooth = True
        self.var_exponent = True
        self.reductions = True
        self.expr_actuals = True
        self.func_in_conditions = True
        self.element_actuals = True
        self.result_clause = True
        self.select_case = True
        self.logical_if = True          # one-line "if (c) stmt"
        self.logicals = True            # passive logical locals
        self.gotos = True               # forward GOTO within a block
        self.goto_out_of_loops = True   # forward GOTO from inside a DO loop past its end
        self.where = True               # WHERE / ELSEWHERE masked by the assigned array
        self.returns = True             # RETURN before the end
        self.named_loops = True         # exit/cycle of an outer loop by name
        self.section_actuals = True     # a(n:1:-1), a(1:n) as array actuals
        self.commons = True             # a COMMON block shared by some routines
        # Constructs that exposed adtool bugs (each kept as a regression case
        # in fixtures/random/); switch one off here, with a comment naming the
        # bug, when a new bug needs to be kept out of the suite.
        #
        # Fixed in 509c566: a call of a routine that is passive at the call site
        # (no active input reaches its outputs) does not reset the
        # derivatives of the active variables it overwrites, in tangent and
        # reverse mode, for subroutine calls and for function results alike
        # (fixtures/random/passive_call_overwrite.f90,
        # passive_function_overwrite.f90).  While this is False every call
        # is active by construction: each helper's outputs end with a
        # direct dependence on its *anchor* (first real scalar intent(in)
        # argument), and every call passes the anchor an expression that
        # references a varied value of the caller (the head's intent(in)
        # arguments, a helper's own anchor).
        self.passive_calls = True
        # Fixed in 509c566: reverse mode of SUM over an array expression with a
        # scalar term that is not multiplied by an array, e.g. sum(x + a):
        # adtool emits "xb = xb + sum(yb)" with yb scalar (does not compile;
        # should be size(a) * yb) - fixtures/random/sum_scalar_broadcast.f90.
        # Fixed in 138ec7f: the same in tangent mode when the array part is
        # passive: y = sum(x + w) with w passive gives "yd = sum(xd)";
        # maxval/minval give "sum(xd, mask=...)", dot_product(x + w, w)
        # gives "dot_product(xd, w)" - none compiles
        # (fixtures/random/tangent_reduction_passive_array.f90).
        # While False, the arguments of reductions are built from array
        # sections and constants only (no scalar variables).
        self.scalar_in_reduction = True
        # Fixed in beb7a8f: y = f(y), a function result assigned directly to a
        # scalar that is also a plain actual argument of the call: the
        # derivative call aliases argument and result (f_d(y, yd, y, yd),
        # f_b(y, yb, yb), f_fwd(y, y)) - see
        # fixtures/random/function_result_aliases_argument.f90.  While
        # False such a right side is written 1.0d0 * f(y).
        self.result_aliases_arg = True
        # Fixed in 138ec7f: an array-valued expression passed as an actual
        # argument (call s(3, a(2:4) * x, y)) goes through an allocatable
        # temporary ad_argN whose adjoint ad_argNb is never allocated nor
        # zeroed before "call s_b(..., ad_argN, ad_argNb, ...)" (runtime
        # error "Allocatable actual argument 'ad_arg1b' is not allocated"
        # with -fcheck=all, memory corruption without) -
        # fixtures/random/array_expression_actual.f90.
        self.array_expr_actuals = True
        # Fixed in b5a62d3: an array passed to two array arguments of one
        # call, one of them as a section that goes through copy-in/copy-out
        # (call s(x(4:1:-1), x, y)): the adjoint call aliases the adjoints,
        # s_b(x(4:1:-1), xb(4:1:-1), x, xb, y, yb), and the copy-out of the
        # section loses what was accumulated through xb
        # (fixtures/random/aliased_section_adjoints.f90).  While False, an
        # array is passed as a section only if no other actual of the call
        # mentions it.
        self.aliased_sections = True
        # Fixed after 8b67fce: split mode, a routine called with different
        # actuals for an intent(in) argument: its _fwd pushes the argument
        # and its _bwd popped it straight into the dummy, i.e. into the
        # caller's actual - SIGSEGV when that is a literal (an integer
        # m = 3, or the head's n passed as 5 by the driver)
        # (fixtures/random/split_bwd_pops_into_argument.f90).  While False,
        # no helper takes an integer argument besides n (integer actuals
        # are the ones passed without a temporary).
        self.int_args = True
        # Issue 9's bug classes, as shapes the generator produces:
        # (b) a helper that changes an integer argument kk (intent(inout))
        # given in the same call as an element actual indexed by it,
        # call s(a(k1), ..., k1): the subscript must be evaluated once, at
        # the call (fixtures/fortran/moving_subscript.f90);
        self.moving_index = True
        # local arrays declared allocatable (allocated at entry): whole-array
        # assignments then reallocate, a scalar one broadcasts
        # (fixtures/random/allocatable_whole_updates.f90).  Seed 4005
        # (p085_) had a split f_bwd pop into w1(k2) with the local k2 never
        # restored; fixed: the index of a pop is needed too, in joint mode
        # as well (fixtures/random/split_bwd_pop_index.f90).
        self.allocatable_locals = True
        # (a) a helper that branches on a character argument md, which the
        # caller changes after the call: a joint call's snapshot must hold
        # it (fixtures/fortran/snapshot_nonreal.f90);
        self.char_modes = True
        # (a) through globals: an integer gi in the COMMON block that
        # helpers read (deeper in the call tree too) and callers change
        # after calls
        self.global_ints = True
        # (b) nested: a local permutation ix used in subscripts, a(ix(k1))
        # given with k1 to a helper that changes k1
        self.index_arrays = True
        # whole vector subscripts of active arrays in array expressions,
        # a(ix): the adjoint scatters the seed element by element (its
        # sum, before the fix: tests/test_derivatives vector_subscripts)
        self.vector_subscripts = True
        # (d) "external s1" statements for the subroutines a routine calls:
        # the adjoint must not type them (real(4), external :: s1)
        self.external_stmts = True
        # (c) head outputs that depend on no input (inquiry intrinsics only)
        # and an independent read only by inquiry intrinsics: the head's
        # signature must still follow its spec, and the check driver passes
        # every derivative argument the spec names
        # (fixtures/fortran/head_spec_signature.f90).
        self.unconnected = True
        # Derived types: a module per program defines a record type with a
        # real scalar, a real array, an integer component and a nested
        # record (rc%in%x); routines get
        # record locals and helpers an intent(inout) record argument, whose
        # components the generator uses like any variable.
        self.records = True
        # A record-valued module function applied to a record it overwrites,
        # `rc = <prefix>rstep(rc, a)` after about one scalar assignment in
        # five of a routine with records (the result and an argument share
        # rc, so adtool goes through a temporary and copies it back: that
        # copy was not differentiated, fixtures/fortran/record_alias.f90).
        # Drawn from a generator of its own: the rest of each program is the
        # same with it on or off.
        self.record_functions = True
        # Two real intent(in) arguments of a call given elements of one
        # array that may be the same element, `f(x(i), x(1))`, in about 15%
        # of the calls that have two such arguments (a stream of its own):
        # the adjoint call must not get xb(i) and xb(1) as two dummies
        # (fixtures/fortran/alias_elements.f90; visible with the derivatives
        # built at -O1, where gfortran keeps one of two aliased updates).
        self.aliased_elements = True
        # Issue 9, section 2: the head also calls, through a module
        # <prefix>mod, a subroutine with OPTIONAL arguments (present or
        # omitted, positionally or by keyword) and a generic name over a
        # scalar and an array specific (fixtures/fortran/optional_args.f90,
        # generic_interface.f90).  Drawn from a generator of its own, so the
        # rest of each program is the same with these on or off.
        self.optional_args = True
        self.generic_iface = True
        # Issue 9, section 2: array intrinsics on active arrays inside
        # reductions - cshift/eoshift of the reduced operand, sum with
        # mask=, sum of pack, product, spread, maxval/minval with dim=
        # (fixtures/fortran/intrinsics_arrays.f90).  Their choices come from
        # a generator of their own, so with this off the programs are the
        # same as before.
        self.array_intrinsics = True
        # Small fixed-size arrays through the head's module, in about a
        # third of the programs (issue 13's snapshot rules, drawn after the
        # optional/generic calls so the rest of each program is unchanged):
        # a helper overwriting the elements
        # of v(2) one by one, each from its old value (its backward sweep
        # pops every element before reading any: split mode keeps no exit
        # value of v), one overwriting v(3) from elements it already
        # changed (the exit values are read: they must be kept), and a
        # local pv(3) of the head set before a loop and read by a helper
        # called in it (nothing writes pv between a call and its adjoint:
        # split mode takes no copy of it).
        self.small_vectors = True
        # With small_vectors: a helper whose allocatable local has bounds
        # 0:n-1 and is assigned a whole-array value (`u = c*a`: no
        # reallocation, the bounds stay), and one assigned a(iv).  Whole
        # allocatable assignments were emitted as deallocate +
        # allocate(source=), which gave u the value's bounds 1:n (0:n-1
        # for a vector-subscripted value, from gfortran): u(0) read the
        # wrong element, silently (fixture alloc_bounds, seed 77003006).
        self.alloc_bounds = True
        self.__dict__.update(kw)


class RoutineGen:
    """Generates the body of one routine."""

    def __init__(self, rng: random.Random, n: int, sig: Sig, callees: list[Sig],
                 feat: Features, called: set):
        self.r = rng
        self.n = n
        self.sig = sig
        self.callees = callees
        self.f = feat
        self.called = called        # names of helpers called so far (shared)
        self.vars: list[Var] = [a for a in sig.args if a.kind == "real" and not _unconnected(a)]
        self.ints: list[Var] = [a for a in sig.args if a.kind == "int" and a.name != "n"]
        # records (arguments, then locals): their components are variables
        self.records: list[str] = []
        for a in sig.args:
            if a.kind == "rec":
                self.vars += [Var(f"{a.name}%c1", "real", 0, a.intent),
                              Var(f"{a.name}%ca", "real", 1, a.intent),
                              Var(f"{a.name}%in%x", "real", 0, a.intent)]
                self.ints.append(Var(f"{a.name}%ci", "int", 0, "in"))
                self.records.append(a.name)
        # character variables (len=4) the routine may branch on or pass
        self.chars: list[str] = [a.name for a in sig.args if a.kind == "char"]
        self.char_locals: list[str] = []
        self.loopvars: list[LoopVar] = []
        self.loop_depth = 0
        self.used_loop_names: set = set()
        self.used_kw: set = set()
        self.fun_decls: set = set()
        self.locals: list[Var] = []
        self.int_locals: list[Var] = []
        self.result: Optional[Var] = None
        self.remaining = 0
        self.array_only = False     # leaves: array sections and constants only
        self.assigned_array: Optional[str] = None   # the array an element assignment writes
        self.logical_locals: list[str] = []
        self.gints: list[str] = []     # COMMON integers this routine may write
        self.perm: Optional[str] = None  # a local integer permutation array (ix)
        self.sub_calls: set = set()      # subroutines this routine calls
        self.loop_names: list = []      # enclosing loops, innermost last: name or None
        self.next_label = 100
        self.loop_name_count = 0
        # values known to depend on the head's independents at every call
        self.arng = random.Random(hash(rng.getstate()[1][:4]) + 9)   # does not advance rng
        self.rrng = random.Random(hash(rng.getstate()[1][:4]) + 11)  # neither
        self.alrng = random.Random(hash(rng.getstate()[1][:4]) + 13)  # neither
        self.sources: list[Var] = [a for a in sig.args if a.kind == "real" and a.intent == "in"
                                   and not _unconnected(a)]
        if sig.name.endswith("head"):
            pass
        else:
            self.sources = [anchor(sig)]

    # -- variables -------------------------------------------------------
    def scalars(self, writable=False):
        return [v for v in self.vars if v.rank == 0 and (v.writable or not writable)]

    def arrays(self, writable=False):
        return [v for v in self.vars if v.rank == 1 and (v.writable or not writable)]

    def ch(self, xs):
        return self.r.choice(xs)

    def const(self, lo=-1.5, hi=1.5) -> E:
        c = round(self.r.uniform(lo, hi), 2)
        if c == 0:
            c = 0.25
        t = lit(c)
        return E(t if c > 0 else f"({t})", abs(c), 0.0, atom=True)

    # -- integer expressions with values in [1, n] --------------------------
    def int_sources(self) -> list:
        """(text, lo, hi) of integer values known to lie in [1, n]."""
        out = [(str(k), k, k) for k in range(1, min(self.n, 4) + 1)] + [("n", self.n, self.n)]
        out += [(lv.name, lv.lo, lv.hi) for lv in self.loopvars]
        out += [(v.name, 1, self.n) for v in self.ints + self.int_locals]
        return out

    def index(self) -> str:
        t, lo, hi = self.ch(self.int_sources())
        if self.perm and self.r.random() < 0.15:
            return f"{self.perm}({t})"
        r = self.r.random()
        if r < 0.45 or t.isdigit():
            return t
        if r < 0.6:
            return f"n + 1 - {t}"
        if r < 0.75:
            return f"mod({t} + {self.r.randint(0, 3)}, n) + 1"
        if r < 0.85 and hi + 1 <= self.n:
            return f"{t} + 1"
        if r < 0.92 and lo - 1 >= 1:
            return f"{t} - 1"
        return f"min(n, 2 * {t})"

    def global_ints(self) -> set:
        return {v.name for v in self.ints if v.intent in ("global", "gin")}

    def global_int_update(self) -> str:
        t, lo, hi = self.ch(self.int_sources())
        return f"{self.ch(self.gints)} = " + self.ch([f"mod({t} + {self.r.randint(1, 5)}, n) + 1",
                                                     f"n + 1 - {t}", f"max(1, {t} - 1)"])

    # -- real expressions --------------------------------------------------
    def leaf(self, count: Optional[int]) -> E:
        r = self.r.random()
        if self.array_only and count is not None:
            r = 0.0 if r < 0.85 else 1.0
            if r == 1.0:
                return self.const()
        if count is not None and r < 0.55 and self.arrays():
            a = self.ch(self.arrays())
            secs = [s for s in sections(self.n) if s[1] == count] if self.f.sections else \
                ([(":", self.n)] if count == self.n else [])
            if secs:
                s = self.ch(secs)[0]
                t = a.name if s == ":" else f"{a.name}({s})"
                if s == ":" and self.perm and self.f.vector_subscripts and self.r.random() < 0.3:
                    t = f"{a.name}({self.perm})"
                return E(t, VB, 1.0, frozenset([a.name]), atom=True, arr=True)
        r = self.r.random()
        if r < 0.12:
            return self.const()
        if r < 0.17 and self.int_sources():
            t, lo, hi = self.ch(self.int_sources())
            c = round(self.r.uniform(0.05, 0.25), 2)
            return E(f"{lit(c)} * dble({t})", c * hi, 0.0)
        if r < 0.55 or not self.arrays():
            sc = self.scalars()
            if sc:
                v = self.ch(sc)
                return E(v.name, VB, 1.0, frozenset([v.name]), atom=True)
        if self.arrays():
            a = self.ch(self.arrays())
            return E(f"{a.name}({self.index()})", VB, 1.0, frozenset([a.name]), atom=True)
        return self.const()

    def expr(self, d: int, count: Optional[int] = None) -> E:
        if d <= 0 or self.r.random() < 0.2:
            return self.leaf(count)
        r = self.r.random()
        if r < 0.35:
            return self.binary(d, count)
        if r < 0.75:
            return self.unary(d, count)
        if r < 0.85:
            return self.binary_intrinsic(d, count)
        if r < 0.93 and self.f.reductions and self.arrays() and not self.array_only:
            return self.reduction(d)
        if self.f.function_calls and not self.array_only:
            fs = [c for c in self.callees if c.kind == "function"]
            if fs:
                return self.func_call(self.ch(fs), d)
        return self.binary(d, count)

    def binary(self, d, count) -> E:
        a, b = self.expr(d - 1, count), self.expr(d - 1, count)
        op = self.ch("++--**/")
        if op in "+-":
            return E(f"{a.text} {op} {b.p()}", a.b + b.b, a.l + b.l, _n(a, b), arr=a.arr or b.arr)
        if op == "*":
            return E(f"{a.p()} * {b.p()}", a.b * b.b, a.l * b.b + a.b * b.l, _n(a, b), arr=a.arr or b.arr)
        # division by something bounded away from 0
        if self.r.random() < 0.5:
            return E(f"{a.p()} / (1.0d0 + {b.p()} * {b.p()})", a.b,
                     a.l + 0.65 * a.b * b.l, _n(a, b), arr=a.arr or b.arr)
        c = math.ceil(b.b + 0.5 + self.r.uniform(0, 1.5))
        den = c - b.b
        return E(f"{a.p()} / ({lit(float(c))} + {b.q()})", a.b / den,
                 a.l / den + a.b * b.l / den ** 2, _n(a, b), arr=a.arr or b.arr)

    def unary(self, d, count) -> E:
        a = self.expr(d - 1, count)
        e = self._unary(a, d, count)
        e.arr = e.arr or a.arr
        return e

    def _unary(self, a, d, count) -> E:
        B, L, N = a.b, a.l, a.names
        k = self.ch(["sin", "cos", "tanh", "atan", "exp", "sqrt1", "sqrtc", "log1", "logc",
                     "pow2", "pow3", "powneg", "powreal", "tan", "sinh", "cosh", "abs", "neg",
                     "powvar", "powint", "scale"])
        if k in ("sin", "cos", "tanh", "atan"):
            b = {"sin": min(1.0, B), "cos": 1.0, "tanh": min(1.0, B), "atan": min(B, math.pi / 2)}[k]
            return E(f"{k}({a.text})", b, L, N, atom=True)
        if k in ("exp", "tan", "sinh", "cosh"):
            lim = {"exp": 1.5, "tan": 1.0, "sinh": 1.5, "cosh": 1.5}[k]
            s = 1.0 if B <= lim else round_down(lim / B)
            arg = a.text if s == 1.0 else f"{lit(s)} * {a.p()}"
            x = s * B
            b, l = {"exp": (math.exp(x), s * L * math.exp(x)),
                    "tan": (math.tan(x), s * L / math.cos(x) ** 2),
                    "sinh": (math.sinh(x), s * L * math.cosh(x)),
                    "cosh": (math.cosh(x), s * L * math.sinh(x))}[k]
            return E(f"{k}({arg})", b, l, N, atom=True)
        if k == "sqrt1":
            return E(f"sqrt(1.0d0 + {a.p()} * {a.p()})", math.sqrt(1 + B * B), L, N, atom=True)
        if k == "sqrtc":
            c = math.ceil(B + 0.5)
            return E(f"sqrt({lit(float(c))} + {a.q()})", math.sqrt(c + B),
                     L / (2 * math.sqrt(c - B)), N, atom=True)
        if k == "log1":
            return E(f"log(1.0d0 + {a.p()} ** 2)", math.log(1 + B * B), L, N, atom=True)
        if k == "logc":
            c = math.ceil(B + 0.5)
            return E(f"log({lit(float(c))} + {a.q()})", max(math.log(c + B), -math.log(c - B)),
                     L / (c - B), N, atom=True)
        if k == "pow2":
            return E(f"{a.p()} ** 2", B * B, 2 * B * L, N)
        if k == "pow3":
            return E(f"{a.p()} ** 3", B ** 3, 3 * B * B * L, N)
        if k == "powneg":
            c = math.ceil(B + 0.5)
            e = self.ch([1, 2])
            lo = c - B
            return E(f"({lit(float(c))} + {a.q()}) ** (-{e})", lo ** -e, e * L * lo ** (-e - 1), N)
        if k == "powreal":
            c = math.ceil(B + 0.5)
            p = self.ch([0.5, 1.5, 2.5, 0.3])
            lo, hi = c - B, c + B
            return E(f"({lit(float(c))} + {a.q()}) ** {lit(p)}", hi ** p,
                     p * L * max(lo ** (p - 1), hi ** (p - 1)), N)
        if k == "powvar" and self.f.var_exponent:
            # (c + a) ** (s * tanh(e)), positive base
            e = self.expr(d - 1, count)
            c = math.ceil(B + 0.5)
            s = 0.5
            lo, hi = c - B, c + B
            P = s * min(1.0, e.b)
            b = max(hi ** P, lo ** -P)
            l = P * b / lo * L + max(abs(math.log(lo)), math.log(hi)) * b * s * e.l
            return E(f"({lit(float(c))} + {a.q()}) ** ({lit(s)} * tanh({e.text}))", b, l, _n(a, e),
                     arr=e.arr)
        if k == "powint" and self.int_sources():
            t, lo, hi = self.ch(self.int_sources())
            return E(f"tanh({a.text}) ** {t}", 1.0, hi * L, N)
        if k == "abs" and self.f.nonsmooth:
            c = round(B + self.r.uniform(0.2, 1.0), 2) * self.ch([1, -1])
            return E(f"abs({a.text} + {lit(c)})" if c > 0 else f"abs({a.text} - {lit(-c)})",
                     B + abs(c), L, N, atom=True)
        if k == "neg":
            return E(f"-{a.p()}", B, L, N)
        if k == "scale":
            c = round(self.r.uniform(0.1, 2.0), 2)
            return E(f"{lit(c)} * {a.p()}", c * B, c * L, N)
        return E(f"sin({a.text})", min(1.0, B), L, N, atom=True)

    def binary_intrinsic(self, d, count) -> E:
        a, b = self.expr(d - 1, count), self.expr(d - 1, count)
        e = self._binary_intrinsic(a, b)
        e.arr = a.arr or (b.arr and b.text in e.text)
        return e

    def _binary_intrinsic(self, a, b) -> E:
        k = self.ch(["atan2", "min", "max", "sign", "mod", "hypot"])
        if not self.f.nonsmooth and k in ("min", "max", "sign", "mod"):
            k = "atan2"
        if k == "atan2":
            c = math.ceil(b.b + 0.5)
            return E(f"atan2({a.text}, {lit(float(c))} + {b.q()})", math.pi / 2,
                     (a.l + b.l) / (c - b.b), _n(a, b), atom=True)
        if k == "hypot":
            return E(f"sqrt(1.0d0 + {a.p()} ** 2 + {b.p()} ** 2)", math.sqrt(1 + a.b ** 2 + b.b ** 2),
                     a.l + b.l, _n(a, b), atom=True)
        if k in ("min", "max"):
            c = round(self.r.uniform(-0.5, 0.5), 2) or 0.13
            extra = ""
            eb = 0.0
            if self.r.random() < 0.3:
                cc = round(self.r.uniform(-1, 1), 2) or 0.21
                extra = f", {lit(cc)}"
                eb = abs(cc)
            bt = f"{b.text} + {lit(c)}" if c > 0 else f"{b.text} - {lit(-c)}"
            return E(f"{k}({a.text}, {bt}{extra})", max(a.b, b.b + abs(c), eb), max(a.l, b.l),
                     _n(a, b), atom=True)
        if k == "sign":
            c1 = round(a.b + self.r.uniform(0.2, 1.0), 2)
            c2 = round(b.b + self.r.uniform(0.2, 1.0), 2) * self.ch([1, -1])
            s2 = f"{b.text} + {lit(c2)}" if c2 > 0 else f"{b.text} - {lit(-c2)}"
            return E(f"sign({a.text} + {lit(c1)}, {s2})", a.b + c1, a.l, _n(a, b), atom=True)
        # mod with a positive divisor; jumps of the result are only hit by accident
        p = round(self.r.uniform(0.7, 2.5), 2)
        if self.r.random() < 0.3:
            # active divisor too: p + 0.2 * tanh(b), bounded away from 0
            return E(f"mod({a.text}, {lit(p)} + 0.2d0 * tanh({b.text}))", p + 0.2,
                     a.l + (a.b / (p - 0.2) + 1) * 0.2 * b.l, _n(a, b), atom=True)
        return E(f"mod({a.text}, {lit(p)})", min(a.b, p), a.l, a.names, atom=True)

    def reduction(self, d) -> E:
        saved = self.array_only
        self.array_only = saved or not self.f.scalar_in_reduction
        try:
            return self._reduction(d)
        finally:
            self.array_only = saved

    def _reduction(self, d) -> E:
        secs = sections(self.n) if self.f.sections else [(":", self.n)]
        cnt = self.ch(secs)[1]
        k = self.ch(["sum", "sum", "dot", "maxval", "minval"])
        if not self.f.nonsmooth and k in ("maxval", "minval"):
            k = "sum"
        a = self.expr(max(d - 1, 0), cnt)
        if not a.arr:
            a = self.leaf(cnt)
            if not a.arr:
                return a
        if self.f.array_intrinsics and self.arng.random() < 0.3:
            a = self._shifted(a, cnt)
        if k == "sum":
            if self.f.array_intrinsics and self.arng.random() < 0.4:
                return self._array_reduction(a, cnt)
            return E(f"sum({a.text})", cnt * a.b, cnt * a.l, a.names, atom=True)
        if k in ("maxval", "minval"):
            dim = ", dim=1" if self.f.array_intrinsics and self.arng.random() < 0.3 else ""
            return E(f"{k}({a.text}{dim})", a.b, a.l, a.names, atom=True)
        b = self.expr(max(d - 2, 0), cnt)
        if not b.arr:
            b = self.leaf(cnt)
            if not b.arr:
                return E(f"sum({a.text})", cnt * a.b, cnt * a.l, a.names, atom=True)
        return E(f"dot_product({a.text}, {b.text})", cnt * a.b * b.b,
                 cnt * (a.l * b.b + a.b * b.l), _n(a, b), atom=True)

    def _shifted(self, a: E, cnt: int) -> E:
        """a rotated or shifted (zero fill) by a few places: same count,
        same bounds."""
        sh = self.arng.choice([1, -1, 2])
        if abs(sh) >= cnt:
            return a
        fn = self.arng.choice(["cshift", "eoshift"])
        kw = self.arng.choice(["", "shift=", "dim=1, shift="])
        return E(f"{fn}({a.text}, {kw}{sh})", a.b, a.l, a.names, atom=True, arr=True)

    def _array_reduction(self, a: E, cnt: int) -> E:
        """A reduction of a through a masked, packed, spread or multiplied
        form.  Masks compare a with a constant: their jumps, like kinks,
        are only hit by accident."""
        k = self.arng.choice(["mask", "pack", "spread", "product"])
        c = round(self.arng.uniform(-0.5, 0.5), 2) or 0.17
        if k == "mask":
            return E(f"sum({a.text}, mask={a.p()} > {lit(c)})", cnt * a.b, cnt * a.l, a.names,
                     atom=True)
        if k == "pack":
            return E(f"sum(pack({a.text}, {a.p()} < {lit(c)}))", cnt * a.b, cnt * a.l, a.names,
                     atom=True)
        if k == "spread":
            d = self.arng.choice([1, 2])
            return E(f"0.5d0 * sum(spread({a.text}, {d}, 2))", cnt * a.b, cnt * a.l, a.names)
        # factors in [0.9, 1.1]: never zero, the product stays moderate
        return E(f"product(1.0d0 + 0.1d0 * tanh({a.text}))", 1.1 ** cnt,
                 cnt * 0.1 * 1.1 ** (cnt - 1) * a.l, a.names, atom=True)

    def anchored(self, d: int) -> E:
        """A bounded expression that references a varied value."""
        v = self.ch(self.sources)
        src = E(v.name if v.rank == 0 else f"{v.name}({self.index()})", VB, 1.0,
                frozenset([v.name]), atom=True)
        if self.r.random() < 0.4:
            return src
        e = self.expr(max(d - 1, 0))
        return self.bounded(E(f"{src.text} + {e.p()}", src.b + e.b, src.l + e.l, _n(src, e)))

    def bounded(self, e: E, lmax: float = LMAX) -> E:
        """e scaled so that |e| <= VB and its Lipschitz bound <= lmax."""
        f = 1.0
        if e.b > VB:
            f = min(f, VB / e.b)
        if e.l > lmax:
            f = min(f, lmax / e.l)
        if f >= 1.0:
            return e
        c = round_down(f)
        if c * e.l <= min(1.0, lmax) and c * e.b > 1.0 and self.r.random() < 0.2:
            # saturating variant
            return E(f"tanh({lit(c)} * {e.p()})", 1.0, c * e.l, e.names, atom=True, arr=e.arr)
        return E(f"{lit(c)} * {e.p()}", c * e.b, c * e.l, e.names, arr=e.arr)

    def func_call(self, fs: Sig, d: int) -> E:
        got = self.actuals(fs, d)
        if got is None:
            return self.leaf(None)
        self.called.add(fs.name)
        self.fun_decls.add(fs.name)
        acts, names, l = got
        return E(f"{fs.name}({', '.join(acts)})", VB, max([l, 1.0]), names, atom=True)

    def actuals(self, callee: Sig, d: int):
        """Actual arguments for a call.  Writable actuals (intent out/inout) are
        distinct variables that no other actual mentions (no aliasing);
        COMMON variables are never passed (the callee may access them)."""
        saved = self.vars
        self.vars = [v for v in self.vars if v.intent not in ("global", "gin")]
        try:
            got = self._actuals(callee, d)
            if got is not None and self.f.aliased_elements and self.alrng.random() < 0.15:
                got = self._aliased_elements(callee, got)
            return got
        finally:
            self.vars = saved

    def _aliased_elements(self, callee: Sig, got):
        """Two real intent(in) scalar arguments (not the anchor) become
        x(i) and x(1) of one array the call does not write."""
        acts, names, lip = got
        slots = [i for i, a in enumerate(callee.args)
                 if a.kind == "real" and a.rank == 0 and a.intent == "in"
                 and (self.f.passive_calls or a is not anchor(callee))]
        arrays = [v for v in self.arrays() if v.name not in names and "%" not in v.name]
        if len(slots) < 2 or not arrays:
            return got
        i, j = self.alrng.sample(slots, 2)
        v = self.alrng.choice(arrays).name
        loops = [lv.name for lv in self.loopvars]
        k = self.alrng.choice(loops) if loops else str(self.alrng.randint(1, self.n))
        acts = list(acts)
        acts[i], acts[j] = f"{v}({k})", f"{v}(1)"
        return acts, names | {v}, max(lip, 1.0)

    def _actuals(self, callee: Sig, d: int):
        acts = [None] * len(callee.args)
        names = frozenset()
        lip = 0.0
        taken: set = set()
        # the integer a helper changes (kk) first: element actuals of the
        # same call are then often indexed by it; then writable ones,
        # arrays before scalars
        moving = None
        for i, a in enumerate(callee.args):
            if a.kind == "int" and a.intent == "inout":
                cands = [v.name for v in self.int_locals] \
                    + [v.name for v in self.ints if v.intent == "inout" and v.intent != "global"]
                if not cands:
                    return None
                moving = acts[i] = self.ch(cands)
                taken.add(moving)
        for i, a in enumerate(callee.args):
            if a.kind == "rec":
                parts = lambda r: {r, f"{r}%c1", f"{r}%ca", f"{r}%ci", f"{r}%in%x"}  # noqa: E731
                cands = [r for r in self.records if not (parts(r) & taken)]
                if not cands:
                    return None
                acts[i] = self.ch(cands)
                taken |= parts(acts[i])
        order = sorted(range(len(callee.args)), key=lambda i: -callee.args[i].rank)
        for i in order:
            a = callee.args[i]
            if a.kind == "real" and a.intent in ("out", "inout"):
                if a.rank == 1:
                    cands = [v for v in self.arrays(writable=True) if v.name not in taken]
                    if not cands:
                        return None
                    v = self.ch(cands)
                    acts[i] = v.name
                    taken.add(v.name)
                else:
                    opts = [("s", v) for v in self.scalars(writable=True) if v.name not in taken]
                    if self.f.element_actuals:
                        opts += [("e", v) for v in self.arrays(writable=True) if v.name not in taken]
                    if not opts:
                        return None
                    kind, v = self.ch(opts)
                    idx = moving if moving and self.r.random() < 0.5 else self.index()
                    if idx == moving and self.perm and self.r.random() < 0.4:
                        idx = f"{self.perm}({moving})"     # nested: a(ix(k)), k moved by the call
                    acts[i] = v.name if kind == "s" else f"{v.name}({idx})"
                    taken.add(v.name)
        for i, a in enumerate(callee.args):
            if acts[i] is not None:
                continue
            if a.kind == "int":
                if a.name == "n":
                    acts[i] = "n"
                elif a.intent == "inout":
                    pass            # chosen above
                else:
                    # never the variable given to kk in the same call (aliasing)
                    acts[i] = self.ch([x for x in self.int_sources() if x[0] not in taken
                                       and x[0] not in self.global_ints()])[0]
                continue
            if a.kind == "char":
                if not self.chars:
                    return None
                acts[i] = self.ch(self.chars)
                continue
            if a.rank == 1:
                if self.f.array_expr_actuals and self.arrays() and self.r.random() < 0.25:
                    for _ in range(10):
                        e = self.bounded(self.expr(max(d - 1, 1), self.n))
                        # (a bare x(ix) or r%ca(ix) is a vector-subscripted
                        # actual: passed as a copy, its adjoint added back)
                        if e.arr and not (e.names & taken) and not self.copied_back(e.text):
                            acts[i] = e.text
                            names |= e.names
                            lip = max(lip, e.l)
                            break
                    if acts[i] is not None:
                        continue
                cands = [v for v in self.arrays() if v.name not in taken]
                if not cands:
                    return None
                v = self.ch(cands)
                acts[i] = v.name
                if self.perm and self.f.vector_subscripts and self.r.random() < 0.3:
                    acts[i] = f"{v.name}({self.perm})"     # a gather: passed as a copy
                names |= {v.name}
                lip = max(lip, 1.0)
                continue
            if not self.f.passive_calls and a is anchor(callee):
                e = self.anchored(d)
                acts[i] = e.text
                names |= e.names
                lip = max(lip, e.l)
                continue
            for _ in range(20):
                if self.f.expr_actuals and self.r.random() < 0.5:
                    e = self.bounded(self.expr(max(d - 1, 0)))
                else:
                    e = self.bounded(self.leaf(None))
                if not (e.names & taken):
                    break
            else:
                e = self.const()
            acts[i] = e.text
            names |= e.names
            lip = max(lip, e.l)
        # whole arrays sometimes passed as a section of all their elements
        # (reversed: copy-in/copy-out)
        for i, a in enumerate(callee.args):
            if not (a.kind == "real" and a.rank == 1 and acts[i].isidentifier()):
                continue
            if not self.f.section_actuals or self.r.random() >= 0.25 \
                    or acts[i] == self.assigned_array:
                continue
            others = " ".join(t for j, t in enumerate(acts) if j != i)
            if not self.f.aliased_sections and re.search(rf"\b{acts[i]}\b", others):
                continue
            acts[i] = f"{acts[i]}({self.ch(['1:n', 'n:1:-1'])})"
        return acts, names | taken, lip

    # -- conditions --------------------------------------------------------
    def cond(self, d=1) -> str:
        r = self.r.random()
        if r < 0.55:
            saved = self.f.function_calls
            if not self.f.func_in_conditions:
                self.f.function_calls = False
            a = self.expr(d)
            b = self.expr(d - 1) if self.r.random() < 0.5 else self.const(-0.5, 0.5)
            self.f.function_calls = saved
            c = f"{a.text} {self.ch(['<', '>', '<=', '>='])} {b.q()}"
        elif r < 0.8:
            srcs = [x for x in self.int_sources() if not x[0].isdigit()]
            t, lo, hi = self.ch(srcs)
            k = self.r.randint(lo, hi)
            c = self.ch([f"{t} > {k}", f"{t} <= {k}", f"mod({t}, 2) == 0", f"{t} /= {k}"])
        elif r < 0.86 and self.chars:
            return f"{self.ch(self.chars)} == '{self.ch(_WORDS)}'"
        elif r < 0.9 and self.logical_locals:
            lg = self.ch(self.logical_locals)
            return self.ch([lg, f".not. {lg}"])
        else:
            return f"{self.cond(0)} {self.ch(['.and.', '.or.'])} {self.cond(0)}"
        return c

    # -- statements --------------------------------------------------------
    def assign_scalar(self, d) -> list[str]:
        v = self.ch(self.scalars(writable=True))
        e = self.expr(d)
        if self.r.random() < 0.3:
            # relaxation: v = a * v + (1 - a) * e
            a = round(self.r.uniform(0.2, 0.8), 2)
            e = self.bounded(e)
            return [f"{v.name} = {lit(a)} * {v.name} + {lit(round(1 - a, 2))} * {e.p()}"]
        e = self.bounded(e)
        if (not self.f.result_aliases_arg and v.name in e.names
                and any(e.text.startswith(c.name + "(") for c in self.callees)):
            return [f"{v.name} = 1.0d0 * {e.text}"]
        return [f"{v.name} = {e.text}"]

    def copied_back(self, actual: str) -> bool:
        """An actual that is a bare section of the array the current
        assignment writes: gfortran passes it through a copy-in/copy-out
        temporary (implicit interface) and copies it back after the
        assignment, undoing it (seeds 5018, 3001; seed 9303012002 got one
        as an array-expression actual, z1(3) = ... f(t3, z1(n:1:-1), ...))."""
        return self.assigned_array is not None \
            and re.fullmatch(rf"{self.assigned_array}\(.*\)", actual) is not None

    def assign_element(self, d) -> list[str]:
        a = self.ch(self.arrays(writable=True))
        idx = self.index()
        # b(1) = f(b(n:1:-1)): gfortran copies the section back after the
        # assignment, undoing it (seeds 5018, 3001; see copied_back)
        self.assigned_array = a.name
        e = self.bounded(self.expr(d))
        self.assigned_array = None
        if self.r.random() < 0.3:
            return [f"{a.name}({idx}) = 0.5d0 * {a.name}({idx}) + 0.5d0 * {e.p()}"]
        return [f"{a.name}({idx}) = {e.text}"]

    def assign_array(self, d) -> list[str]:
        a = self.ch(self.arrays(writable=True))
        secs = sections(self.n) if self.f.sections else [(":", self.n)]
        s, cnt = self.ch(secs)
        lhs = a.name if s == ":" else f"{a.name}({s})"
        self.assigned_array = a.name       # a = f(a(n:1:-1)): as in assign_element
        for _ in range(10):
            e = self.bounded(self.expr(d, cnt))
            if self.f.overlapping_sections or a.name not in e.names:
                break
        else:
            e = self.const()
        self.assigned_array = None
        return [f"{lhs} = {e.text}"]

    def where_stmt(self, d) -> list[str]:
        """A WHERE construct masked by the array (or section) it assigns
        (conformable by construction), with an ELSEWHERE half the time.  The values are
        elemental: WHERE takes no reduction or user function call."""
        saved = self.f.reductions, self.f.function_calls, self.f.overlapping_sections
        # the assigned array is not read at other elements (adtool refuses
        # that by name: element by element it would read overwritten values)
        self.f.reductions = self.f.function_calls = self.f.overlapping_sections = False
        try:
            line = self.assign_array(d)[0]
        finally:
            self.f.reductions, self.f.function_calls, self.f.overlapping_sections = saved
        if "%" in line or (self.perm and f"({self.perm})" in line):
            return [line]        # record components, vector subscripts: refused by name
        lhs = line.split(" = ", 1)[0]
        out = [f"where ({lhs} {self.ch(['>', '<', '>='])} {lit(round(self.r.uniform(-0.3, 0.3), 2))})",
               "  " + line]
        if self.r.random() < 0.5:
            a = lit(round(self.r.uniform(0.3, 0.9), 2))
            out += ["elsewhere", f"  {lhs} = {a} * {lhs} + {lit(round(self.r.uniform(0.01, 0.2), 2))}"]
        return out + ["end where"]

    def int_update(self) -> list[str]:
        k = self.ch(self.int_locals)
        t, lo, hi = self.ch(self.int_sources())
        r = self.r.random()
        if r < 0.8 or not self.f.int_from_real or not self.scalars():
            rhs = self.ch([f"mod({t} + {self.r.randint(0, 5)}, n) + 1", f"n + 1 - {t}",
                           f"min(n, {t} + 1)", f"max(1, {t} - 2)", f"mod({t} * {self.r.randint(2, 5)}, n) + 1"])
        else:
            v = self.ch(self.scalars())
            rhs = f"1 + mod(int({lit(round(self.r.uniform(1, 4), 2))} * ({v.name} + 2.5d0)), n)"
        return [f"{k.name} = {rhs}"]

    def call_stmt(self, d) -> Optional[list[str]]:
        subs = [c for c in self.callees if c.kind == "subroutine"]
        if not subs:
            return None
        s = self.ch(subs)
        got = self.actuals(s, d)
        if got is None:
            return None
        self.called.add(s.name)
        self.sub_calls.add(s.name)
        out = [f"call {s.name}({', '.join(got[0])})"]
        # a global the callee may have read, overwritten right after the
        # call: what a joint caller's adjoint liveness must not drop
        # (fixtures/random/split_child_reads_global.f90)
        gl = [v for v in self.scalars(writable=True) if v.intent == "global"]
        if gl and self.r.random() < 0.5:
            out.append(f"{self.ch(gl).name} = {self.bounded(self.expr(1)).text}")
        if self.gints and self.r.random() < 0.5:
            out.append(self.global_int_update())
        return out

    def new_loopvar(self) -> str:
        for k in range(1, 10):
            nm = f"i{k}"
            if nm not in [lv.name for lv in self.loopvars]:
                self.used_loop_names.add(nm)
                return nm
        raise AssertionError

    def do_loop(self, budget, depth) -> list[str]:
        n = self.n
        nm = self.new_loopvar()
        heads = [("1, n", 1, n), ("n, 1, -1", 1, n), ("1, n, 2", 1, n), ("2, n, 2", 2, n),
                 ("n, 1, -2", 1, n), ("2, n - 1", 2, n - 1), ("n - 1, 2, -1", 2, n - 1),
                 ("1, 3", 1, 3), ("n, 2, -3", 2, n)]
        for lv in self.loopvars:
            if lv.hi < n:
                heads.append((f"{lv.name} + 1, n", lv.lo + 1, n))
            heads += [(f"{lv.name}, n", lv.lo, n), (f"1, {lv.name}", 1, lv.hi),
                      (f"{lv.name}, 1, -1", 1, lv.hi)]
        for v in self.ints + self.int_locals:
            heads += [(f"1, {v.name}", 1, n), (f"{v.name}, n", 1, n), (f"n, {v.name}, -1", 1, n)]
        h, lo, hi = self.ch(heads)
        self.loopvars.append(LoopVar(nm, lo, hi))
        self.loop_depth += 1
        name = self.loop_name()
        self.loop_names.append(name)
        body = self.block(budget, depth + 1, in_loop=True)
        self.loop_names.pop()
        self.loop_depth -= 1
        self.loopvars.pop()
        if name:
            return [f"{name}: do {nm} = {h}"] + ["  " + x for x in body] + [f"end do {name}"]
        return [f"do {nm} = {h}"] + ["  " + x for x in body] + ["end do"]

    def loop_name(self):
        if self.f.named_loops and self.r.random() < 0.3:
            self.loop_name_count += 1
            return f"lp{self.loop_name_count}"
        return None

    def exit_stmt(self) -> list[str]:
        what = self.ch(["exit", "cycle"])
        named = [x for x in self.loop_names if x]
        if named and self.r.random() < 0.5:
            what += " " + self.ch(named)
        return [f"if ({self.cond()}) {what}"]

    def select_stmt(self, depth, in_loop) -> list[str]:
        srcs = [x for x in self.int_sources() if not x[0].isdigit()]
        t, lo, hi = self.ch(srcs)
        vals = list(range(lo, hi + 1))
        self.r.shuffle(vals)
        out = [f"select case ({t})"]
        ncase = self.r.randint(1, min(3, len(vals)))
        for c in range(ncase):
            if not vals:
                break
            v = vals.pop()
            sel = str(v)
            if vals and self.r.random() < 0.3:
                # a range v:v+1 or a list
                if v + 1 in vals:
                    vals.remove(v + 1)
                    sel = f"{v}:{v + 1}"
                else:
                    sel = f"{v}, {vals.pop()}"
            out.append(f"case ({sel})")
            out += ["  " + x for x in self.block(self.r.randint(1, 2), depth + 1, in_loop)]
        if self.r.random() < 0.6:
            out.append("case default")
            out += ["  " + x for x in self.block(self.r.randint(1, 2), depth + 1, in_loop)]
        out.append("end select")
        return out

    def logical_if_stmt(self, d) -> list[str]:
        body = self.ch([self.assign_scalar, self.assign_element if self.arrays(True) else self.assign_scalar])(d)
        return [f"if ({self.cond()}) {body[0]}"]

    def logical_update(self) -> list[str]:
        lg = self.ch(self.logical_locals)
        return [self.ch([f"{lg} = {self.cond()}", f"{lg} = .not. {lg}",
                         f"{lg} = {lg} .or. ({self.cond(0)})"])]

    def goto_stmt(self, budget, depth, in_loop) -> list[str]:
        lab = self.next_label
        self.next_label += 10
        if self.f.goto_out_of_loops and self.r.random() < 0.5:
            return self.goto_out_of_loop(lab, budget, depth)
        body = self.block(self.r.randint(1, 3), depth, in_loop)
        return [f"if ({self.cond()}) goto {lab}"] + body + [f"{lab} continue"]

    def goto_out_of_loop(self, lab, budget, depth) -> list[str]:
        """A DO loop left by `if (c) goto L` from anywhere in its body (nested
        loops and branches included), L right after the loop or a few
        statements later: how READ(..., END=L) ends a read loop and how F77
        codes leave a search loop."""
        loop = self.do_loop(budget, depth)
        # not inside a WHERE block, where only array assignments may stand
        # (Fortran seed 28005000 put the IF there: invalid for gfortran too)
        spots, inside = [], 0
        for i in range(1, len(loop)):
            prev = loop[i - 1].strip().lower()
            if prev.startswith("where") and prev.endswith(")"):
                inside += 1
            elif prev.startswith("end where"):
                inside -= 1
            if inside == 0 and not prev.startswith("select") and not prev.endswith("&"):
                spots.append(i)
        i = self.ch(spots)
        pad = loop[i][:len(loop[i]) - len(loop[i].lstrip())] if i < len(loop) - 1 else "  "
        loop.insert(i, f"{pad}if ({self.cond()}) goto {lab}")
        after = self.block(self.r.randint(1, 2), depth, False) if self.r.random() < 0.5 else []
        return loop + after + [f"{lab} continue"]

    def while_loop(self, budget, depth) -> list[str]:
        for k in range(1, 5):
            kw = f"kw{k}"
            if kw not in [lv.name for lv in self.loopvars]:
                break
        self.used_kw.add(kw)
        lim = self.r.randint(1, self.n)
        self.loopvars.append(LoopVar(kw, 1, lim))
        self.loop_depth += 1
        name = self.loop_name()
        self.loop_names.append(name)
        body = self.block(budget, depth + 1, in_loop=True)
        self.loop_names.pop()
        self.loop_depth -= 1
        self.loopvars.pop()
        c = self.cond(1)
        lbl, end = (f"{name}: ", f"end do {name}") if name else ("", "end do")
        if self.r.random() < 0.6:
            return ([f"{kw} = 0", f"{lbl}do while ({kw} < {lim} .and. ({c}))", f"  {kw} = {kw} + 1"]
                    + ["  " + x for x in body] + [end])
        return ([f"{kw} = 0", f"{lbl}do", f"  {kw} = {kw} + 1", f"  if ({kw} > {lim}) exit"]
                + ["  " + x for x in body] + [f"  if ({c}) exit", end])

    def if_stmt(self, budget, depth, in_loop) -> list[str]:
        out = [f"if ({self.cond()}) then"]
        nb = self.r.randint(1, 3)
        per = max(1, budget // nb)
        out += ["  " + x for x in self.block(per, depth + 1, in_loop)]
        for k in range(1, nb):
            if k == nb - 1 and self.r.random() < 0.6:
                out.append("else")
            else:
                out.append(f"else if ({self.cond()}) then")
            out += ["  " + x for x in self.block(per, depth + 1, in_loop)]
        out.append("end if")
        return out

    def block(self, k: int, depth: int, in_loop: bool = False) -> list[str]:
        """Up to k statements (at least one), while the routine's statement
        budget (self.remaining) lasts."""
        out: list[str] = []
        for i in range(max(1, k)):
            if i and self.remaining <= 0:
                break
            self.remaining -= 1
            out += self.stmt(self.r.randint(1, 3), depth, in_loop)
        return out

    def stmt(self, budget, depth, in_loop) -> list[str]:
        d = self.r.randint(1, 3)
        w = [("scalar", 30), ("element", 18 if self.arrays(True) else 0),
             ("array", 9 if self.arrays(True) else 0),
             ("if", 10 if depth < 3 else 0), ("do", 12 if depth < 3 else 0),
             ("while", 4 if depth < 3 and self.f.while_loops else 0),
             ("exit", 6 if in_loop and self.f.exit_cycle else 0),
             ("int", 5 if self.int_locals else 0),
             ("gint", 3 if self.gints else 0),
             ("call", 12 if any(c.kind == "subroutine" for c in self.callees) and self.f.subroutine_calls
              and (self.f.calls_in_loops or not in_loop) else 0),
             ("select", 4 if depth < 3 and self.f.select_case else 0),
             ("ifline", 5 if self.f.logical_if else 0),
             ("logical", 4 if self.logical_locals else 0),
             ("char", 4 if self.char_locals else 0),
             ("goto", 2 if depth < 3 and self.f.gotos else 0),
             ("where", 3 if self.arrays(True) and self.f.where else 0),
             ("return", 1 if self.f.returns else 0)]
        k = self.r.choices([x[0] for x in w], [x[1] for x in w])[0]
        if k == "scalar":
            out = self.assign_scalar(d)
            if self.records and self.f.records and self.f.record_functions \
                    and self.rrng.random() < 0.2:
                rec = self.rrng.choice(self.records)
                arg = self.rrng.choice([v.name for v in self.scalars()] or ["0.5d0"])
                prefix = self.sig.name[: self.sig.name.rindex("_") + 1]
                out.append(f"{rec} = {prefix}rstep({rec}, {arg})")
            return out
        if k == "element":
            return self.assign_element(d)
        if k == "array":
            return self.assign_array(d)
        if k == "if":
            return self.if_stmt(budget, depth, in_loop)
        if k == "do":
            return self.do_loop(budget, depth)
        if k == "while":
            return self.while_loop(budget, depth)
        if k == "exit":
            return self.exit_stmt()
        if k == "select":
            return self.select_stmt(depth, in_loop)
        if k == "ifline":
            return self.logical_if_stmt(d)
        if k == "logical":
            return self.logical_update()
        if k == "char":
            return [f"{self.ch(self.char_locals)} = '{self.ch(_WORDS)}'"]
        if k == "goto":
            return self.goto_stmt(budget, depth, in_loop)
        if k == "where":
            return self.where_stmt(d)
        if k == "return":
            return [f"if ({self.cond()}) return"]
        if k == "int":
            return self.int_update()
        if k == "gint":
            return [self.global_int_update()]
        if k == "call":
            got = self.call_stmt(d)
            if got:
                return got
        return self.assign_scalar(d)


# ----------------------------------------------------------------------------
# routines and programs


@dataclass
class Routine:
    sig: Sig
    text: str


@dataclass
class Program:
    prefix: str
    seed: int
    n: int
    routines: list                  # [Routine], callees first, head last
    head: Sig
    inputs: dict = field(default_factory=dict)    # arg -> value or list of values
    direction: dict = field(default_factory=dict)  # independent -> D
    weight: dict = field(default_factory=dict)     # dependent -> W
    module: str = ""                # the program's type definitions (Features.records)

    @property
    def independents(self):
        return [a.name for a in self.head.args if a.kind == "real" and a.intent in ("in", "inout")]

    @property
    def dependents(self):
        return [a.name for a in self.head.args if a.kind == "real" and a.intent in ("out", "inout")]

    @property
    def spec(self) -> str:
        return f"{self.head.name}({' '.join(self.dependents)})/({' '.join(self.independents)})"

    @property
    def text(self) -> str:
        return "\n".join(([self.module] if self.module else []) + [r.text for r in self.routines])


def _wrap(line: str) -> list[str]:
    if len(line) <= MAXLINE:
        return [line]
    ind = len(line) - len(line.lstrip())
    out = []
    cur = line
    while len(cur) > MAXLINE:
        cut = cur.rfind(" ", ind + 20, MAXLINE)
        if cut < 0:
            cut = cur.find(" ", MAXLINE)
            if cut < 0:
                break
        out.append(cur[:cut] + " &")
        cur = " " * (ind + 4) + "& " + cur[cut + 1:]
    out.append(cur)
    return out


def _decl_real(rng, names: list[str], extra: str = "") -> str:
    t = "double precision" if rng.random() < 0.15 else "real(8)"
    return f"  {t}{extra} :: {', '.join(names)}"


def gen_routine(rng: random.Random, n: int, sig: Sig, callees: list[Sig], feat: Features,
                called: set, budget: int, is_head: bool, result_clause: bool = False,
                common: tuple = ("", [])) -> Routine:
    cname, gvars = common
    use_common = bool(gvars) and (is_head or rng.random() < 0.6)
    # the COMMON block's integer gi: read by every routine that has the
    # block (indices, branches, loop bounds), written by subroutines, often
    # right after a call whose subtree read it (issue 9, class a)
    gint = [v for v in gvars if v.kind == "int"] if use_common else []
    gvars = [v for v in gvars if v.kind != "int"]
    if sig.kind == "function":
        # no side effects in functions: they may read the COMMON block only,
        # and call no subroutine that writes it
        callees = [c for c in callees if not c.writes_globals]
        gvars = [Var(v.name, v.kind, v.rank, "gin") for v in gvars]
    else:
        sig.writes_globals = use_common or any(c.writes_globals for c in callees)
    g = RoutineGen(rng, n, sig, callees, feat, called)
    nloc = rng.randint(1, 3)
    g.locals = [Var(f"t{k}", "real") for k in range(1, nloc + 1)]
    nw = rng.choice([0, 0, 1, 2])
    g.locals += [Var(f"w{k}", "real", 1) for k in range(1, nw + 1)]
    alloc = {f"w{k}" for k in range(1, nw + 1) if feat.allocatable_locals and rng.random() < 0.4}
    moving = any(a.kind == "int" and a.intent == "inout" for c in callees for a in c.args)
    g.int_locals = [Var(f"k{k}", "int") for k in range(1, rng.randint(int(moving), 2) + 1)]
    if feat.logicals and rng.random() < 0.3:
        g.logical_locals = ["lg1"]
    perm = None
    if feat.index_arrays and rng.random() < (0.6 if moving else 0.2):
        perm = list(range(1, n + 1))
        rng.shuffle(perm)
        g.perm = "ix"
    if any(a.kind == "char" for c in callees for a in c.args):
        g.char_locals = ["cm"]
        g.chars.append("cm")
    local_record = feat.records and (any(a.kind == "rec" for c in callees for a in c.args)
                                     or rng.random() < 0.3)
    if local_record:
        g.locals += [Var("rc%c1", "real"), Var("rc%ca", "real", 1), Var("rc%in%x", "real")]
        g.int_locals.append(Var("rc%ci", "int"))
        g.records.append("rc")
    rname = None
    if sig.kind == "function":
        rname = "res" if result_clause else sig.name
        g.result = Var(rname, "real", 0, "result")
    g.vars = g.vars + g.locals + ([g.result] if g.result else [])
    if use_common:
        g.vars += gvars
    g.ints += gint
    g.gints = [] if sig.kind == "function" else [v.name for v in gint]

    # prologue: every local and output gets a value computed from the inputs
    body: list[str] = [f"allocate({w}(n))" for w in sorted(alloc)]
    body += [f"{k.name} = {rng.randint(1, n)}" for k in g.int_locals]
    if perm:
        body.append(f"ix = (/ {', '.join(map(str, perm))} /)")
    body += [f"{lg} = .{rng.choice(['true', 'false'])}." for lg in g.logical_locals]
    body += [f"{c} = '{rng.choice(_WORDS)}'" for c in g.char_locals]
    inputs = [v for v in g.vars if v.intent in ("in", "inout")]
    if is_head:
        body += [f"{v.name} = {rng.randint(1, n)}" for v in gint]
    if is_head and use_common:
        # the head defines the COMMON block before anything reads it
        for v in gvars:
            saved, g.vars = g.vars, inputs
            fc, feat.function_calls = feat.function_calls, False   # they may read it
            e = g.bounded(g.expr(rng.randint(0, 2), n if v.rank else None))
            g.vars, feat.function_calls = saved, fc
            body.append(f"{v.name} = {e.text}")
    for v in g.locals + [a for a in sig.args if a.kind == "real" and a.intent == "out"
                         and not _unconnected(a)] \
            + ([g.result] if g.result else []):
        saved = g.vars
        g.vars = inputs + [x for x in saved if x.intent is None and x in g.locals[:g.locals.index(v)]] \
            if v in g.locals else inputs
        if not g.vars or rng.random() < 0.15:
            e = g.const()
        else:
            e = g.bounded(g.expr(rng.randint(0, 2), n if v.rank else None))
        g.vars = saved
        body.append(f"{v.name} = {e.text}")
    g.remaining = budget
    moves = [f"{a.name} = mod({a.name} + {rng.randint(0, 3)}, n) + 1" for a in sig.args
             if a.kind == "int" and a.intent == "inout"]
    if moves and rng.random() < 0.5:
        body += moves
        moves = []
    while g.remaining > 0:
        body += g.block(g.r.randint(1, 4), 0)
    body += moves
    # make sure every helper is used somewhere
    if is_head:
        for c in callees:
            if c.name in called:
                continue
            if c.kind == "subroutine":
                for _ in range(10):
                    got = g.actuals(c, 1)
                    if got:
                        break
                if got:
                    body.append(f"call {c.name}({', '.join(got[0])})")
                    called.add(c.name)
                    g.sub_calls.add(c.name)
            else:
                tgt = rng.choice(g.scalars(writable=True))
                e = g.func_call(c, 1)
                body.append(f"{tgt.name} = 0.5d0 * {tgt.name} + 0.5d0 * {e.text}")

    module_text, use_line = "", []
    extra_decl: list[str] = []
    if is_head and (feat.optional_args or feat.generic_iface or feat.small_vectors):
        orng = random.Random(hash(rng.getstate()[1][:4]))    # does not advance rng
        module_text, calls, extra_decl = _module_calls(orng, g, sig.name[: -len("head")], feat)
        if module_text:
            body += calls
            use_line = [f"  use {sig.name[: -len('head')]}mod"]

    # every output also depends directly on an input (the head: so the
    # gradient check is never vacuous; a helper: see Features.passive_calls)
    if is_head:
        ins = [a for a in sig.args if a.kind == "real" and a.intent in ("in", "inout")
               and not _unconnected(a)]
    else:
        ins = [anchor(sig)]
    outs = [a for a in sig.args if a.kind == "real" and a.intent in ("out", "inout")
            and not _unconnected(a)]
    if g.result:
        outs.append(g.result)
    # and on the locals, so that what the body computes is not dead code
    pending = list(g.locals) + (list(gvars) if use_common else [])
    rng.shuffle(pending)
    for j, a in enumerate(outs):
        x = rng.choice(ins)
        xs = x.name if x.rank == 0 else f"{x.name}({rng.randint(1, n)})"
        tgt = a.name if a.rank == 0 else f"{a.name}({rng.randint(1, n)})"
        take = pending if j == len(outs) - 1 else pending[:rng.randint(0, 2)]
        pending = pending[len(take):]
        terms = []
        for v in take:
            if v.rank == 0:
                terms.append(v.name)
            else:
                terms.append(rng.choice([f"{v.name}({rng.randint(1, n)})",
                                         f"sum({v.name}) / {lit(float(n))}"]))
        if not terms and not is_head and feat.passive_calls:
            continue
        if terms:
            c = round(0.4 / len(terms), 3)
            mix = "".join(f" + {lit(c)} * {t}" for t in terms)
            body.append(f"{tgt} = 0.4d0 * {tgt} + 0.2d0 * sin({xs}){mix}")
        else:
            body.append(f"{tgt} = 0.6d0 * {tgt} + 0.4d0 * sin({xs})")
    if any(a.name == "q1" for a in sig.args):
        arrs = [a.name for a in sig.args if a.kind == "real" and a.rank == 1]
        qx = " + dble(kind(qx)) * 0.0625d0" if any(a.name == "qx" for a in sig.args) else ""
        inq = f"dble(size({arrs[0]})) * 0.125d0 + dble(lbound({arrs[0]}, 1))" if arrs \
            else "dble(digits(1.0d0)) * 0.01d0"
        body.append(f"q1 = {inq}{qx}")
    # declarations
    argnames = [a.name for a in sig.args]
    dims = "(n)"
    if sig.kind == "function":
        if result_clause:
            head = f"function {sig.name}({', '.join(argnames)}) result({rname})"
        else:
            head = f"real(8) function {sig.name}({', '.join(argnames)})"
    else:
        head = f"subroutine {sig.name}({', '.join(argnames)})"
    prefix = sig.name[: sig.name.rindex("_") + 1]
    decl = use_line + ([f"  use {prefix}types"] if g.records else [])
    decl.append("  implicit none")
    if sig.nmode == "param":
        decl.append(f"  integer, parameter :: n = {n}")
    for a in sig.args:
        if a.kind == "int":
            decl.append(f"  integer, intent({a.intent}) :: {a.name}")
        elif a.kind == "char":
            decl.append(f"  character(len=4), intent({a.intent}) :: {a.name}")
        elif a.kind == "rec":
            decl.append(f"  type({prefix}rec), intent({a.intent}) :: {a.name}")
    for a in sig.args:
        if a.kind == "real":
            decl.append(_decl_real(rng, [a.name + (dims if a.rank else "")], f", intent({a.intent})"))
    if result_clause and sig.kind == "function":
        decl.append(f"  real(8) :: {rname}")
    loc = [v.name + (dims if v.rank else "") for v in g.locals if v.name not in alloc
           and "%" not in v.name]
    if loc:
        decl.append(_decl_real(rng, loc))
    if alloc:
        decl.append(_decl_real(rng, [f"{w}(:)" for w in sorted(alloc)], ", allocatable"))
    ints = sorted(g.used_loop_names) + sorted(g.used_kw) + [k.name for k in g.int_locals
                                                             if "%" not in k.name]
    if local_record:
        decl.append(f"  type({prefix}rec) :: rc")
    if perm:
        ints.append(f"ix({n})")
    if ints:
        decl.append(f"  integer :: {', '.join(ints)}")
    if g.logical_locals:
        decl.append(f"  logical :: {', '.join(g.logical_locals)}")
    if g.char_locals:
        decl.append(f"  character(len=4) :: {', '.join(g.char_locals)}")
    if use_common:
        decl.append(_decl_real(rng, [v.name + (f"({n})" if v.rank else "") for v in gvars]))
        if gint:
            decl.append(f"  integer :: {', '.join(v.name for v in gint)}")
        decl.append(f"  common /{cname}/ {', '.join(v.name for v in gvars + gint)}")
    if g.fun_decls:
        decl.append(f"  real(8), external :: {', '.join(sorted(g.fun_decls))}")
    if g.sub_calls and feat.external_stmts and rng.random() < 0.3:
        decl.append(f"  external {', '.join(sorted(g.sub_calls))}")
    decl += extra_decl
    end = f"end {sig.kind} {sig.name}"
    lines = [head] + decl + ["  " + x for x in body] + [end]
    text = "\n".join(y for x in lines for y in _wrap(x)) + "\n"
    return Routine(sig, module_text + text)


def _module_calls(r: random.Random, g: "RoutineGen", pre: str, feat: Features):
    """A module <pre>mod (a subroutine with OPTIONAL arguments, a generic
    name over a scalar and an array specific) and calls of it for the
    head's body, after its statements: (module text, call lines, the
    declarations they need in the head), or ("", [], []) when the head has
    nothing to pass.  Every routine keeps its values
    bounded (contractions of y plus bounded terms)."""
    ins = [v.name for v in g.vars if v.rank == 0 and v.intent in ("in", "inout")
           and not _unconnected(v)]
    outs = [v.name for v in g.scalars(writable=True) if v.intent not in ("global", "result")
            and not _unconnected(v)]
    ain = [v.name for v in g.vars if v.rank == 1 and v.intent != "global"]
    aout = [v.name for v in g.arrays(writable=True) if v.intent != "global"]
    if not ins or not outs:
        return "", [], []

    def c(lo=0.2, hi=0.6) -> str:
        return lit(round(r.uniform(lo, hi), 2))
    procs: list[str] = []
    calls: list[str] = []
    iface: list[str] = []
    if feat.optional_args:
        procs += [f"subroutine {pre}o1(x, y, s, w)",
                  "  real(8), intent(in) :: x",
                  "  real(8), intent(inout) :: y",
                  "  real(8), intent(in), optional :: s",
                  "  real(8), intent(inout), optional :: w",
                  f"  y = {c()} * y + {c()} * sin(x)",
                  "  if (present(s)) then",
                  f"    y = y + {c()} * s * cos(x)",
                  "  end if",
                  "  if (present(w)) then",
                  f"    w = {c()} * w + {c()} * sin(y)",
                  f"    y = y - {c()} * sin(w)",
                  "  end if",
                  f"end subroutine {pre}o1"]
        for _ in range(r.randint(1, 3)):
            # what the call writes (y, w) is given to no other argument
            y = r.choice(outs)
            w = r.choice([o for o in outs if o != y] or [None]) if r.random() < 0.5 else None
            free = [v for v in ins if v not in (y, w)]
            if not free:
                continue
            x = r.choice(free)
            s = r.choice(free) if r.random() < 0.5 else None
            form = r.random()
            if form < 0.3:              # every argument by keyword, shuffled
                kw = [f"x={x}", f"y={y}"] + ([f"s={s}"] if s else []) + ([f"w={w}"] if w else [])
                r.shuffle(kw)
                calls.append(f"call {pre}o1({', '.join(kw)})")
            else:                       # positional up to the first omitted one
                a = [x, y]
                if s:
                    a.append(s)
                    if w:
                        a.append(w if r.random() < 0.5 else f"w={w}")
                elif w:
                    a.append(f"w={w}")
                calls.append(f"call {pre}o1({', '.join(a)})")
    if feat.generic_iface:
        iface = [f"interface {pre}g", f"  module procedure {pre}g1, {pre}g2",
                 f"end interface {pre}g"]
        procs += [f"subroutine {pre}g1(x, y)",
                  "  real(8), intent(in) :: x",
                  "  real(8), intent(inout) :: y",
                  f"  y = {c()} * y + {c()} * cos(x)",
                  f"end subroutine {pre}g1",
                  f"subroutine {pre}g2(a, b)",
                  "  real(8), intent(in) :: a(:)",
                  "  real(8), intent(inout) :: b(:)",
                  f"  b = {c()} * b + {c()} * sin(a)",
                  f"end subroutine {pre}g2"]
        y = r.choice(outs)
        free = [v for v in ins if v != y]
        if free:
            calls.append(f"call {pre}g({r.choice(free)}, {y})")
        pairs = [(a, b) for a in ain for b in aout if a != b]
        if pairs:
            a, b = r.choice(pairs)
            calls.append(f"call {pre}g({a}, {b})")
        r.shuffle(calls)
    decls: list[str] = []
    # in about a third of the programs: four more routines in each makes a
    # batch a third longer and its differentiation twice as slow
    if feat.small_vectors and r.random() < 0.35:
        procs += [f"subroutine {pre}v2(v, s)",
                  "  real(8), intent(inout) :: v(2)",
                  "  real(8), intent(in) :: s",
                  "  real(8) :: el",
                  f"  el = 1.0d0 + {c(0.05, 0.2)} * sin(s * v(1)) * v(2)",
                  "  v(1) = v(1) * el",
                  f"  v(2) = {c(0.5, 0.9)} * v(2) * el",
                  f"end subroutine {pre}v2",
                  f"subroutine {pre}v3(v, x)",
                  "  real(8), intent(inout) :: v(3)",
                  "  real(8), intent(in) :: x",
                  "  real(8) :: t",
                  f"  t = {c()} * v(1) * v(2) + {c()} * sin(x)",
                  f"  v(2) = {c()} * v(2) + {c()} * sin(v(3)) * t",
                  f"  v(3) = {c()} * v(3) + {c()} * v(1) * v(2)",
                  f"  v(1) = {c()} * v(1) + {c()} * cos(v(2) + x)",
                  f"end subroutine {pre}v3",
                  f"subroutine {pre}sv(p, y)",
                  "  real(8), intent(in) :: p(3)",
                  "  real(8), intent(inout) :: y",
                  f"  y = {c()} * y + {c()} * sin(p(1) * y) + {c()} * p(2) * p(3)",
                  f"end subroutine {pre}sv",
                  # b filled by a loop over its whole extent before any
                  # read: a joint call needs no snapshot of it
                  f"subroutine {pre}fl(n, a, b, x)",
                  "  integer, intent(in) :: n",
                  "  real(8), intent(in) :: a(n), x",
                  "  real(8), intent(inout) :: b(n)",
                  "  integer :: i",
                  "  do i = 1, n",
                  f"    b(i) = {c()} * sin(a(i)) + {c()} * x",
                  "  end do",
                  f"  b(1) = b(1) + {c()} * b(n) * cos(x)",
                  f"end subroutine {pre}fl"]
        y = r.choice(outs)
        free = [v for v in ins if v != y]
        if free:
            x, x2 = r.choice(free), r.choice(ins)
            decls = ["  real(8) :: pv(3), vv(3), v2(2)", "  integer :: kv"]
            calls += [f"pv(1) = {c()} * {x}", f"pv(2) = sin({x2})", f"pv(3) = {c()}",
                      f"vv = {c()} * {x2}", f"v2(1) = {c()} * {x}", f"v2(2) = cos({x2})",
                      f"do kv = 1, {r.randint(1, 3)}",
                      f"  call {pre}sv(pv, {y})",
                      f"  call {pre}v3(vv, {x})",
                      f"  call {pre}v2(v2, {x2})"]
            pairs = [(a, b) for a in ain for b in aout if a != b]
            if pairs:
                a, b = r.choice(pairs)
                calls.append(f"  call {pre}fl(n, {a}, {b}, {x})")
            if feat.alloc_bounds and ain:
                procs += [
                    # u keeps the bounds 0:n-1 it was allocated with through
                    # `u = expr` (same shape: no reallocation); w = a(iv), a
                    # vector-subscripted value, keeps w's bounds 1:n
                    f"subroutine {pre}lb(n, a, y)",
                    "  integer, intent(in) :: n",
                    "  real(8), intent(in) :: a(n)",
                    "  real(8), intent(inout) :: y",
                    "  real(8), allocatable :: u(:), w(:)",
                    "  integer :: iv(n), i",
                    "  allocate(u(0:n - 1), w(n))",
                    "  do i = 1, n",
                    "    iv(i) = n + 1 - i",
                    "  end do",
                    f"  u = {c()} * a + {c()} * sin(y)",
                    "  w = a(iv)",
                    f"  y = {c()} * y + {c()} * u(0) * w(1) + {c(0.05, 0.2)} * sum(u * w) + {c()} * u(n - 1)",
                    "  deallocate(u, w)",
                    f"end subroutine {pre}lb"]
                calls.append(f"  call {pre}lb(n, {r.choice(ain)}, {y})")
            calls += ["end do",
                      f"{y} = {y} + {c(0.05, 0.2)} * (vv(1) + vv(2) * vv(3) + v2(1) * v2(2))"]
    if not calls:
        return "", [], []
    mod = [f"module {pre}mod", "  implicit none"] + ["  " + x for x in iface] + ["contains"]
    mod += ["  " + x for x in procs] + [f"end module {pre}mod", ""]
    return "\n".join(mod) + "\n", calls, decls


def _rand_args(rng, kind: str, nmode: str, is_head: bool, feat: Features) -> list[Var]:
    args: list[Var] = []
    if kind == "function":
        for k in range(rng.randint(1, 3)):
            args.append(Var(f"x{k + 1}", "real", 0, "in"))
        for k in range(rng.randint(0, 2)):
            args.append(Var(f"a{k + 1}", "real", 1, "in"))
    else:
        ni = rng.randint(1, 3)
        for k in range(ni):
            args.append(Var(f"x{k + 1}", "real", 0, "in"))
        for k in range(rng.randint(0, 2) if not is_head else rng.randint(0, 2)):
            args.append(Var(f"a{k + 1}", "real", 1, "in"))
        for k in range(rng.randint(0, 2)):
            args.append(Var(f"y{k + 1}", "real", 0, "out"))
        for k in range(rng.randint(0, 2)):
            args.append(Var(f"b{k + 1}", "real", 1, "out"))
        for k in range(rng.randint(0, 1)):
            args.append(Var(f"z{k + 1}", "real", rng.randint(0, 1), "inout"))
        if not any(a.intent in ("out", "inout") for a in args):
            args.append(Var("y1", "real", 0, "out"))
        if not is_head and feat.int_args and rng.random() < 0.3:
            args.append(Var("m", "int", 0, "in"))
        if not is_head and feat.moving_index and rng.random() < 0.3:
            args.append(Var("kk", "int", 0, "inout"))
        if is_head and feat.unconnected and rng.random() < 0.2:
            args.append(Var("q1", "real", 0, "out"))
            if rng.random() < 0.5:
                args.append(Var("qx", "real", 0, "in"))
    if not is_head and feat.char_modes and rng.random() < 0.3:
        args.append(Var("md", "char", 0, "in"))
    if not is_head and kind == "subroutine" and feat.records and rng.random() < 0.35:
        args.append(Var("sr", "rec", 0, "inout"))
    rng.shuffle(args)
    if nmode == "arg":
        if rng.random() < 0.5:
            args.insert(0, Var("n", "int", 0, "in"))
        else:
            args.append(Var("n", "int", 0, "in"))
    return args


def generate(seed: int, prefix: str = "p_", feat: Optional[Features] = None,
             size: str = "normal") -> Program:
    rng = random.Random(seed)
    feat = feat or Features()
    n = rng.randint(4, 7)
    nhelp = rng.choice([0, 1, 1, 2, 2, 3])
    sigs: list[Sig] = []
    routines: list[Routine] = []
    called: set = set()
    budget = {"small": 3, "normal": 6, "large": 10}[size]
    common: tuple = ("", [])
    if feat.commons and rng.random() < 0.35:
        gv = [Var("g1", "real", 0, "global")]
        if rng.random() < 0.6:
            gv.append(Var("g2", "real", 1, "global"))
        if feat.global_ints and rng.random() < 0.6:
            gv.append(Var("gi", "int", 0, "global"))
        common = (f"{prefix}cm", gv)
    for k in range(nhelp):
        kind = "function" if (rng.random() < 0.4 and feat.function_calls) else "subroutine"
        if not feat.subroutine_calls:
            kind = "function"
        if not feat.function_calls and kind == "function":
            kind = "subroutine"
        nmode = rng.choice(["param", "arg"])
        name = f"{prefix}{'f' if kind == 'function' else 's'}{k + 1}"
        sig = Sig(name, kind, _rand_args(rng, kind, nmode, False, feat), nmode)
        rc = kind == "function" and feat.result_clause and rng.random() < 0.3
        routines.append(gen_routine(rng, n, sig, list(sigs), feat, called,
                                    rng.randint(2, budget), False, rc, common))
        sigs.append(sig)
    nmode = rng.choice(["param", "arg"])
    head = Sig(f"{prefix}head", "subroutine", _rand_args(rng, "subroutine", nmode, True, feat), nmode)
    routines.append(gen_routine(rng, n, head, list(sigs), feat, called, rng.randint(3, budget + 2),
                                True, common=common))
    p = Program(prefix, seed, n, routines, head)
    if feat.records:
        p.module = (f"module {prefix}types\n  implicit none\n  type {prefix}in\n"
                    f"    real(8) :: x\n  end type {prefix}in\n  type {prefix}rec\n"
                    f"    real(8) :: c1\n    real(8) :: ca({n})\n    integer :: ci\n"
                    f"    type({prefix}in) :: in\n"
                    f"  end type {prefix}rec\n")
        if feat.record_functions:
            p.module += (f"contains\n  function {prefix}rstep(r, a) result(q)\n"
                         f"    type({prefix}rec), intent(in) :: r\n    real(8), intent(in) :: a\n"
                         f"    type({prefix}rec) :: q\n"
                         f"    q%c1 = 0.8d0 * r%c1 + 0.2d0 * sin(a + r%in%x)\n"
                         f"    q%ca = 0.9d0 * r%ca + 0.1d0 * tanh(r%c1 * a)\n"
                         f"    q%ci = r%ci\n"
                         f"    q%in%x = 0.7d0 * r%in%x + 0.1d0 * r%ca(1)\n"
                         f"  end function {prefix}rstep\n")
        p.module += f"end module {prefix}types\n"
    for a in head.args:
        if a.kind != "real":
            continue
        def val():
            # six decimals, not three: on the constants' two-decimal grid an
            # input can sit exactly on a kink, min(a1, a1 + 0.13d0, -0.96d0)
            # with a1(2) = -0.96 (seed 3018): FD then averages the two
            # one-sided slopes, AD takes one
            return round(rng.uniform(-1, 1), 6)
        if a.intent in ("in", "inout"):
            p.inputs[a.name] = [val() for _ in range(n)] if a.rank else val()
            p.direction[a.name] = [round(rng.uniform(-0.5, 0.5), 3) for _ in range(n)] \
                if a.rank else round(rng.uniform(-0.5, 0.5), 3)
        if a.intent in ("out", "inout"):
            p.weight[a.name] = [round(rng.uniform(-0.5, 0.5), 3) for _ in range(n)] \
                if a.rank else round(rng.uniform(-0.5, 0.5), 3)
    return p


# ----------------------------------------------------------------------------
# main programs and check drivers


def _value(v) -> str:
    if isinstance(v, list):
        return "(/ " + ", ".join(lit(x) for x in v) + " /)"
    return lit(v)


def main_program(progs: list[Program], name: str = "randmain") -> str:
    """A main program calling every head on its inputs and printing outputs."""
    out = [f"program {name}", "  implicit none"]
    body = []
    for p in progs:
        pre = p.prefix
        for a in p.head.args:
            if a.kind == "real":
                out.append(f"  real(8) :: {pre}{a.name}" + (f"({p.n})" if a.rank else ""))
        for a in p.head.args:
            if a.kind == "real":
                v = p.inputs.get(a.name, [0.0] * p.n if a.rank else 0.0)
                body.append(f"  {pre}{a.name} = {_value(v)}")
        acts = [str(p.n) if a.kind == "int" else pre + a.name for a in p.head.args]
        body.append(f"  call {p.head.name}({', '.join(acts)})")
        for a in p.head.args:
            if a.kind == "real" and a.intent in ("out", "inout"):
                body.append(f"  write(*, '(a, 8es24.15)') '{pre}{a.name}', {pre}{a.name}")
    out += body + [f"end program {name}"]
    return "\n".join(y for x in out for y in _wrap(x)) + "\n"


def check_routine(p: Program, b_args: list[str], d_args: list[str], h: float = 1e-6) -> str:
    """A subroutine <prefix>check that runs head_d, head_b and central finite
    differences on the program's point and prints
    ADCHECK <prefix> <tangent_dot> <adjoint_dot> <fd> <|grad|^2> <stack left>.
    b_args/d_args are the generated argument lists (they say which formals
    have derivatives)."""
    n = p.n
    reals = [a for a in p.head.args if a.kind == "real"]

    # Every real argument of a random head is named in its spec, so its
    # derivative argument must be there whatever adtool's analysis finds
    # (interface.md): a missing one fails to compile here.
    spec = set(p.independents) | set(p.dependents)

    def has(args, a, suf):
        return a in spec
    L = []
    dim = lambda a: f"({n})" if a.rank else ""
    decl = [f"subroutine {p.prefix}check()", "  use adstack", "  implicit none"]
    for a in reals:
        decl.append(f"  real(8) :: {a.name}{dim(a)}, {a.name}_d{dim(a)}, {a.name}_b{dim(a)}, "
                    f"{a.name}_0{dim(a)}, {a.name}_v{dim(a)}, {a.name}_w{dim(a)}")
    decl.append("  real(8) :: ad_lhs, ad_rhs, ad_fp, ad_fm, ad_nrm, ad_h")
    decl.append("  integer(8) :: ad_before, ad_left")
    tot = lambda a, e: f"sum({e})" if a.rank else e
    for a in reals:
        L.append(f"{a.name}_0 = {_value(p.inputs.get(a.name, [0.0] * n if a.rank else 0.0))}")
        L.append(f"{a.name}_v = {_value(p.direction.get(a.name, [0.0] * n if a.rank else 0.0))}")
        L.append(f"{a.name}_w = {_value(p.weight.get(a.name, [0.0] * n if a.rank else 0.0))}")

    def call(which):
        args = b_args if which == "b" else d_args
        acts = []
        for a in p.head.args:
            acts.append(str(n) if a.kind == "int" else a.name)
            if a.kind == "real" and which and has(args, a.name, which):
                if not (a.name in args and args.index(a.name) + 1 < len(args)
                        and args[args.index(a.name) + 1] == a.name + which):
                    raise AssertionError(f"{p.head.name}_{which} has no derivative argument "
                                         f"for '{a.name}' named in the head spec {p.spec}")
                acts.append(f"{a.name}_{which}")
        return f"call {p.head.name}{'_' + which if which else ''}({', '.join(acts)})"
    # tangent
    for a in reals:
        L.append(f"{a.name} = {a.name}_0")
        L.append(f"{a.name}_d = {a.name}_v")
    L.append(call("d"))
    L.append("ad_lhs = 0.0d0")
    for a in reals:
        if a.name in p.weight:
            L.append(f"ad_lhs = ad_lhs + {tot(a, f'{a.name}_w * {a.name}_d')}")
    # adjoint
    for a in reals:
        L.append(f"{a.name} = {a.name}_0")
        L.append(f"{a.name}_b = {a.name}_w")
    L.append("ad_before = ad_stack_bytes()")
    L.append(call("b"))
    L.append("ad_left = ad_stack_bytes() - ad_before")
    L.append("ad_rhs = 0.0d0")
    L.append("ad_nrm = 0.0d0")
    for a in reals:
        if a.name in p.direction:
            L.append(f"ad_rhs = ad_rhs + {tot(a, f'{a.name}_b * {a.name}_v')}")
            L.append(f"ad_nrm = ad_nrm + {tot(a, f'{a.name}_b ** 2')}")
    L.append(f"ad_h = {lit(h)}")
    for sign, tgt in (("+", "ad_fp"), ("-", "ad_fm")):
        for a in reals:
            L.append(f"{a.name} = {a.name}_0 {sign} ad_h * {a.name}_v")
        L.append(call(""))
        L.append(f"{tgt} = 0.0d0")
        for a in reals:
            if a.name in p.weight:
                L.append(f"{tgt} = {tgt} + {tot(a, f'{a.name}_w * {a.name}')}")
    L.append(f"write(*, '(a, a, 4es26.17e3, i14)') 'ADCHECK ', '{p.prefix}', ad_lhs, ad_rhs, "
             "(ad_fp - ad_fm) / (2.0d0 * ad_h), ad_nrm, ad_left")
    out = decl + ["  " + x for x in L] + [f"end subroutine {p.prefix}check"]
    return "\n".join(y for x in out for y in _wrap(x)) + "\n"


def driver(progs: list[Program], b_args: dict, d_args: dict) -> str:
    parts = [check_routine(p, b_args[p.head.name], d_args[p.head.name]) for p in progs]
    parts.append("program randcheck\n  implicit none\n"
                 + "".join(f"  call {p.prefix}check()\n" for p in progs)
                 + "end program randcheck\n")
    return "\n".join(parts)


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("seed", type=int)
    ap.add_argument("--prefix", default="p_")
    ap.add_argument("--size", default="normal", choices=["small", "normal", "large"])
    a = ap.parse_args()
    prog = generate(a.seed, a.prefix, size=a.size)
    sys.stdout.write(f"! random program, seed {a.seed}; head spec: {prog.spec}\n")
    sys.stdout.write(prog.text + "\n" + main_program([prog]))
