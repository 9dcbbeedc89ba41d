! Exercises the adstack module the way generated Fortran uses it: generic
! ad_push/ad_pop on every scalar kind, typed array calls with int32 and
! int64 counts, rank-1 generics (one on a strided, reversed section),
! control bits, counters read as integer(8) functions, and profiling calls.
! tests/test_runtime.py predicts every number printed here; the arithmetic
! is spelled out in the comments next to each push.
program stack_fortran
  use adstack
  use, intrinsic :: iso_c_binding, only: c_int64_t
  implicit none
  integer, parameter :: nbig = 2000000, nround = 1000
  real(8), allocatable :: big(:), big2(:)
  real(8) :: x
  real(4) :: s, ra(3), rb(3)
  integer(4) :: i4, br, ia(5), ib(5)
  integer(8) :: i8, cur, peak, total
  logical :: l, la(10), lb(10)
  integer :: k, bad
  integer(c_int64_t) :: n8

  bad = 0
  allocate(big(nbig), big2(nbig))
  do k = 1, nbig
    big(k) = sin(real(k, 8)) * 1.0d3 + real(k, 8)
  end do

  call ad_prof_enter(5)
  do k = 1, nround                      ! 25 bytes and 2 control bits a round
    call ad_push(xval(k))               ! 8
    call ad_push(sval(k))               ! 4
    call ad_push(ival(k))               ! 4
    call ad_push(kval(k))               ! 8
    call ad_push(lval(k))               ! 1
    call ad_push_control(mod(k, 4), 2)  ! 2 bits
  end do
  n8 = nbig
  call ad_push_real8_array(big, n8)     ! 16 000 000
  la = [(mod(k, 3) == 0, k = 1, 10)]
  call ad_push_logical_array(la, 10)    ! 10, int32 count
  ia = [1, -2, 3, -4, huge(1)]
  call ad_push(ia)                      ! 20
  ra = [1.5, -2.25, 3.0e30]
  call ad_push(ra(3:1:-1))              ! 12
  call ad_push_control(5, 3)            ! 3 bits: 2003 bits -> 251 bytes
  call ad_prof_exit(5)
  call show('after_push')               ! 25000+16000000+10+20+12+251

  call ad_pop_control(br, 3)
  if (br /= 5) bad = bad + 1
  call ad_pop(rb)
  if (any(rb /= ra(3:1:-1))) bad = bad + 1
  call ad_pop(ib)
  if (any(ib /= ia)) bad = bad + 1
  call ad_pop_logical_array(lb, 10_c_int64_t)
  if (any(lb .neqv. la)) bad = bad + 1
  call ad_pop_real8_array(big2, n8)
  if (any(transfer(big2, 0_8, nbig) /= transfer(big, 0_8, nbig))) bad = bad + 1
  call show('mid')                      ! 25000 + 250

  call ad_stack_reset_peak()
  call ad_stack_reset_counters()
  call show('reset')
  call ad_push_real8(-0.0d0)
  call ad_pop_real8(x)
  if (transfer(x, 0_8) /= transfer(-0.0d0, 0_8)) bad = bad + 1

  do k = nround, 1, -1
    call ad_pop_control(br, 2)
    if (br /= mod(k, 4)) bad = bad + 1
    call ad_pop(l)
    if (l .neqv. lval(k)) bad = bad + 1
    call ad_pop(i8)
    if (i8 /= kval(k)) bad = bad + 1
    call ad_pop(i4)
    if (i4 /= ival(k)) bad = bad + 1
    call ad_pop(s)
    if (s /= sval(k)) bad = bad + 1
    call ad_pop(x)
    if (x /= xval(k)) bad = bad + 1
  end do
  call show('end')
  print '(a,i0)', 'empty ', ad_stack_empty()

  print '(a)', 'before_report'
  call ad_stack_report()
  print '(a)', 'after_report'
  call ad_stack_free()
  call ad_prof_json('prof.json')
  deallocate(big, big2)
  print '(a,i0)', 'bad ', bad

contains

  subroutine show(tag)
    character(len=*), intent(in) :: tag
    cur = ad_stack_bytes()
    peak = ad_stack_peak_bytes()
    total = ad_stack_total_bytes()
    print '(a,3(1x,i0))', tag, cur, peak, total
  end subroutine show

  real(8) function xval(k)
    integer, intent(in) :: k
    xval = real(k, 8) / 3.0d0
  end function xval

  real(4) function sval(k)
    integer, intent(in) :: k
    sval = real(k, 4) / 7.0
  end function sval

  integer(4) function ival(k)
    integer, intent(in) :: k
    ival = -k * 12345
  end function ival

  integer(8) function kval(k)
    integer, intent(in) :: k
    kval = int(k, 8) * 100000000000_8
  end function kval

  logical function lval(k)
    integer, intent(in) :: k
    lval = mod(k, 3) == 0
  end function lval

end program stack_fortran
