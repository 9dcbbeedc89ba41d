"""Reading whole C programs: only what adtool differentiates may stop it
(issue 10).  Functions outside the head's call tree are parsed for the call
graph and otherwise left alone; unknown pragmas are ignored with a warning
naming them; headers the fake libc lacks do not stop preprocessing; every
error of the head's call tree is reported, not only the first; C names keep
their case."""
import subprocess
import sys
from pathlib import Path

from adtool.pipeline import Options, generate

ROOT = Path(__file__).resolve().parent.parent
GEMM = ROOT / "fixtures" / "c" / "permissive" / "gemm_main.c"


def _adtool(*args):
    return subprocess.run([sys.executable, "-m", "adtool", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT)


def test_kernel_of_a_whole_program_differentiates_and_compiles(tmp_path):
    out = tmp_path / "g_b.c"
    p = _adtool("differentiate", GEMM, "--head", "kernel_gemm(C)/(A B)", "-o", out)
    assert p.returncode == 0, p.stderr
    for prag in ("#pragma scop", "#pragma omp parallel for", "#pragma endscop"):
        assert f"warning: ignored '{prag}'" in p.stderr
    assert "void kernel_gemm_b(int n, double *C, double *Cb, double *A, double *Ab, double *B, double *Bb)" \
        in out.read_text()
    subprocess.run(["python3", "-m", "adtool", "runtime", str(tmp_path / "rt")], check=True, cwd=ROOT)
    cc = subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", str(tmp_path / "rt"),
                         "-c", str(out), "-o", str(tmp_path / "g.o")], capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr


def test_every_error_of_the_call_tree_is_reported():
    p = _adtool("differentiate", GEMM, "--head", "main", "-o", "/dev/null")
    assert p.returncode == 1
    errors = [ln for ln in p.stderr.splitlines() if ": error: " in ln]
    # main's own (char **argv) and those of the helpers it calls (wall,
    # show: printf("%s", name) of a `const char *name`)
    assert len(errors) >= 4, p.stderr
    assert any("gemm_main.c:11:20: error: unsupported construct: struct" in e for e in errors), p.stderr
    assert any("gemm_main.c:18:28: error: unsupported construct: string (char array or pointer) used as a "
               "value (name)" in e for e in errors), p.stderr
    assert "Traceback" not in p.stderr


def test_c_names_keep_their_case(tmp_path):
    src = tmp_path / "camel.c"
    src.write_text("static double sqD(double x) { return x * x; }\n"
                   "void computeTempCPU(double *Tin, double *Tout, int n)\n{\n"
                   "    for (int i = 1; i < n - 1; i++)\n"
                   "        Tout[i] = Tin[i] + 0.1 * (sqD(Tin[i-1]) - 2.0 * Tin[i]);\n}\n"
                   "void sqd(double *x) { *x = *x * *x; }\n")
    text, _ = generate(Options(files=[str(src)], head="computeTempCPU(Tout)/(Tin)", split=["sqD"]))
    assert "void computeTempCPU_b(double *Tin, double *Tinb, double *Tout, double *Toutb, int n)" in text
    assert "sqD_fwd(" in text and "sqD_bwd(" in text
    p = _adtool("differentiate", src, "--head", "computetempcpu", "-o", tmp_path / "x.c")
    assert p.returncode == 2 and "computeTempCPU" in p.stderr


def _compile(tmp_path, text):
    subprocess.run(["python3", "-m", "adtool", "runtime", str(tmp_path / "rt")], check=True, cwd=ROOT,
                   capture_output=True)
    (tmp_path / "d.c").write_text(text)
    cc = subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", str(tmp_path / "rt"),
                         "-c", str(tmp_path / "d.c"), "-o", str(tmp_path / "d.o")],
                        capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr + text


def test_float_variable_times_double_constant(tmp_path):
    src = tmp_path / "f.c"
    src.write_text("void f1(float *x, float *y)\n{\n    float a = x[0];\n    y[0] = a * 2.5 + x[1];\n}\n")
    for mode in ("reverse", "tangent"):
        text, _ = generate(Options(files=[str(src)], head="f1(y)/(x)", mode=mode))
        _compile(tmp_path, text)


