! implicit_heat -- 2-D nonlinear heat conduction with a pulsating heat
! source and Newton cooling, stepped with linearly implicit Euler; each
! step solves its symmetric positive definite system with a fixed number of
! Jacobi-preconditioned conjugate-gradient iterations.  The objective is a
! least-squares misfit of the temperature to a synthetic observed field,
! taken every obs_every steps.
!
!   u_t = div(k(u) grad u) + q(x, y, t) - gamma (u - tenv),
!   k(u) = kappa0 (1 + alpha u^2),   q = qamp S(x, y) (1 + 0.5 sin(2 pi t / P))
!
! Step n -> n+1 (conductivities lagged at u^n, cooling implicit):
!   [(1 + dt gamma) I - dt div(k(u^n) grad)] u^{n+1} = u^n + dt (q + gamma tenv)
! Cell-centred finite volumes, insulated walls (zero face conductivity).
! The iteration count of the solver is fixed (ncg), so the adjoint is that
! of the discrete algorithm, exactly what a finite difference measures.
! Keep ncg large enough that the relative residual is ~1e-5 or less: the
! output of a far-from-converged CG is a rational function of the inputs
! with large higher derivatives, and a central difference then misses the
! (correct) adjoint by 1e-6..1e-5 (seen with 64x64, 60 steps, ncg = 20).
!
! Independents: the initial temperature u0(nx, ny), kappa0, qamp and tenv.
! Dependent: the scalar cost.
!
! Call tree below the head:
!   heat_objective -> implicit_step -> face_conductivity -> cond
!                                   -> pcg_solve -> apply_operator -> add_diffusion_x
!                                                                  -> add_diffusion_y
!                                                -> dot (x2 per iteration)
!                  -> observe
!
! Sizes are run-time values set by heat_setup.  Only modules and routines
! here; the main program is driver.f90.

module ih_params
  implicit none
  integer, parameter :: dp = kind(1.d0)
  real(dp), parameter :: pi = 3.141592653589793_dp
  real(dp), parameter :: alpha = 2.0_dp       ! nonlinearity of k(u)
  real(dp), parameter :: gamma = 0.5_dp       ! Newton cooling rate
  real(dp), parameter :: period = 0.25_dp     ! source pulsation period
  real(dp), parameter :: src_w = 0.1_dp       ! source width
  integer :: nx = 48, ny = 48, nsteps = 80, ncg = 30, obs_every = 4
  real(dp) :: dx, dy, dt
end module ih_params

module ih_data
  use ih_params
  implicit none
  real(dp), allocatable :: shape_q(:,:)     ! source shape S(x, y)
  real(dp), allocatable :: xc(:), yc(:)     ! cell centres
  ! diagnostics of the last primal run (passive)
  real(dp) :: last_relres = 0.0_dp          ! relative CG residual, last step
  integer :: nobs = 0
end module ih_data

module ih_kernels
  use ih_params
  use ih_data
  implicit none
