! reaction_diffusion -- 2-D Gray-Scott reaction-diffusion on a periodic
! square, with sub-cycled nonlinear (Perona-Malik) smoothing of both species
! after every diffusion step, and a least-squares misfit of the activator v
! to a synthetic target pattern observed every obs_every steps.
!
!   du/dt = Du lap(u) - u v^2 + F (1 - u)
!   dv/dt = Dv lap(v) + u v^2 - (F + k) v
!
! Explicit Euler, operator split per step: reaction (pointwise, in place),
! then diffusion (5-point Laplacian on halo-padded fields), then nsmooth
! sub-cycles of an edge-preserving smoother
!   w <- w + w_smooth * sum_edges g(dw) dw,   g(d) = 1 / (1 + (d / lam)^2)
! which is nonlinear, so every sub-cycle's field is needed by the adjoint.
!
! Independents: feed (F), kill (k), diff_u (Du), diff_v (Dv) and the initial
! activator field v0(nx, ny).  Dependent: the scalar cost.
!
! Call tree below the head:
!   rd_objective -> rd_step -> react
!                           -> diffuse -> fill_halo
!                                      -> laplacian
!                                      -> smooth -> fill_halo
!                                                -> pm_divergence -> edge_flux
!                -> accumulate_misfit
!
! The grid size, step count and sub-cycle count are run-time values set by
! rd_setup, so that one build serves the check and the benchmark.  This file
! holds only modules and routines; the main program is driver.f90.

module rd_params
  implicit none
  integer, parameter :: dp = kind(1.d0)
  real(dp), parameter :: pi = 3.141592653589793_dp
  real(dp), parameter :: lam_pm = 0.08_dp     ! Perona-Malik edge scale
  real(dp), parameter :: w_smooth = 0.05_dp   ! smoother weight (<= 0.25)
  real(dp), parameter :: beta_reg = 1.0e-2_dp ! Tikhonov weight on v0
  integer :: nx = 64, ny = 64, nsteps = 250, nsmooth = 6, obs_every = 12
  real(dp) :: dx = 1.0_dp, dt = 0.5_dp
end module rd_params

module rd_grid
  use rd_params
  implicit none
  real(dp), allocatable :: target_v(:,:)   ! synthetic observed pattern
  real(dp), allocatable :: v_prior(:,:)    ! prior of the initial activator
  integer :: nobs = 0                      ! observations of the last run
end module rd_grid

module rd_kernels
  use rd_params
  use rd_grid
  implicit none
