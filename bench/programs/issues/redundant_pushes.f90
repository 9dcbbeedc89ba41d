! adtool inefficiency (correct gradients, too much tape): the same array is
! pushed several times around one call in a time loop.
!
!   adtool differentiate redundant_pushes.f90 --head 'head(f)/(x0)' --default-mode joint -o j.f90
!   adtool differentiate redundant_pushes.f90 --head 'head(f)/(x0)' --default-mode split -o s.f90
!
! With n = 1000, nt = 100 (8e5 bytes = one copy of x per step):
!   joint: head_b pushes x twice per iteration (the snapshot for step_b and
!          again as the value step overwrites), peak 1 600 004 bytes;
!          the second copy is popped right after step_b, which has already
!          restored x from the snapshot.
!   split: head_b pushes x before step_fwd, step_fwd pushes x before the
!          assignment and again at its exit; step_bwd pops both, then head_b
!          pops the third copy: peak 2 400 004 bytes where one copy per step
!          suffices.
! The extra copy in head_b appears only when x is needed after the loop
! (here by sum(x**2); with sum(x) there is one push per step in joint mode).
! Seen in bench/programs/shallow_water (all-joint: 2 x (h, hu, hv) per step,
! because the final kinetic energy reads them) and implicit_heat (each dot
! and operator call pushes its whole input arrays at exit of its _fwd, and
! pcg_solve_fwd pushes ap and p again).
subroutine step(x, n)
  integer, intent(in) :: n
  real(8), intent(inout) :: x(n)
  x = sin(x) * x
end subroutine step

subroutine head(x0, n, nt, f)
  integer, intent(in) :: n, nt
  real(8), intent(in) :: x0(n)
  real(8), intent(out) :: f
  real(8) :: x(n)
  integer :: k
  x = x0
  do k = 1, nt
    call step(x, n)
  end do
  f = sum(x**2)
end subroutine head
