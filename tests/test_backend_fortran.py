"""Fortran backend: printed text checked exactly where spelling matters
(precedence, literals, declarations), and whole programs compiled with
gfortran -Wall -Werror and run, so that the output is known to be valid
Fortran with the intended meaning."""
from __future__ import annotations

import random
import shutil
import subprocess

import pytest

from adtool.backend.fortran import (declaration_order, emit_routine, emit_stmts,
                                    emit_unit, fold_line)
from adtool.backend.fortran_expr import fexpr
from adtool.diagnostics import AdError
from adtool.ir.nodes import (INT4, INT8, LOGICAL, REAL4, REAL8, Allocate,
                             ArrayCtor, Assign, Part, Bin, Call, CallStmt, Case, Cast,
                             Cond, Continue, Cycle, Deallocate, Dim, Directive,
                             Exit, Goto, If, ImpliedDo, Lit, Loop, Module,
                             NOSPAN, Print, Raw, Ref, Return, Routine, Section,
                             Select, Stop, Symbol, TranslationUnit, Type, Un,
                             Use, While)

GFORTRAN = shutil.which("gfortran")
needs_gfortran = pytest.mark.skipif(GFORTRAN is None, reason="gfortran not installed")
CHAR = Type("character", 1, Lit("8", INT4))


# ---------------------------------------------------------------- builders

def I(v: int) -> Lit:
    return Lit(str(v), INT4)


def D(text: str) -> Lit:
    return Lit(text, REAL8)


def V(name: str, *subs) -> Ref:
    return Ref(name, list(subs) if subs else None)


def S(name: str, t: Type = REAL8, dims=(), **kw) -> Symbol:
    shape = [d if isinstance(d, Dim) else Dim(None, I(d) if isinstance(d, int) else d)
             for d in dims]
    return Symbol(name, t, shape=shape, **kw)


def syms(*ss: Symbol) -> dict[str, Symbol]:
    return {s.name: s for s in ss}


def prog(name, symbols, body, **kw) -> Routine:
    return Routine(name, "program", [], symbols, body, **kw)


def out(*items) -> Print:
    return Print(list(items))


def unit(*routines, modules=()) -> TranslationUnit:
    return TranslationUnit("fortran", [], list(modules), list(routines))


def run(tmp_path, source: str, name: str = "prog") -> list[float]:
    """Compile and run; every whitespace-separated token of stdout as a number."""
    src = tmp_path / f"{name}.f90"
    src.write_text(source)
    exe = tmp_path / name
    cp = subprocess.run([GFORTRAN, "-Wall", "-Wno-unused-dummy-argument", "-Werror",
                         "-J", str(tmp_path), "-o", str(exe), str(src)],
                        capture_output=True, text=True)
    assert cp.returncode == 0, cp.stderr + "\n" + source
    res = subprocess.run([str(exe)], capture_output=True, text=True, timeout=10)
    assert res.returncode == 0, res.stderr
    return [float(t) for t in res.stdout.split()]


def assert_lines_fit(text: str) -> None:
    assert all(len(line) <= 132 for line in text.splitlines())


# ---------------------------------------------------------------- expressions

a, b, c, p, q, r = (V(n) for n in "abcpqr")


