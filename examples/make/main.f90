! The user's program for the Make example: sets up the heat2d model, runs it
! and prints the cost and its gradient from the adjoint simulate_b.
! `make check` hands this very program to `adtool check`, which replaces the
! first call of simulate by the gradient check.
program heat2d_main
  use heat2d_params
  use heat2d_state
  implicit none
  real(dp), allocatable :: t0(:,:), t0b(:,:)
  real(dp) :: kappa, qsrc, cost, kappab, qsrcb, costb
  integer :: i, j

  call setup_model(24, 20, 60)
  allocate(t0(nx, ny), t0b(nx, ny))
  do j = 1, ny
    do i = 1, nx
      t0(i, j) = tprior(i, j) &
               + 0.4_dp * exp(-((xc(i) - 0.3_dp)**2 + (yc(j) - 0.6_dp)**2) / 0.02_dp)
    end do
  end do
  kappa = 2.0e-3_dp
  qsrc = 1.5_dp

  call simulate(t0, kappa, qsrc, cost)
  write(*, '(a, es22.14)') 'cost              ', cost

  t0b = 0.0_dp
  kappab = 0.0_dp
  qsrcb = 0.0_dp
  costb = 1.0_dp
  call simulate_b(t0, t0b, kappa, kappab, qsrc, qsrcb, cost, costb)
  write(*, '(a, es22.14)') 'd cost / d kappa  ', kappab
  write(*, '(a, es22.14)') 'd cost / d qsrc   ', qsrcb
  write(*, '(a, es22.14)') '|d cost / d t0|   ', sqrt(sum(t0b**2))
end program heat2d_main