def test_active_lgamma_is_refused_with_its_place(tmp_path):
    src = tmp_path / "g.c"
    src.write_text("#include <math.h>\nvoid f(double *x, double *y)\n{\n    y[0] = lgamma(x[0]);\n}\n")
    p = _adtool("differentiate", src, "--head", "f(y)/(x)", "-o", tmp_path / "g_b.c")
    assert p.returncode == 1 and "g.c:4:12: error:" in p.stderr and "lgamma" in p.stderr
    assert not (tmp_path / "g_b.c").exists()


def test_extent_directive_errors(tmp_path):
    src = tmp_path / "e.c"
    src.write_text("void f(double *x, double *y)\n{\n    // $AD EXTENT q 4\n    y[0] = x[0];\n}\n")
    p = _adtool("differentiate", src, "--head", "f(y)/(x)", "-o", tmp_path / "e_b.c")
    assert p.returncode == 2 and "e.c:3:" in p.stderr and "'q' is not declared" in p.stderr
    src.write_text("void f(double *x, double *y)\n{\n    // $AD EXTENT x\n    y[0] = x[0];\n}\n")
    p = _adtool("differentiate", src, "--head", "f(y)/(x)", "-o", tmp_path / "e_b.c")
    assert p.returncode == 2 and "e.c:3:5: error: $AD EXTENT needs" in p.stderr


def test_a_refused_declaration_is_reported_once_not_at_every_use(tmp_path):
    """The name of a declaration adtool refuses stays declared for the rest
    of the function: its uses used to add one "'m' is not declared" each."""
    src = tmp_path / "u.c"
    src.write_text("void f(const double *x, double *y, int n)\n{\n    long double m = 3;\n"
                   "    int i;\n    for (i = 0; i < n; i++)\n        y[i] = m * x[i] + m;\n}\n")
    p = _adtool("differentiate", src, "--head", "f(y)/(x)", "-o", tmp_path / "u_b.c")
    assert p.returncode == 1
    errors = [ln for ln in p.stderr.splitlines() if ": error: " in ln]
    assert errors == [f"{src}:3:17: error: unsupported construct: type 'long double'"], \
        p.stderr
    assert not (tmp_path / "u_b.c").exists()


def test_increment_used_twice_in_a_statement_is_refused(tmp_path):
    """y[k++] = e works (fixtures/c/real/idioms.c); y[k++] = x[k] reads k
    unsequenced with its increment (undefined in C): refused by name."""
    src = tmp_path / "k.c"
    src.write_text("void f(const double *x, double *y, int n)\n{\n    int k = 0;\n"
                   "    for (int i = 0; i < n - 1; i++)\n        y[k++] = x[k] * x[i];\n}\n")
    p = _adtool("differentiate", src, "--head", "f(y)/(x)", "-o", tmp_path / "k_b.c")
    assert p.returncode == 1
    assert f"{src}:5:" in p.stderr and "increment inside an expression" in p.stderr, p.stderr


def test_increment_of_a_global_inside_a_statement_is_refused(tmp_path):
    """y[j++] = get(x) * x[k++] with k a global that get() reads: C
    increments k before the call, so k++ cannot move after the statement."""
    src = tmp_path / "g.c"
    src.write_text("int k;\nstatic double get(const double *x) { return x[k]; }\n"
                   "void f(const double *x, double *y, int n)\n{\n    int j = 0;\n    k = 0;\n"
                   "    for (int i = 0; i < n - 1; i++)\n        y[j++] = get(x) * x[k++];\n}\n")
    p = _adtool("differentiate", src, "--head", "f(y)/(x)", "-o", tmp_path / "g_b.c")
    assert p.returncode == 1
    assert f"{src}:8:" in p.stderr and "increment inside an expression" in p.stderr, p.stderr