@pytest.mark.parametrize("expr, text", [
    (Bin("-", a, Bin("-", b, c)), "a - (b - c)"),
    (Bin("-", Bin("-", a, b), c), "a - b - c"),
    (Bin("+", a, Bin("+", b, c)), "a + (b + c)"),
    (Bin("/", a, Bin("*", b, c)), "a / (b * c)"),
    (Bin("*", Bin("/", a, b), c), "a / b * c"),
    (Bin("*", Bin("+", a, b), c), "(a + b) * c"),
    (Un("-", Bin("**", a, I(2))), "-a ** 2"),
    (Bin("**", Un("-", a), I(2)), "(-a) ** 2"),
    (Bin("**", a, Bin("**", b, c)), "a ** b ** c"),
    (Bin("**", Bin("**", a, b), c), "(a ** b) ** c"),
    (Bin("**", a, Bin("*", b, c)), "a ** (b * c)"),
    (Bin("*", a, Un("-", b)), "a * (-b)"),
    (Bin("+", Un("-", a), b), "-a + b"),
    (Bin("*", Un("-", a), b), "-a * b"),
    (Un("-", Bin("*", a, b)), "-a * b"),
    (Un("-", Bin("+", a, b)), "-(a + b)"),
    (Un("-", Un("-", a)), "-(-a)"),
    (Bin("-", a, Lit("-1", INT4)), "a - (-1)"),
    (Bin("**", D("-2.0"), I(2)), "(-2.0d0) ** 2"),
    (Bin("-", a, Bin("*", Un("-", b), c)), "a - (-b * c)"),
    (Un("not", Bin("and", p, q)), ".not. (p .and. q)"),
    (Bin("and", p, Un("not", q)), "p .and. .not. q"),
    (Bin("and", Bin("or", p, q), r), "(p .or. q) .and. r"),
    (Bin("or", Bin("and", p, q), r), "p .and. q .or. r"),
    (Bin("neqv", p, Bin("eqv", q, r)), "p .neqv. (q .eqv. r)"),
    (Bin("eqv", Bin("==", a, b), Un("not", p)), "a == b .eqv. .not. p"),
    (Bin("<", Bin("+", a, b), c), "a + b < c"),
    (Bin("!=", a, b), "a /= b"),
    (Bin("concat", Bin("concat", a, b), c), "a // b // c"),
    (Bin("*", Bin("concat", a, b), c), "(a // b) * c"),
])
def test_precedence(expr, text):
    assert fexpr(expr) == text


@pytest.mark.parametrize("expr, text", [
    (D("1.5"), "1.5d0"), (D("1.5e-3"), "1.5d-3"), (D("2."), "2.d0"),
    (D("3e0"), "3d0"), (D("1.5E+3"), "1.5d+3"), (Lit("3e0", REAL4), "3e0"),
    (Lit("2", REAL4), "2."), (Lit("0.25", REAL4), "0.25"),
    (Lit("true", LOGICAL), ".true."), (Lit("false", LOGICAL), ".false."),
    (Lit("it's", CHAR), "'it''s'"), (Lit("42", INT4), "42"),
    (Lit("5000000000", INT8), "5000000000_8"),
    (Lit("(1.5, -2)", Type("complex", 16)), "(1.5d0, -2d0)"),
    (V("a", Section(I(1), V("n"), I(2))), "a(1:n:2)"),
    (V("a", Section()), "a(:)"),
    (V("a", Section(I(2))), "a(2:)"),
    (V("a", Section(None, V("n"))), "a(:n)"),
    (V("a", Section(), V("j")), "a(:, j)"),
    (Ref("t", path=[Part("m")]), "t%m"),
    (Ref("s", [I(2)], path=[Part("a"), Part("b", [Ref("j")])]), "s(2)%a%b(j)"),
    (Ref("t", [I(2)], path=[Part("m")]), "t(2)%m"),
    (Call("sum", [V("a")], [("dim", I(1))], intrinsic=True), "sum(a, dim=1)"),
    (Call("f", []), "f()"),
    (Cast(REAL8, V("i")), "real(i, 8)"),
    (Cast(REAL4, V("i")), "real(i, 4)"),
    (Cast(INT4, V("x")), "int(x)"),
    (Cast(INT8, V("x")), "int(x, 8)"),
    (Cond(Bin(">", a, b), a, b), "merge(a, b, a > b)"),
    (ArrayCtor([I(1), I(2)]), "(/ 1, 2 /)"),
    (ArrayCtor([ImpliedDo([Bin("*", V("i"), I(2))], "i", I(1), I(3))]),
     "(/ (i * 2, i = 1, 3) /)"),
    (ImpliedDo([V("a", V("i"))], "i", I(10), I(1), Lit("-1", INT4)),
     "(a(i), i = 10, 1, -1)"),
])
def test_expression_spelling(expr, text):
    assert fexpr(expr) == text


