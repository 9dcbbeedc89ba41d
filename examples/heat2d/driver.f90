! Driver for the heat2d example: runs the primal, the adjoint simulate_b
! (seed 1 on the objective) and the tangent simulate_d, and checks
!   - the gradient against a central finite difference along a direction d:
!       <grad J, d>  vs  (J(x + h d) - J(x - h d)) / (2 h)
!   - the dot-product identity between tangent and adjoint:
!       Jdot(d) * Jbar  vs  <xbar, d>          (Jbar = 1)
! Optional arguments: nx ny nsteps (defaults 24 20 60).
! Exits with status 1 if a check fails.
program heat2d_driver
  use heat2d_params
  use heat2d_state
  use adstack, only: ad_stack_peak_bytes, ad_stack_bytes, ad_stack_reset_peak
  implicit none
  real(dp), parameter :: fd_tol = 1.0e-6_dp, dot_tol = 1.0e-10_dp
  real(dp), allocatable :: t0(:,:), t0b(:,:), dt0(:,:), tp(:,:), tm(:,:)
  real(dp) :: kappa, qsrc, kappab, qsrcb, dkappa, dqsrc
  real(dp) :: cost, costb, costd, cp, cm, h
  real(dp) :: adj_dir, fd_dir, fd_err, dot_err
  integer :: i, j, mx, my, ms
  integer(8) :: peak, left

  mx = 24; my = 20; ms = 60
  call int_arg(1, mx)
  call int_arg(2, my)
  call int_arg(3, ms)
  call setup_model(mx, my, ms)

  allocate(t0(nx, ny), t0b(nx, ny), dt0(nx, ny), tp(nx, ny), tm(nx, ny))
  ! inputs: the prior plus a warm blob, and the model parameters
  do j = 1, ny
    do i = 1, nx
      t0(i, j) = tprior(i, j) &
               + 0.4_dp * exp(-((xc(i) - 0.3_dp)**2 + (yc(j) - 0.6_dp)**2) / 0.02_dp)
    end do
  end do
  kappa = 2.0e-3_dp
  qsrc = 1.5_dp
  ! a fixed direction in input space
  do j = 1, ny
    do i = 1, nx
      dt0(i, j) = cos(3.0_dp * xc(i) + 1.0_dp) * sin(2.0_dp * yc(j) + 0.5_dp)
    end do
  end do
  dkappa = 1.0e-3_dp
  dqsrc = 0.3_dp

  ! primal
  call simulate(t0, kappa, qsrc, cost)

  ! adjoint: seed 1 on the objective
  t0b = 0.0_dp
  kappab = 0.0_dp
  qsrcb = 0.0_dp
  costb = 1.0_dp
  call ad_stack_reset_peak()
  call simulate_b(t0, t0b, kappa, kappab, qsrc, qsrcb, cost, costb)
  peak = ad_stack_peak_bytes()
  left = ad_stack_bytes()
  adj_dir = sum(t0b * dt0) + kappab * dkappa + qsrcb * dqsrc

  ! central finite difference along the direction
  h = 1.0e-5_dp
  tp = t0 + h * dt0
  tm = t0 - h * dt0
  call simulate(tp, kappa + h * dkappa, qsrc + h * dqsrc, cp)
  call simulate(tm, kappa - h * dkappa, qsrc - h * dqsrc, cm)
  fd_dir = (cp - cm) / (2.0_dp * h)
  fd_err = abs(adj_dir - fd_dir) / max(abs(adj_dir), abs(fd_dir), tiny(1.0_dp))

  ! tangent along the same direction: dot-product test
  call simulate_d(t0, dt0, kappa, dkappa, qsrc, dqsrc, cost, costd)
  dot_err = abs(costd * 1.0_dp - adj_dir) / max(abs(costd), abs(adj_dir), tiny(1.0_dp))

  write(*, '(a, i0, a, i0, a, i0, a, i0, a, es22.14)') 'heat2d: ', nx, ' x ', ny, &
       ' grid, ', nsteps, ' steps, ', nobs_taken, ' observation times, J = ', cost
  write(*, '(a, es22.14, a, es22.14, a, es9.2)') 'gradient check: adjoint ', adj_dir, &
       ' finite-difference ', fd_dir, ' rel. error ', fd_err
  write(*, '(a, es22.14, a, es22.14, a, es9.2)') 'dot-product test: tangent ', costd, &
       ' adjoint ', adj_dir, ' rel. error ', dot_err
  write(*, '(a, i0, a)') 'stack peak: ', peak, ' bytes'
  if (left /= 0) then
    write(*, '(a, i0, a)') 'FAIL: ', left, ' bytes left on the stack after simulate_b'
    stop 1
  end if
  if (.not. (fd_err <= fd_tol)) then
    write(*, '(a, es9.2)') 'FAIL: gradient check rel. error above ', fd_tol
    stop 1
  end if
  if (.not. (dot_err <= dot_tol)) then
    write(*, '(a, es9.2)') 'FAIL: dot-product test rel. error above ', dot_tol
    stop 1
  end if
  write(*, '(a)') 'OK'

contains

  subroutine int_arg(k, v)
    integer, intent(in) :: k
    integer, intent(inout) :: v
    character(len=32) :: buf
    integer :: st
    if (command_argument_count() < k) return
    call get_command_argument(k, buf)
    read(buf, *, iostat=st) v
    if (st /= 0) then
      write(*, '(a, i0, a)') 'heat2d: argument ', k, ' is not an integer'
      stop 2
    end if
  end subroutine int_arg

end program heat2d_driver
