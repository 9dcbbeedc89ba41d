! shallow_water -- 2-D nonlinear shallow-water equations in a closed basin
! with Coriolis force and quadratic bottom friction, and a least-squares
! misfit of the surface elevation at a set of tide gauges.
!
!   h_t  + (hu)_x + (hv)_y = 0
!   (hu)_t + (hu^2 + g h^2 / 2)_x + (huv)_y =  f hv - cf |u| hu / h
!   (hv)_t + (huv)_x + (hv^2 + g h^2 / 2)_y = -f hu - cf |u| hv / h
!
! Finite volumes on an nx-by-ny grid with two ghost layers, MUSCL
! reconstruction of the primitive variables (h, u, v) with a smooth
! (van Albada) limiter, a Rusanov (local Lax-Friedrichs) flux with a smooth
! maximum of the wave speeds, reflective walls, and Heun's method (SSP-RK2)
! in time with a fixed time step.  All non-smooth operations (|u|, max) are
! smoothed so that finite differences check the gradient to high accuracy.
!
! Independents: the initial surface elevation eta0(nx, ny), the mean depth
! depth0, the friction coefficient cf and the Coriolis parameter fcor.
! Dependent: the scalar cost.
!
! Call tree below the head:
!   sw_objective -> sw_step -> sw_rhs (x2) -> apply_bc
!                                          -> flux_x -> limiter, rusanov -> smooth_abs
!                                          -> flux_y -> limiter, rusanov -> smooth_abs
!                                          -> sources -> speed
!                -> gauge_misfit
!
! Sizes are run-time values set by sw_setup.  Only modules and routines
! here; the main program is driver.f90.

module sw_params
  implicit none
  integer, parameter :: dp = kind(1.d0)
  real(dp), parameter :: pi = 3.141592653589793_dp
  real(dp), parameter :: grav = 9.81_dp
  real(dp), parameter :: basin = 2.0e4_dp       ! basin side [m]
  real(dp), parameter :: eps_lim = 1.0e-6_dp    ! limiter smoothing (differences ~1e-3)
  real(dp), parameter :: eps_spd = 1.0e-4_dp    ! smoothing of |u| and max [m^2/s^2]
  real(dp), parameter :: w_energy = 1.0e-4_dp   ! weight of the final energy
  integer, parameter :: ngauge = 8
  integer :: nx = 48, ny = 48, nsteps = 200, obs_every = 3
  real(dp) :: dx, dy, dt
end module sw_params

module sw_data
  use sw_params
  implicit none
  integer :: gi(ngauge), gj(ngauge)        ! gauge cells
  real(dp) :: gamp(ngauge), gphase(ngauge) ! synthetic gauge records
  real(dp) :: gper = 600.0_dp              ! their period [s]
  integer :: nobs = 0
end module sw_data

module sw_kernels
  use sw_params
  use sw_data
  implicit none
