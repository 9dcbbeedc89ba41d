! adstack_mod.f90 -- Fortran access to the adtool value stack (adstack.c).
!
! Generated Fortran says `use adstack` and then either the typed names,
! which are the C functions themselves, e.g.
!     call ad_push_real8(x)          call ad_pop_real8(x)
!     call ad_push_real8_array(a, n) call ad_pop_real8_array(a, n)
!     call ad_push_control(branch, 2) call ad_pop_control(branch, 2)
! or the generic names ad_push / ad_pop for scalars (real(8), real(4),
! integer(4), integer(8), default logical) and rank-1 arrays of those.
! The array routines accept the count as integer(4) or integer(8), since a
! value argument is not converted between kinds by the compiler.
!
! bind(c) interfaces are used instead of trailing-underscore external names
! because underscore mangling depends on compiler flags.  Default logical is
! not interoperable, so logicals go through small module procedures that
! convert to and from a 0/1 int32; for the same reason the report routines
! flush Fortran's own stdout buffer before C prints, keeping lines in order.
! Byte accounting is described in adstack.h.
module adstack
  use, intrinsic :: iso_c_binding, only: c_double, c_float, c_int, &
       c_int32_t, c_int64_t, c_char, c_null_char
  use, intrinsic :: iso_fortran_env, only: output_unit
  implicit none
  private

  public :: ad_push, ad_pop
  public :: ad_push_real8, ad_pop_real8, ad_push_real4, ad_pop_real4
  public :: ad_push_integer4, ad_pop_integer4, ad_push_integer8, ad_pop_integer8
  public :: ad_push_logical, ad_pop_logical
  public :: ad_push_control, ad_pop_control
  public :: ad_push_real8_array, ad_pop_real8_array
  public :: ad_push_real4_array, ad_pop_real4_array
  public :: ad_push_integer4_array, ad_pop_integer4_array
  public :: ad_push_integer8_array, ad_pop_integer8_array
  public :: ad_push_logical_array, ad_pop_logical_array
  public :: ad_push_character, ad_pop_character
  public :: ad_push_character_array, ad_pop_character_array
  public :: ad_stack_bytes, ad_stack_peak_bytes, ad_stack_total_bytes
  public :: ad_stack_reset_peak, ad_stack_reset_counters, ad_stack_report
  public :: ad_stack_empty, ad_stack_free
  public :: ad_prof_enter, ad_prof_exit, ad_prof_report, ad_prof_json
  public :: ad_binomial_begin, ad_binomial_next, ad_binomial_cost

  ! Logical arrays are converted through a buffer of this many elements, so
  ! a large array needs no temporary of its own size.
  integer, parameter :: lchunk = 4096

  ! ---- scalars --------------------------------------------------------
  interface ad_push
    subroutine ad_push_real8(v) bind(c, name='ad_push_real8')
      import :: c_double
      real(c_double), value :: v
    end subroutine ad_push_real8
    subroutine ad_push_real4(v) bind(c, name='ad_push_real4')
      import :: c_float
      real(c_float), value :: v
    end subroutine ad_push_real4
    subroutine ad_push_integer4(v) bind(c, name='ad_push_integer4')
      import :: c_int32_t
      integer(c_int32_t), value :: v
    end subroutine ad_push_integer4
    subroutine ad_push_integer8(v) bind(c, name='ad_push_integer8')
      import :: c_int64_t
      integer(c_int64_t), value :: v
    end subroutine ad_push_integer8
    module procedure ad_push_logical
    module procedure ad_push_real8_r1, ad_push_real4_r1
    module procedure ad_push_integer4_r1, ad_push_integer8_r1
    module procedure ad_push_logical_r1
  end interface ad_push

  interface ad_pop
    subroutine ad_pop_real8(v) bind(c, name='ad_pop_real8')
      import :: c_double
      real(c_double), intent(out) :: v
    end subroutine ad_pop_real8
    subroutine ad_pop_real4(v) bind(c, name='ad_pop_real4')
      import :: c_float
      real(c_float), intent(out) :: v
    end subroutine ad_pop_real4
    subroutine ad_pop_integer4(v) bind(c, name='ad_pop_integer4')
      import :: c_int32_t
      integer(c_int32_t), intent(out) :: v
    end subroutine ad_pop_integer4
    subroutine ad_pop_integer8(v) bind(c, name='ad_pop_integer8')
      import :: c_int64_t
      integer(c_int64_t), intent(out) :: v
    end subroutine ad_pop_integer8
    module procedure ad_pop_logical
    module procedure ad_pop_real8_r1, ad_pop_real4_r1
    module procedure ad_pop_integer4_r1, ad_pop_integer8_r1
    module procedure ad_pop_logical_r1
  end interface ad_pop

  ! ---- control bits ---------------------------------------------------
  interface
    subroutine ad_push_control(v, nbits) bind(c, name='ad_push_control')
      import :: c_int32_t
      integer(c_int32_t), value :: v, nbits
    end subroutine ad_push_control
    subroutine ad_pop_control(v, nbits) bind(c, name='ad_pop_control')
      import :: c_int32_t
      integer(c_int32_t), intent(out) :: v
      integer(c_int32_t), value :: nbits
    end subroutine ad_pop_control
  end interface

  ! ---- arrays: the C entries themselves, not generic, so that an array of
  ! any rank (or a section) passes by sequence association; count is int64 ----
  interface
    subroutine ad_push_real8_array(a, n) bind(c, name='ad_push_real8_array')
      import :: c_double, c_int64_t
      real(c_double), intent(in) :: a(*)
      integer(c_int64_t), value :: n
    end subroutine ad_push_real8_array
  end interface
  interface
    subroutine ad_pop_real8_array(a, n) bind(c, name='ad_pop_real8_array')
      import :: c_double, c_int64_t
      real(c_double), intent(out) :: a(*)
      integer(c_int64_t), value :: n
    end subroutine ad_pop_real8_array
  end interface

  interface
    subroutine ad_push_real4_array(a, n) bind(c, name='ad_push_real4_array')
      import :: c_float, c_int64_t
      real(c_float), intent(in) :: a(*)
      integer(c_int64_t), value :: n
    end subroutine ad_push_real4_array
  end interface
  interface
    subroutine ad_pop_real4_array(a, n) bind(c, name='ad_pop_real4_array')
      import :: c_float, c_int64_t
      real(c_float), intent(out) :: a(*)
      integer(c_int64_t), value :: n
    end subroutine ad_pop_real4_array
  end interface

  interface
    subroutine ad_push_integer4_array(a, n) bind(c, name='ad_push_integer4_array')
      import :: c_int32_t, c_int64_t
      integer(c_int32_t), intent(in) :: a(*)
      integer(c_int64_t), value :: n
    end subroutine ad_push_integer4_array
  end interface
  interface
    subroutine ad_pop_integer4_array(a, n) bind(c, name='ad_pop_integer4_array')
      import :: c_int32_t, c_int64_t
      integer(c_int32_t), intent(out) :: a(*)
      integer(c_int64_t), value :: n
    end subroutine ad_pop_integer4_array
  end interface

  interface
    subroutine ad_push_integer8_array(a, n) bind(c, name='ad_push_integer8_array')
      import :: c_int64_t
      integer(c_int64_t), intent(in) :: a(*)
      integer(c_int64_t), value :: n
    end subroutine ad_push_integer8_array
  end interface
  interface
    subroutine ad_pop_integer8_array(a, n) bind(c, name='ad_pop_integer8_array')
      import :: c_int64_t
      integer(c_int64_t), intent(out) :: a(*)
      integer(c_int64_t), value :: n
    end subroutine ad_pop_integer8_array
  end interface

  interface ad_push_logical_array
    module procedure ad_push_logical_array_n8, ad_push_logical_array_n4
  end interface ad_push_logical_array
  interface ad_pop_logical_array
    module procedure ad_pop_logical_array_n8, ad_pop_logical_array_n4
  end interface ad_pop_logical_array

  ! ---- statistics and profiling ------------------------------------------
  interface
    function ad_stack_bytes() bind(c, name='ad_stack_bytes')
      import :: c_int64_t
      integer(c_int64_t) :: ad_stack_bytes
    end function ad_stack_bytes
    function ad_stack_peak_bytes() bind(c, name='ad_stack_peak_bytes')
      import :: c_int64_t
      integer(c_int64_t) :: ad_stack_peak_bytes
    end function ad_stack_peak_bytes
    function ad_stack_total_bytes() bind(c, name='ad_stack_total_bytes')
      import :: c_int64_t
      integer(c_int64_t) :: ad_stack_total_bytes
    end function ad_stack_total_bytes
    subroutine ad_stack_reset_peak() bind(c, name='ad_stack_reset_peak')
    end subroutine ad_stack_reset_peak
    subroutine ad_stack_reset_counters() bind(c, name='ad_stack_reset_counters')
    end subroutine ad_stack_reset_counters
    function ad_stack_empty() bind(c, name='ad_stack_empty')
      import :: c_int
      integer(c_int) :: ad_stack_empty
    end function ad_stack_empty
    subroutine ad_stack_free() bind(c, name='ad_stack_free')
    end subroutine ad_stack_free
    subroutine ad_prof_enter(site) bind(c, name='ad_prof_enter')
      import :: c_int32_t
      integer(c_int32_t), value :: site
    end subroutine ad_prof_enter
    subroutine ad_prof_exit(site) bind(c, name='ad_prof_exit')
      import :: c_int32_t
      integer(c_int32_t), value :: site
    end subroutine ad_prof_exit

    ! Binomial checkpointing schedules (adstack.h).
    subroutine ad_binomial_begin(steps, snaps, site, handle) bind(c, name='ad_binomial_begin')
      import :: c_int32_t
      integer(c_int32_t), value :: steps, snaps, site
      integer(c_int32_t), intent(out) :: handle
    end subroutine ad_binomial_begin
    subroutine ad_binomial_next(handle, action, step) bind(c, name='ad_binomial_next')
      import :: c_int32_t
      integer(c_int32_t), value :: handle
      integer(c_int32_t), intent(out) :: action, step
    end subroutine ad_binomial_next
    function ad_binomial_cost(steps, snaps) bind(c, name='ad_binomial_cost')
      import :: c_int64_t
      integer(c_int64_t), value :: steps, snaps
      integer(c_int64_t) :: ad_binomial_cost
    end function ad_binomial_cost

    ! Reached through the module procedures of the same Fortran meaning.
    subroutine c_push_logical(v) bind(c, name='ad_push_logical')
      import :: c_int32_t
      integer(c_int32_t), value :: v
    end subroutine c_push_logical
    subroutine c_pop_logical(v) bind(c, name='ad_pop_logical')
      import :: c_int32_t
      integer(c_int32_t), intent(out) :: v
    end subroutine c_pop_logical
    subroutine c_push_logical_array(a, n) bind(c, name='ad_push_logical_array')
      import :: c_int32_t, c_int64_t
      integer(c_int32_t), intent(in) :: a(*)
      integer(c_int64_t), value :: n
    end subroutine c_push_logical_array
    subroutine c_pop_logical_array(a, n) bind(c, name='ad_pop_logical_array')
      import :: c_int32_t, c_int64_t
      integer(c_int32_t), intent(out) :: a(*)
      integer(c_int64_t), value :: n
    end subroutine c_pop_logical_array
    subroutine c_push_characters(a, n) bind(c, name='ad_push_characters')
      import :: c_char, c_int64_t
      character(kind=c_char), intent(in) :: a(*)
      integer(c_int64_t), value :: n
    end subroutine c_push_characters
    subroutine c_pop_characters(a, n) bind(c, name='ad_pop_characters')
      import :: c_char, c_int64_t
      character(kind=c_char), intent(out) :: a(*)
      integer(c_int64_t), value :: n
    end subroutine c_pop_characters
    subroutine c_stack_report() bind(c, name='ad_stack_report')
    end subroutine c_stack_report
    subroutine c_prof_report() bind(c, name='ad_prof_report')
    end subroutine c_prof_report
    subroutine c_prof_json(path) bind(c, name='ad_prof_json')
      import :: c_char
      character(kind=c_char), intent(in) :: path(*)
    end subroutine c_prof_json
  end interface

