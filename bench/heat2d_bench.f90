! Benchmark driver for examples/heat2d (used by bench/modes.py).
!   heat2d_bench nx ny nsteps nrep
! Times nrep primal runs (simulate) and nrep adjoint runs (simulate_b, seed
! 1 on the objective), one line per run:
!   PRIMAL  wall_seconds cpu_seconds cost
!   ADJOINT wall_seconds cpu_seconds stack_peak_bytes stack_total_pushed_bytes bytes_left gradsum
! and first  NOVER bytes  counted by an instrumented primal (module
! bench_count; zero unless the model was instrumented by bench/modes.py).
program heat2d_bench
  use heat2d_params
  use heat2d_state
  use adstack, only: ad_stack_peak_bytes, ad_stack_bytes, ad_stack_reset_peak, &
       ad_stack_total_bytes, ad_stack_reset_counters
  use bench_count, only: bench_nover
  implicit none
  real(dp), allocatable :: t0(:,:), t0b(:,:)
  real(dp) :: kappa, qsrc, kappab, qsrcb, cost, costb, gsum
  integer :: i, j, k, mx, my, ms, nrep
  integer(8) :: c0, c1, rate
  real(dp) :: p0, p1

  mx = 96; my = 96; ms = 300; nrep = 5
  call int_arg(1, mx)
  call int_arg(2, my)
  call int_arg(3, ms)
  call int_arg(4, nrep)
  call setup_model(mx, my, ms)
  allocate(t0(nx, ny), t0b(nx, ny))
  do j = 1, ny
    do i = 1, nx
      t0(i, j) = tprior(i, j) &
               + 0.4_dp * exp(-((xc(i) - 0.3_dp)**2 + (yc(j) - 0.6_dp)**2) / 0.02_dp)
    end do
  end do
  kappa = 2.0e-3_dp
  qsrc = 1.5_dp
  call system_clock(count_rate=rate)

  ! instrumented count (one run), then a warm-up
  bench_nover = 0
  call simulate(t0, kappa, qsrc, cost)
  write(*, '(a, i0)') 'NOVER ', bench_nover
  do k = 1, nrep
    call cpu_time(p0)
    call system_clock(c0)
    call simulate(t0, kappa, qsrc, cost)
    call system_clock(c1)
    call cpu_time(p1)
    write(*, '(a, 2es14.6, es24.15)') 'PRIMAL ', real(c1 - c0, dp) / rate, p1 - p0, cost
  end do
  do k = 1, nrep
    t0b = 0.0_dp
    kappab = 0.0_dp
    qsrcb = 0.0_dp
    costb = 1.0_dp
    call ad_stack_reset_peak()
    call ad_stack_reset_counters()
    call cpu_time(p0)
    call system_clock(c0)
    call simulate_b(t0, t0b, kappa, kappab, qsrc, qsrcb, cost, costb)
    call system_clock(c1)
    call cpu_time(p1)
    gsum = sum(t0b) + kappab + qsrcb
    write(*, '(a, 2es14.6, 3(1x, i0), es24.15)') 'ADJOINT ', real(c1 - c0, dp) / rate, p1 - p0, &
         ad_stack_peak_bytes(), ad_stack_total_bytes(), ad_stack_bytes(), gsum
  end do

contains

  subroutine int_arg(k, v)
    integer, intent(in) :: k
    integer, intent(inout) :: v
    character(len=32) :: buf
    if (command_argument_count() < k) return
    call get_command_argument(k, buf)
    read(buf, *) v
  end subroutine int_arg

end program heat2d_bench
