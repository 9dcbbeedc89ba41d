"""A head named split (--split, [routines], or NOCHECKPOINT before its
header) gets h_fwd/h_bwd besides h_b: a driver may run the forward sweep,
do other work, then the adjoint (Tapenade's -nocheckpoint on the head).
Both ways give the same gradient, and the stack is empty afterwards."""
import re

import pytest

from adcheck import FFLAGS, STRICT, build_runtime, run
from adtool.pipeline import Options, generate

SRC = """\
subroutine sq(a, b)
  implicit none
  real(8), intent(in) :: a
  real(8), intent(inout) :: b
  b = b + a * a
end subroutine sq

{directive}subroutine h(x, y, n)
  implicit none
  integer, intent(in) :: n
  real(8), intent(in) :: x(n)
  real(8), intent(out) :: y
  integer :: i
  y = 0.0d0
  do i = 1, n
    call sq(sin(x(i)), y)
  end do
  y = y * y
end subroutine h
"""

DRIVER = """\
program drive
  use adstack
  implicit none
  real(8) :: x(3), xb1(3), xb2(3), y, yb
  x = (/ 0.3d0, -0.7d0, 1.1d0 /)
  xb1 = 0.0d0
  yb = 1.0d0
  call h_b(x, xb1, y, yb, 3)
  xb2 = 0.0d0
  call h_fwd(x, y, 3)
  yb = 1.0d0
  call h_bwd(x, xb2, y, yb, 3)
  print '(a, 3es25.16)', 'B ', xb1
  print '(a, 3es25.16)', 'S ', xb2
  print '(a, i0)', 'LEFT ', ad_stack_bytes()
end program drive
"""


@pytest.mark.parametrize("how", ["cli", "directive"])
def test_split_head_pair(how, tmp_path):
    src = tmp_path / "h.f90"
    src.write_text(SRC.format(directive="!$AD NOCHECKPOINT\n" if how == "directive" else ""))
    text, unit = generate(Options(files=[str(src)], head="h(y)/(x)",
                                  split=["h"] if how == "cli" else []))
    names = [r.name for r in unit.all_routines()]
    assert {"h_b", "h_fwd", "h_bwd"} <= set(names)
    (tmp_path / "h_b.f90").write_text(text)
    (tmp_path / "drive.f90").write_text(DRIVER)
    objs, rtdir = build_runtime(tmp_path)
    run(["gfortran", *FFLAGS, "-c", "h.f90"], tmp_path)
    run(["gfortran", *STRICT, "-I", rtdir, "-c", "h_b.f90"], tmp_path)
    run(["gfortran", *FFLAGS, "-I", rtdir, "-c", "drive.f90"], tmp_path)
    run(["gfortran", "-o", "drive", "h.o", "h_b.o", "drive.o", *objs], tmp_path)
    out = run(["./drive"], tmp_path).stdout
    b = [float(v) for v in re.search(r"B (.*)", out).group(1).split()]
    s = [float(v) for v in re.search(r"S (.*)", out).group(1).split()]
    assert re.search(r"LEFT 0\b", out), out
    assert any(v != 0.0 for v in b)
    for u, v in zip(b, s):
        assert abs(u - v) <= 1e-14 * max(abs(u), 1.0)


def test_default_split_gives_head_only_b(tmp_path):
    """--default-mode split concerns call sites; a head gets no pair from it."""
    src = tmp_path / "h.f90"
    src.write_text(SRC.format(directive=""))
    _, unit = generate(Options(files=[str(src)], head="h(y)/(x)", default_mode="split"))
    names = {r.name for r in unit.all_routines()}
    assert "h_b" in names and "h_fwd" not in names