def test_logical_cast_is_an_error():
    with pytest.raises(AdError):
        fexpr(Cast(LOGICAL, V("x")))


def _random_tree(rng: random.Random, depth: int):
    """(expr, python value) over real(8) leaves; exponents stay small ints so
    Python and Fortran compute the same operations."""
    leaves = {"a": 1.25, "b": -0.75, "c": 2.5}
    if depth == 0 or rng.random() < 0.2:
        if rng.random() < 0.25:
            v = rng.choice([0.5, -1.5, 3.0])
            return D(repr(v)), v
        n = rng.choice("abc")
        return V(n), leaves[n]
    kind = rng.random()
    if kind < 0.15:
        e, v = _random_tree(rng, depth - 1)
        return Un("-", e), -v
    if kind < 0.3:
        e, v = _random_tree(rng, depth - 1)
        k = rng.choice([2, 3])
        return Bin("**", e, I(k)), v ** k
    op = rng.choice("+-*/")
    le, lv = _random_tree(rng, depth - 1)
    re_, rv = _random_tree(rng, depth - 1)
    if op == "/" and abs(rv) < 0.1:
        op = "*"
    v = {"+": lv + rv, "-": lv - rv, "*": lv * rv, "/": lv / rv if op == "/" else 0}[op]
    return Bin(op, le, re_), v


@needs_gfortran
def test_precedence_numerically(tmp_path):
    rng = random.Random(7)
    exprs, want = [], []
    while len(exprs) < 60:
        e, v = _random_tree(rng, 4)
        if abs(v) < 1e6:
            exprs.append(e)
            want.append(v)
    # integer powers: right association is visible in the value
    ints = [(Bin("**", V("i"), Bin("**", V("j"), V("k"))), 2 ** 3 ** 2),
            (Bin("**", Bin("**", V("i"), V("j")), V("k")), (2 ** 3) ** 2),
            (Bin("-", V("i"), Bin("-", V("j"), V("k"))), 2 - (3 - 2)),
            (Un("-", Bin("**", V("i"), V("k"))), -(2 ** 2)),
            (Bin("**", Un("-", V("i")), V("k")), (-2) ** 2)]
    body = [Assign(V("a"), D("1.25")), Assign(V("b"), D("-0.75")), Assign(V("c"), D("2.5")),
            Assign(V("i"), I(2)), Assign(V("j"), I(3)), Assign(V("k"), I(2))]
    body += [out(e) for e in exprs] + [out(e) for e, _ in ints]
    r = prog("prec", syms(S("a"), S("b"), S("c"), S("i", INT4), S("j", INT4),
                          S("k", INT4)), body)
    got = run(tmp_path, emit_unit(unit(r)))
    assert len(got) == len(want) + len(ints)
    for g, w in zip(got, want + [v for _, v in ints]):
        assert g == pytest.approx(w, rel=1e-12, abs=1e-12)


# ---------------------------------------------------------------- statements

def test_labels_directives_and_raw_text():
    body = [Continue(label=10),
            Assign(V("i"), Bin("+", V("i"), I(1)), directives=[
                Directive("CHECKPOINT", ["start", "x"], NOSPAN)]),
            If([(Bin("<", V("i"), I(3)), [Goto(10)])]),
            Raw("call push(x)\ncall pop(x)", label=20)]
    lines = emit_stmts(body, 2)
    assert lines == ["10  continue",
                     "    !$AD CHECKPOINT start x",
                     "    i = i + 1",
                     "    if (i < 3) then",
                     "      go to 10",
                     "    end if",
                     "20  call push(x)",
                     "    call pop(x)"]