contains

  ! ---- characters: the bytes of a scalar, or of n elements ------------

  subroutine ad_push_character(v)
    character(len=*), intent(in) :: v
    call c_push_characters(v, int(len(v), c_int64_t))
  end subroutine ad_push_character

  subroutine ad_pop_character(v)
    character(len=*), intent(out) :: v
    call c_pop_characters(v, int(len(v), c_int64_t))
  end subroutine ad_pop_character

  subroutine ad_push_character_array(a, n)
    character(len=*), intent(in) :: a(*)
    integer(c_int64_t), intent(in) :: n
    call c_push_characters(a, n * len(a))
  end subroutine ad_push_character_array

  subroutine ad_pop_character_array(a, n)
    character(len=*), intent(out) :: a(*)
    integer(c_int64_t), intent(in) :: n
    call c_pop_characters(a, n * len(a))
  end subroutine ad_pop_character_array

  ! ---- logicals -------------------------------------------------------

  subroutine ad_push_logical(v)
    logical, intent(in) :: v
    call c_push_logical(merge(1_c_int32_t, 0_c_int32_t, v))
  end subroutine ad_push_logical

  subroutine ad_pop_logical(v)
    logical, intent(out) :: v
    integer(c_int32_t) :: i
    call c_pop_logical(i)
    v = i /= 0
  end subroutine ad_pop_logical

  subroutine ad_push_logical_array_n8(a, n)
    logical, intent(in) :: a(*)
    integer(c_int64_t), intent(in) :: n
    integer(c_int32_t) :: buf(lchunk)
    integer(c_int64_t) :: i0, m
    i0 = 1
    do while (i0 <= n)
      m = min(int(lchunk, c_int64_t), n - i0 + 1)
      buf(1:m) = merge(1_c_int32_t, 0_c_int32_t, a(i0:i0+m-1))
      call c_push_logical_array(buf, m)
      i0 = i0 + m
    end do
  end subroutine ad_push_logical_array_n8

  ! Chunks come back last-first; their boundaries need not match the push.
  subroutine ad_pop_logical_array_n8(a, n)
    logical, intent(out) :: a(*)
    integer(c_int64_t), intent(in) :: n
    integer(c_int32_t) :: buf(lchunk)
    integer(c_int64_t) :: left, m
    left = n
    do while (left > 0)
      m = min(int(lchunk, c_int64_t), left)
      call c_pop_logical_array(buf, m)
      a(left-m+1:left) = buf(1:m) /= 0
      left = left - m
    end do
  end subroutine ad_pop_logical_array_n8

  subroutine ad_push_logical_array_n4(a, n)
    logical, intent(in) :: a(*)
    integer(c_int32_t), intent(in) :: n
    call ad_push_logical_array_n8(a, int(n, c_int64_t))
  end subroutine ad_push_logical_array_n4

  subroutine ad_pop_logical_array_n4(a, n)
    logical, intent(out) :: a(*)
    integer(c_int32_t), intent(in) :: n
    call ad_pop_logical_array_n8(a, int(n, c_int64_t))
  end subroutine ad_pop_logical_array_n4

  ! ---- int32 counts ---------------------------------------------------









  ! ---- rank-1 generics (the compiler packs a non-contiguous section) ----

  subroutine ad_push_real8_r1(a)
    real(c_double), intent(in) :: a(:)
    call ad_push_real8_array(a, size(a, kind=c_int64_t))
  end subroutine ad_push_real8_r1

  subroutine ad_pop_real8_r1(a)
    real(c_double), intent(out) :: a(:)
    call ad_pop_real8_array(a, size(a, kind=c_int64_t))
  end subroutine ad_pop_real8_r1

  subroutine ad_push_real4_r1(a)
    real(c_float), intent(in) :: a(:)
    call ad_push_real4_array(a, size(a, kind=c_int64_t))
  end subroutine ad_push_real4_r1

  subroutine ad_pop_real4_r1(a)
    real(c_float), intent(out) :: a(:)
    call ad_pop_real4_array(a, size(a, kind=c_int64_t))
  end subroutine ad_pop_real4_r1

  subroutine ad_push_integer4_r1(a)
    integer(c_int32_t), intent(in) :: a(:)
    call ad_push_integer4_array(a, size(a, kind=c_int64_t))
  end subroutine ad_push_integer4_r1

  subroutine ad_pop_integer4_r1(a)
    integer(c_int32_t), intent(out) :: a(:)
    call ad_pop_integer4_array(a, size(a, kind=c_int64_t))
  end subroutine ad_pop_integer4_r1

  subroutine ad_push_integer8_r1(a)
    integer(c_int64_t), intent(in) :: a(:)
    call ad_push_integer8_array(a, size(a, kind=c_int64_t))
  end subroutine ad_push_integer8_r1

  subroutine ad_pop_integer8_r1(a)
    integer(c_int64_t), intent(out) :: a(:)
    call ad_pop_integer8_array(a, size(a, kind=c_int64_t))
  end subroutine ad_pop_integer8_r1

  subroutine ad_push_logical_r1(a)
    logical, intent(in) :: a(:)
    call ad_push_logical_array_n8(a, size(a, kind=c_int64_t))
  end subroutine ad_push_logical_r1

  subroutine ad_pop_logical_r1(a)
    logical, intent(out) :: a(:)
    call ad_pop_logical_array_n8(a, size(a, kind=c_int64_t))
  end subroutine ad_pop_logical_r1

  ! ---- reports --------------------------------------------------------

  subroutine ad_stack_report()
    flush(output_unit)
    call c_stack_report()
  end subroutine ad_stack_report

  subroutine ad_prof_report()
    flush(output_unit)
    call c_prof_report()
  end subroutine ad_prof_report

  subroutine ad_prof_json(path)
    character(len=*), intent(in) :: path
    flush(output_unit)
    call c_prof_json(trim(path) // c_null_char)
  end subroutine ad_prof_json

end module adstack