contains

  ! van Albada limited slope from the one-sided differences a and b.
  real(dp) function limiter(a, b)
    real(dp), intent(in) :: a, b
    limiter = (a * (b * b + eps_lim) + b * (a * a + eps_lim)) &
            / (a * a + b * b + 2.0_dp * eps_lim)
  end function limiter

  ! sqrt(x^2 + eps): a smooth |x|.
  real(dp) function smooth_abs(x)
    real(dp), intent(in) :: x
    smooth_abs = sqrt(x * x + eps_spd)
  end function smooth_abs

  ! Smoothed speed |(u, v)| for the friction law.
  real(dp) function speed(u, v)
    real(dp), intent(in) :: u, v
    speed = sqrt(u * u + v * v + eps_spd)
  end function speed

  ! Reflective walls: mirror two ghost layers, flip the normal momentum.
  subroutine apply_bc(h, hu, hv)
    real(dp), intent(inout) :: h(-1:nx+2, -1:ny+2)
    real(dp), intent(inout) :: hu(-1:nx+2, -1:ny+2), hv(-1:nx+2, -1:ny+2)
    integer :: k
    do k = 0, 1
      h(-k, 1:ny) = h(1+k, 1:ny)
      hu(-k, 1:ny) = -hu(1+k, 1:ny)
      hv(-k, 1:ny) = hv(1+k, 1:ny)
      h(nx+1+k, 1:ny) = h(nx-k, 1:ny)
      hu(nx+1+k, 1:ny) = -hu(nx-k, 1:ny)
      hv(nx+1+k, 1:ny) = hv(nx-k, 1:ny)
    end do
    do k = 0, 1
      h(-1:nx+2, -k) = h(-1:nx+2, 1+k)
      hu(-1:nx+2, -k) = hu(-1:nx+2, 1+k)
      hv(-1:nx+2, -k) = -hv(-1:nx+2, 1+k)
      h(-1:nx+2, ny+1+k) = h(-1:nx+2, ny-k)
      hu(-1:nx+2, ny+1+k) = hu(-1:nx+2, ny-k)
      hv(-1:nx+2, ny+1+k) = -hv(-1:nx+2, ny-k)
    end do
  end subroutine apply_bc

  ! Rusanov flux across a face with normal velocity un and tangential ut,
  ! from the reconstructed left and right primitive states.
  subroutine rusanov(hl, unl, utl, hr, unr, utr, fh, fn, ft)
    real(dp), intent(in) :: hl, unl, utl, hr, unr, utr
    real(dp), intent(out) :: fh, fn, ft
    real(dp) :: al, ar, a
    al = smooth_abs(unl) + sqrt(grav * hl)
    ar = smooth_abs(unr) + sqrt(grav * hr)
    a = 0.5_dp * (al + ar + sqrt((al - ar)**2 + eps_spd))
    fh = 0.5_dp * (hl * unl + hr * unr) - 0.5_dp * a * (hr - hl)
    fn = 0.5_dp * (hl * unl * unl + 0.5_dp * grav * hl * hl &
                 + hr * unr * unr + 0.5_dp * grav * hr * hr) &
       - 0.5_dp * a * (hr * unr - hl * unl)
    ft = 0.5_dp * (hl * unl * utl + hr * unr * utr) - 0.5_dp * a * (hr * utr - hl * utl)
  end subroutine rusanov

  ! Fluxes through the x-faces (face i between cells i and i+1).
  subroutine flux_x(h, u, v, fh, fu, fv)
    real(dp), intent(in) :: h(-1:nx+2, -1:ny+2)
    real(dp), intent(in) :: u(-1:nx+2, -1:ny+2), v(-1:nx+2, -1:ny+2)
    real(dp), intent(out) :: fh(0:nx, ny), fu(0:nx, ny), fv(0:nx, ny)
    real(dp) :: hl, ul, vl, hr, ur, vr
    integer :: i, j
    do j = 1, ny
      do i = 0, nx
        hl = h(i, j) + 0.5_dp * limiter(h(i, j) - h(i-1, j), h(i+1, j) - h(i, j))
        ul = u(i, j) + 0.5_dp * limiter(u(i, j) - u(i-1, j), u(i+1, j) - u(i, j))
        vl = v(i, j) + 0.5_dp * limiter(v(i, j) - v(i-1, j), v(i+1, j) - v(i, j))
        hr = h(i+1, j) - 0.5_dp * limiter(h(i+1, j) - h(i, j), h(i+2, j) - h(i+1, j))
        ur = u(i+1, j) - 0.5_dp * limiter(u(i+1, j) - u(i, j), u(i+2, j) - u(i+1, j))
        vr = v(i+1, j) - 0.5_dp * limiter(v(i+1, j) - v(i, j), v(i+2, j) - v(i+1, j))
        call rusanov(hl, ul, vl, hr, ur, vr, fh(i, j), fu(i, j), fv(i, j))
      end do
    end do
  end subroutine flux_x

  ! Fluxes through the y-faces (face j between cells j and j+1).
  subroutine flux_y(h, u, v, gh, gu, gv)
    real(dp), intent(in) :: h(-1:nx+2, -1:ny+2)
    real(dp), intent(in) :: u(-1:nx+2, -1:ny+2), v(-1:nx+2, -1:ny+2)
    real(dp), intent(out) :: gh(nx, 0:ny), gu(nx, 0:ny), gv(nx, 0:ny)
    real(dp) :: hl, ul, vl, hr, ur, vr
    integer :: i, j
    do j = 0, ny
      do i = 1, nx
        hl = h(i, j) + 0.5_dp * limiter(h(i, j) - h(i, j-1), h(i, j+1) - h(i, j))
        ul = u(i, j) + 0.5_dp * limiter(u(i, j) - u(i, j-1), u(i, j+1) - u(i, j))
        vl = v(i, j) + 0.5_dp * limiter(v(i, j) - v(i, j-1), v(i, j+1) - v(i, j))
        hr = h(i, j+1) - 0.5_dp * limiter(h(i, j+1) - h(i, j), h(i, j+2) - h(i, j+1))
        ur = u(i, j+1) - 0.5_dp * limiter(u(i, j+1) - u(i, j), u(i, j+2) - u(i, j+1))
        vr = v(i, j+1) - 0.5_dp * limiter(v(i, j+1) - v(i, j), v(i, j+2) - v(i, j+1))
        ! normal velocity is v here: the momentum fluxes swap roles
        call rusanov(hl, vl, ul, hr, vr, ur, gh(i, j), gv(i, j), gu(i, j))
      end do
    end do
  end subroutine flux_y

  ! Coriolis and quadratic bottom friction, added to the tendencies.
  subroutine sources(h, hu, hv, cf, fcor, rhu, rhv)
    real(dp), intent(in) :: h(-1:nx+2, -1:ny+2)
    real(dp), intent(in) :: hu(-1:nx+2, -1:ny+2), hv(-1:nx+2, -1:ny+2)
    real(dp), intent(in) :: cf, fcor
    real(dp), intent(inout) :: rhu(nx, ny), rhv(nx, ny)
    real(dp) :: spd, u, v
    integer :: i, j
    do j = 1, ny
      do i = 1, nx
        u = hu(i, j) / h(i, j)
        v = hv(i, j) / h(i, j)
        spd = speed(u, v)
        rhu(i, j) = rhu(i, j) + fcor * hv(i, j) - cf * spd * u
        rhv(i, j) = rhv(i, j) - fcor * hu(i, j) - cf * spd * v
      end do
    end do
  end subroutine sources

  ! Tendencies of (h, hu, hv) in the interior cells.  Fills the ghosts.
  subroutine sw_rhs(h, hu, hv, cf, fcor, rh, rhu, rhv)
    real(dp), intent(inout) :: h(-1:nx+2, -1:ny+2)
    real(dp), intent(inout) :: hu(-1:nx+2, -1:ny+2), hv(-1:nx+2, -1:ny+2)
    real(dp), intent(in) :: cf, fcor
    real(dp), intent(out) :: rh(nx, ny), rhu(nx, ny), rhv(nx, ny)
    real(dp) :: u(-1:nx+2, -1:ny+2), v(-1:nx+2, -1:ny+2)
    real(dp) :: fh(0:nx, ny), fu(0:nx, ny), fv(0:nx, ny)
    real(dp) :: gh(nx, 0:ny), gu(nx, 0:ny), gv(nx, 0:ny)
    call apply_bc(h, hu, hv)
    u = hu / h
    v = hv / h
    call flux_x(h, u, v, fh, fu, fv)
    call flux_y(h, u, v, gh, gu, gv)
    rh = -(fh(1:nx, :) - fh(0:nx-1, :)) / dx - (gh(:, 1:ny) - gh(:, 0:ny-1)) / dy
    rhu = -(fu(1:nx, :) - fu(0:nx-1, :)) / dx - (gu(:, 1:ny) - gu(:, 0:ny-1)) / dy
    rhv = -(fv(1:nx, :) - fv(0:nx-1, :)) / dx - (gv(:, 1:ny) - gv(:, 0:ny-1)) / dy
    call sources(h, hu, hv, cf, fcor, rhu, rhv)
  end subroutine sw_rhs

  ! One Heun (SSP-RK2) step, in place.
  subroutine sw_step(h, hu, hv, cf, fcor)
    real(dp), intent(inout) :: h(-1:nx+2, -1:ny+2)
    real(dp), intent(inout) :: hu(-1:nx+2, -1:ny+2), hv(-1:nx+2, -1:ny+2)
    real(dp), intent(in) :: cf, fcor
    real(dp) :: h1(-1:nx+2, -1:ny+2), hu1(-1:nx+2, -1:ny+2), hv1(-1:nx+2, -1:ny+2)
    real(dp) :: rh(nx, ny), rhu(nx, ny), rhv(nx, ny)
    call sw_rhs(h, hu, hv, cf, fcor, rh, rhu, rhv)
    h1 = h
    hu1 = hu
    hv1 = hv
    h1(1:nx, 1:ny) = h(1:nx, 1:ny) + dt * rh
    hu1(1:nx, 1:ny) = hu(1:nx, 1:ny) + dt * rhu
    hv1(1:nx, 1:ny) = hv(1:nx, 1:ny) + dt * rhv
    call sw_rhs(h1, hu1, hv1, cf, fcor, rh, rhu, rhv)
    h(1:nx, 1:ny) = 0.5_dp * (h(1:nx, 1:ny) + h1(1:nx, 1:ny) + dt * rh)
    hu(1:nx, 1:ny) = 0.5_dp * (hu(1:nx, 1:ny) + hu1(1:nx, 1:ny) + dt * rhu)
    hv(1:nx, 1:ny) = 0.5_dp * (hv(1:nx, 1:ny) + hv1(1:nx, 1:ny) + dt * rhv)
  end subroutine sw_step

  ! Misfit of the surface elevation at the gauges to the synthetic records.
  subroutine gauge_misfit(h, depth0, time, cost)
    real(dp), intent(in) :: h(-1:nx+2, -1:ny+2)
    real(dp), intent(in) :: depth0, time
    real(dp), intent(inout) :: cost
    real(dp) :: obs
    integer :: g
    do g = 1, ngauge
      obs = gamp(g) * sin(2.0_dp * pi * time / gper + gphase(g))
      cost = cost + 0.5_dp * (h(gi(g), gj(g)) - depth0 - obs)**2
    end do
  end subroutine gauge_misfit