def test_select_while_and_misc_statement_spelling():
    sel = Select(V("k"), [Case([I(1), Section(I(3), I(5)), Section(None, I(0))], [Return()]),
                          Case([Section(I(9), None)], [Stop(I(2))])],
                 default=[Exit("outer")])
    assert emit_stmts([sel], 0) == ["select case (k)", "case (1, 3:5, :0)", "  return",
                                    "case (9:)", "  stop 2", "case default",
                                    "  exit outer", "end select"]
    w = While(Bin(">", V("x"), D("0.")), [Cycle()], post_test=False, name="w")
    assert emit_stmts([w], 0) == ["w: do while (x > 0.d0)", "  cycle", "end do w"]
    misc = [Allocate([Ref("a", [Section(I(0), V("n")), V("m")])]),
            Deallocate(["a", "b"]),
            Print([V("x"), Lit("it's", CHAR)], unit=I(6), fmt="(f8.3, ' a''b')"),
            CallStmt("s", [V("x"), Bin("+", V("y"), I(1))]),
            Loop("i", V("n"), I(1), Lit("-1", INT4), [], name="l1")]
    assert emit_stmts(misc, 1) == [
        "  allocate(a(0:n, m))", "  deallocate(a, b)",
        "  write(6, '(f8.3, '' a''''b'')') x, 'it''s'",
        "  call s(x, y + 1)", "  l1: do i = n, 1, -1", "  end do l1"]


@needs_gfortran
def test_goto_and_labelled_continue(tmp_path):
    body = [Assign(V("i"), I(0)), Assign(V("s"), D("0.")),
            Continue(label=10),
            Assign(V("i"), Bin("+", V("i"), I(1))),
            Assign(V("s"), Bin("+", V("s"), Cast(REAL8, V("i")))),
            If([(Bin("<", V("i"), I(5)), [Goto(10)])]),
            If([(Bin(">", V("s"), D("100.")), [Goto(20)])]),
            out(V("s")),
            Continue(label=20)]
    text = emit_unit(unit(prog("labels", syms(S("i", INT4), S("s")), body)))
    assert "\n10 continue\n" in text and "go to 10" in text
    assert run(tmp_path, text) == [15.0]


@needs_gfortran
def test_select_case_ranges(tmp_path):
    def add(n):
        return [Assign(V("k"), Bin("+", V("k"), I(n)))]
    sel = Select(V("i"), [Case([Section(None, I(0))], add(1)),
                          Case([I(1), Section(I(3), I(5))], add(10)),
                          Case([Section(I(6), None)], add(100))],
                 default=add(1000))
    body = [Assign(V("k"), I(0)), Loop("i", Lit("-2", INT4), I(7), None, [sel]), out(V("k"))]
    text = emit_unit(unit(prog("sel", syms(S("i", INT4), S("k", INT4)), body)))
    assert "case (1, 3:5)" in text and "case (:0)" in text and "case (6:)" in text
    assert run(tmp_path, text) == [3 + 40 + 200 + 1000]


