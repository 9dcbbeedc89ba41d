! What the four benchmark drivers share: their argument parsing, the
! report lines run.py and strategies.py parse, and the pass/fail verdict.
module bench_driver_util
  implicit none
  private
  public :: int_arg, median, report_check, report_times, verdict
  integer, parameter :: dp = kind(1.0d0)
contains

  ! Command-line argument k as an integer; v keeps its default if absent.
  subroutine int_arg(k, v)
    integer, intent(in) :: k
    integer, intent(inout) :: v
    character(len=32) :: buf
    integer :: st
    if (command_argument_count() < k) return
    call get_command_argument(k, buf)
    read(buf, *, iostat=st) v
    if (st /= 0) then
      write(*, '(a, i0, a)') 'argument ', k, ' is not an integer'
      stop 2
    end if
  end subroutine int_arg

  real(dp) function median(t)
    real(dp), intent(in) :: t(:)
    real(dp) :: s(size(t)), x
    integer :: a, b, n
    n = size(t)
    s = t
    do a = 2, n
      x = s(a)
      b = a - 1
      do while (b >= 1)
        if (s(b) <= x) exit
        s(b + 1) = s(b)
        b = b - 1
      end do
      s(b + 1) = x
    end do
    if (mod(n, 2) == 1) then
      median = s((n + 1) / 2)
    else
      median = 0.5_dp * (s(n / 2) + s(n / 2 + 1))
    end if
  end function median

  subroutine report_check(cost, gnorm, peak, left, adj_dir, fd_dir, fd_err)
    real(dp), intent(in) :: cost, gnorm, adj_dir, fd_dir, fd_err
    integer(8), intent(in) :: peak, left
    write(*, '(a, es24.15)') 'COST', cost
    write(*, '(a, es24.15)') 'GRADNORM', gnorm
    write(*, '(a, 1x, i0)') 'STACK_PEAK', peak
    write(*, '(a, 1x, i0)') 'STACK_LEFT', left
    write(*, '(a, 2es24.15, es10.2)') 'FD', adj_dir, fd_dir, fd_err
  end subroutine report_check

  subroutine report_times(tp, ta)
    real(dp), intent(in) :: tp(:), ta(:)
    write(*, '(a, 2es12.4)') 'PRIMAL_TIME', median(tp), minval(tp)
    write(*, '(a, 2es12.4)') 'ADJOINT_TIME', median(ta), minval(ta)
  end subroutine report_times

  ! Exit status 1 (and a FAIL line) on a non-empty stack or a failed FD check.
  subroutine verdict(left, fd_err, fd_tol)
    integer(8), intent(in) :: left
    real(dp), intent(in) :: fd_err, fd_tol
    if (left /= 0) then
      write(*, '(a)') 'FAIL: stack not empty after the adjoint'
      stop 1
    end if
    if (.not. (fd_err <= fd_tol)) then
      write(*, '(a)') 'FAIL: finite-difference check'
      stop 1
    end if
    write(*, '(a)') 'OK'
  end subroutine verdict
end module bench_driver_util
