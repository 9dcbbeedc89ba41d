"""Fortran constructs checked through the command line: messages, warnings
and options (derivatives of the constructs are checked on
fixtures/fortran/real by test_fortran_real.py)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONSTRUCTS = ROOT / "fixtures" / "fortran" / "constructs"


def adtool(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "adtool", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)


def test_openmp_directives_warned_not_dropped_silently(tmp_path):
    out = tmp_path / "omp_b.f90"
    p = adtool("differentiate", CONSTRUCTS / "omp.f90", "--head", "f(y)/(x)", "-o", out)
    assert p.returncode == 0, p.stderr
    warnings = [ln for ln in p.stderr.splitlines() if ": warning: " in ln]
    assert [w.split(":")[1] for w in warnings] == ["9", "13"], p.stderr
    assert "!$omp parallel do" in warnings[0]
    assert out.exists()


REAL = ROOT / "fixtures" / "fortran" / "real"


def _differentiate(tmp_path, src, head, *extra):
    out = tmp_path / "out.f90"
    p = adtool("differentiate", src, "--head", head, "-o", out, *extra)
    assert p.returncode == 0, p.stderr
    return out.read_text()


def test_default_real_keeps_its_spelling(tmp_path):
    text = _differentiate(tmp_path, REAL / "defreal8.f90", "relax(u res)/(u f)",
                          "--default-real-kind", "8")
    assert "real, intent(inout) :: u(n)" in text
    assert "real(4)" not in text
    assert "allocate(" not in text          # no descriptor boilerplate without a need for it


def test_called_external_is_a_subroutine_and_written_intent_in_is_inout(tmp_path):
    text = _differentiate(tmp_path, REAL / "extcall.f", "lsqobj(f)/(x)")
    assert "external :: damp" in text and "external :: resid" in text
    assert ", external ::" not in text      # no implicit type on a CALLed EXTERNAL
    head = text[text.index("subroutine lsqobj_b"):]
    assert "real(8), intent(inout) :: x(n)" in head.split("end subroutine")[0]


def test_read_rerun_by_a_joint_adjoint_is_warned(tmp_path):
    """A joint adjoint runs its routine again, READ included: warned, naming
    the way out; a split call reads once, no warning."""
    src = ROOT / "fixtures" / "fortran" / "read_stmt.f90"
    p = adtool("differentiate", src, "--head", "model(cost)/(x)", "-o", tmp_path / "j.f90")
    assert p.returncode == 0, p.stderr
    assert "read_stmt.f90:12:3: warning: READ in 'calib' runs again" in p.stderr, p.stderr
    assert "--split calib" in p.stderr
    p = adtool("differentiate", src, "--head", "model(cost)/(x)", "--split", "calib",
               "-o", tmp_path / "s.f90")
    assert p.returncode == 0 and "warning" not in p.stderr, p.stderr


def test_two_vector_subscripts_on_one_array_are_refused_by_name(tmp_path):
    """a(idx, :) is differentiated (fixtures/fortran/vector_sections.f90);
    a(idx, jdx) is not: refused by name, nothing written."""
    out = tmp_path / "o.f90"
    p = adtool("differentiate", CONSTRUCTS / "two_vector_subscripts.f90", "--head", "f(y)/(x)",
               "-o", out)
    assert p.returncode == 1, p.stderr
    assert "two_vector_subscripts.f90:8:" in p.stderr and \
        "error: unsupported construct: more than one vector subscript on an active array" \
        in p.stderr, p.stderr
    assert not out.exists()


def test_where_reading_assigned_array_elsewhere_is_refused(tmp_path):
    """where (a(2:5) > 0) a(2:5) = a(1:4): element by element this would
    read overwritten elements; refused by name, nothing written."""
    out = tmp_path / "o.f90"
    p = adtool("differentiate", CONSTRUCTS / "where_overlap.f90", "--head", "f(y)/(x)", "-o", out)
    assert p.returncode == 1, p.stderr
    assert "where_overlap.f90:9:3: error: unsupported construct: WHERE reading an array it " \
           "assigns at other elements" in p.stderr, p.stderr
    assert not out.exists()


def test_block_constructs_that_cannot_be_inlined_are_refused_by_name(tmp_path):
    """A BLOCK's locals become the routine's: a name the routine declares
    too, two blocks giving one name two types, and an allocatable (which
    the block would deallocate at its end) are errors naming the case."""
    cases = {
        "real(8) :: s\n  s = 1.0d0\n  block\n    real(8) :: s\n    s = x\n    y = s\n  end block\n":
            "BLOCK declaring a name its routine declares too",
        "block\n    real(8) :: s\n    s = x\n    y = s\n  end block\n"
        "  block\n    integer :: s\n    s = 2\n    y = y * s\n  end block\n":
            "BLOCKs declaring one name with two types or shapes",
        "block\n    real(8), allocatable :: s(:)\n    s = [x]\n    y = s(1)\n  end block\n":
            "allocatable or pointer declared in a BLOCK",
    }
    for body, message in cases.items():
        src = tmp_path / "b.f90"
        src.write_text("subroutine f(x, y)\n  real(8), intent(in) :: x\n  real(8), intent(out) :: y\n  "
                       + body + "end subroutine f\n")
        p = adtool("differentiate", src, "--head", "f(y)/(x)", "-o", tmp_path / "b_b.f90")
        assert p.returncode == 1 and message in p.stderr, p.stderr


def test_associate_with_an_array_expression_is_refused_by_name(tmp_path):
    src = tmp_path / "a.f90"
    src.write_text("subroutine f(x, y)\n  real(8), intent(in) :: x(3)\n  real(8), intent(out) :: y\n"
                   "  associate (s => 2.0d0 * x)\n    y = sum(s)\n  end associate\nend subroutine f\n")
    p = adtool("differentiate", src, "--head", "f(y)/(x)", "-o", tmp_path / "a_b.f90")
    assert p.returncode == 1
    assert "ASSOCIATE with an array expression or a section of a component" in p.stderr