@needs_gfortran
def test_while_exit_cycle_and_post_test(tmp_path):
    inc = Assign(V("i"), Bin("+", V("i"), I(1)))
    pre = While(Bin("<", V("i"), I(100)), [
        inc,
        If([(Bin("==", Call("mod", [V("i"), I(2)], intrinsic=True), I(0)), [Cycle()])]),
        If([(Bin(">", V("i"), I(9)), [Exit()])]),
        Assign(V("s"), Bin("+", V("s"), V("i")))])
    # C do { ... continue; ... } while (i < 5): continue must still test
    post = While(Bin("<", V("i"), I(5)), [
        inc, If([(Bin("==", V("i"), I(3)), [Cycle()])]),
        Loop("j", I(1), I(2), None, [If([(Bin("==", V("j"), I(2)), [Cycle()])]),
                                     Assign(V("t"), Bin("+", V("t"), I(100)))]),
        If([(Bin(">", V("t"), I(10000)), [Exit()])]),
        Assign(V("t"), Bin("+", V("t"), V("i")))], post_test=True)
    named = Loop("i", I(1), I(3), None, [
        Loop("j", I(1), I(3), None, [
            If([(Bin("==", V("j"), I(2)), [Cycle("outer")])]),
            If([(Bin("==", V("i"), I(3)), [Exit("outer")])]),
            Assign(V("u"), Bin("+", V("u"), I(1)))])], name="outer")
    simple_post = While(Bin("<", V("i"), I(3)), [inc], post_test=True)
    body = [Assign(V("i"), I(0)), Assign(V("s"), I(0)), pre, out(V("s")),
            Assign(V("i"), I(0)), Assign(V("t"), I(0)), post, out(V("t")),
            Assign(V("u"), I(0)), named, out(V("u")),
            Assign(V("i"), I(10)), simple_post, out(V("i"))]
    r = prog("loops", syms(*(S(n, INT4) for n in "ijstu")), body)
    text = emit_unit(unit(r))
    assert "do while (i < 100)" in text and "cycle outer" in text
    assert "if (.not. (i < 3)) exit" in text
    # post-tested: passes i = 1..5, the one with i == 3 cycles straight to the
    # test; each other pass adds 100 (inner loop, j == 2 cycled) and i
    assert run(tmp_path, text) == [25, 1 + 2 + 4 + 5 + 4 * 100, 2, 11]


@needs_gfortran
def test_nested_loops_negative_step(tmp_path):
    inner = Loop("j", V("i"), I(1), Lit("-1", INT4), [
        Assign(V("s"), Bin("+", Bin("*", V("s"), I(10)), V("j")))])
    outer = Loop("i", I(3), I(1), Lit("-1", INT4), [inner])
    odd = Loop("i", I(9), I(0), Lit("-3", INT4), [Assign(V("t"), Bin("+", V("t"), V("i")))])
    body = [Assign(V("s"), Lit("0", INT8)), Assign(V("t"), I(0)), outer, odd,
            out(V("s")), out(V("t"))]
    r = prog("neg", syms(S("i", INT4), S("j", INT4), S("s", INT8), S("t", INT4)), body)
    text = emit_unit(unit(r))
    assert "do i = 3, 1, -1" in text and "do j = i, 1, -1" in text
    want = 0
    for i in range(3, 0, -1):
        for j in range(i, 0, -1):
            want = want * 10 + j
    assert run(tmp_path, text) == [want, 9 + 6 + 3 + 0]


@needs_gfortran
def test_array_sections_and_intrinsics(tmp_path):
    m22 = S("m", dims=[2, 2], is_parameter=True,
            value=Call("reshape", [ArrayCtor([D("1."), D("2."), D("3."), D("4.")]),
                                   ArrayCtor([I(2), I(2)])], intrinsic=True))
    body = [Assign(V("a"), ArrayCtor([ImpliedDo([Cast(REAL8, V("i"))], "i", I(1), I(6))])),
            out(Call("sum", [V("a", Section(I(1), I(6), I(2)))], intrinsic=True)),
            out(Call("sum", [V("a", Section(I(2)))], intrinsic=True)),
            out(Call("sum", [V("a", Section(None, I(3)))], intrinsic=True)),
            Assign(V("v"), Call("matmul", [V("m"), V("a", Section(I(1), I(2)))], intrinsic=True)),
            out(V("v", I(1)), V("v", I(2))),
            out(Call("sum", [V("m")], [("dim", I(1))], intrinsic=True)),
            Assign(V("a", Section(I(5), I(1), Lit("-2", INT4))), D("0.")),
            out(Call("sum", [V("a", Section())], intrinsic=True))]
    r = prog("arrays", syms(S("i", INT4), S("a", dims=[6]), S("v", dims=[2]), m22), body)
    text = emit_unit(unit(r))
    assert "a(1:6:2)" in text and "a(2:)" in text and "a(:3)" in text
    # m = [[1,3],[2,4]] (column-major); m @ (1, 2) = (7, 10)
    assert run(tmp_path, text) == [9, 20, 6, 7, 10, 3, 7, 21 - 9]