contains

  real(dp) function cond(t, kappa0)
    real(dp), intent(in) :: t, kappa0
    cond = kappa0 * (1.0_dp + alpha * t * t)
  end function cond

  ! Face conductivities at the lagged state; zero on the insulated walls.
  subroutine face_conductivity(u, kappa0, kx, ky)
    real(dp), intent(in) :: u(0:nx+1, 0:ny+1)
    real(dp), intent(in) :: kappa0
    real(dp), intent(out) :: kx(0:nx, ny), ky(nx, 0:ny)
    integer :: i, j
    kx = 0.0_dp
    ky = 0.0_dp
    do j = 1, ny
      do i = 1, nx - 1
        kx(i, j) = cond(0.5_dp * (u(i, j) + u(i+1, j)), kappa0)
      end do
    end do
    do j = 1, ny - 1
      do i = 1, nx
        ky(i, j) = cond(0.5_dp * (u(i, j) + u(i, j+1)), kappa0)
      end do
    end do
  end subroutine face_conductivity

  ! y <- y - dt div_x(kx grad_x x): conduction through the x-faces.
  subroutine add_diffusion_x(x, kx, y)
    real(dp), intent(in) :: x(0:nx+1, 0:ny+1)
    real(dp), intent(in) :: kx(0:nx, ny)
    real(dp), intent(inout) :: y(0:nx+1, 0:ny+1)
    real(dp) :: cx
    integer :: i, j
    cx = dt / (dx * dx)
    do j = 1, ny
      do i = 1, nx
        y(i, j) = y(i, j) &
                - cx * (kx(i, j) * (x(i+1, j) - x(i, j)) - kx(i-1, j) * (x(i, j) - x(i-1, j)))
      end do
    end do
  end subroutine add_diffusion_x

  ! y <- y - dt div_y(ky grad_y x): conduction through the y-faces.
  subroutine add_diffusion_y(x, ky, y)
    real(dp), intent(in) :: x(0:nx+1, 0:ny+1)
    real(dp), intent(in) :: ky(nx, 0:ny)
    real(dp), intent(inout) :: y(0:nx+1, 0:ny+1)
    real(dp) :: cy
    integer :: i, j
    cy = dt / (dy * dy)
    do j = 1, ny
      do i = 1, nx
        y(i, j) = y(i, j) &
                - cy * (ky(i, j) * (x(i, j+1) - x(i, j)) - ky(i, j-1) * (x(i, j) - x(i, j-1)))
      end do
    end do
  end subroutine add_diffusion_y

  ! y = [(1 + dt gamma) I - dt div(k grad)] x on the interior cells.
  subroutine apply_operator(x, kx, ky, y)
    real(dp), intent(in) :: x(0:nx+1, 0:ny+1)
    real(dp), intent(in) :: kx(0:nx, ny), ky(nx, 0:ny)
    real(dp), intent(inout) :: y(0:nx+1, 0:ny+1)
    y(1:nx, 1:ny) = (1.0_dp + dt * gamma) * x(1:nx, 1:ny)
    call add_diffusion_x(x, kx, y)
    call add_diffusion_y(x, ky, y)
  end subroutine apply_operator

  ! Inner product over the interior cells.
  real(dp) function dot(a, b)
    real(dp), intent(in) :: a(0:nx+1, 0:ny+1), b(0:nx+1, 0:ny+1)
    integer :: i, j
    dot = 0.0_dp
    do j = 1, ny
      do i = 1, nx
        dot = dot + a(i, j) * b(i, j)
      end do
    end do
  end function dot

  ! ncg iterations of Jacobi-preconditioned CG on A x = b, from x's value.
  ! All vectors carry a ghost layer that stays zero.
  subroutine pcg_solve(kx, ky, b, x)
    real(dp), intent(in) :: kx(0:nx, ny), ky(nx, 0:ny)
    real(dp), intent(in) :: b(0:nx+1, 0:ny+1)
    real(dp), intent(inout) :: x(0:nx+1, 0:ny+1)
    real(dp) :: r(0:nx+1, 0:ny+1), z(0:nx+1, 0:ny+1), p(0:nx+1, 0:ny+1)
    real(dp) :: ap(0:nx+1, 0:ny+1), diag(nx, ny)
    real(dp) :: rz, rznew, pap, step, beta, r0
    integer :: it, i, j
    do j = 1, ny
      do i = 1, nx
        diag(i, j) = 1.0_dp + dt * gamma &
                   + dt / (dx * dx) * (kx(i-1, j) + kx(i, j)) &
                   + dt / (dy * dy) * (ky(i, j-1) + ky(i, j))
      end do
    end do
    r = 0.0_dp
    z = 0.0_dp
    p = 0.0_dp
    ap = 0.0_dp
    call apply_operator(x, kx, ky, ap)
    r(1:nx, 1:ny) = b(1:nx, 1:ny) - ap(1:nx, 1:ny)
    z(1:nx, 1:ny) = r(1:nx, 1:ny) / diag
    p = z
    rz = dot(r, z)
    r0 = rz
    do it = 1, ncg
      call apply_operator(p, kx, ky, ap)
      pap = dot(p, ap)
      step = rz / pap
      x = x + step * p
      r = r - step * ap
      z(1:nx, 1:ny) = r(1:nx, 1:ny) / diag
      rznew = dot(r, z)
      beta = rznew / rz
      p = z + beta * p
      rz = rznew
    end do
    last_relres = sqrt(abs(rz) / abs(r0))
  end subroutine pcg_solve

  ! One linearly implicit Euler step, in place.
  subroutine implicit_step(u, kappa0, qamp, tenv, time)
    real(dp), intent(inout) :: u(0:nx+1, 0:ny+1)
    real(dp), intent(in) :: kappa0, qamp, tenv, time
    real(dp) :: kx(0:nx, ny), ky(nx, 0:ny), b(0:nx+1, 0:ny+1)
    real(dp) :: pulse
    call face_conductivity(u, kappa0, kx, ky)
    pulse = 1.0_dp + 0.5_dp * sin(2.0_dp * pi * (time + dt) / period)
    b = 0.0_dp
    b(1:nx, 1:ny) = u(1:nx, 1:ny) + dt * (qamp * pulse * shape_q + gamma * tenv)
    call pcg_solve(kx, ky, b, u)
  end subroutine implicit_step

  ! Misfit to a synthetic observed field that relaxes towards a plateau.
  subroutine observe(u, time, cost)
    real(dp), intent(in) :: u(0:nx+1, 0:ny+1)
    real(dp), intent(in) :: time
    real(dp), intent(inout) :: cost
    real(dp) :: obs
    integer :: i, j
    do j = 1, ny
      do i = 1, nx
        obs = 0.3_dp + 0.2_dp * (1.0_dp - exp(-time)) * cos(pi * xc(i)) * cos(pi * yc(j))
        cost = cost + 0.5_dp * (u(i, j) - obs)**2 / (nx * ny)
      end do
    end do
  end subroutine observe

