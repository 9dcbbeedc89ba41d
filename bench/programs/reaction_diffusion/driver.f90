! Driver for bench/programs/reaction_diffusion: runs the primal, the adjoint
! rd_objective_b (seed 1 on the cost), checks the gradient against a central
! finite difference along a fixed direction, prints the gradient norm and
! the stack peak, and times primal versus adjoint.
!
!   ./rd [nrep [nx ny nsteps nsmooth]]     defaults: 3  64 64 250 6
!
! nrep = 0 skips the timing.  Output lines (one key each, parsed by
! bench/programs/run.py):
!   SIZE nx ny nsteps nsmooth
!   COST J
!   GRADNORM |grad J|_2
!   STACK_PEAK bytes        (ad_stack_peak_bytes() of one adjoint call)
!   STACK_LEFT bytes        (must be 0)
!   FD adjoint fd relerr    (directional derivative check)
!   PRIMAL_TIME median min  (seconds, over nrep runs)
!   ADJOINT_TIME median min
! Exit status 1 if the FD check fails (rel. error > 1e-6) or the stack is
! not empty afterwards.
program rd_driver
  use rd_params
  use rd_grid
  use adstack, only: ad_stack_peak_bytes, ad_stack_bytes, ad_stack_reset_peak
  use bench_driver_util
  implicit none
  real(dp), parameter :: fd_tol = 1.0e-6_dp
  real(dp), allocatable :: v0(:,:), v0b(:,:), dv0(:,:), vp(:,:)
  real(dp) :: feed, kill, diff_u, diff_v
  real(dp) :: feedb, killb, diff_ub, diff_vb
  real(dp) :: dfeed, dkill, ddu, ddv
  real(dp) :: cost, costb, cp, cm, h, adj_dir, fd_dir, fd_err, gnorm
  real(dp), allocatable :: tp(:), ta(:)
  integer :: nrep, mx, my, ms, msub, i, j, r
  integer(8) :: peak, left, c0, c1, rate

  nrep = 3
  mx = 64; my = 64; ms = 250; msub = 6
  call int_arg(1, nrep)
  call int_arg(2, mx)
  call int_arg(3, my)
  call int_arg(4, ms)
  call int_arg(5, msub)
  call rd_setup(mx, my, ms, msub)
  allocate(v0(nx, ny), v0b(nx, ny), dv0(nx, ny), vp(nx, ny))

  feed = 0.037_dp
  kill = 0.06_dp
  diff_u = 0.16_dp
  diff_v = 0.08_dp
  do j = 1, ny
    do i = 1, nx
      v0(i, j) = v_prior(i, j) + 0.02_dp * sin(0.37_dp * i + 0.11_dp * j * j)
      dv0(i, j) = cos(0.23_dp * i * j + 0.7_dp) * 0.5_dp
    end do
  end do
  dfeed = 0.3_dp
  dkill = -0.2_dp
  ddu = 0.5_dp
  ddv = 0.4_dp

  call rd_objective(feed, kill, diff_u, diff_v, v0, cost)

  v0b = 0.0_dp
  feedb = 0.0_dp; killb = 0.0_dp; diff_ub = 0.0_dp; diff_vb = 0.0_dp
  costb = 1.0_dp
  call ad_stack_reset_peak()
  call rd_objective_b(feed, feedb, kill, killb, diff_u, diff_ub, diff_v, diff_vb, &
                      v0, v0b, cost, costb)
  peak = ad_stack_peak_bytes()
  left = ad_stack_bytes()
  gnorm = sqrt(feedb**2 + killb**2 + diff_ub**2 + diff_vb**2 + sum(v0b**2))
  adj_dir = feedb * dfeed + killb * dkill + diff_ub * ddu + diff_vb * ddv + sum(v0b * dv0)

  h = 1.0e-6_dp
  vp = v0 + h * dv0
  call rd_objective(feed + h * dfeed, kill + h * dkill, diff_u + h * ddu, diff_v + h * ddv, &
                    vp, cp)
  vp = v0 - h * dv0
  call rd_objective(feed - h * dfeed, kill - h * dkill, diff_u - h * ddu, diff_v - h * ddv, &
                    vp, cm)
  fd_dir = (cp - cm) / (2.0_dp * h)
  fd_err = abs(adj_dir - fd_dir) / max(abs(adj_dir), abs(fd_dir), tiny(1.0_dp))

  write(*, '(a, 4(1x, i0))') 'SIZE', nx, ny, nsteps, nsmooth
  call report_check(cost, gnorm, peak, left, adj_dir, fd_dir, fd_err)

  if (nrep > 0) then
    allocate(tp(nrep), ta(nrep))
    call system_clock(count_rate=rate)
    do r = 1, nrep
      call system_clock(c0)
      call rd_objective(feed, kill, diff_u, diff_v, v0, cost)
      call system_clock(c1)
      tp(r) = real(c1 - c0, dp) / rate
    end do
    do r = 1, nrep
      v0b = 0.0_dp
      feedb = 0.0_dp; killb = 0.0_dp; diff_ub = 0.0_dp; diff_vb = 0.0_dp
      costb = 1.0_dp
      call system_clock(c0)
      call rd_objective_b(feed, feedb, kill, killb, diff_u, diff_ub, diff_v, diff_vb, &
                          v0, v0b, cost, costb)
      call system_clock(c1)
      ta(r) = real(c1 - c0, dp) / rate
    end do
    call report_times(tp, ta)
  end if

  call verdict(left, fd_err, fd_tol)

end program rd_driver