contains

  ! Periodic halo: copy the opposite interior rows and columns.
  subroutine fill_halo(w)
    real(dp), intent(inout) :: w(0:nx+1, 0:ny+1)
    w(0, 1:ny) = w(nx, 1:ny)
    w(nx+1, 1:ny) = w(1, 1:ny)
    w(0:nx+1, 0) = w(0:nx+1, ny)
    w(0:nx+1, ny+1) = w(0:nx+1, 1)
  end subroutine fill_halo

  ! Gray-Scott reaction, explicit, pointwise, in place.
  subroutine react(u, v, feed, kill)
    real(dp), intent(inout) :: u(0:nx+1, 0:ny+1), v(0:nx+1, 0:ny+1)
    real(dp), intent(in) :: feed, kill
    real(dp) :: uvv, uo, vo
    integer :: i, j
    do j = 1, ny
      do i = 1, nx
        uo = u(i, j)
        vo = v(i, j)
        uvv = uo * vo * vo
        u(i, j) = uo + dt * (-uvv + feed * (1.0_dp - uo))
        v(i, j) = vo + dt * (uvv - (feed + kill) * vo)
      end do
    end do
  end subroutine react

  ! 5-point Laplacian of a halo-padded field (halo must be current).
  subroutine laplacian(w, lap)
    real(dp), intent(in) :: w(0:nx+1, 0:ny+1)
    real(dp), intent(out) :: lap(nx, ny)
    integer :: i, j
    do j = 1, ny
      do i = 1, nx
        lap(i, j) = (w(i-1, j) + w(i+1, j) + w(i, j-1) + w(i, j+1) &
                     - 4.0_dp * w(i, j)) / (dx * dx)
      end do
    end do
  end subroutine laplacian

  ! Perona-Malik edge flux g(d) d with g(d) = 1 / (1 + (d / lam)^2).
  real(dp) function edge_flux(d)
    real(dp), intent(in) :: d
    edge_flux = d / (1.0_dp + (d / lam_pm)**2)
  end function edge_flux

  ! Divergence of the Perona-Malik fluxes, per cell.
  subroutine pm_divergence(w, div)
    real(dp), intent(in) :: w(0:nx+1, 0:ny+1)
    real(dp), intent(out) :: div(nx, ny)
    real(dp) :: c
    integer :: i, j
    do j = 1, ny
      do i = 1, nx
        c = w(i, j)
        div(i, j) = edge_flux(w(i+1, j) - c) + edge_flux(w(i-1, j) - c) &
                  + edge_flux(w(i, j+1) - c) + edge_flux(w(i, j-1) - c)
      end do
    end do
  end subroutine pm_divergence

  ! nsub sub-cycles of the edge-preserving smoother, in place.
  subroutine smooth(w, nsub)
    real(dp), intent(inout) :: w(0:nx+1, 0:ny+1)
    integer, intent(in) :: nsub
    real(dp) :: div(nx, ny)
    integer :: k
    do k = 1, nsub
      call fill_halo(w)
      call pm_divergence(w, div)
      w(1:nx, 1:ny) = w(1:nx, 1:ny) + w_smooth * div
    end do
  end subroutine smooth

  ! Explicit diffusion of both species, then smoothing sub-cycles.
  subroutine diffuse(u, v, diff_u, diff_v)
    real(dp), intent(inout) :: u(0:nx+1, 0:ny+1), v(0:nx+1, 0:ny+1)
    real(dp), intent(in) :: diff_u, diff_v
    real(dp) :: lapu(nx, ny), lapv(nx, ny)
    call fill_halo(u)
    call fill_halo(v)
    call laplacian(u, lapu)
    call laplacian(v, lapv)
    u(1:nx, 1:ny) = u(1:nx, 1:ny) + dt * diff_u * lapu
    v(1:nx, 1:ny) = v(1:nx, 1:ny) + dt * diff_v * lapv
    call smooth(u, nsmooth)
    call smooth(v, nsmooth)
  end subroutine diffuse

  ! One time step: reaction, then diffusion + smoothing.
  subroutine rd_step(u, v, feed, kill, diff_u, diff_v)
    real(dp), intent(inout) :: u(0:nx+1, 0:ny+1), v(0:nx+1, 0:ny+1)
    real(dp), intent(in) :: feed, kill, diff_u, diff_v
    call react(u, v, feed, kill)
    call diffuse(u, v, diff_u, diff_v)
  end subroutine rd_step

  ! Least-squares misfit of v to the target, added to cost.
  subroutine accumulate_misfit(v, cost)
    real(dp), intent(in) :: v(0:nx+1, 0:ny+1)
    real(dp), intent(inout) :: cost
    integer :: i, j
    do j = 1, ny
      do i = 1, nx
        cost = cost + 0.5_dp * (v(i, j) - target_v(i, j))**2 / (nx * ny)
      end do
    end do
  end subroutine accumulate_misfit

end module rd_kernels

! Sizes, target pattern and prior (passive; called once by the driver).
subroutine rd_setup(mx, my, msteps, msub)
  use rd_params
  use rd_grid
  implicit none
  integer, intent(in) :: mx, my, msteps, msub
  real(dp) :: x, y
  integer :: i, j
  nx = mx
  ny = my
  nsteps = msteps
  nsmooth = msub
  obs_every = max(1, nsteps / 20)
  if (allocated(target_v)) deallocate(target_v, v_prior)
  allocate(target_v(nx, ny), v_prior(nx, ny))
  do j = 1, ny
    do i = 1, nx
      x = (i - 0.5_dp) / nx
      y = (j - 0.5_dp) / ny
      target_v(i, j) = 0.25_dp + 0.1_dp * sin(4.0_dp * pi * x) * cos(2.0_dp * pi * y)
      v_prior(i, j) = 0.0_dp
      if (abs(x - 0.5_dp) < 0.15_dp .and. abs(y - 0.5_dp) < 0.15_dp) v_prior(i, j) = 0.25_dp
    end do
  end do
end subroutine rd_setup

! The head: cost as a function of the reaction rates, the diffusivities and
! the initial activator field.
subroutine rd_objective(feed, kill, diff_u, diff_v, v0, cost)
  use rd_params
  use rd_grid
  use rd_kernels
  implicit none
  real(dp), intent(in) :: feed, kill, diff_u, diff_v
  real(dp), intent(in) :: v0(nx, ny)
  real(dp), intent(out) :: cost
  real(dp) :: u(0:nx+1, 0:ny+1), v(0:nx+1, 0:ny+1)
  integer :: n
  u = 1.0_dp
  v = 0.0_dp
  u(1:nx, 1:ny) = 1.0_dp - 2.0_dp * v0
  v(1:nx, 1:ny) = v0
  cost = 0.5_dp * beta_reg * sum((v0 - v_prior)**2) / (nx * ny)
  nobs = 0
  do n = 1, nsteps
    call rd_step(u, v, feed, kill, diff_u, diff_v)
    if (mod(n, obs_every) == 0) then
      call accumulate_misfit(v, cost)
      nobs = nobs + 1
    end if
  end do
end subroutine rd_objective
