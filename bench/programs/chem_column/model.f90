! chem_column -- a 1-D vertical column of stiff photochemistry: six species
! reacting through seven mass-action reactions at every level, mixed by
! eddy diffusion, with a surface source of A and dry deposition of F.  The
! objective is a least-squares misfit of the surface concentrations of B and
! E to synthetic observations plus the final column burden of C.
!
! Mechanism (species A B C D E F = 1..6):
!   R1  A       -> B          k1 [A]
!   R2  B + B   -> C          k2 [B]^2
!   R3  C + hv  -> A + B      k3 [C] sun(t, z)
!   R4  A + D   -> E          k4 [A][D]
!   R5  E       -> D          k5 [E]
!   R6  B + D   -> F          k6 [B][D]
!   R7  F       -> A          k7 [F]
! with k_r(z) = exp(lnk_r) exp(-theta_r (1 - T(z))), T(z) = 1 - 0.3 z.
!
! Operator splitting per step: implicit vertical mixing (one tridiagonal
! Thomas solve per species), then backward-Euler chemistry at every level,
! solved with nnewton Newton iterations on the 6x6 system (analytic
! Jacobian, LU without pivoting: I - dt J is an M-matrix here).  Fixed
! iteration counts: the adjoint is that of the discrete algorithm.
!
! A very different profile from the 2-D programs: the state is small
! (nspec x nz), the call tree is deep and has many dynamic calls (one Newton
! solve per level per step), and the tape per step is dominated by the LU
! factors, so checkpointing trades little state for a lot of tape.
!
! Independents: lnk(7) (log rate constants), emis (surface source), kdiff
! (eddy diffusivity) and the initial state c0(nspec, nz).  Dependent: cost.
!
! Call tree below the head:
!   chem_objective -> column_step -> vertical_mix -> thomas (x nspec)
!                                 -> chemistry -> rate_constants (per level)
!                                              -> newton_solve (per level) -> jacobian
!                                                                          -> lu_solve
!                  -> surface_misfit
!
! Sizes are run-time values set by chem_setup.  Only modules and routines
! here; the main program is driver.f90.

module cc_params
  implicit none
  integer, parameter :: dp = kind(1.d0)
  real(dp), parameter :: pi = 3.141592653589793_dp
  integer, parameter :: nspec = 6, nreac = 7
  real(dp), parameter :: vdep = 0.5_dp          ! deposition velocity of F
  real(dp), parameter :: day = 2.0_dp           ! period of the sun
  integer :: nz = 40, nsteps = 2000, nnewton = 3, obs_every = 10
  real(dp) :: dz, dt
end module cc_params

module cc_data
  use cc_params
  implicit none
  real(dp) :: theta(nreac)                    ! temperature sensitivities
  real(dp), allocatable :: zc(:), tz(:)       ! level heights and temperatures
  integer :: nobs = 0
end module cc_data

module cc_kernels
  use cc_params
  use cc_data
  implicit none