@needs_gfortran
def test_parameter_arrays_in_dependency_order(tmp_path):
    # inserted in an order the compiler would reject
    w = S("w", dims=[V("n")], is_parameter=True,
          value=ArrayCtor([ImpliedDo([Bin("*", D("0.5"), Cast(REAL8, V("i")))],
                                     "i", I(1), V("n"))]))
    x = S("x", dims=[Dim(I(0), V("m"))])
    mm = S("m", INT4, is_parameter=True, value=Bin("+", V("n"), I(1)))
    n = S("n", INT4, is_parameter=True, value=I(4))
    name = S("label", Type("character", 1, V("n")), is_parameter=True,
             value=Lit("abcd", CHAR))
    i = S("i", INT4)
    order = [s.name for s in declaration_order([x, w, mm, i, name, n])]
    assert order.index("n") < order.index("w") < order.index("x")
    assert order.index("n") < order.index("m") < order.index("x")
    assert order.index("n") < order.index("label")
    body = [Assign(V("x"), D("1.")),
            Assign(V("x", Section(I(1), V("n"))), V("w")),
            out(Call("sum", [V("x")], intrinsic=True), Call("len", [V("label")], intrinsic=True))]
    r = prog("params", syms(x, w, mm, i, name, n), body)
    text = emit_unit(unit(r))
    assert "real(8), parameter :: w(n) = (/ (0.5d0 * real(i, 8), i = 1, n) /)" in text
    assert "integer, parameter :: m = n + 1" in text
    assert "real(8) :: x(0:m)" in text
    assert "character(len=n), parameter :: label = 'abcd'" in text
    assert run(tmp_path, text) == [2 + 0.5 * (1 + 2 + 3 + 4), 4]   # x(0), x(5) = 1


@needs_gfortran
def test_long_lines_are_continued(tmp_path):
    terms = None
    for k in range(1, 41):
        t = Bin("*", V("a", I(k)), D(f"{k}.5"))
        terms = t if terms is None else Bin("+", terms, t)
    long_name = "a_rather_long_variable_name_" + "x" * 30
    msg = "This message is long enough to force a split inside the literal; " * 3
    body = [Assign(V("a"), D("1.")),
            Assign(V("s"), terms),
            Assign(V(long_name), Call("max", [V("s")] * 12, intrinsic=True)),
            out(V("s"), V(long_name)),
            Print([Lit(msg, Type("character", 1, None))], fmt="(a)")]
    r = prog("longlines", syms(S("a", dims=[40]), S("s"), S(long_name)), body)
    text = emit_unit(unit(r))
    assert_lines_fit(text)
    assert any(line.rstrip().endswith("&") for line in text.splitlines())
    assert any(line.lstrip().startswith("&") for line in text.splitlines())
    src = tmp_path / "longlines.f90"
    src.write_text(text)
    exe = tmp_path / "longlines"
    cp = subprocess.run([GFORTRAN, "-Wall", "-Werror", "-o", str(exe), str(src)],
                        capture_output=True, text=True, cwd=tmp_path)
    assert cp.returncode == 0, cp.stderr
    res = subprocess.run([str(exe)], capture_output=True, text=True).stdout.split("\n")
    want = sum(k + 0.5 for k in range(1, 41))
    assert [float(t) for t in res[0].split()] == pytest.approx([want, want])
    assert res[1].rstrip() == msg.rstrip()


def test_fold_line_keeps_comments_and_strings():
    comment = "  ! " + "x" * 200
    assert fold_line(comment) == [comment]
    stmt = "  call f(" + ", ".join(f"'a,{k} b'" for k in range(30)) + ")"
    lines = fold_line(stmt)
    assert len(lines) > 1 and all(len(s) <= 132 for s in lines)
    # breaks never fall inside a literal: every piece has balanced quotes
    assert all(s.count("'") % 2 == 0 for s in lines)