end module ih_kernels

! Sizes, time step and source shape (passive; called once by the driver).
subroutine heat_setup(mx, my, msteps, miter)
  use ih_params
  use ih_data
  implicit none
  integer, intent(in) :: mx, my, msteps, miter
  integer :: i, j
  nx = mx
  ny = my
  nsteps = msteps
  ncg = miter
  obs_every = max(1, nsteps / 20)
  dx = 1.0_dp / nx
  dy = 1.0_dp / ny
  dt = 1.0_dp / nsteps
  if (allocated(shape_q)) deallocate(shape_q, xc, yc)
  allocate(shape_q(nx, ny), xc(nx), yc(ny))
  do i = 1, nx
    xc(i) = (i - 0.5_dp) * dx
  end do
  do j = 1, ny
    yc(j) = (j - 0.5_dp) * dy
  end do
  do j = 1, ny
    do i = 1, nx
      shape_q(i, j) = exp(-((xc(i) - 0.35_dp)**2 + (yc(j) - 0.6_dp)**2) / src_w**2)
    end do
  end do
end subroutine heat_setup

! The head: cost as a function of the initial temperature, the conductivity
! scale, the source amplitude and the ambient temperature.
subroutine heat_objective(u0, kappa0, qamp, tenv, cost)
  use ih_params
  use ih_data
  use ih_kernels
  implicit none
  real(dp), intent(in) :: u0(nx, ny)
  real(dp), intent(in) :: kappa0, qamp, tenv
  real(dp), intent(out) :: cost
  real(dp) :: u(0:nx+1, 0:ny+1)
  real(dp) :: time
  integer :: n
  u = 0.0_dp
  u(1:nx, 1:ny) = u0
  cost = 0.0_dp
  time = 0.0_dp
  nobs = 0
  do n = 1, nsteps
    call implicit_step(u, kappa0, qamp, tenv, time)
    time = time + dt
    if (mod(n, obs_every) == 0) then
      call observe(u, time, cost)
      nobs = nobs + 1
    end if
  end do
end subroutine heat_objective