def test_enum_constant_with_two_values_in_two_files_is_refused_where_used(tmp_path):
    """Each file may define its own enum { N = ... }; the front end reads
    every file before lowering functions, so a name with two values would
    take the last one silently: refused where used instead."""
    (tmp_path / "a.c").write_text("enum { N = 4 };\nvoid fa(double *x) { for (int i = 0; i < N; i++) x[i] *= x[i]; }\n")
    (tmp_path / "b.c").write_text("enum { N = 8 };\nvoid fb(double *x) { for (int i = 0; i < N; i++) x[i] *= 2.0 * x[i]; }\n")
    p = _adtool("differentiate", tmp_path / "a.c", tmp_path / "b.c", "--head", "fb(x)/(x)",
                "-o", tmp_path / "o.c")
    assert p.returncode == 1
    assert "b.c:1:8: error: unsupported construct: enumeration constant defined again with another value (N)" \
        in p.stderr, p.stderr
    assert not (tmp_path / "o.c").exists()


def test_integer_constants_take_c99_types_and_print_back_the_same():
    """C99 6.4.4.1 on LP64: a hexadecimal constant that does not fit int is
    unsigned int before it is long (`x & 0xFFFFFFFF` keeps its meaning),
    a decimal one is long; suffixes narrow the list."""
    from adtool.backend.c_expr import CExpr
    from adtool.frontend.c_expr import parse_int
    from adtool.ir.nodes import INT4, INT8, UINT4, UINT8, Span
    sp = Span("t.c", 1, 1)
    cases = {"7": INT4, "0x7fffffff": INT4, "0xFFFFFFFF": UINT4, "4294967295": INT8,
             "10u": UINT4, "5000000000u": UINT8, "1UL": UINT8, "017": INT4,
             "0x100000000": INT8, "0xFFFFFFFFFFFFFFFF": UINT8, "3l": INT8}
    for text, want in cases.items():
        lit = parse_int(text, sp)
        assert lit.type == want, text
        printed = CExpr.lit(None, lit)[0]
        assert printed.endswith({INT4: "", INT8: "L", UINT4: "U", UINT8: "UL"}[want]), (text, printed)


def test_unsigned_types_keep_their_spelling_and_mixed_arithmetic_is_unsigned():
    from adtool.backend.c_expr import ctype
    from adtool.ir.nodes import INT4, INT8, UINT4, UINT8
    from adtool.ir.typing import promote
    assert [ctype(t) for t in (UINT4, UINT8)] == ["unsigned int", "unsigned long"]
    assert promote(INT4, UINT4) == UINT4 and promote(UINT4, INT4) == UINT4
    assert promote(UINT4, INT8) == INT8 and promote(INT8, UINT8) == UINT8


def test_an_unsigned_counted_bound_cannot_wrap_the_adjoints_trip_count(tmp_path):
    """`for (int i = 0; i < m; i++)` with an unsigned m: the lowered bound is
    a long, so a count computed from m - 1 with m = 0 is 0, not 2^32 - 1."""
    src = tmp_path / "w.c"
    src.write_text("void f(const double *x, double *y, unsigned int m)\n{\n"
                   "    for (int i = 0; i < m; i++)\n        y[i] = y[i] * x[i];\n}\n")
    out = tmp_path / "w_b.c"
    p = _adtool("differentiate", src, "--head", "f(y)/(x y)", "-o", out)
    assert p.returncode == 0, p.stderr
    assert "(long)m" in out.read_text()


def _refusal(tmp_path, body: str) -> str:
    src = tmp_path / "m.c"
    src.write_text("#include <string.h>\nvoid f(double *x, int *k, double *y)\n{\n" + body + "}\n")
    p = _adtool("differentiate", src, "--head", "f(y)/(x)", "-o", tmp_path / "m_b.c")
    assert p.returncode == 1, p.stderr
    assert not (tmp_path / "m_b.c").exists()
    return p.stderr


