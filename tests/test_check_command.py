"""`adtool check` end to end: the user's own program becomes the check
driver; reference adjoints catch a changed model; reports for CI; every bad
input exits 2 naming the file, a compile error exits 1 keeping the build."""
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from test_cli import adtool

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "fixtures" / "fortran"
CFIX = ROOT / "fixtures" / "c"
HEAT1D = "simulate(u)/(u0 kappa)"
CHEAT2D = "simulate(u energy)/(u)"


@pytest.fixture(scope="module")
def fortran_run(tmp_path_factory):
    """One Fortran check that saves a reference and writes every report."""
    work = tmp_path_factory.mktemp("check_f")
    p = adtool("check", FIX / "heat1d.f90", "--head", HEAT1D, "--save-reference", "ref.json",
               "--json", "r.json", "--junit", "r.xml", "--profile", "prof.json",
               "-MD", cwd=work)
    return work, p


def test_fortran_check_passes_and_prints_the_numbers(fortran_run):
    work, p = fortran_run
    assert p.returncode == 0, p.stdout + p.stderr
    out = p.stdout
    assert "dot-product test" in out and "finite differences" in out
    assert "stack peak" in out and "time adjoint/primal" in out
    assert "all checks passed" in out
    assert "FAIL" not in out


def test_reports_for_ci(fortran_run):
    work, p = fortran_run
    doc = json.loads((work / "r.json").read_text())
    assert doc["passed"] is True and doc["routine"] == "simulate"
    names = [c["name"] for c in doc["checks"]]
    assert {"dot-product test", "finite differences", "stack", "time"} <= set(names)
    dot = next(c for c in doc["checks"] if c["name"] == "dot-product test")
    assert dot["values"]["rel"] < 1e-10
    suite = ET.parse(work / "r.xml").getroot().find("testsuite")
    assert suite.get("failures") == "0" and int(suite.get("tests")) >= 4


def test_reference_file_holds_every_independents_adjoint(fortran_run):
    work, _ = fortran_run
    ref = json.loads((work / "ref.json").read_text())
    assert ref["routine"] == "simulate" and ref["independents"] == ["u0", "kappa"]
    assert len(ref["gradient"]["u0"]) == 16 and len(ref["gradient"]["kappa"]) == 1
    assert ref["compiler"].startswith("GNU Fortran") and ref["adtool_version"]
    assert ref["plan"]["default_mode"] is None


def test_profile_is_keyed_by_call_site(fortran_run):
    work, _ = fortran_run
    prof = json.loads((work / "prof.json").read_text())
    assert prof["profiling"] is True
    keys = {s.get("key") for s in prof["sites"]}
    assert "simulate/step#1" in keys
    assert {s["part"] for s in prof["sites"]} <= {"forward", "snapshot", "adjoint"}
    assert any(c["key"] == "simulate/step#1" for c in prof["call_sites"])


def test_check_dependency_file_names_the_output_and_sources(fortran_run):
    work, _ = fortran_run
    text = (work / "r.d").read_text()
    assert text.startswith("r.json:")
    assert str(FIX / "heat1d.f90") in text