contains

  ! Solve the tridiagonal system a x(k-1) + b x(k) + c x(k+1) = d.
  subroutine thomas(a, b, c, d, x, n)
    integer, intent(in) :: n
    real(dp), intent(in) :: a(n), b(n), c(n), d(n)
    real(dp), intent(out) :: x(n)
    real(dp) :: cp(n), dp_(n), m
    integer :: k
    cp(1) = c(1) / b(1)
    dp_(1) = d(1) / b(1)
    do k = 2, n
      m = b(k) - a(k) * cp(k-1)
      cp(k) = c(k) / m
      dp_(k) = (d(k) - a(k) * dp_(k-1)) / m
    end do
    x(n) = dp_(n)
    do k = n - 1, 1, -1
      x(k) = dp_(k) - cp(k) * x(k+1)
    end do
  end subroutine thomas

  ! Implicit eddy diffusion with K(z) = kdiff (1 + 2 z) at the faces,
  ! surface emission of A and deposition of F, zero flux at the top.
  subroutine vertical_mix(c, emis, kdiff)
    real(dp), intent(inout) :: c(nspec, nz)
    real(dp), intent(in) :: emis, kdiff
    real(dp) :: a(nz), b(nz), cu(nz), d(nz), x(nz), kf(0:nz)
    integer :: k, s
    do k = 0, nz
      kf(k) = kdiff * (1.0_dp + 2.0_dp * k * dz)
    end do
    kf(0) = 0.0_dp
    kf(nz) = 0.0_dp
    do s = 1, nspec
      do k = 1, nz
        a(k) = -dt * kf(k-1) / (dz * dz)
        cu(k) = -dt * kf(k) / (dz * dz)
        b(k) = 1.0_dp - a(k) - cu(k)
        d(k) = c(s, k)
      end do
      if (s == 1) d(1) = d(1) + dt * emis / dz
      if (s == 6) b(1) = b(1) + dt * vdep / dz
      call thomas(a, b, cu, d, x, nz)
      c(s, 1:nz) = x
    end do
  end subroutine vertical_mix

  ! Rate constants at one level.
  subroutine rate_constants(lnk, temp, k)
    real(dp), intent(in) :: lnk(nreac), temp
    real(dp), intent(out) :: k(nreac)
    integer :: r
    do r = 1, nreac
      k(r) = exp(lnk(r) - theta(r) * (1.0_dp - temp))
    end do
  end subroutine rate_constants

  ! Tendencies f(y) and the matrix M = I - dt df/dy of backward Euler.
  subroutine jacobian(y, k, sun, f, m)
    real(dp), intent(in) :: y(nspec), k(nreac), sun
    real(dp), intent(out) :: f(nspec), m(nspec, nspec)
    real(dp) :: r(nreac), jac(nspec, nspec)
    integer :: i
    r(1) = k(1) * y(1)
    r(2) = k(2) * y(2) * y(2)
    r(3) = k(3) * sun * y(3)
    r(4) = k(4) * y(1) * y(4)
    r(5) = k(5) * y(5)
    r(6) = k(6) * y(2) * y(4)
    r(7) = k(7) * y(6)
    f(1) = -r(1) + r(3) - r(4) + r(7)
    f(2) = r(1) - 2.0_dp * r(2) + r(3) - r(6)
    f(3) = r(2) - r(3)
    f(4) = -r(4) + r(5) - r(6)
    f(5) = r(4) - r(5)
    f(6) = r(6) - r(7)
    jac = 0.0_dp
    jac(1, 1) = -k(1) - k(4) * y(4)
    jac(1, 3) = k(3) * sun
    jac(1, 4) = -k(4) * y(1)
    jac(1, 6) = k(7)
    jac(2, 1) = k(1)
    jac(2, 2) = -4.0_dp * k(2) * y(2) - k(6) * y(4)
    jac(2, 3) = k(3) * sun
    jac(2, 4) = -k(6) * y(2)
    jac(3, 2) = 2.0_dp * k(2) * y(2)
    jac(3, 3) = -k(3) * sun
    jac(4, 1) = -k(4) * y(4)
    jac(4, 2) = -k(6) * y(4)
    jac(4, 4) = -k(4) * y(1) - k(6) * y(2)
    jac(4, 5) = k(5)
    jac(5, 1) = k(4) * y(4)
    jac(5, 4) = k(4) * y(1)
    jac(5, 5) = -k(5)
    jac(6, 2) = k(6) * y(4)
    jac(6, 4) = k(6) * y(2)
    jac(6, 6) = -k(7)
    m = -dt * jac
    do i = 1, nspec
      m(i, i) = m(i, i) + 1.0_dp
    end do
  end subroutine jacobian

  ! Solve m x = b by LU factorisation without pivoting (m is overwritten).
  subroutine lu_solve(m, b, x)
    real(dp), intent(inout) :: m(nspec, nspec)
    real(dp), intent(in) :: b(nspec)
    real(dp), intent(out) :: x(nspec)
    real(dp) :: l
    integer :: i, j, p
    x = b
    do p = 1, nspec - 1
      do i = p + 1, nspec
        l = m(i, p) / m(p, p)
        m(i, p) = l
        do j = p + 1, nspec
          m(i, j) = m(i, j) - l * m(p, j)
        end do
        x(i) = x(i) - l * x(p)
      end do
    end do
    do i = nspec, 1, -1
      do j = i + 1, nspec
        x(i) = x(i) - m(i, j) * x(j)
      end do
      x(i) = x(i) / m(i, i)
    end do
  end subroutine lu_solve

  ! Backward Euler y - yold - dt f(y) = 0 by nnewton Newton iterations.
  subroutine newton_solve(y, k, sun)
    real(dp), intent(inout) :: y(nspec)
    real(dp), intent(in) :: k(nreac), sun
    real(dp) :: yold(nspec), f(nspec), m(nspec, nspec), g(nspec), delta(nspec)
    integer :: it
    yold = y
    do it = 1, nnewton
      call jacobian(y, k, sun, f, m)
      g = -(y - yold - dt * f)
      call lu_solve(m, g, delta)
      y = y + delta
    end do
  end subroutine newton_solve

  ! Chemistry at every level.
  subroutine chemistry(c, lnk, time)
    real(dp), intent(inout) :: c(nspec, nz)
    real(dp), intent(in) :: lnk(nreac), time
    real(dp) :: k(nreac), y(nspec), sun
    integer :: lev
    do lev = 1, nz
      call rate_constants(lnk, tz(lev), k)
      sun = 0.5_dp * (1.0_dp + sin(2.0_dp * pi * time / day)) * (0.5_dp + 0.5_dp * zc(lev))
      y = c(:, lev)
      call newton_solve(y, k, sun)
      c(:, lev) = y
    end do
  end subroutine chemistry

  ! One split step: mixing, then chemistry.
  subroutine column_step(c, lnk, emis, kdiff, time)
    real(dp), intent(inout) :: c(nspec, nz)
    real(dp), intent(in) :: lnk(nreac), emis, kdiff, time
    call vertical_mix(c, emis, kdiff)
    call chemistry(c, lnk, time + dt)
  end subroutine column_step

  ! Misfit of the surface B and E to synthetic observations.
  subroutine surface_misfit(c, time, cost)
    real(dp), intent(in) :: c(nspec, nz)
    real(dp), intent(in) :: time
    real(dp), intent(inout) :: cost
    real(dp) :: ob, oe
    ob = 0.05_dp + 0.02_dp * sin(2.0_dp * pi * time / day)
    oe = 0.3_dp + 0.05_dp * cos(2.0_dp * pi * time / day)
    cost = cost + 0.5_dp * ((c(2, 1) - ob)**2 + (c(5, 1) - oe)**2)
  end subroutine surface_misfit

