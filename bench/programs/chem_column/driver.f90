! Driver for bench/programs/chem_column: runs the primal, the adjoint
! chem_objective_b (seed 1 on the cost), checks the gradient against a
! central finite difference along a fixed direction, prints the gradient
! norm and the stack peak, and times primal versus adjoint.
!
!   ./cc [nrep [nz nsteps nnewton]]     defaults: 3  40 2000 3
!
! nrep = 0 skips the timing.  Output lines (parsed by bench/programs/run.py):
!   SIZE nz nsteps nnewton
!   COST J
!   GRADNORM |grad J|_2
!   STACK_PEAK bytes        (ad_stack_peak_bytes() of one adjoint call)
!   STACK_LEFT bytes        (must be 0)
!   FD adjoint fd relerr    (directional derivative check)
!   PRIMAL_TIME median min  (seconds, over nrep runs)
!   ADJOINT_TIME median min
! Exit status 1 if the FD check fails (rel. error > 1e-6) or the stack is
! not empty afterwards.
program cc_driver
  use cc_params
  use cc_data
  use adstack, only: ad_stack_peak_bytes, ad_stack_bytes, ad_stack_reset_peak
  use bench_driver_util
  implicit none
  real(dp), parameter :: fd_tol = 1.0e-6_dp
  real(dp), parameter :: kbase(nreac) = (/ 1.0_dp, 50.0_dp, 5.0_dp, 20.0_dp, 2.0_dp, &
                                           10.0_dp, 0.5_dp /)
  real(dp), parameter :: cbase(nspec) = (/ 0.1_dp, 0.05_dp, 0.01_dp, 1.0_dp, 0.2_dp, 0.05_dp /)
  real(dp), allocatable :: c0(:,:), c0b(:,:), dc0(:,:), cpert(:,:)
  real(dp) :: lnk(nreac), lnkb(nreac), dlnk(nreac), lp(nreac)
  real(dp) :: emis, kdiff, emisb, kdiffb, demis, dkdiff
  real(dp) :: cost, costb, cp, cm, h, adj_dir, fd_dir, fd_err, gnorm
  real(dp), allocatable :: tp(:), ta(:)
  integer :: nrep, mz, ms, mn, k, s, r
  integer(8) :: peak, left, c0_, c1_, rate

  nrep = 3
  mz = 40; ms = 2000; mn = 3
  call int_arg(1, nrep)
  call int_arg(2, mz)
  call int_arg(3, ms)
  call int_arg(4, mn)
  call chem_setup(mz, ms, mn)
  allocate(c0(nspec, nz), c0b(nspec, nz), dc0(nspec, nz), cpert(nspec, nz))

  lnk = log(kbase)
  emis = 0.5_dp
  kdiff = 0.05_dp
  do k = 1, nz
    do s = 1, nspec
      c0(s, k) = cbase(s) * (1.0_dp + 0.3_dp * sin(0.7_dp * s + 5.0_dp * zc(k)))
      dc0(s, k) = 0.05_dp * cos(1.3_dp * s * k)
    end do
  end do
  do r = 1, nreac
    dlnk(r) = 0.1_dp * sin(1.0_dp + r)
  end do
  demis = 0.2_dp
  dkdiff = 0.02_dp

  call chem_objective(lnk, emis, kdiff, c0, cost)

  c0b = 0.0_dp
  lnkb = 0.0_dp; emisb = 0.0_dp; kdiffb = 0.0_dp
  costb = 1.0_dp
  call ad_stack_reset_peak()
  call chem_objective_b(lnk, lnkb, emis, emisb, kdiff, kdiffb, c0, c0b, cost, costb)
  peak = ad_stack_peak_bytes()
  left = ad_stack_bytes()
  gnorm = sqrt(sum(lnkb**2) + emisb**2 + kdiffb**2 + sum(c0b**2))
  adj_dir = sum(lnkb * dlnk) + emisb * demis + kdiffb * dkdiff + sum(c0b * dc0)

  h = 1.0e-4_dp   ! rounding noise ~1e-12 in the cost (converged Newton): a large step
  lp = lnk + h * dlnk
  cpert = c0 + h * dc0
  call chem_objective(lp, emis + h * demis, kdiff + h * dkdiff, cpert, cp)
  lp = lnk - h * dlnk
  cpert = c0 - h * dc0
  call chem_objective(lp, emis - h * demis, kdiff - h * dkdiff, cpert, cm)
  fd_dir = (cp - cm) / (2.0_dp * h)
  fd_err = abs(adj_dir - fd_dir) / max(abs(adj_dir), abs(fd_dir), tiny(1.0_dp))

  write(*, '(a, 3(1x, i0))') 'SIZE', nz, nsteps, nnewton
  call report_check(cost, gnorm, peak, left, adj_dir, fd_dir, fd_err)

  if (nrep > 0) then
    allocate(tp(nrep), ta(nrep))
    call system_clock(count_rate=rate)
    do r = 1, nrep
      call system_clock(c0_)
      call chem_objective(lnk, emis, kdiff, c0, cost)
      call system_clock(c1_)
      tp(r) = real(c1_ - c0_, dp) / rate
    end do
    do r = 1, nrep
      c0b = 0.0_dp
      lnkb = 0.0_dp; emisb = 0.0_dp; kdiffb = 0.0_dp
      costb = 1.0_dp
      call system_clock(c0_)
      call chem_objective_b(lnk, lnkb, emis, emisb, kdiff, kdiffb, c0, c0b, cost, costb)
      call system_clock(c1_)
      ta(r) = real(c1_ - c0_, dp) / rate
    end do
    call report_times(tp, ta)
  end if

  call verdict(left, fd_err, fd_tol)

end program cc_driver
