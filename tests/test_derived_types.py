"""Derived types through the command line: what is not supported stops the
run with its name and place (exit 1, nothing written), and only when the
differentiated code uses it.  The derivatives themselves are checked end to
end on the dtype_* fixtures (test_derivatives.py) and on
fixtures/fortran/real (test_fortran_real.py)."""
import subprocess
import sys

import pytest

HEAD = """subroutine f(x, y)
  use m
  implicit none
  real(8) :: x, y
  {decl}
  {body}
  y = 2 * x
end subroutine
"""

CASES = {
    "type extension (EXTENDS)": ("""  type base
    real(8) :: a
  end type
  type, extends(base) :: t
    real(8) :: b
  end type""", "type(t) :: s", "s%b = x"),
    "generic type-bound procedure": ("""  type t
    real(8) :: a
  contains
    procedure, nopass :: get
    generic :: fetch => get
  end type""", "type(t) :: s", "s%a = x"),
    "pointer component": ("""  type t
    real(8), pointer :: a(:)
  end type""", "type(t) :: s", ""),
    "parameterised derived type": ("""  type t(k)
    integer, kind :: k
    real(k) :: a
  end type""", "type(t(8)) :: s", ""),
    "unlimited polymorphic CLASS(*)": ("""  type t
    real(8) :: a
  end type""", "class(*), allocatable :: s", ""),
}


def _module(types: str) -> str:
    return f"""module m
  implicit none
{types}
contains
  subroutine get()
  end subroutine
end module
"""


def adtool(*args):
    return subprocess.run([sys.executable, "-m", "adtool", *map(str, args)],
                          capture_output=True, text=True)


@pytest.mark.parametrize("what", sorted(CASES))
def test_unsupported_record_feature_is_named(tmp_path, what):
    types, decl, body = CASES[what]
    src = tmp_path / "prog.f90"
    src.write_text(_module(types) + HEAD.format(decl=decl, body=body))
    out = tmp_path / "out.f90"
    p = adtool("differentiate", src, "--head", "f", "-o", out)
    assert p.returncode == 1, p.stderr
    assert f"error: unsupported construct: {what}" in p.stderr
    assert str(src) in p.stderr.split(": error:")[0]
    assert not out.exists()


@pytest.mark.parametrize("what", sorted(CASES))
def test_unsupported_record_feature_unused_by_the_head_is_left_alone(tmp_path, what):
    types, _, _ = CASES[what]
    src = tmp_path / "prog.f90"
    src.write_text(_module(types) + HEAD.format(decl="", body=""))
    out = tmp_path / "out.f90"
    p = adtool("differentiate", src, "--head", "f", "-o", out)
    assert p.returncode == 0, p.stderr
    assert out.exists()


def test_type_defined_in_a_routine_is_named(tmp_path):
    src = tmp_path / "prog.f90"
    src.write_text("""subroutine f(x, y)
  implicit none
  type t
    real(8) :: a
  end type
  type(t) :: s
  real(8) :: x, y
  s%a = x
  y = 2 * s%a
end subroutine
""")
    p = adtool("differentiate", src, "--head", "f", "-o", tmp_path / "out.f90")
    assert p.returncode == 1
    assert f"{src}:3:" in p.stderr
    assert "unsupported construct: derived type defined outside a module" in p.stderr


def test_recording_allocatable_components_of_an_array_of_records_is_named(tmp_path):
    """Allocatable components of a single record are differentiated
    (fixture alloc_components); of an array of records that must be
    recorded, they are refused by name."""
    src = tmp_path / "prog.f90"
    src.write_text("""module m
  implicit none
  type field
    integer :: n
    real(8), allocatable :: v(:)
    real(8) :: scale
  end type
contains
  subroutine g(s)
    type(field), intent(inout) :: s(2)
    s(1)%v = s(1)%v * s(2)%scale
    s(2)%scale = s(2)%scale ** 2
  end subroutine
end module
subroutine f(s, y)
  use m
  implicit none
  type(field), intent(inout) :: s(2)
  real(8), intent(out) :: y
  call g(s)
  s(1)%scale = 3d0
  call g(s)
  y = s(1)%scale * sum(s(1)%v)
end subroutine
""")
    out = tmp_path / "out.f90"
    p = adtool("differentiate", src, "--head", "f(y)/(s)", "-o", out)
    assert p.returncode == 1, p.stderr
    assert f"{src}:20:3: error: unsupported construct: recording an allocatable component " \
           "of an array of records" in p.stderr, p.stderr
    assert not out.exists()


def test_passive_record_with_allocatable_component_is_fine(tmp_path):
    src = tmp_path / "prog.f90"
    src.write_text("""module m
  implicit none
  type table
    integer :: n
    real(8), allocatable :: v(:)
  end type
end module
subroutine f(t, x, y)
  use m
  implicit none
  type(table), intent(in) :: t
  real(8), intent(in) :: x
  real(8), intent(out) :: y
  y = x * t%v(t%n)
end subroutine
""")
    out = tmp_path / "out.f90"
    p = adtool("differentiate", src, "--head", "f(y)/(x)", "-o", out)
    assert p.returncode == 0, p.stderr
    assert "yb * t%v(t%n)" in out.read_text().replace("(yb)", "yb") or "t%v(t%n)" in out.read_text()


def test_private_type_needed_by_derivative_code_is_named(tmp_path):
    src = tmp_path / "prog.f90"
    src.write_text("""module m
  implicit none
  private
  public :: f
  type state
    real(8) :: a
  end type
contains
  subroutine f(x, y)
    real(8), intent(in) :: x
    real(8), intent(out) :: y
    type(state) :: s
    s%a = x * x
    y = s%a
  end subroutine
end module
""")
    out = tmp_path / "out.f90"
    p = adtool("differentiate", src, "--head", "f(y)/(x)", "-o", out)
    assert p.returncode == 1, p.stderr
    assert f"{src}:5:" in p.stderr
    assert "unsupported construct: PRIVATE derived type used by differentiated code (state)" \
        in p.stderr
    assert not out.exists()