end module sw_kernels

! Sizes, time step and gauges (passive; called once by the driver).
subroutine sw_setup(mx, my, msteps, depth_ref)
  use sw_params
  use sw_data
  implicit none
  integer, intent(in) :: mx, my, msteps
  real(dp), intent(in) :: depth_ref
  integer :: g
  nx = mx
  ny = my
  nsteps = msteps
  obs_every = max(1, nsteps / 60)
  dx = basin / nx
  dy = basin / ny
  ! CFL 0.3 for gravity waves on a 1.5x deeper basin (fixed, passive)
  dt = 0.3_dp * min(dx, dy) / sqrt(grav * 1.5_dp * depth_ref)
  do g = 1, ngauge
    gi(g) = 1 + mod(7 * g * nx / 9, nx)
    gj(g) = 1 + mod(5 * g * ny / 11 + ny / 3, ny)
    gamp(g) = 0.2_dp + 0.05_dp * g
    gphase(g) = 0.7_dp * g
  end do
end subroutine sw_setup

! The head: cost as a function of the initial elevation, mean depth,
! friction and Coriolis parameter.
subroutine sw_objective(eta0, depth0, cf, fcor, cost)
  use sw_params
  use sw_data
  use sw_kernels
  implicit none
  real(dp), intent(in) :: eta0(nx, ny)
  real(dp), intent(in) :: depth0, cf, fcor
  real(dp), intent(out) :: cost
  real(dp) :: h(-1:nx+2, -1:ny+2), hu(-1:nx+2, -1:ny+2), hv(-1:nx+2, -1:ny+2)
  real(dp) :: time
  integer :: n
  h = depth0
  h(1:nx, 1:ny) = depth0 + eta0
  hu = 0.0_dp
  hv = 0.0_dp
  cost = 0.0_dp
  time = 0.0_dp
  nobs = 0
  do n = 1, nsteps
    call sw_step(h, hu, hv, cf, fcor)
    time = time + dt
    if (mod(n, obs_every) == 0) then
      call gauge_misfit(h, depth0, time, cost)
      nobs = nobs + 1
    end if
  end do
  ! final kinetic energy (damping term of the objective)
  cost = cost + w_energy * 0.5_dp * sum((hu(1:nx, 1:ny)**2 + hv(1:nx, 1:ny)**2) &
                                        / h(1:nx, 1:ny)) / (nx * ny)
end subroutine sw_objective
