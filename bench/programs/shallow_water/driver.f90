! Driver for bench/programs/shallow_water: runs the primal, the adjoint
! sw_objective_b (seed 1 on the cost), checks the gradient against a central
! finite difference along a fixed direction, prints the gradient norm and
! the stack peak, and times primal versus adjoint.
!
!   ./sw [nrep [nx ny nsteps]]     defaults: 3  48 48 200
!
! nrep = 0 skips the timing.  Output lines (parsed by bench/programs/run.py):
!   SIZE nx ny nsteps
!   COST J
!   GRADNORM |grad J|_2
!   STACK_PEAK bytes        (ad_stack_peak_bytes() of one adjoint call)
!   STACK_LEFT bytes        (must be 0)
!   FD adjoint fd relerr    (directional derivative check)
!   PRIMAL_TIME median min  (seconds, over nrep runs)
!   ADJOINT_TIME median min
! Exit status 1 if the FD check fails (rel. error > 1e-6) or the stack is
! not empty afterwards.
program sw_driver
  use sw_params
  use sw_data
  use adstack, only: ad_stack_peak_bytes, ad_stack_bytes, ad_stack_reset_peak
  use bench_driver_util
  implicit none
  real(dp), parameter :: fd_tol = 1.0e-6_dp
  real(dp), allocatable :: eta0(:,:), eta0b(:,:), deta(:,:), ep(:,:)
  real(dp) :: depth0, cf, fcor, depth0b, cfb, fcorb, ddepth, dcf, dfcor
  real(dp) :: cost, costb, cp, cm, h, adj_dir, fd_dir, fd_err, gnorm, x, y
  real(dp), allocatable :: tp(:), ta(:)
  integer :: nrep, mx, my, ms, i, j, r
  integer(8) :: peak, left, c0, c1, rate

  nrep = 3
  mx = 48; my = 48; ms = 200
  call int_arg(1, nrep)
  call int_arg(2, mx)
  call int_arg(3, my)
  call int_arg(4, ms)
  depth0 = 10.0_dp
  call sw_setup(mx, my, ms, depth0)
  allocate(eta0(nx, ny), eta0b(nx, ny), deta(nx, ny), ep(nx, ny))

  cf = 2.5e-3_dp
  fcor = 1.0e-4_dp
  do j = 1, ny
    do i = 1, nx
      x = (i - 0.5_dp) / nx
      y = (j - 0.5_dp) / ny
      eta0(i, j) = 0.5_dp * exp(-((x - 0.3_dp)**2 + (y - 0.4_dp)**2) / 0.01_dp)
      deta(i, j) = 0.1_dp * sin(3.0_dp * pi * x + 0.4_dp) * cos(2.0_dp * pi * y)
    end do
  end do
  ddepth = 0.5_dp
  dcf = 1.0e-3_dp
  dfcor = 5.0e-5_dp

  call sw_objective(eta0, depth0, cf, fcor, cost)

  eta0b = 0.0_dp
  depth0b = 0.0_dp; cfb = 0.0_dp; fcorb = 0.0_dp
  costb = 1.0_dp
  call ad_stack_reset_peak()
  call sw_objective_b(eta0, eta0b, depth0, depth0b, cf, cfb, fcor, fcorb, cost, costb)
  peak = ad_stack_peak_bytes()
  left = ad_stack_bytes()
  gnorm = sqrt(depth0b**2 + cfb**2 + fcorb**2 + sum(eta0b**2))
  adj_dir = sum(eta0b * deta) + depth0b * ddepth + cfb * dcf + fcorb * dfcor

  h = 1.0e-5_dp
  ep = eta0 + h * deta
  call sw_objective(ep, depth0 + h * ddepth, cf + h * dcf, fcor + h * dfcor, cp)
  ep = eta0 - h * deta
  call sw_objective(ep, depth0 - h * ddepth, cf - h * dcf, fcor - h * dfcor, cm)
  fd_dir = (cp - cm) / (2.0_dp * h)
  fd_err = abs(adj_dir - fd_dir) / max(abs(adj_dir), abs(fd_dir), tiny(1.0_dp))

  write(*, '(a, 3(1x, i0))') 'SIZE', nx, ny, nsteps
  call report_check(cost, gnorm, peak, left, adj_dir, fd_dir, fd_err)

  if (nrep > 0) then
    allocate(tp(nrep), ta(nrep))
    call system_clock(count_rate=rate)
    do r = 1, nrep
      call system_clock(c0)
      call sw_objective(eta0, depth0, cf, fcor, cost)
      call system_clock(c1)
      tp(r) = real(c1 - c0, dp) / rate
    end do
    do r = 1, nrep
      eta0b = 0.0_dp
      depth0b = 0.0_dp; cfb = 0.0_dp; fcorb = 0.0_dp
      costb = 1.0_dp
      call system_clock(c0)
      call sw_objective_b(eta0, eta0b, depth0, depth0b, cf, cfb, fcor, fcorb, cost, costb)
      call system_clock(c1)
      ta(r) = real(c1 - c0, dp) / rate
    end do
    call report_times(tp, ta)
  end if

  call verdict(left, fd_err, fd_tol)

end program sw_driver
