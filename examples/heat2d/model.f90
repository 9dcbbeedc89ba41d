! heat2d -- 2-D nonlinear advection-diffusion of heat on the unit square,
! with a moving Gaussian heat source, mixed boundary conditions and a
! least-squares misfit to synthetic sensor observations.
!
!   dT/dt + v . grad T = div( k(T) grad T ) + S(x, y, t)
!   k(T) = kappa * (1 + alpha T^2)          (temperature-dependent conductivity)
!   S    = qsrc * exp(-|x - x_s(t)|^2 / w^2) (source moving on a circle)
!
! Finite volumes on an nx-by-ny cell-centred grid, explicit Euler in time.
! Advective fluxes are second-order upwind with a smooth (van Albada) slope
! limiter; diffusive fluxes use the conductivity at the face.
! Boundaries: Dirichlet at the bottom, convective (Robin) exchange with the
! air at the top, insulated (Neumann) left and right.
!
! The objective J(T0, kappa, qsrc) is the misfit between the computed
! temperature and synthetic observations at a strided set of sensors, taken
! every obs_every steps, plus a Tikhonov term on the initial state.
!
! Call tree below the head:
!   simulate -> timestep -> apply_bc
!                        -> compute_fluxes -> limiter, conductivity
!                        -> source_term
!            -> misfit
!
! The grid size and number of steps are run-time values (setup_model), so
! one build serves the example and the benchmark.  This file holds only
! modules and routines; the main program lives in driver.f90.

module heat2d_params
  implicit none
  integer, parameter :: dp = kind(1.d0)
  real(dp), parameter :: pi = 3.141592653589793_dp
  ! physical constants (passive)
  real(dp), parameter :: alpha = 0.5_dp      ! nonlinearity of k(T)
  real(dp), parameter :: kref = 2.0e-3_dp    ! reference conductivity for dt
  real(dp), parameter :: t_bottom = 1.0_dp   ! Dirichlet value at y = 0
  real(dp), parameter :: t_air = 0.2_dp      ! air temperature above y = 1
  real(dp), parameter :: h_air = 4.0_dp      ! exchange coefficient at y = 1
  real(dp), parameter :: src_width = 0.12_dp ! Gaussian source width
  real(dp), parameter :: src_omega = 2.0_dp * pi
  real(dp), parameter :: beta_reg = 1.0e-3_dp ! Tikhonov weight on T0
  real(dp), parameter :: eps_lim = 1.0e-6_dp ! limiter smoothing
  ! grid (set once by setup_model)
  integer :: nx = 32, ny = 32, nsteps = 100
  integer :: obs_every = 10
  integer :: sensor_stride = 4
  real(dp) :: dx, dy, dt
end module heat2d_params

module heat2d_state
  use heat2d_params
  implicit none
  ! passive fields, filled by setup_model
  real(dp), allocatable :: xc(:), yc(:)      ! cell centres
  real(dp), allocatable :: vx(:,:), vy(:,:)  ! velocity at x- and y-faces
  real(dp), allocatable :: tprior(:,:)       ! prior for the initial state
  ! diagnostics of the last primal run
  integer :: nobs_taken = 0
end module heat2d_state

module heat2d_physics
  use heat2d_params
  use heat2d_state
  implicit none
