! Driver for bench/programs/implicit_heat: runs the primal, the adjoint
! heat_objective_b (seed 1 on the cost), checks the gradient against a
! central finite difference along a fixed direction, prints the gradient
! norm and the stack peak, and times primal versus adjoint.
!
!   ./ih [nrep [nx ny nsteps ncg]]     defaults: 3  48 48 80 30
!
! nrep = 0 skips the timing.  Output lines (parsed by bench/programs/run.py):
!   SIZE nx ny nsteps ncg
!   COST J
!   RELRES r                (relative PCG residual after the last step)
!   GRADNORM |grad J|_2
!   STACK_PEAK bytes        (ad_stack_peak_bytes() of one adjoint call)
!   STACK_LEFT bytes        (must be 0)
!   FD adjoint fd relerr    (directional derivative check)
!   PRIMAL_TIME median min  (seconds, over nrep runs)
!   ADJOINT_TIME median min
! Exit status 1 if the FD check fails (rel. error > 1e-6) or the stack is
! not empty afterwards.
program ih_driver
  use ih_params
  use ih_data
  use adstack, only: ad_stack_peak_bytes, ad_stack_bytes, ad_stack_reset_peak
  use bench_driver_util
  implicit none
  real(dp), parameter :: fd_tol = 1.0e-6_dp
  real(dp), allocatable :: u0(:,:), u0b(:,:), du0(:,:), up(:,:)
  real(dp) :: kappa0, qamp, tenv, kappa0b, qampb, tenvb, dkappa, dqamp, dtenv
  real(dp) :: cost, costb, cp, cm, h, adj_dir, fd_dir, fd_err, gnorm
  real(dp), allocatable :: tp(:), ta(:)
  integer :: nrep, mx, my, ms, mi, i, j, r
  integer(8) :: peak, left, c0, c1, rate

  nrep = 3
  mx = 48; my = 48; ms = 80; mi = 30
  call int_arg(1, nrep)
  call int_arg(2, mx)
  call int_arg(3, my)
  call int_arg(4, ms)
  call int_arg(5, mi)
  call heat_setup(mx, my, ms, mi)
  allocate(u0(nx, ny), u0b(nx, ny), du0(nx, ny), up(nx, ny))

  kappa0 = 0.05_dp
  qamp = 2.0_dp
  tenv = 0.2_dp
  do j = 1, ny
    do i = 1, nx
      u0(i, j) = 0.3_dp + 0.1_dp * sin(2.0_dp * pi * xc(i)) * sin(3.0_dp * pi * yc(j))
      du0(i, j) = 0.5_dp * cos(5.0_dp * xc(i) + 1.0_dp) * sin(4.0_dp * yc(j) + 0.3_dp)
    end do
  end do
  dkappa = 0.02_dp
  dqamp = 0.5_dp
  dtenv = -0.3_dp

  call heat_objective(u0, kappa0, qamp, tenv, cost)

  u0b = 0.0_dp
  kappa0b = 0.0_dp; qampb = 0.0_dp; tenvb = 0.0_dp
  costb = 1.0_dp
  call ad_stack_reset_peak()
  call heat_objective_b(u0, u0b, kappa0, kappa0b, qamp, qampb, tenv, tenvb, cost, costb)
  peak = ad_stack_peak_bytes()
  left = ad_stack_bytes()
  gnorm = sqrt(kappa0b**2 + qampb**2 + tenvb**2 + sum(u0b**2))
  adj_dir = sum(u0b * du0) + kappa0b * dkappa + qampb * dqamp + tenvb * dtenv

  h = 1.0e-5_dp   ! CG rounding noise ~1e-13 in the cost: a larger step is more accurate
  up = u0 + h * du0
  call heat_objective(up, kappa0 + h * dkappa, qamp + h * dqamp, tenv + h * dtenv, cp)
  up = u0 - h * du0
  call heat_objective(up, kappa0 - h * dkappa, qamp - h * dqamp, tenv - h * dtenv, cm)
  fd_dir = (cp - cm) / (2.0_dp * h)
  fd_err = abs(adj_dir - fd_dir) / max(abs(adj_dir), abs(fd_dir), tiny(1.0_dp))
  call heat_objective(u0, kappa0, qamp, tenv, cost)

  write(*, '(a, 4(1x, i0))') 'SIZE', nx, ny, nsteps, ncg
  call report_check(cost, gnorm, peak, left, adj_dir, fd_dir, fd_err)

  if (nrep > 0) then
    allocate(tp(nrep), ta(nrep))
    call system_clock(count_rate=rate)
    do r = 1, nrep
      call system_clock(c0)
      call heat_objective(u0, kappa0, qamp, tenv, cost)
      call system_clock(c1)
      tp(r) = real(c1 - c0, dp) / rate
    end do
    do r = 1, nrep
      u0b = 0.0_dp
      kappa0b = 0.0_dp; qampb = 0.0_dp; tenvb = 0.0_dp
      costb = 1.0_dp
      call system_clock(c0)
      call heat_objective_b(u0, u0b, kappa0, kappa0b, qamp, qampb, tenv, tenvb, cost, costb)
      call system_clock(c1)
      ta(r) = real(c1 - c0, dp) / rate
    end do
    call report_times(tp, ta)
  end if

  call verdict(left, fd_err, fd_tol)

end program ih_driver
