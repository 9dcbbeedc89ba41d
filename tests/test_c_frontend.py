"""The C front end and backend, proved by round trip: every C fixture,
parsed to IR and printed back as C, compiles under -Wall -Wextra -Werror
and prints exactly what the original prints.  Also: directives land on the
right IR nodes, unsupported C fails with file:line:col and exit 1."""
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from adtool import callgraph
from adtool.backend.c import emit_unit
from adtool.pipeline import _check_call_trees
from adtool.diagnostics import AdError
from adtool.frontend.c import read_c
from adtool.ir.nodes import CallStmt, Continue, Loop, Select, While
from adtool.ir.visit import walk_stmts

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "fixtures" / "c"
with open(FIX / "fixtures.toml", "rb") as fh:
    TABLE = tomllib.load(fh)

STRICT = ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror"]


def _build_run(src: Path, exe: Path, extra=()) -> str:
    p = subprocess.run([*STRICT, *extra, "-o", str(exe), str(src), "-lm"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _unit(tmp_path: Path, text: str, name: str = "t.c"):
    p = tmp_path / name
    p.write_text(text)
    tu = read_c([str(p)])
    # The front end defers what it cannot read; a head's call tree makes it an error.
    _check_call_trees(tu, callgraph.build(tu), list(tu.unread))
    return tu, p


def test_at_least_ten_fixtures():
    assert len(TABLE) >= 10
    for fix in TABLE.values():
        for f in fix["files"]:
            assert (FIX / f).is_file()


@pytest.mark.parametrize("name", sorted(TABLE))
def test_roundtrip_prints_the_same(name, tmp_path):
    files = [FIX / f for f in TABLE[name]["files"]]
    original = _build_run(files[0], tmp_path / "orig", ["-Wno-unknown-pragmas"])
    assert original.strip(), "fixture prints nothing"
    text = emit_unit(read_c([str(f) for f in files]))
    out = tmp_path / "roundtrip.c"
    out.write_text(text)
    assert _build_run(out, tmp_path / "rt") == original
    # the printed C is itself input the front end takes
    again = tmp_path / "again.c"
    again.write_text(emit_unit(read_c([str(out)])))
    assert _build_run(again, tmp_path / "rt2") == original


@pytest.mark.parametrize("name", sorted(TABLE))
def test_fixture_head_and_arguments_exist(name):
    fix = TABLE[name]
    tu = read_c([str(FIX / f) for f in fix["files"]])
    r = tu.routine(fix["head"])
    assert r is not None
    allowed = set(r.args) | ({"result"} if r.result else set())
    assert set(fix["independents"]) <= allowed
    assert set(fix["dependents"]) <= allowed


def test_ir_facts_of_c_declarations(tmp_path):
    tu, _ = _unit(tmp_path, """
double g[2][3];
static double h(int n, int m, double a[n][m], double *s, const double *w, double v)
{
    *s = a[1][2] + w[0] + v + g[1][0];
    return *s;
}
""")
    r = tu.routine("h")
    assert r.static and r.kind == "function" and r.language == "c"
    a, s, w, v = (r.symbols[n] for n in ("a", "s", "w", "v"))
    assert a.rank == 2 and [str(d.ub.left.name) for d in a.shape] == ["m", "n"]   # reversed
    assert not s.shape and not s.by_value            # scalar by reference
    assert w.rank == 1 and w.shape[0].ub is None and w.intent == "in"
    assert v.by_value
    assert r.symbols[r.result].storage == "result"
    a_ref = r.body[0].rhs.left.left.left            # a[1][2] is a(2, 1) in the IR
    assert [x.text for x in a_ref.subs] == ["2", "1"]
    assert tu.globals["g"].storage == "global" and tu.globals["g"].rank == 2


def test_counted_loops_and_fallbacks(tmp_path):
    tu, _ = _unit(tmp_path, """
void f(double *x, int n)
{
    for (int i = 0; i < n; i++) x[i] = 0.0;
    for (int i = n - 1; i >= 0; i -= 2) x[i] = 1.0;
    for (int i = 0; i < n; i++) { if (i == 2) n = n - 1; x[i] = 2.0; }
}
""")
    body = tu.routine("f").body
    assert isinstance(body[0], Loop) and body[0].step is None
    assert isinstance(body[1], Loop) and body[1].step.text == "-2"
    assert isinstance(body[3], While)        # bound changes inside: not a counted loop


def test_switch_becomes_select(tmp_path):
    tu, _ = _unit(tmp_path, """
double f(int k)
{
    double r;
    switch (k) { case 1: case 2: r = 1.0; break; case 3: return 3.0; default: r = 0.0; }
    return r;
}
""")
    sel = tu.routine("f").body[0]
    assert isinstance(sel, Select)
    assert [len(c.values) for c in sel.cases] == [2, 1] and sel.default is not None


def test_directives_attach_to_next_statement_and_routine():
    tu = read_c([str(FIX / "directives.c")])
    stage = tu.routine("stage")
    assert [d.name for d in stage.directives] == ["NOCHECKPOINT"]
    assert stage.directives[0].span.line == 5
    model = tu.routine("model")
    loop = model.body[0]
    names = [(type(s).__name__, [d.name for d in s.directives]) for s in loop.body]
    assert names[0] == ("CallStmt", ["CHECKPOINT"])
    assert names[1] == ("CallStmt", ["CHECKPOINT-START"])
    assert loop.body[1].directives[0].span.line == 17
    assert ("Continue", ["CHECKPOINT-END"]) in names
    main_call = next(s for s in walk_stmts(tu.routine("main").body) if isinstance(s, CallStmt))
    assert [d.name for d in main_call.directives] == ["NOCHECKPOINT"]


def test_trailing_directive_is_an_error(tmp_path):
    with pytest.raises(AdError) as e:
        _unit(tmp_path, "void f(double *x)\n{\n    x[0] = 1.0; // $AD NOCHECKPOINT\n}\n")
    assert e.value.code == 1 and e.value.span.line == 3


def test_spans_follow_includes(tmp_path):
    (tmp_path / "inc.h").write_text("#define N 3\nstatic double twice(double v)\n{\n    return 2.0 * v;\n}\n")
    tu, p = _unit(tmp_path, '#include "inc.h"\nvoid f(double *x)\n{\n    x[0] = twice(x[N]);\n}\n')
    assert tu.routine("twice").span.file.endswith("inc.h")
    assert tu.routine("twice").body[0].span.line == 4
    f = tu.routine("f")
    assert f.span.file == str(p) and f.body[0].span.line == 4
    assert tu.includes == []              # a user header is read, not re-included


@pytest.mark.parametrize("source, construct, line", [
    ("union u { double d; long l; };\nvoid f(double *x) { union u b; b.d = x[0]; }\n", "union", 2),
    ("double sq(double v) { return v * v; }\nvoid f(double *x)\n{\n    double (*g)(double) = sq;\n"
     "    x[0] = g(x[0]);\n}\n", "function pointer", 4),
    ("void f(double *x, int n)\n{\n    x[0] = (x + n)[0];\n}\n", "pointer arithmetic", 3),
    ("void f(double *x, double *y)\n{\n    double *p = x;\n    p = y;\n    p[0] = 1.0;\n}\n",
     "local pointer set to two different arrays", 4),
    ("void f(double *a, double *b)\n{\n    double *t = a;\n    a = b;\n    b = t;\n    a[0] = 1.0;\n}\n",
     "pointer swap of an array whose extent adtool does not know", 3),
    ("void f(double *x, int n)\n{\n    double *t = malloc(n * sizeof(float));\n    x[0] = t[0];\n}\n",
     "sizeof of something other than the array's element type", 3),
    ("void f(double *x, int n)\n{\n    double *t = malloc(n * 8);\n    x[0] = t[0];\n}\n",
     "allocation size that is not count * sizeof(element)", 3),
    ("void f(double *x, int n)\n{\n    double *t = malloc(n * sizeof(double));\n"
     "    t = realloc(t, 2 * n * sizeof(double));\n    x[0] = t[0];\n}\n", "realloc", 4),
    ("void f(double *x, int i)\n{\n    x[i++] = x[i];\n}\n", "increment inside an expression", 3),
    ("void f(double *x, int k)\n{\n    switch (k) { case 1: x[0] = 1.0; case 2: x[1] = 2.0; break; }\n}\n",
     "switch fall-through", 3),
    ("void f(double *x)\n{\n    out: x[0] = 1.0;\n    if (x[1] > 0.0) goto out;\n}\n", "backward goto", 4),
    ("struct s { int a : 3; double b; };\nvoid f(struct s *p) { p->b = 1.0; }\n", "bit-field", 1),
    ("typedef struct { double a; } T;\nvoid f(double *p) { static T q = {1.0}; *p = q.a; }\n",
     "initialiser of a static struct", 2),
    ("typedef struct { double a; } T;\ntypedef struct { T t; } U;\n"
     "void f(double *p) { U q = {.t.a = 1.0}; *p = q.t.a; }\n",
     "designated initialiser of a nested member", 3),
    ("struct s { struct s *next; double b; };\nvoid f(struct s *p) { p->b = 1.0; }\n",
     "pointer to a struct as a struct member", 1),
    ("void f(double *x)\n{\n    x[0] = nextafter(x[1], 0.0);\n}\n", "call of 'nextafter'", 3),
])
def test_unsupported_c_names_construct_and_place(tmp_path, source, construct, line):
    with pytest.raises(AdError) as e:
        _unit(tmp_path, source)
    err = e.value
    assert err.code == 1, str(err)
    assert construct in err.message
    assert err.span.line == line and err.span.col >= 1
    assert str(err).startswith(f"{tmp_path / 't.c'}:{line}:")


def _adtool(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "adtool", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd or ROOT)


def test_cli_reports_unsupported_c_with_exit_1(tmp_path):
    p = _adtool("callgraph", ROOT / "fixtures" / "bad" / "union.c", "--head", "f")
    assert p.returncode == 1
    assert "union.c:9:16: error: unsupported construct: union" in p.stderr
    assert "Traceback" not in p.stderr


def test_cli_syntax_error_exit_2():
    p = _adtool("callgraph", ROOT / "fixtures" / "bad" / "syntax_error.c", "--head", "f")
    assert p.returncode == 2 and "syntax_error.c:5:" in p.stderr and "syntax error" in p.stderr


def test_cli_callgraph_reads_c():
    p = _adtool("callgraph", FIX / "heat2d.c", "--head", "simulate")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "simulate"
    assert any("step  [simulate/step#1, heat2d.c:36]" in l for l in lines)
    assert any("laplace" in l for l in lines)


def test_cli_differentiate_c_names_its_output(tmp_path):
    p = _adtool("differentiate", FIX / "rk4.c", "--head", "integrate", "--output-dir", tmp_path)
    assert p.returncode == 0, p.stderr
    text = (tmp_path / "rk4_b.c").read_text()
    assert "void integrate_b(double *y, double *yb, double rho, double *rhob," in text
    p = _adtool("differentiate", FIX / "rk4.c", "--head", "integrate", "--mode", "tangent",
                "--output-dir", tmp_path)
    assert p.returncode == 0, p.stderr
    assert "void integrate_d(double *y, double *yd, double rho, double rhod," in \
        (tmp_path / "rk4_d.c").read_text()


def test_cli_c_defines_and_include_dirs(tmp_path):
    inc = tmp_path / "inc"
    inc.mkdir()
    (inc / "size.h").write_text("#define M 4\n")
    src = tmp_path / "d.c"
    src.write_text('#include <size.h>\nvoid f(double *x)\n{\n    x[0] = M * SCALE;\n}\n')
    p = _adtool("callgraph", src, "--head", "f", "-I", inc, "-D", "SCALE=2.0")
    assert p.returncode == 0, p.stderr
    tu = read_c([str(src)], [str(inc)], ["SCALE=2.0"])
    assert "4 * 2.0" in emit_unit(tu)