def test_c_check_with_reference_round_trip(tmp_path):
    p = adtool("check", CFIX / "heat2d.c", "--head", CHEAT2D, "--save-reference", "ref.json",
               "--default-mode", "split", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "all checks passed" in p.stdout
    p = adtool("check", CFIX / "heat2d.c", "--head", CHEAT2D, "--reference", "ref.json", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "largest rel. difference" in p.stdout


def test_changed_model_is_caught_by_the_reference(fortran_run, tmp_path):
    work, _ = fortran_run
    src = (FIX / "heat1d.f90").read_text()
    changed = src.replace("(1.0_dp + 0.1_dp * limiter(r))", "(1.0_dp + 0.1001_dp * limiter(r))")
    assert changed != src
    (tmp_path / "heat1d.f90").write_text(changed)
    p = adtool("check", tmp_path / "heat1d.f90", "--head", HEAT1D, "--reference", work / "ref.json",
               "--junit", "r.xml", cwd=tmp_path)
    assert p.returncode == 3, p.stdout + p.stderr
    assert "FAIL  reference" in p.stdout
    assert "rel. diff" in p.stdout and "u0(" in p.stdout      # the worst entries, by index
    assert "FAILED" in p.stdout
    suite = ET.parse(tmp_path / "r.xml").getroot().find("testsuite")
    assert suite.get("failures") == "1"


# ---- bad input: exit 2 naming the file and what is wrong -----------------

def _bad(tmp_path, *extra, files=(FIX / "heat1d.f90",), head=HEAT1D):
    return adtool("check", *files, "--head", head, *extra, cwd=tmp_path)


def test_malformed_reference(tmp_path):
    (tmp_path / "ref.json").write_text("{not json")
    p = _bad(tmp_path, "--reference", "ref.json")
    assert p.returncode == 2 and "ref.json" in p.stderr and "malformed" in p.stderr
    (tmp_path / "ref.json").write_text('{"gradient": {}}')
    p = _bad(tmp_path, "--reference", "ref.json")
    assert p.returncode == 2 and "not an adtool reference" in p.stderr


def test_reference_for_another_head_or_size(fortran_run, tmp_path):
    work, _ = fortran_run
    ref = json.loads((work / "ref.json").read_text())
    other = dict(ref, routine="step")
    (tmp_path / "other.json").write_text(json.dumps(other))
    p = _bad(tmp_path, "--reference", "other.json")
    assert p.returncode == 2, p.stdout + p.stderr
    assert "other.json" in p.stderr and "head 'step'" in p.stderr
    short = dict(ref, gradient=dict(ref["gradient"], u0=ref["gradient"]["u0"][:-1]))
    (tmp_path / "short.json").write_text(json.dumps(short))
    p = _bad(tmp_path, "--reference", "short.json")
    assert p.returncode == 2 and "'u0' has 15 entries in the reference and 16 now" in p.stderr
    fewer = dict(ref, gradient={"u0": ref["gradient"]["u0"]})
    (tmp_path / "fewer.json").write_text(json.dumps(fewer))
    p = _bad(tmp_path, "--reference", "fewer.json")
    assert p.returncode == 2 and "independents u0; this check has kappa, u0" in p.stderr


def test_missing_compiler(tmp_path):
    p = _bad(tmp_path, "--fc", "no-such-fortran-compiler")
    assert p.returncode == 2 and "--fc 'no-such-fortran-compiler'" in p.stderr


def test_main_program_that_never_calls_the_head(tmp_path):
    src = tmp_path / "m.f90"
    src.write_text("subroutine f(x, y)\n  real(8), intent(in) :: x\n  real(8), intent(out) :: y\n"
                   "  y = x * x\nend subroutine f\nprogram p\n  real(8) :: a\n  a = 1.0d0\n"
                   "  print *, a\nend program p\n")
    p = _bad(tmp_path, files=(src,), head="f")
    assert p.returncode == 2 and "never calls 'f'" in p.stderr
    lib = tmp_path / "lib.f90"
    lib.write_text("subroutine f(x, y)\n  real(8), intent(in) :: x\n  real(8), intent(out) :: y\n"
                   "  y = x * x\nend subroutine f\n")
    p = _bad(tmp_path, files=(lib,), head="f")
    assert p.returncode == 2 and "main program" in p.stderr


def test_compile_error_shows_the_compiler_and_keeps_the_build(tmp_path):
    broken = tmp_path / "broken.f90"
    broken.write_text("subroutine oops()\n  call \nend subroutine oops\n")
    p = _bad(tmp_path, "--with", broken)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "broken.f90" in p.stderr and "Error" in p.stderr
    kept = p.stderr.split("build directory kept: ")[1].split()[0]
    assert Path(kept).is_dir()
    shutil.rmtree(kept)


def test_profiled_runtime_writes_its_profile_at_exit(tmp_path):
    """Without the program calling anything: $ADTOOL_PROFILE, else
    adtool-profile.json in the working directory."""
    import os
    import subprocess
    adtool("runtime", tmp_path / "rt")
    (tmp_path / "main.c").write_text(
        '#include "adstack.h"\nint main(void)\n{\n    double x = 1.0;\n'
        '    ad_prof_enter(3);\n    ad_push_real8(x);\n    ad_prof_exit(3);\n'
        '    ad_pop_real8(&x);\n    return 0;\n}\n')
    subprocess.run(["gcc", "-O2", "-DADSTACK_PROFILE", f"-I{tmp_path / 'rt'}", "-o", "prog",
                    "main.c", str(tmp_path / "rt" / "adstack.c")], cwd=tmp_path, check=True)
    env = {k: v for k, v in os.environ.items() if k != "ADTOOL_PROFILE"}
    subprocess.run(["./prog"], cwd=tmp_path, check=True, env=env)
    doc = json.loads((tmp_path / "adtool-profile.json").read_text())
    assert doc["profiling"] is True and doc["sites"][0]["site"] == 3
    assert doc["sites"][0]["pushed_bytes"] == 8
    subprocess.run(["./prog"], cwd=tmp_path, check=True,
                   env=dict(env, ADTOOL_PROFILE=str(tmp_path / "elsewhere.json")))
    assert json.loads((tmp_path / "elsewhere.json").read_text())["sites"][0]["count"] == 1


def test_derivative_argument_is_not_a_neighbouring_formal():
    """n followed by a formal nt (or nb) is not n's derivative: the check
    driver once gave such an integer formal a random direction."""
    from adtool.check.driver import has_deriv
    primal = ["n", "nt", "x", "nb"]
    assert not has_deriv(["n", "nt", "x", "xb"], "n", primal)
    assert has_deriv(["n", "nt", "x", "xb"], "x", primal)
    assert not has_deriv(["x", "xb", "n", "nb"], "n", primal)
    assert has_deriv(["y", "yb1"], "y", ["y"])


@pytest.mark.parametrize("mode", ["joint", "split"])
def test_module_head_with_zero_factors_in_products(tmp_path, mode):
    """The head is a module procedure (the check program must USE its
    derivative modules) and its products have zero factors at the point
    checked (the partials are products of the other factors, not NaN)."""
    chk = FIX / "check"
    p = adtool("check", chk / "product_zero.f90", chk / "product_zero_main.f90",
               "--head", "prods(y)/(x c)", "--default-mode", mode, cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "nan" not in p.stdout.lower() and "all checks passed" in p.stdout


def test_integer_a_function_sets_through_a_pointer_is_recorded(tmp_path):
    """`acc += pick(u, t, &where)` then a use of `where` in the same loop:
    the adjoint needs each trip's `where`, which the call (inside an
    expression) overwrites.  The recording analysis counted writes of
    call statements' arguments only, thought `where` never held a value
    and left it unrecorded: every trip's adjoint used the last one."""
    src = tmp_path / "pick.c"
    src.write_text("""#include <stdio.h>
#include <math.h>
#define N 8
static double pick(const double *u, int t, int *w)
{
    *w = (t * 3) % N;
    return u[t % N] * u[0];
}
// $AD EXTENT u N
void model(double *u, int steps, double *cost)
{
    double acc = 0.0;
    int where;
    for (int t = 0; t < steps; t++) {
        acc += pick(u, t, &where);
        acc += 0.01 * where * u[where % N] * u[where % N];
    }
    *cost = acc;
}
int main(void)
{
    double u[N], cost;
    for (int k = 0; k < N; k++) u[k] = 0.3 + 0.4 * sin(1.3 * k);
    model(u, 4, &cost);
    printf("%.15e\\n", cost);
    return 0;
}
""")
    p = adtool("check", src, "--head", "model(cost)/(u)", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "FAIL" not in p.stdout