def test_byte_functions_are_read_only_as_element_assignments(tmp_path):
    """memset to a byte other than 0, memcpy between arrays of different
    types and sizes that are not whole elements are refused by name, on
    their line."""
    err = _refusal(tmp_path, "    double b[4];\n    memset(b, 1, sizeof b);\n    y[0] = x[0] * b[0];\n")
    assert "m.c:5:5: error: unsupported construct: memset to a byte other than 0" in err
    err = _refusal(tmp_path, "    double b[4];\n    memcpy(b, k, 4 * sizeof(int));\n    y[0] = x[0] * b[0];\n")
    assert "memcpy between arrays of different types" in err
    err = _refusal(tmp_path, "    double b[4];\n    memset(b, 0, 12);\n    y[0] = x[0] * b[0];\n")
    assert "size that is not count * sizeof(...)" in err
    err = _refusal(tmp_path, "    double b[4];\n    memset(b, 0, 3 * sizeof(int));\n    y[0] = x[0] * b[0];\n")
    assert "size that is not a whole number of elements" in err


def test_assert_is_checked_unless_ndebug(tmp_path):
    src = tmp_path / "a.c"
    src.write_text("#include <assert.h>\nvoid f(const double *x, double *y, int n)\n{\n"
                   "    assert(n > 1 && \"n too small\");\n    y[0] = x[0] * x[n - 1];\n}\n")
    for extra, present in (([], True), (["-DNDEBUG"], False)):
        out = tmp_path / "a_b.c"
        p = _adtool("differentiate", src, "--head", "f(y)/(x)", *extra, "-o", out)
        assert p.returncode == 0, p.stderr
        text = out.read_text()
        assert ("Assertion `n > 1 && \\\"n too small\\\"' failed." in text) == present, text
        assert ("#include <stdlib.h>" in text) == present


def test_sizeof_gives_cs_byte_counts(tmp_path):
    """Whole fixed arrays, rows (C's leading subscript drops the IR's last
    dimension), elements, types, and pointers (an array parameter is one)."""
    src = tmp_path / "s.c"
    src.write_text("void f(const double *x, double *y, double p[4])\n{\n    double a[3][4 + 1];\n"
                   "    float b[2];\n    y[0] = x[0] * (double)(sizeof a + sizeof(a[0]) + sizeof a[0][0]"
                   " + sizeof(float) + sizeof b + sizeof p + sizeof *p + sizeof(int) + sizeof(x));\n}\n")
    out = tmp_path / "s_b.c"
    p = _adtool("differentiate", src, "--head", "f(y)/(x)", "-o", out)
    assert p.returncode == 0, p.stderr
    assert "(120UL + 40UL + 8UL + 4UL + 8UL + 8UL + 8UL + 4UL + 8UL)" in out.read_text()


def test_an_extent_adtool_cannot_infer_names_the_directive(tmp_path):
    """C users meet this where Fortran users would declare a size: the
    message says how to state the extent."""
    src = tmp_path / "e.c"
    src.write_text("#include <math.h>\nstatic void g(double *u, int n)\n{\n    int i = 0;\n"
                   "    while (i < n) {\n        u[i] = sin(u[i]);\n        i++;\n    }\n}\n"
                   "void f(double *u, int n, double *r)\n{\n    g(u, n);\n    g(u, n);\n"
                   "    *r = u[0];\n}\n")
    p = _adtool("differentiate", src, "--head", "f(u r)/(u)", "-o", tmp_path / "e_b.c")
    assert p.returncode == 1
    assert "recording a pointer argument whose extent adtool cannot infer" in p.stderr
    assert "// $AD EXTENT u n" in p.stderr


_GOTO_OUTSIDE = """#include <stdio.h>
static int count(int n)
{
    int k = 0;
again:                          /* a backward goto: refused where differentiated */
    k++;
    if (k < n)
        goto again;
    return k;
}
void f(const double *x, double *y, int n)
{
    double s = 0.0;
    for (int i = 0; i < n; i++) {
        s += x[i] * x[i];
        if (s > 10.0)
            goto done;
    }
    s = 2.0 * s;
done:
    *y = s;
}
int main(void)
{
    double x[3] = {1.0, 2.0, 0.5}, y;
    f(x, &y, 3);
    printf("%.15e %d\\n", y, count(4));
    return 0;
}
"""