# ---------------------------------------------------------------- program units

@needs_gfortran
def test_module_variables_and_module_procedure(tmp_path):
    mod_syms = syms(S("factor", storage="module", module="state", init=D("2.")),
                    S("calls", INT4, storage="module", module="state", init=I(0)),
                    S("hist", dims=[Dim(None, None, assumed=True)], storage="module",
                      module="state", allocatable=True))
    bump = Routine("bump", "subroutine", ["x"],
                   syms(S("x", intent="inout", storage="arg"),
                        # host-visible module variables may sit in the table too
                        mod_syms["factor"], mod_syms["calls"]),
                   [Assign(V("x"), Bin("*", V("x"), V("factor"))),
                    Assign(V("calls"), Bin("+", V("calls"), I(1)))],
                   module="state")
    twice = Routine("twice", "function", ["y"],
                    syms(S("y", intent="in", storage="arg"), S("res", storage="result")),
                    [Assign(V("res"), Bin("*", V("y"), I(2)))], result="res",
                    module="state")
    m = Module("state", mod_syms, [bump, twice])
    main = prog("main", syms(S("z"), S("n", INT4, storage="module", module="state")),
                [Assign(V("z"), D("1.5")),
                 CallStmt("bump", [V("z")]), CallStmt("bump", [V("z")]),
                 Allocate([Ref("hist", [V("ncalls")])]),
                 Assign(V("hist"), V("z")),
                 out(V("z"), V("ncalls"), Call("twice", [Call("sum", [V("hist")],
                                                              intrinsic=True)])),
                 Deallocate(["hist"])],
                uses=[Use("state", only=["bump", "twice", "hist"],
                          renames=[("ncalls", "calls")])])
    text = emit_unit(unit(main, modules=[m]))
    assert text.index("module state") < text.index("program main")
    assert "use state, only: bump, twice, hist, ncalls => calls" in text
    assert "real(8), allocatable :: hist(:)" in text
    assert "function twice(y) result(res)" in text
    assert text.count(":: factor") == 1          # declared in the module only
    assert run(tmp_path, text) == [6.0, 2, 24.0]


@needs_gfortran
def test_external_functions(tmp_path):
    f = Routine("f", "function", ["x"],
                syms(S("x", intent="in", storage="arg"), S("f", storage="result")),
                [Assign(V("f"), Bin("+", Bin("**", V("x"), I(2)), D("1.")))], result="f")
    g = Routine("g", "function", ["x", "h"],
                syms(S("x", intent="in", storage="arg"),
                     S("h", storage="arg", external=True),
                     S("r", storage="result")),
                [Assign(V("r"), Bin("*", D("2."), Call("h", [V("x")])))], result="r")
    s = Routine("show", "subroutine", ["v"], syms(S("v", intent="in", storage="arg")),
                [out(V("v"))], directives=[Directive("NOCHECKPOINT", [], NOSPAN)])
    main = prog("caller", syms(S("f", external=True), S("g", external=True),
                               S("show", Type("void"), external=True), S("y")),
                [Assign(V("y"), Call("f", [D("2.")])), CallStmt("show", [V("y")]),
                 CallStmt("show", [Call("g", [D("3."), V("f")])])])
    text = emit_unit(unit(main, f, g, s))
    assert "real(8), external :: f" in text and "  external :: show" in text
    assert "function f(x)\n" in text and "real(8) :: f\n" in text
    assert "function g(x, h) result(r)" in text and "real(8), external :: h" in text
    assert "!$AD NOCHECKPOINT\nsubroutine show(v)" in text
    assert run(tmp_path, text) == [5.0, 20.0]