contains

  ! Van Albada limited slope from the two one-sided differences a and b:
  ! smooth everywhere, ~ minmod-like near extrema, ~ central where smooth.
  real(dp) function limiter(a, b)
    real(dp), intent(in) :: a, b
    limiter = (a * (b * b + eps_lim) + b * (a * a + eps_lim)) &
            / (a * a + b * b + 2.0_dp * eps_lim)
  end function limiter

  real(dp) function conductivity(tface, kappa)
    real(dp), intent(in) :: tface, kappa
    conductivity = kappa * (1.0_dp + alpha * tface * tface)
  end function conductivity

  ! Insulated left/right, Dirichlet bottom, convective top (ghost cells).
  subroutine apply_bc(t)
    real(dp), intent(inout) :: t(0:nx+1, 0:ny+1)
    real(dp) :: c
    t(0, 1:ny) = t(1, 1:ny)
    t(nx+1, 1:ny) = t(nx, 1:ny)
    t(0:nx+1, 0) = 2.0_dp * t_bottom - t(0:nx+1, 1)
    c = h_air * dy / 2.0_dp
    t(0:nx+1, ny+1) = ((1.0_dp - c) * t(0:nx+1, ny) + 2.0_dp * c * t_air) &
                    / (1.0_dp + c)
  end subroutine apply_bc

  ! Net flux into every interior cell (advective + diffusive), per unit area.
  subroutine compute_fluxes(t, kappa, div)
    real(dp), intent(in) :: t(0:nx+1, 0:ny+1)
    real(dp), intent(in) :: kappa
    real(dp), intent(out) :: div(nx, ny)
    real(dp) :: fx(0:nx, ny), fy(nx, 0:ny)
    real(dp) :: tface, slope, kf
    integer :: i, j
    ! x-faces: face i is between cells i and i+1
    do j = 1, ny
      do i = 0, nx
        if (vx(i, j) >= 0.0_dp) then
          if (i >= 1) then
            slope = limiter(t(i, j) - t(i-1, j), t(i+1, j) - t(i, j))
          else
            slope = 0.0_dp
          end if
          tface = t(i, j) + 0.5_dp * slope
        else
          if (i <= nx - 1) then
            slope = limiter(t(i+1, j) - t(i, j), t(i+2, j) - t(i+1, j))
          else
            slope = 0.0_dp
          end if
          tface = t(i+1, j) - 0.5_dp * slope
        end if
        kf = conductivity(0.5_dp * (t(i, j) + t(i+1, j)), kappa)
        fx(i, j) = vx(i, j) * tface - kf * (t(i+1, j) - t(i, j)) / dx
      end do
    end do
    ! y-faces: face j is between cells j and j+1
    do j = 0, ny
      do i = 1, nx
        if (vy(i, j) >= 0.0_dp) then
          if (j >= 1) then
            slope = limiter(t(i, j) - t(i, j-1), t(i, j+1) - t(i, j))
          else
            slope = 0.0_dp
          end if
          tface = t(i, j) + 0.5_dp * slope
        else
          if (j <= ny - 1) then
            slope = limiter(t(i, j+1) - t(i, j), t(i, j+2) - t(i, j+1))
          else
            slope = 0.0_dp
          end if
          tface = t(i, j+1) - 0.5_dp * slope
        end if
        kf = conductivity(0.5_dp * (t(i, j) + t(i, j+1)), kappa)
        fy(i, j) = vy(i, j) * tface - kf * (t(i, j+1) - t(i, j)) / dy
      end do
    end do
    ! the walls carry no advective flux; left/right are insulated
    fx(0, 1:ny) = 0.0_dp
    fx(nx, 1:ny) = 0.0_dp
    div = -(fx(1:nx, 1:ny) - fx(0:nx-1, 1:ny)) / dx &
          - (fy(1:nx, 1:ny) - fy(1:nx, 0:ny-1)) / dy
  end subroutine compute_fluxes

  ! Gaussian heat source of amplitude qsrc moving on a circle.
  subroutine source_term(time, qsrc, s)
    real(dp), intent(in) :: time, qsrc
    real(dp), intent(out) :: s(nx, ny)
    real(dp) :: xs, ys, r2
    integer :: i, j
    xs = 0.5_dp + 0.25_dp * cos(src_omega * time)
    ys = 0.5_dp + 0.25_dp * sin(src_omega * time)
    do j = 1, ny
      do i = 1, nx
        r2 = (xc(i) - xs)**2 + (yc(j) - ys)**2
        s(i, j) = qsrc * exp(-r2 / src_width**2)
      end do
    end do
  end subroutine source_term

  ! One explicit Euler step.
  subroutine timestep(t, kappa, qsrc, time)
    real(dp), intent(inout) :: t(0:nx+1, 0:ny+1)
    real(dp), intent(in) :: kappa, qsrc, time
    real(dp) :: div(nx, ny), s(nx, ny)
    call apply_bc(t)
    call compute_fluxes(t, kappa, div)
    call source_term(time, qsrc, s)
    t(1:nx, 1:ny) = t(1:nx, 1:ny) + dt * (div + s)
  end subroutine timestep

  ! Synthetic "truth" observed at the sensors: a smooth analytic field.
  real(dp) function observation(x, y, time)
    real(dp), intent(in) :: x, y, time
    observation = t_bottom * (1.0_dp - y) + t_air * y &
                + 0.3_dp * sin(pi * x) * sin(pi * y) * exp(-time)
  end function observation

  ! Least-squares misfit at the sensors (every sensor_stride-th cell).
  subroutine misfit(t, time, cost)
    real(dp), intent(in) :: t(0:nx+1, 0:ny+1)
    real(dp), intent(in) :: time
    real(dp), intent(inout) :: cost
    integer :: i, j
    real(dp) :: d
    do j = 1, ny, sensor_stride
      do i = 1, nx, sensor_stride
        d = t(i, j) - observation(xc(i), yc(j), time)
        cost = cost + 0.5_dp * d * d
      end do
    end do
  end subroutine misfit