def test_a_backward_goto_outside_the_call_tree_is_left_alone(tmp_path):
    """f's forward goto becomes a flag; count's backward goto stops only a
    run whose head reaches count."""
    src = tmp_path / "g.c"
    src.write_text(_GOTO_OUTSIDE)
    out = tmp_path / "g_b.c"
    p = _adtool("differentiate", src, "--head", "f(y)/(x)", "-o", out)
    assert p.returncode == 0, p.stderr
    assert "goto" not in out.read_text().replace("ad_goto", "")
    subprocess.run(["python3", "-m", "adtool", "runtime", str(tmp_path / "rt")], check=True, cwd=ROOT)
    cc = subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", str(tmp_path / "rt"),
                         "-c", str(out), "-o", str(tmp_path / "g.o")], capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr
    p = _adtool("differentiate", src, "--head", "main", "-o", tmp_path / "m.c")
    assert p.returncode == 1
    assert "g.c:8:9: error: unsupported construct: backward goto (to label 'again'" in p.stderr, p.stderr


def test_goto_into_a_block_and_to_no_label_are_refused_by_name(tmp_path):
    src = tmp_path / "j.c"
    src.write_text("void f(double *x, int n)\n{\n    if (n > 2)\n        goto inside;\n"
                   "    for (int i = 0; i < n; i++) {\n    inside:\n        x[i] = x[i] * x[i];\n    }\n"
                   "    if (n > 3)\n        goto nowhere;\n}\n")
    p = _adtool("differentiate", src, "--head", "f(x)/(x)", "-o", tmp_path / "j_b.c")
    assert p.returncode in (1, 2)
    assert "j.c:4:9: error: unsupported construct: goto into a block (label 'inside'" in p.stderr, p.stderr
    assert "j.c:10:9: error: goto to undefined label 'nowhere'" in p.stderr, p.stderr


def _check_passes(tmp_path, name: str, text: str, head: str):
    src = tmp_path / name
    src.write_text(text)
    p = _adtool("check", src, "--head", head)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "FAIL" not in p.stdout
    return src


_COUNTING = """#include <stdio.h>
#include <math.h>
void f(const double *x, double *y, int n)
{
    double s = 0.0;
    int i = n;
    while (i-- > 0) {
        if (i == 2)
            continue;
        s += x[i] * sin(s + x[i]);
    }
    int m = n;
    while (m--)
        s = s * 0.9 + x[m] * x[m];
    unsigned int u = 3u;
    while (u--)
        s += 0.1 * s * x[u];
    int k = 0;
    do {
        s += x[k] * x[k];
    } while (++k < n);
    *y = s + i + m + (double)(u % 7u);
}
int main(void)
{
    double x[5] = {0.5, 0.7, 1.1, 0.2, 0.3}, y;
    f(x, &y, 5);
    printf("%.15e\\n", y);
    return 0;
}
"""


def test_increments_in_loop_tests_step_at_every_test(tmp_path):
    """`while (i-- > 0)`, `while (m--)`, `do ... while (++k < n)`: the
    variable steps at every test, the failing one too (i and m end at -1,
    the unsigned u wraps), which the printed result shows; the gradient
    passes the check."""
    src = _check_passes(tmp_path, "count.c", _COUNTING, "f(y)/(x)")
    from adtool.backend.c import emit_unit
    from adtool.frontend.c import read_c
    out = tmp_path / "rt.c"
    out.write_text(emit_unit(read_c([str(src)])))
    runs = []
    for c in (src, out):
        exe = tmp_path / (c.stem + ".x")
        subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-o", str(exe), str(c), "-lm"],
                       check=True)
        runs.append(subprocess.run([str(exe)], capture_output=True, text=True).stdout)
    assert runs[0] == runs[1] and runs[0].strip()


def test_an_increment_of_a_global_in_a_loop_test_is_refused(tmp_path):
    src = tmp_path / "g.c"
    src.write_text("int left;\nvoid f(double *x)\n{\n    while (left-- > 0)\n        x[left] *= 2.0;\n}\n")
    p = _adtool("differentiate", src, "--head", "f(x)/(x)", "-o", tmp_path / "g_b.c")
    assert p.returncode == 1
    assert "g.c:4:5: error: unsupported construct: increment of a variable other than a local " \
        "inside a loop test (left)" in p.stderr, p.stderr


