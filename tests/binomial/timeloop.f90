! Time loops under binomial checkpointing: a loop with a stride and bounds
! known only at run time whose body calls a routine holding a binomial loop
! of its own (sub-steps), a module variable read inside, a running cost
! accumulated across iterations and a temporary written before it is read.
! Tapenade's three-number spelling of the directive on the outer loop.
module tl_state
  implicit none
  real(8) :: visc = 0.05d0
end module tl_state

subroutine rhs(n, u, f)
  use tl_state
  implicit none
  integer, intent(in) :: n
  real(8), intent(in) :: u(n)
  real(8), intent(out) :: f(n)
  integer :: i
  do i = 1, n
    f(i) = -u(i) * abs(u(i)) * 0.3d0 + visc * (u(mod(i, n) + 1) - u(i))
  end do
end subroutine rhs

subroutine advance(n, u, v, dt, nsub)
  implicit none
  integer, intent(in) :: n, nsub
  real(8), intent(inout) :: u(n), v(n)
  real(8), intent(in) :: dt
  real(8) :: f(n)
  integer :: j
!$AD BINOMIAL-CKP 2
  do j = 1, nsub
    call rhs(n, u, f)
    v = v + dt / nsub * f
    u = u + dt / nsub * v
  end do
end subroutine advance

subroutine run(n, nt, u, v, c, cost)
  implicit none
  integer, intent(in) :: n, nt
  real(8), intent(inout) :: u(n), v(n)
  real(8), intent(in) :: c
  real(8), intent(inout) :: cost
  real(8) :: dt, w
  integer :: k
  dt = 0.1d0
!$AD BINOMIAL-CKP nt+1 4 1
  do k = 3, 2 * nt + 1, 2
    call advance(n, u, v, dt * (1.0d0 + 0.01d0 * k), 3)
    w = u(1) * c
    cost = cost + w * w * dt + sin(v(2)) * c
  end do
end subroutine run

subroutine model(npts, nt, u, v, c, cost)
  implicit none
  integer, intent(in) :: npts, nt
  real(8), intent(inout) :: u(npts), v(npts)
  real(8), intent(in) :: c
  real(8), intent(out) :: cost
  cost = 0.0d0
  call run(npts, nt, u, v, c, cost)
  cost = cost + sum(u * v)
end subroutine model

program timeloop
  implicit none
  real(8) :: u(5), v(5), c, cost
  integer :: i, n, nt
  n = 5
  nt = 12
  do i = 1, 5
    u(i) = 0.3d0 * i - 0.5d0
    v(i) = 0.1d0 * (6 - i)
  end do
  c = 0.7d0
  call model(n, nt, u, v, c, cost)
  write(*, '(es24.15)') cost, sum(u), sum(v)
end program timeloop
