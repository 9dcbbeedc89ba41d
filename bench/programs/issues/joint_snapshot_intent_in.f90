! adtool bug: a nested joint call snapshots (and pops into) an intent(in)
! dummy of the enclosing routine, so the generated outer_b does not compile.
!
!   adtool differentiate joint_snapshot_intent_in.f90 --head 'head(c)/(y p)' \
!          --default-mode joint -o out_b.f90
!   gfortran -c out_b.f90
!   -> Error: Dummy argument 'k' with INTENT(IN) in variable definition
!      context (actual argument to INTENT = OUT/INOUT)   [call ad_pop_real8(k)]
!
! outer_b pushes k before `call inner(y, k, f)` and pops it before inner_b.
! Inside outer_b the forward and backward sweeps of outer run back to back,
! and outer never writes k: the snapshot of k is not needed at all.  It
! appears only because head overwrites the actual argument (k = p * lev)
! after outer returns, i.e. the continuation of the caller is counted in
! out(D).  With --default-mode split --joint inner the same snapshot sits in
! outer_bwd, where it is needed and compiles (outer_bwd declares k without
! intent), and the gradient is right.  Without the loop over lev in head (k
! written once), no snapshot of k is taken.
! Found in bench/programs/chem_column (newton_solve's k and sun, all-joint).
subroutine inner(y, k, f)
  real(8), intent(in) :: y(2), k
  real(8), intent(out) :: f(2)
  f = k * y * y
end subroutine inner

subroutine outer(y, k)
  real(8), intent(inout) :: y(2)
  real(8), intent(in) :: k
  real(8) :: f(2)
  integer :: it
  do it = 1, 3
    call inner(y, k, f)
    y = y - 0.1d0 * f
  end do
end subroutine outer

subroutine head(y, p, c)
  real(8), intent(inout) :: y(2)
  real(8), intent(in) :: p
  real(8), intent(out) :: c
  real(8) :: k
  integer :: lev
  do lev = 1, 2
    k = p * lev
    call outer(y, k)
  end do
  c = sum(y)
end subroutine head