end module heat2d_physics

! Set the grid and the passive fields; must be called before simulate.
subroutine setup_model(nx_in, ny_in, nsteps_in)
  use heat2d_params
  use heat2d_state
  implicit none
  integer, intent(in) :: nx_in, ny_in, nsteps_in
  integer :: i, j
  real(dp) :: vmax
  nx = nx_in
  ny = ny_in
  nsteps = nsteps_in
  obs_every = max(1, nsteps / 10)
  sensor_stride = max(1, min(nx, ny) / 8)
  dx = 1.0_dp / nx
  dy = 1.0_dp / ny
  if (allocated(xc)) deallocate(xc, yc, vx, vy, tprior)
  allocate(xc(nx), yc(ny), vx(0:nx, ny), vy(nx, 0:ny), tprior(nx, ny))
  do i = 1, nx
    xc(i) = (i - 0.5_dp) * dx
  end do
  do j = 1, ny
    yc(j) = (j - 0.5_dp) * dy
  end do
  ! a single rotating cell, stream function psi = a sin(pi x) sin(pi y):
  ! divergence-free, zero normal velocity at the walls
  do j = 1, ny
    do i = 0, nx
      vx(i, j) = 0.2_dp * pi * sin(pi * i * dx) * cos(pi * yc(j))
    end do
  end do
  do j = 0, ny
    do i = 1, nx
      vy(i, j) = -0.2_dp * pi * cos(pi * xc(i)) * sin(pi * j * dy)
    end do
  end do
  do j = 1, ny
    tprior(1:nx, j) = t_bottom * (1.0_dp - yc(j)) + t_air * yc(j)
  end do
  ! explicit stability: diffusion (with k up to ~3 kref) and advection
  vmax = 0.2_dp * pi
  dt = 0.4_dp * min(min(dx, dy)**2 / (4.0_dp * 3.0_dp * kref), &
                    min(dx, dy) / vmax)
end subroutine setup_model

! The head: objective as a function of the initial temperature t0, the
! conductivity scale kappa and the source amplitude qsrc.
subroutine simulate(t0, kappa, qsrc, cost)
  use heat2d_params
  use heat2d_state
  use heat2d_physics
  implicit none
  real(dp), intent(in) :: t0(nx, ny), kappa, qsrc
  real(dp), intent(out) :: cost
  real(dp) :: t(0:nx+1, 0:ny+1)
  real(dp) :: time
  integer :: n
  t = 0.0_dp
  t(1:nx, 1:ny) = t0
  cost = 0.5_dp * beta_reg * sum((t0 - tprior)**2)
  time = 0.0_dp
  nobs_taken = 0
  do n = 1, nsteps
    call timestep(t, kappa, qsrc, time)
    time = time + dt
    if (mod(n, obs_every) == 0) then
      call misfit(t, time, cost)
      nobs_taken = nobs_taken + 1
    end if
  end do
end subroutine simulate