@needs_gfortran
def test_common_blocks(tmp_path):
    def common_syms():
        return syms(S("a", storage="common", common="blk"),
                    S("v", dims=[3], storage="common", common="blk"),
                    S("k", INT4, storage="common", common=""))
    setc = Routine("setc", "subroutine", [], common_syms(),
                   [Assign(V("a"), D("1.5")), Assign(V("v"), Bin("*", V("a"), D("2."))),
                    Assign(V("k"), I(7))],
                   commons={"blk": ["a", "v"], "": ["k"]})
    main = prog("com", {**common_syms(), "setc": S("setc", Type("void"), external=True)},
                [CallStmt("setc", []),
                 out(V("a"), Call("sum", [V("v")], intrinsic=True), V("k"))],
                commons={"blk": ["a", "v"], "": ["k"]})
    text = emit_unit(unit(main, setc))
    assert "common /blk/ a, v" in text and "common // k" in text
    lines = text.splitlines()
    assert lines.index("  common /blk/ a, v") > lines.index("  real(8) :: v(3)")
    assert run(tmp_path, text) == [1.5, 9.0, 7]


@needs_gfortran
def test_internal_procedure_and_saved_local(tmp_path):
    counter = Routine("tick", "subroutine", [], syms(S("n", INT4, save=True), S("m", INT4, init=I(0))),
                      [Assign(V("m"), Bin("+", V("m"), I(1))), out(V("m"))], host="main")
    sq = Routine("sq", "function", ["x"],
                 syms(S("x", intent="in", storage="arg"), S("sq", storage="result")),
                 [Assign(V("sq"), Bin("*", V("x"), V("x")))], result="sq", host="main")
    main = prog("main", syms(S("y"), S("sq")),   # a front end may list sq here too
                [CallStmt("tick", []), CallStmt("tick", []),
                 Assign(V("y"), Call("sq", [D("3.")])), out(V("y"))],
                contains=[counter, sq])
    text = emit_unit(unit(main))
    assert "contains\n  subroutine tick()" in text
    assert "integer, save :: n" in text and "integer :: m = 0" in text
    assert "real(8) :: sq\n" not in text.split("contains")[0]
    # n is unused: allow that warning only here
    src = tmp_path / "internal.f90"
    src.write_text(text)
    cp = subprocess.run([GFORTRAN, "-Wall", "-Werror", "-Wno-unused-variable",
                         "-o", str(tmp_path / "internal"), str(src)],
                        capture_output=True, text=True, cwd=tmp_path)
    assert cp.returncode == 0, cp.stderr
    res = subprocess.run([str(tmp_path / "internal")], capture_output=True, text=True)
    assert [float(t) for t in res.stdout.split()] == [1, 2, 9]


def test_emit_routine_indent_keeps_labels_in_margin():
    r = Routine("s", "subroutine", ["x"], syms(S("x", intent="out", storage="arg")),
                [Assign(V("x"), D("0."), label=100), Return()])
    assert emit_routine(r, indent=1).splitlines() == [
        "  subroutine s(x)",
        "    implicit none",
        "    real(8), intent(out) :: x",
        "",
        "100 x = 0.d0",
        "    return",
        "  end subroutine s"]


def test_output_parses_with_fparser():
    fparser = pytest.importorskip("fparser.two.parser")
    from fparser.common.readfortran import FortranStringReader
    m = Module("mm", syms(S("g", storage="module")), [
        Routine("s", "subroutine", ["n", "x"],
                syms(S("n", INT4, intent="in", storage="arg"),
                     S("x", dims=[V("n")], intent="inout", storage="arg"), S("i", INT4)),
                [Loop("i", I(1), V("n"), None,
                      [Assign(V("x", V("i")), Bin("*", V("g"), V("x", V("i"))))])],
                module="mm")])
    text = emit_unit(unit(modules=[m]))
    parser = fparser.ParserFactory().create(std="f2008")
    tree = parser(FortranStringReader(text, ignore_comments=False))
    assert "SUBROUTINE s" in str(tree)