end module cc_kernels

! Sizes and passive profiles (called once by the driver).
subroutine chem_setup(mz, msteps, mnewton)
  use cc_params
  use cc_data
  implicit none
  integer, intent(in) :: mz, msteps, mnewton
  integer :: k
  nz = mz
  nsteps = msteps
  nnewton = mnewton
  obs_every = max(1, nsteps / 100)
  dz = 1.0_dp / nz
  dt = 4.0_dp / nsteps
  if (allocated(zc)) deallocate(zc, tz)
  allocate(zc(nz), tz(nz))
  do k = 1, nz
    zc(k) = (k - 0.5_dp) * dz
    tz(k) = 1.0_dp - 0.3_dp * zc(k)
  end do
  theta = (/ 2.0_dp, 0.5_dp, 0.0_dp, 3.0_dp, 4.0_dp, 1.0_dp, 2.5_dp /)
end subroutine chem_setup

! The head: cost as a function of the log rate constants, the surface
! emission, the eddy diffusivity and the initial state.
subroutine chem_objective(lnk, emis, kdiff, c0, cost)
  use cc_params
  use cc_data
  use cc_kernels
  implicit none
  real(dp), intent(in) :: lnk(nreac), emis, kdiff
  real(dp), intent(in) :: c0(nspec, nz)
  real(dp), intent(out) :: cost
  real(dp) :: c(nspec, nz)
  real(dp) :: time
  integer :: n
  c = c0
  cost = 0.0_dp
  time = 0.0_dp
  nobs = 0
  do n = 1, nsteps
    call column_step(c, lnk, emis, kdiff, time)
    time = time + dt
    if (mod(n, obs_every) == 0) then
      call surface_misfit(c, time, cost)
      nobs = nobs + 1
    end if
  end do
  cost = cost + 0.1_dp * sum(c(3, :)) * dz
end subroutine chem_objective
