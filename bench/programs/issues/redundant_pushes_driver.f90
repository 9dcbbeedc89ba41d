! Driver for redundant_pushes.f90: prints the stack peak of head_b.
!   gfortran -O2 redundant_pushes_driver.f90 redundant_pushes.f90 j.f90 adstack_mod.o adstack.o
program d
  use adstack
  implicit none
  integer, parameter :: n = 1000, nt = 100
  real(8) :: x0(n), x0b(n), f, fb
  integer :: i
  do i = 1, n
    x0(i) = 0.5d0 + 0.1d0 * sin(real(i, 8))
  end do
  x0b = 0
  fb = 1
  call ad_stack_reset_peak()
  call head_b(x0, x0b, n, nt, f, fb)
  print '(a, i0, a, i0, a)', 'peak ', ad_stack_peak_bytes(), ' bytes (one copy of x per step = ', &
       8_8 * n * nt, ')'
end program d