_LOCAL_ENUMS = """#include <stdio.h>
#include <math.h>
enum { NX = 4, LEFT = 7 };
void f(const double *x, double *y)
{
    enum { LEFT, RIGHT, NSIDE };
    enum side { LO = 2, HI = LO + NX } s;
    double flux[NSIDE];
    flux[LEFT] = x[0] * x[1];
    flux[RIGHT] = sin(x[2]);
    double t = 0.0;
    for (s = LO; s < HI; s++)
        t += x[s - LO] * flux[s % NSIDE];
    {
        int LEFT = 1;            /* hides the constant */
        t += LEFT * x[3];
    }
    *y = t + flux[LEFT];
}
double g(const double *x)
{
    return LEFT * x[0];          /* the file's LEFT, not f's */
}
int main(void)
{
    double x[4] = {0.5, 0.7, 1.1, 0.2}, y;
    f(x, &y);
    printf("%.15e %.15e\\n", y, g(x));
    return 0;
}
"""


def test_enums_declared_in_a_function_are_block_scoped(tmp_path):
    src = _check_passes(tmp_path, "en.c", _LOCAL_ENUMS, "f(y)/(x)")
    from adtool.frontend.c import read_c
    from adtool.ir.nodes import Assign
    from adtool.ir.visit import walk_stmts
    tu = read_c([str(src)])
    g = tu.routine("g")
    assert any(isinstance(s, Assign) and "7" in repr(s.rhs) for s in walk_stmts(g.body))
    assert tu.routine("f").symbols["s"].type.base == "integer"


def test_small_integer_types_keep_their_c_type_and_character_constants_are_ints(tmp_path):
    from adtool.backend.c import emit_unit
    from adtool.frontend.c import read_c
    src = tmp_path / "small.c"
    src.write_text("#include <stdint.h>\n"
                   "int f(int n)\n{\n    short k = 3; unsigned short us = 1; signed char d = -2;\n"
                   "    unsigned char fl = 1; char c = 'a'; int8_t i8 = 1; uint16_t u16 = 2;\n"
                   "    int e = '\\n' + '\\x41' + '\\101' + '\\0' + '\\'';\n"
                   "    if (c == 'a') k++;\n    return k + us + d + fl + c + e + i8 + u16 + n;\n}\n")
    text = emit_unit(read_c([str(src)]))
    for decl in ("short k;", "unsigned short us;", "signed char d;", "unsigned char fl;", "char c;",
                 "signed char i8;", "unsigned short u16;"):
        assert decl in text, text
    assert "e = 10 + 65 + 65 + 0 + 39;" in text and "c == 97" in text, text
    bad = tmp_path / "bad.c"
    bad.write_text("void f(double *x)\n{\n    char c = '\\xff';\n    x[0] = c;\n}\n")
    p = _adtool("differentiate", bad, "--head", "f(x)/(x)", "-o", tmp_path / "b.c")
    assert p.returncode == 1
    assert "bad.c:3:14: error: unsupported construct: character constant above 127" in p.stderr, p.stderr


_INT_RESULT = """#include <stdio.h>
static int fill(const double *u, double *f, int n)
{
    for (int i = 0; i < n; i++)
        f[i] = u[i] * u[i];
    return n - 1;
}
void step(double *u, double *cost)
{
    double f[3];
    int last = fill(u, f, 3);
    *cost = f[0] + f[last] * u[1];
}
int main(void)
{
    double u[3] = {1.0, 2.0, 3.0}, c;
    step(u, &c);
    printf("%.15e\\n", c);
    return 0;
}
"""


def test_a_function_returning_an_integer_with_active_outputs(tmp_path):
    """fill returns an index while it writes f: its variants have no
    argument for the result's derivative (the tangent failed with
    KeyError 'fill_resultd'; the adjoint call, once built, passed the
    result where n goes)."""
    src = _check_passes(tmp_path, "fill.c", _INT_RESULT, "step(cost)/(u)")
    p = _adtool("check", src, "--head", "step(cost)/(u)", "--split", "fill")
    assert p.returncode == 0 and "FAIL" not in p.stdout, p.stdout + p.stderr
